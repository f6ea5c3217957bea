"""Read and write shower files: the CaloClouds HDF5 layout, the ``showerdata`` format, CaloChallenge.

Three layouts, all HDF5:

``"caloclouds"`` (what the CaloClouds papers publish)
    ``events`` ``(N, 4, P)`` or ``(N, P, 4)``, features ``x [mm], y [mm], z [layer], e [GeV]``,
    padding rows have ``e == 0`` and may sit before, after or between the real points;
    ``energy`` ``(N,)``, ``(N, 1)`` or ``(1, N)`` incident energy in GeV; optional
    ``p_norm_local`` ``(N, 3)`` or ``(3, N)`` unit incident direction (default ``(0, 0, 1)``);
    optional ``pdg`` ``(N,)`` (default 22, photons). Optional file attributes ``z_units``
    (``"layer"`` unless stated) and ``axis_order`` (``"N4P"`` or ``"NP4"``, only needed when
    ``P == 4`` makes the shape ambiguous).
``"showerdata"`` (the field's point-cloud library, read and written through it)
    Variable-length point clouds, point and incident energies in GeV; ``z_units`` is kept in
    the file's metadata (``showerdata.core.add_metadata``).
``"calochallenge"`` (voxel showers, not point clouds: see :class:`VoxelShowers`)
    ``incident_energies`` ``(N, 1)`` and ``showers`` ``(N, voxels)``, both in MeV.

In memory the units are those of :class:`~calozoo.showers.Showers`: point energies in MeV,
incident energies in GeV. Every read validates what it loads and raises
:class:`~calozoo.errors.FileFormatError` naming the file, the key and the problem; every write
is atomic (a temporary file renamed into place), so a failed write leaves no file, or the old
one untouched. An existing file is replaced only if it is a shower file calozoo wrote (an HDF5
file with a ``calozoo_version`` attribute) or empty; one output has one writer at a time
(:mod:`calozoo.serialization`).

>>> write_showers("showers.h5", showers)                      # doctest: +SKIP
>>> read_showers("showers.h5") == showers                     # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import showerdata
import showerdata.core

from . import __version__
from .errors import FileFormatError
from .interrupts import protected
from .serialization import atomic_path
from .showers import MEV_PER_GEV, PHOTON, Z_UNITS, Showers, batch_index

__all__ = [
    "FORMATS",
    "AXIS_ORDERS",
    "VoxelShowers",
    "detect_format",
    "read_showers",
    "write_showers",
    "iter_showers",
    "count_showers",
    "read_conditions",
    "projection_of",
    "read_cell_hits",
    "orientation_permutation",
    "stated_orientation",
    "ShowerWriter",
    "read_calochallenge",
    "write_calochallenge",
    "is_calozoo_shower_file",
]

PathLike = str | os.PathLike

#: Every layout :func:`detect_format` recognises. :func:`read_showers` and :func:`write_showers`
#: handle the point-cloud ones (``"caloclouds"``, ``"showerdata"``); CaloChallenge files hold
#: voxels and go through :func:`read_calochallenge` / :func:`write_calochallenge`.
FORMATS = ("caloclouds", "showerdata", "calochallenge")
POINT_FORMATS = ("caloclouds", "showerdata")

#: Axis orders of the CaloClouds ``events`` dataset: ``(N, 4, P)`` or ``(N, P, 4)``.
AXIS_ORDERS = ("N4P", "NP4")

#: How far from 1 the norm of a stored direction may be before the file is rejected.
UNIT_TOLERANCE = 1e-3
# Directions off by less than this are left bit for bit as stored (float32 storage alone puts
# them ~1e-7 off), so that write -> read gives back the very same numbers; the rest is normalised.
_RENORMALISE_ABOVE = 1e-6

_LAYOUTS = {
    "caloclouds": "'events' (N, 4, P) or (N, P, 4) and 'energy' (N,), (N, 1) or (1, N) in GeV",
    "showerdata": "the showerdata library's datasets 'showers', 'shape', 'num_points', 'energies', "
    "'directions', 'pdg', 'shower_ids'",
    "calochallenge": "'incident_energies' (N, 1) and 'showers' (N, voxels) in MeV",
}
_SHOWERDATA_KEYS = ("showers", "shape", "num_points", "energies", "directions", "pdg", "shower_ids")
_WRITE_OPTIONS = {"caloclouds": ("axis_order", "dtype"), "showerdata": ()}
#: What an existing output must be for a shower writer to replace it.
SHOWER_FILE_KIND = "a shower file written by calozoo (HDF5 with a calozoo_version attribute)"


@dataclass(eq=False)
class VoxelShowers:
    """A batch of voxelised showers, as in the CaloChallenge datasets.

    Args:
        energies_mev: ``(N, V)`` float32 energy deposited in each of ``V`` voxels, in MeV.
        incident_energy_gev: ``(N,)`` float64 incident energy in GeV.
    """

    energies_mev: np.ndarray
    incident_energy_gev: np.ndarray

    def __post_init__(self) -> None:
        self.energies_mev = np.ascontiguousarray(self.energies_mev, dtype=np.float32)
        self.incident_energy_gev = np.asarray(self.incident_energy_gev, dtype=np.float64).reshape(-1)
        if self.energies_mev.ndim != 2:
            raise ValueError(f"energies_mev must have shape (N, V), got {self.energies_mev.shape}")
        if self.incident_energy_gev.shape != (len(self.energies_mev),):
            raise ValueError(
                f"incident_energy_gev must have shape ({len(self.energies_mev)},) for "
                f"{len(self.energies_mev)} showers, got {self.incident_energy_gev.shape}"
            )

    @property
    def num_voxels(self) -> int:
        return self.energies_mev.shape[1]

    def __len__(self) -> int:
        return self.energies_mev.shape[0]

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> VoxelShowers:
        """Select showers; an integer gives a batch of one (as for :class:`Showers`)."""
        index = batch_index(index, len(self))
        return VoxelShowers(self.energies_mev[index], self.incident_energy_gev[index])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, VoxelShowers)
            and np.array_equal(self.energies_mev, other.energies_mev)
            and np.array_equal(self.incident_energy_gev, other.incident_energy_gev)
        )

    def __repr__(self) -> str:
        return f"VoxelShowers({len(self)} showers, {self.num_voxels} voxels)"


# ---------------------------------------------------------------------------------- public API
def detect_format(path: PathLike) -> str:
    """Name the layout of an HDF5 shower file from the keys it holds: one of :data:`FORMATS`.

    Raises:
        FileFormatError: the file is missing, not HDF5, or holds none of the known layouts.
    """
    path = Path(path)
    with _open(path) as file:
        keys = set(file.keys())
    if "events" in keys:
        return "caloclouds"
    if {"incident_energies", "showers"} <= keys:
        return "calochallenge"
    if {"showers", "shape", "energies"} <= keys:
        return "showerdata"
    raise FileFormatError(
        path,
        None,
        f"unrecognised layout (it holds {sorted(keys) or 'no datasets'}); expected one of: "
        + "; ".join(f"{name}: {layout}" for name, layout in _LAYOUTS.items()),
    )


def read_showers(
    path: PathLike,
    format: str | None = None,
    *,
    start: int = 0,
    stop: int | None = None,
    orientation: str | None = None,
) -> Showers:
    """Read point-cloud showers from a ``"caloclouds"`` or ``"showerdata"`` file.

    Args:
        path: the HDF5 file.
        format: ``"caloclouds"``, ``"showerdata"`` or ``None`` to detect it from the keys.
        start, stop: read only showers ``start`` to ``stop - 1`` (Python slice semantics for
            non-negative indices; ``stop=None`` reads to the end). See :func:`iter_showers`.
        orientation: which stored column is which local axis, as ``"hdf5:xyz==local:yzx"``
            (stored x is local y, stored y is local z, the layer axis, stored z is local x: the
            CaloClouds II-era data sets). ``None`` takes the file's own statement of it (an
            attribute holding such a string, see :func:`stated_orientation`), else the columns
            are read as ``x, y, z`` of the local frame. Directions are read as stored (their
            dataset is in the local frame).

    Returns:
        :class:`Showers` with point energies in MeV, incident energies in GeV, padding at the
        back of each shower (real points keep their order in the file).

    Raises:
        FileFormatError: the file is missing, not HDF5, lacks a key, has a wrong shape, or holds
            NaN, negative energies or directions that are not unit vectors with ``p_z > 0``.
    """
    path = Path(path)
    if format is not None and format not in POINT_FORMATS:
        raise ValueError(
            f"read_showers reads the formats {POINT_FORMATS}, got {format!r}" + _voxel_hint(format)
        )
    found = format or detect_format(path)
    if found == "calochallenge":
        raise FileFormatError(
            path,
            None,
            "holds CaloChallenge voxel showers ('incident_energies', 'showers'), not point clouds; "
            "read it with calozoo.io.read_calochallenge",
        )
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    window = slice(start, stop)
    showers = _read_caloclouds(path, window) if found == "caloclouds" else _read_showerdata(path, window)
    permutation = orientation_permutation(orientation or stated_orientation(path) or "hdf5:xyz==local:xyz")
    if permutation != (0, 1, 2):
        showers.points[..., :3] = showers.points[..., list(permutation)]
    return showers


#: Root attributes of a file of projected cell hits (``calozoo project``): what was learned there.
PROJECTION_ATTRS = ("projected_into", "threshold_mev")


def projection_of(path: PathLike) -> dict | None:
    """``{"projected_into": geometry name, "threshold_mev": ...}`` if ``path`` holds projected cell
    hits (as ``calozoo project`` writes them), else ``None``."""
    with _open(Path(path)) as file:
        name = file.attrs.get("projected_into")
        if name is None:
            return None
        threshold = file.attrs.get("threshold_mev")
        return {
            "projected_into": name.decode() if isinstance(name, bytes) else str(name),
            "threshold_mev": None if threshold is None else float(threshold),
        }


def read_cell_hits(path: PathLike, *, start: int = 0, stop: int | None = None):
    """Projected cell hits with what the projection recorded: a :class:`~calozoo.interfaces.CellHits`.

    The cell ids (``cell_id``, -1 in the padding) and the losses by cause (``losses/<cause>``,
    MeV per shower) are read when the file has them (the CaloClouds layout; a showerdata file
    keeps only the geometry's name and threshold).

    Raises:
        FileFormatError: the file does not hold projected cell hits.
    """
    from .interfaces import CellHits, EnergyLosses

    path = Path(path)
    if projection_of(path) is None:
        raise FileFormatError(
            path, None, "does not hold projected cell hits (write them with `calozoo project`)"
        )
    showers = read_showers(path, start=start, stop=stop)
    window = slice(start, stop)
    cell_id = np.full(showers.points.shape[:2], -1, dtype=np.int64)
    losses = None
    with _open(path) as file:
        if "cell_id" in file:
            ids = _read_numeric(file["cell_id"], path, "cell_id", window)
            width = min(ids.shape[1], cell_id.shape[1])
            cell_id[:, :width] = ids[:, :width]
        if "losses" in file:
            causes = {
                name: _read_numeric(file["losses"][name], path, f"losses/{name}", window)
                for name in file["losses"]
            }
            try:
                losses = EnergyLosses(**causes)
            except TypeError:  # causes of another geometry: keep the known ones, zeros elsewhere
                known = {f: v for f, v in causes.items() if f in EnergyLosses.zeros(0).causes()}
                losses = EnergyLosses.zeros(len(showers), **known)
    return CellHits(showers, cell_id, losses)


_ORIENTATION = re.compile(r"^\s*hdf5:([xyz]{3})\s*==\s*local:([xyz]{3})\s*$")


def orientation_permutation(orientation: str) -> tuple[int, int, int]:
    """The stored columns that give local ``(x, y, z)``: ``"hdf5:xyz==local:yzx"`` -> ``(2, 0, 1)``.

    The string pairs every stored axis (``hdf5:``) with the local one it is (``local:``): in
    ``hdf5:xyz==local:yzx`` the stored x is local y, the stored y local z, the stored z local x.

    Raises:
        ValueError: not of the form ``hdf5:ABC==local:DEF`` with both permutations of ``xyz``.
    """
    match = _ORIENTATION.match(str(orientation))
    if not match or sorted(match.group(1)) != list("xyz") or sorted(match.group(2)) != list("xyz"):
        raise ValueError(
            f"orientation must read 'hdf5:ABC==local:DEF' with ABC and DEF orderings of xyz, e.g. "
            f"'hdf5:xyz==local:yzx' (stored y is the local z, the layer axis); got {orientation!r}"
        )
    stored, local = match.group(1), match.group(2)
    column_of = {local[i]: "xyz".index(stored[i]) for i in range(3)}
    return column_of["x"], column_of["y"], column_of["z"]


def stated_orientation(path: PathLike) -> str | None:
    """The orientation a file states in one of its root attributes (``hdf5:...==local:...``), if any."""
    with _open(Path(path)) as file:
        for value in file.attrs.values():
            if isinstance(value, bytes):
                value = value.decode(errors="replace")
            if isinstance(value, str) and _ORIENTATION.match(value):
                return value.strip()
    return None


def count_showers(path: PathLike) -> int:
    """Number of showers in a point-cloud file, without reading the points."""
    path = Path(path)
    found = detect_format(path)
    key = {"caloclouds": "events", "showerdata": "energies", "calochallenge": "showers"}[found]
    with _open(path) as file:
        return int(_dataset(file, path, key, found).shape[0])


def read_conditions(path: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-shower incident conditions of a point-cloud file or data set, without the points.

    Args:
        path: a ``"caloclouds"`` or ``"showerdata"`` file, or a folder of shards as
            ``calozoo simulate`` writes them (``shard-00000.h5``, ``shard-00001.h5``, … read in
            order; a folder with a shard missing from the sequence is refused).

    Returns:
        ``(energy_gev, direction, pdg)``: ``(N,)`` float64 incident energies in GeV, ``(N, 3)``
        float64 unit directions and ``(N,)`` int32 PDG ids, shower ``i`` of the file (or of the
        shards one after the other) in row ``i``; exactly what :func:`read_showers` gives for
        the same showers. The points are neither read nor checked.

    Raises:
        FileFormatError: as :func:`read_showers` for the conditions; a folder without shards or
            with a shard missing from the sequence.

    >>> energy, direction, pdg = read_conditions("data/test")   # doctest: +SKIP
    >>> twins = model.sample(energy, direction, pdg=pdg, seed=2)  # doctest: +SKIP
    """
    path = Path(path)
    files = _shard_files(path) if path.is_dir() else [path]
    parts = [_read_file_conditions(file) for file in files]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]).reshape(-1, 3),
        np.concatenate([p[2] for p in parts]).astype(np.int32),
    )


_SHARD = re.compile(r"shard-(\d+)\.h5")


def _shard_files(folder: PathLike, prefix: str = "shard") -> list[Path]:
    """The point-cloud shards of a ``calozoo simulate`` folder in order: ``shard-00000.h5``, ….

    ``prefix="raw"`` gives the raw-hit files ``raw-00000.h5``, … that ``calozoo simulate --raw``
    writes beside them.

    Raises:
        FileFormatError: ``folder`` is not a folder, holds no ``shard-*.h5`` files, or a shard is
            missing from the sequence (an unfinished data set: run ``calozoo simulate`` again).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileFormatError(folder, None, f"is not a folder; expected a folder of {prefix}-*.h5 files")
    found = {}
    for file in folder.iterdir():
        match = (_SHARD if prefix == "shard" else re.compile(rf"{re.escape(prefix)}-(\d+)\.h5")).fullmatch(
            file.name
        )
        if match:
            found[int(match.group(1))] = file
    if not found:
        raise FileFormatError(
            folder, None, f"holds no {prefix}-*.h5 files (expected shards as `calozoo simulate` writes them)"
        )
    missing = sorted(set(range(max(found) + 1)) - set(found))
    if missing:
        raise FileFormatError(
            folder,
            None,
            f"{prefix}-{missing[0]:05d}.h5 is missing ({len(missing)} of {max(found) + 1} shards): "
            "an unfinished data set? run `calozoo simulate` on it again to complete it",
        )
    return [found[i] for i in sorted(found)]


def _read_file_conditions(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies, directions and pdg of one file, read and checked as :func:`read_showers` does."""
    found = detect_format(path)
    if found == "calochallenge":
        raise FileFormatError(
            path,
            None,
            "holds CaloChallenge voxel showers ('incident_energies', 'showers'), which carry no "
            "directions or particle ids; expected a point-cloud file",
        )
    with _open(path) as file:
        if found == "caloclouds":
            events = _dataset(file, path, "events", "caloclouds")
            _axis_order(events.shape, file.attrs, path)
            n = events.shape[0]
            energy = _load(file, path, "energy", "caloclouds")
            direction = _optional(file, path, "p_norm_local", "caloclouds")
            pdg = _optional(file, path, "pdg", "caloclouds")
            return (
                _incident_energies(energy, n, path, "energy", "events", "GeV"),
                _directions(direction, n, path, "p_norm_local", "events"),
                _pdg(pdg, n, path, "pdg", "events"),
            )
        for key in _SHOWERDATA_KEYS:
            _dataset(file, path, key, "showerdata")
        _check_showerdata_shapes(file, path)
        n = int(file["shape"][0])
        # showerdata itself reads these as float32 and int32: the same numbers as read_showers.
        energy = _load(file, path, "energies", "showerdata").astype(np.float32)
        direction = _load(file, path, "directions", "showerdata").astype(np.float32)
        pdg = _load(file, path, "pdg", "showerdata").astype(np.int32).reshape(-1)
        pdg = _check_particles(pdg, path, "pdg")
    return (
        _incident_energies(energy, n, path, "energies", "showers", "GeV"),
        _directions(direction, n, path, "directions", "showers"),
        pdg.reshape(-1),
    )


def iter_showers(
    path: PathLike, batch_size: int = 1000, format: str | None = None, orientation: str | None = None
) -> Iterator[Showers]:
    """Read a point-cloud file batch by batch (memory bounded by a batch, not by the file).

    >>> for batch in iter_showers("big.h5", batch_size=500):   # doctest: +SKIP
    ...     cells = geometry.project(batch)
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    total = count_showers(path)
    for start in range(0, total, batch_size):
        yield read_showers(
            path, format, start=start, stop=min(start + batch_size, total), orientation=orientation
        )


def write_showers(path: PathLike, showers: Showers, format: str = "caloclouds", **options: Any) -> Path:
    """Write point-cloud showers atomically; the format is never guessed from the suffix.

    Args:
        path: the file to create, or to replace if it is a shower file calozoo wrote (or empty).
        showers: what to write (point energies in MeV in memory; written in GeV).
        format: ``"caloclouds"`` (default) or ``"showerdata"``.
        **options: for ``"caloclouds"``: ``axis_order`` ``"N4P"`` (default, CaloClouds' own) or
            ``"NP4"``; ``dtype`` of ``events``, ``"float32"`` (default, as the field's files;
            point energies then round trip to within one float32 step, ~1e-7 relative) or
            ``"float64"`` (exact round trip). ``"showerdata"`` takes none.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputError: ``path`` exists and is neither empty nor a shower file calozoo wrote.
        OutputBusyError: another writer is writing ``path``.
    """
    if not isinstance(showers, Showers):
        raise TypeError(f"write_showers writes calozoo.Showers, got {type(showers).__name__}")
    with ShowerWriter(path, len(showers), format, **options) as writer:
        writer.write(showers)
    return path


def read_calochallenge(path: PathLike) -> VoxelShowers:
    """Read a CaloChallenge file: ``incident_energies`` ``(N, 1)`` and ``showers`` ``(N, V)`` in MeV.

    Returns:
        :class:`VoxelShowers` with voxel energies in MeV and incident energies in GeV.
    """
    path = Path(path)
    with _open(path) as file:
        incident = _load(file, path, "incident_energies", "calochallenge")
        voxels = _load(file, path, "showers", "calochallenge")
    if voxels.ndim != 2:
        raise FileFormatError(
            path, "showers", f"has shape {voxels.shape}; expected (N, voxels), energies in MeV"
        )
    _check_finite(voxels, path, "showers")
    _check_non_negative(voxels, path, "showers", "voxel energy (MeV)")
    incident_mev = _incident_energies(incident, len(voxels), path, "incident_energies", "showers", "MeV")
    return VoxelShowers(voxels, incident_mev / MEV_PER_GEV)


def write_calochallenge(path: PathLike, voxels: VoxelShowers) -> Path:
    """Write voxel showers atomically in the CaloChallenge layout (MeV on disk, as there)."""
    if not isinstance(voxels, VoxelShowers):
        raise TypeError(f"write_calochallenge writes VoxelShowers, got {type(voxels).__name__}")
    path = Path(path)
    with _atomic_shower_file(path) as tmp, h5py.File(tmp, "w") as file:
        # float64 keeps the GeV -> MeV conversion lossless for the (tiny) incident energies.
        energies = (voxels.incident_energy_gev * MEV_PER_GEV)[:, None]
        file.create_dataset("incident_energies", data=energies, fletcher32=True)
        file.create_dataset("showers", data=voxels.energies_mev, fletcher32=True)
        file.attrs["calozoo_version"] = __version__
    return path


def is_calozoo_shower_file(path: PathLike) -> bool:
    """Whether ``path`` is a shower file calozoo wrote: HDF5 with a ``calozoo_version`` attribute."""
    try:
        with h5py.File(path, "r") as file:
            return "calozoo_version" in file.attrs
    except (OSError, ValueError):
        return False


def _atomic_shower_file(path: Path):
    return atomic_path(path, kind=SHOWER_FILE_KIND, recognise=is_calozoo_shower_file)


def _voxel_hint(format: str | None) -> str:
    """A pointer to the voxel functions, for someone who passed ``format="calochallenge"``."""
    if format != "calochallenge":
        return ""
    return "; CaloChallenge voxel files go through read_calochallenge / write_calochallenge"


# ---------------------------------------------------------------------------------- file access
@contextlib.contextmanager
def _open(path: Path) -> Iterator[h5py.File]:
    """Open ``path`` read-only, turning h5py's bare ``OSError`` into a :class:`FileFormatError`."""
    if not path.exists():
        raise FileFormatError(path, None, "no such file; expected an HDF5 shower file")
    if not path.is_file():
        raise FileFormatError(path, None, "is not a file; expected an HDF5 shower file")
    if not h5py.is_hdf5(path):
        raise FileFormatError(path, None, f"is not an HDF5 file; expected one of the layouts {FORMATS}")
    try:
        file = h5py.File(path, "r")
    except OSError as err:
        raise FileFormatError(
            path, None, f"cannot be opened as HDF5 (truncated or corrupt?): {err}"
        ) from None
    with file:
        yield file


def _dataset(file: h5py.File, path: Path, key: str, layout: str) -> h5py.Dataset:
    """The dataset ``key``, or a :class:`FileFormatError` saying what the layout needs."""
    if key not in file:
        raise FileFormatError(
            path,
            key,
            f"missing; a {layout} file holds {_LAYOUTS[layout]} (this one holds {sorted(file.keys())})",
        )
    dataset = file[key]
    if not isinstance(dataset, h5py.Dataset):
        raise FileFormatError(
            path, key, f"is a group, not a dataset; a {layout} file holds {_LAYOUTS[layout]}"
        )
    return dataset


def _load(file: h5py.File, path: Path, key: str, layout: str) -> np.ndarray:
    """Read the numeric dataset ``key`` whole."""
    return _read_numeric(_dataset(file, path, key, layout), path, key)


def _read_numeric(dataset: h5py.Dataset, path: Path, key: str, window: slice | None = None) -> np.ndarray:
    # Check the dtype before reading, so a dataset of strings or variable-length rows is not loaded.
    if dataset.dtype.kind not in "fiu":
        raise FileFormatError(path, key, f"holds {dataset.dtype} values; expected numbers")
    try:
        return np.asarray(dataset[()] if window is None else dataset[window])
    except OSError as err:
        raise FileFormatError(path, key, f"cannot be read (truncated or corrupt file?): {err}") from None


def _optional(file: h5py.File, path: Path, key: str, layout: str) -> np.ndarray | None:
    return _load(file, path, key, layout) if key in file else None


def _string_attr(attrs: h5py.AttributeManager, path: Path, key: str, accepted: Sequence[str]) -> str | None:
    """A string attribute that must be one of ``accepted``, or ``None`` if absent."""
    if key not in attrs:
        return None
    value = attrs[key]
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if not isinstance(value, str) or value not in accepted:
        raise FileFormatError(path, key, f"attribute is {value!r}; expected one of {list(accepted)}")
    return value


# ---------------------------------------------------------------------------------- CaloClouds
def _read_caloclouds(path: Path, window: slice = slice(None)) -> Showers:
    with _open(path) as file:
        events = _dataset(file, path, "events", "caloclouds")
        axis_order = _axis_order(events.shape, file.attrs, path)  # from the shape: fails before reading
        raw = _read_numeric(events, path, "events", window)
        energy = _load(file, path, "energy", "caloclouds")
        direction = _optional(file, path, "p_norm_local", "caloclouds")
        pdg = _optional(file, path, "pdg", "caloclouds")
        z_units = _string_attr(file.attrs, path, "z_units", Z_UNITS) or "layer"
        n = events.shape[0]
    # The per-shower datasets are small: check them whole (their shape against all N showers),
    # then keep the window.
    points, num_points = _compact_events(raw, axis_order, path)
    return Showers(
        points,
        num_points,
        _incident_energies(energy, n, path, "energy", "events", "GeV")[window],
        _directions(direction, n, path, "p_norm_local", "events")[window],
        _pdg(pdg, n, path, "pdg", "events")[window],
        z_units,
    )


def _axis_order(shape: tuple[int, ...], attrs: h5py.AttributeManager, path: Path) -> str:
    """``"N4P"`` or ``"NP4"`` from the shape of ``events``; the ``axis_order`` attribute settles P == 4."""
    if len(shape) != 3 or 4 not in shape[1:]:
        raise FileFormatError(
            path, "events", f"has shape {shape}; expected (N, 4, P) or (N, P, 4) with features x, y, z, e"
        )
    stated = _string_attr(attrs, path, "axis_order", AXIS_ORDERS)
    by_shape = [order for order, axis in (("N4P", 1), ("NP4", 2)) if shape[axis] == 4]
    if stated is not None and stated not in by_shape:
        raise FileFormatError(path, "axis_order", f"attribute says {stated} but 'events' has shape {shape}")
    # With P == 4 both orders fit; CaloClouds' own files are (N, 4, P).
    return stated or by_shape[0]


def _compact_events(raw: np.ndarray, axis_order: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(N, P, 4)`` float32 points in MeV with padding moved to the back, and the counts.

    Padding rows (``e == 0``) may sit anywhere on disk; real points keep their order.
    """
    # One (N, P) plane per feature: views of the file's array whatever its axis order, so the
    # copies below read memory in order.
    planes = [raw[:, k, :] if axis_order == "N4P" else raw[:, :, k] for k in range(4)]
    _check_finite(raw, path, "events")
    _check_non_negative(planes[3], path, "events", "point energy (GeV; 0 marks padding)")
    real = planes[3] != 0
    num_points = real.sum(axis=1)
    width = int(num_points.max()) if len(raw) else 0
    points = np.zeros((len(raw), width, 4), dtype=np.float32)
    if np.all(real[:, 1:] <= real[:, :-1]):
        # Already padded at the back (the usual case): slices, no index arrays.
        for k, plane in enumerate(planes):
            points[:, :, k] = _in_mev(plane[:, :width], k)
        np.copyto(points, 0, where=~real[:, :width, None])  # padding rows may carry junk x, y, z
    else:
        # Scatter every real point to its rank among the real points of its shower: O(N P), no
        # loop over showers. np.nonzero walks row by row, so the ranks keep the file's order.
        shower, column = np.nonzero(real)
        rank = np.arange(len(shower)) - (np.cumsum(num_points) - num_points)[shower]
        for k, plane in enumerate(planes):
            points[shower, rank, k] = _in_mev(plane[shower, column], k)
    return points, num_points


def _in_mev(values: np.ndarray, feature: int) -> np.ndarray:
    """Feature ``feature`` as stored, with energies (feature 3) converted from GeV to MeV."""
    # A float32 product is rounded once, as float64 arithmetic would be; float64 files stay float64
    # until the final rounding, so they read back exactly what was written.
    return values * MEV_PER_GEV if feature == 3 else values


def _check_writable(showers: Showers, format: str) -> None:
    """Refuse, before anything is written, what :func:`read_showers` would refuse to read back."""
    from .conditions import SHOWERING_PARTICLES, unknown_particles

    showers.check_padding()
    energy = np.asarray(showers.incident_energy_gev, dtype=np.float64)
    if not np.all(np.isfinite(energy)) or np.any(energy <= 0):
        bad = energy[~np.isfinite(energy) | (energy <= 0)][:3].tolist()
        raise ValueError(
            f"incident energies must be positive and finite (GeV), got {bad}; nothing was written"
        )
    direction = np.asarray(showers.direction, dtype=np.float64)
    norm = np.linalg.norm(direction, axis=-1)
    if not np.all(np.isfinite(direction)) or np.any(np.abs(norm - 1) > 1e-3) or np.any(direction[:, 2] <= 0):
        raise ValueError(
            "directions must be finite unit vectors into the calorimeter (p_z > 0); nothing was written"
        )
    if not np.all(np.isfinite(showers.points)):
        raise ValueError("points hold NaN or infinite values; nothing was written")
    unknown = unknown_particles(showers.pdg)
    if unknown:
        raise ValueError(
            f"PDG ids {unknown[:5]} are not particles a calorimeter showers; expected one of "
            f"{sorted(SHOWERING_PARTICLES)}; nothing was written"
        )
    if format == "caloclouds" and np.any(showers.padding_mask & (showers.points[..., 3] == 0)):
        raise ValueError(
            "some real points have zero energy, which the CaloClouds layout reads as padding; "
            "drop them or write format='showerdata'"
        )


class _CaloCloudsBackend:
    """Appends batches to a padded ``events`` dataset whose point axis grows with the widest shower."""

    def __init__(self, file: h5py.File, n: int, axis_order: str = "N4P", dtype: str = "float32") -> None:
        if axis_order not in AXIS_ORDERS:
            raise ValueError(f"axis_order must be one of {AXIS_ORDERS}, got {axis_order!r}")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.file, self.axis_order, self.dtype = file, axis_order, np.dtype(dtype)
        shape, maxshape = (
            ((n, 4, 0), (None, 4, None)) if axis_order == "N4P" else ((n, 0, 4), (None, None, 4))
        )
        chunks = (max(1, min(n, 16)), 4, 1024) if axis_order == "N4P" else (max(1, min(n, 16)), 1024, 4)
        # Unwritten padding reads as the fill value, 0, so growing the point axis pads for free;
        # gzip (readable by every HDF5 tool) squeezes the padding, which is most of a padded file.
        file.create_dataset(
            "events",
            shape=shape,
            maxshape=maxshape,
            dtype=self.dtype,
            chunks=chunks,
            fillvalue=0,
            compression="gzip",
            compression_opts=1,
            shuffle=True,
            fletcher32=True,
        )
        # Every dataset carries Fletcher-32 checksums, verified by HDF5 on every read: a flipped
        # bit in an energy or a PDG id is an error, not a silently different shower.
        file.create_dataset("energy", shape=(n, 1), dtype=np.float64, fletcher32=True)
        file.create_dataset("p_norm_local", shape=(n, 3), dtype=np.float64, fletcher32=True)
        file.create_dataset("pdg", shape=(n,), dtype=np.int32, fletcher32=True)
        file.attrs["axis_order"] = axis_order

    def write(self, showers: Showers, start: int) -> None:
        stop = start + len(showers)
        events = showers.points.astype(self.dtype)
        # Divide in the file's precision: one correctly rounded step, no float64 copy of everything.
        events[..., 3] = showers.points[..., 3].astype(self.dtype) / MEV_PER_GEV
        point_axis = 2 if self.axis_order == "N4P" else 1
        if self.axis_order == "N4P":
            events = events.transpose(0, 2, 1)
        dataset = self.file["events"]
        width = events.shape[point_axis]
        if width > dataset.shape[point_axis]:
            dataset.resize(width, axis=point_axis)
        if self.axis_order == "N4P":
            dataset[start:stop, :, :width] = events
        else:
            dataset[start:stop, :width, :] = events
        self.file["energy"][start:stop] = showers.incident_energy_gev[:, None]
        self.file["p_norm_local"][start:stop] = showers.direction
        self.file["pdg"][start:stop] = showers.pdg

    def write_extra(self, name: str, values: np.ndarray, start: int, n: int) -> None:
        """A per-shower dataset beside the points: ``(B,)``, or ``(B, P)`` growing with the widest batch."""
        values = np.asarray(values)
        if name not in self.file:
            width = values.shape[1:]
            self.file.create_dataset(
                name,
                shape=(n, *(0 for _ in width)),
                maxshape=(n, *(None for _ in width)),
                dtype=values.dtype,
                chunks=(max(1, min(n, 64)), *(1024 for _ in width)) if width else None,
                fillvalue=-1 if values.dtype.kind in "iu" else 0,
                compression="gzip" if width else None,
                fletcher32=True,
            )
        dataset = self.file[name]
        if values.ndim == 2 and values.shape[1] > dataset.shape[1]:
            dataset.resize(values.shape[1], axis=1)
        if values.ndim == 2:
            dataset[start : start + len(values), : values.shape[1]] = values
        else:
            dataset[start : start + len(values)] = values

    def finish(self, z_units: str, attrs: Mapping[str, Any] | None = None) -> None:
        self.file.attrs["z_units"] = z_units
        self.file.attrs["calozoo_version"] = __version__
        for key, value in (attrs or {}).items():
            self.file.attrs[key] = value


# ---------------------------------------------------------------------------------- showerdata
def _read_showerdata(path: Path, window: slice = slice(None)) -> Showers:
    with _open(path) as file:
        for key in _SHOWERDATA_KEYS:
            _dataset(file, path, key, "showerdata")
        _check_showerdata_shapes(file, path)
        # showerdata's metadata (add_metadata / load_metadata) are the file's root attributes.
        z_units = _string_attr(file.attrs, path, "z_units", Z_UNITS) or "layer"
        convention = _string_attr(file.attrs, path, "z_convention", (SHOWERDATA_Z_CONVENTION,))
    try:
        data = showerdata.load(path, start=window.start or 0, stop=window.stop)
        loaded = Showers.from_showerdata(data, z_units)
        if convention == SHOWERDATA_Z_CONVENTION and z_units == "layer":
            mask = loaded.padding_mask
            loaded.points[..., 2][mask] = _from_showerdata_layers(loaded.points[..., 2][mask])
    except (KeyError, ValueError, TypeError, OSError) as err:
        # What the shape checks above cannot see: the point clouds themselves.
        raise FileFormatError(path, "showers", f"showerdata cannot load the point clouds: {err}") from None
    n = len(loaded)
    _check_finite(loaded.points, path, "showers")
    beyond = np.any(loaded.points != 0, axis=2) & ~loaded.padding_mask
    if np.any(beyond):
        i = int(np.argmax(beyond.any(axis=1)))
        raise FileFormatError(
            path,
            "num_points",
            f"says {loaded.num_points[i]} for shower {i}, which stores more points; "
            "expected the length of each stored point cloud",
        )
    return Showers(
        loaded.points,
        loaded.num_points,
        _incident_energies(loaded.incident_energy_gev, n, path, "energies", "showers", "GeV"),
        _directions(loaded.direction, n, path, "directions", "showers"),
        _check_particles(np.asarray(loaded.pdg).reshape(-1), path, "pdg"),
        z_units,
    )


def _check_showerdata_shapes(file: h5py.File, path: Path) -> None:
    """Check the shapes before showerdata loads, so an error can name the key at fault."""
    shape = file["shape"]
    if shape.shape != (3,) or shape.dtype.kind not in "iu":
        raise FileFormatError(path, "shape", "must hold three integers (N, P, 4 or 5)")
    n, width, features = (int(v) for v in shape[()])
    if features not in (4, 5):
        raise FileFormatError(path, "shape", f"says {features} features per point; expected 4 or 5")
    for key, expected in (
        ("showers", (n,)),
        ("num_points", (n,)),
        ("energies", (n, 1)),
        ("directions", (n, 3)),
        ("pdg", (n,)),
        ("shower_ids", (n,)),
    ):
        if file[key].shape != expected:
            raise FileFormatError(
                path, key, f"has shape {file[key].shape}; expected {expected} for the {n} showers of 'shape'"
            )
    num_points = _read_numeric(file["num_points"], path, "num_points")
    if np.any((num_points < 0) | (num_points > width)):
        raise FileFormatError(path, "num_points", f"values must lie in [0, {width}] (the 'shape' width)")


#: showerdata's observables put a point in layer ``int(z + 0.1)``, its layer ``i`` centred at ``z = i``
#: (cell hits at integer layer numbers). calozoo's layer ``i`` is ``[i, i + 1)``, centred at ``i + 0.5``.
#: Files written in that format store ``z`` mapped piecewise linearly from ``[i, i + 0.5)`` onto
#: ``[i - 0.1, i)`` and from ``[i + 0.5, i + 1)`` onto ``[i, i + 0.9)``: showerdata's own functions
#: then find the right layer for every point and the layer centre at ``i``. The attribute
#: ``z_convention`` says so, and reading maps back.
SHOWERDATA_Z_CONVENTION = "showerdata-layers"
_TENTH = np.float32(0.1)


def _to_showerdata_layers(z: np.ndarray) -> np.ndarray:
    """calozoo layer units -> showerdata's (float32), every point in layer ``int(z + 0.1)`` = ``floor(z)``."""
    z = np.asarray(z, dtype=np.float64)
    layer = np.floor(z)
    fraction = z - layer
    mapped = np.where(fraction < 0.5, layer - 0.1 + 0.2 * fraction, layer + 1.8 * (fraction - 0.5))
    out = mapped.astype(np.float32)
    # float32 rounding may cross a boundary: step one ulp back inside
    for _ in range(4):
        low = (out + _TENTH).astype(np.int32) < layer
        high = (out + _TENTH).astype(np.int32) > layer
        if not (low.any() or high.any()):
            break
        out[low] = np.nextafter(out[low], np.float32(np.inf))
        out[high] = np.nextafter(out[high], np.float32(-np.inf))
    return out


def _from_showerdata_layers(z: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_to_showerdata_layers` (to float32 precision)."""
    z = np.asarray(z, dtype=np.float32)
    layer = (z + _TENTH).astype(np.int32).astype(np.float64)
    offset = z.astype(np.float64) - layer
    fraction = np.where(offset < 0, (offset + 0.1) / 0.2, 0.5 + offset / 1.8)
    return np.clip(layer + fraction, layer, np.nextafter(layer + 1, -np.inf)).astype(np.float32)


class _ShowerDataBackend:
    """Appends batches through showerdata's own streaming API (create_empty_file + save_batch)."""

    def __init__(self, file: h5py.File, n: int) -> None:
        self.path = Path(file.filename)
        file.close()  # showerdata opens the file itself
        showerdata.create_empty_file(self.path, (n, 0, 4), overwrite=True)
        self.width = 0

    def write(self, showers: Showers, start: int) -> None:
        data = showers.to_showerdata()
        if showers.z_units == "layer":  # showerdata's own layer convention (raw hits in mm as they are)
            mask = showers.padding_mask
            z = data.points[..., 2]
            z[mask] = _to_showerdata_layers(showers.points[..., 2][mask])
        data.shower_ids = np.arange(start, start + len(showers), dtype=np.int32)
        # save_batch insists that the file's padded width equals the batch's: set it per batch,
        # and to the widest of all batches at the end.
        self._set_width(showers.points.shape[1])
        showerdata.save_batch(data, self.path, start)
        self.width = max(self.width, showers.points.shape[1])

    def _set_width(self, width: int) -> None:
        with h5py.File(self.path, "r+") as file:
            file["shape"][1] = width

    def finish(self, z_units: str, attrs: Mapping[str, Any] | None = None) -> None:
        self._set_width(self.width)
        metadata = {"z_units": z_units, "calozoo_version": __version__, **(attrs or {})}
        if z_units == "layer":
            metadata["z_convention"] = SHOWERDATA_Z_CONVENTION
        showerdata.core.add_metadata(self.path, metadata)


def _check_free_space(path: Path, showers: Showers) -> None:
    """Stop with a clear error before a batch could fill the disk.

    HDF5 reports a full disk in the middle of a write and can crash when the file is closed
    afterwards; so a batch is written only if the disk holds its uncompressed size (an upper
    bound: the file is compressed) and a megabyte more.
    """
    from .errors import OutputError

    free = shutil.disk_usage(path.parent).free
    need = showers.points.nbytes + (1 << 20)
    if free < need:
        raise OutputError(
            f"{path}: the disk is full ({free / 1e6:.1f} MB free in {path.parent}, the next batch may need "
            f"{need / 1e6:.1f} MB); nothing was written: free some space or write elsewhere"
        )


class ShowerWriter:
    """Write ``n_showers`` showers batch by batch into one file, atomically.

    Memory stays bounded by one batch, so millions of showers can be generated into one file.
    The file appears under its name only once all ``n_showers`` are written and the writer is
    closed without error; otherwise nothing (or the previous file) is left there.

    Entering the block locks the output (a second writer of the same file, in this process or
    another, gets :class:`~calozoo.errors.OutputBusyError` at once) and checks that an existing
    file is a shower file calozoo wrote, or empty (:class:`~calozoo.errors.OutputError` if not,
    leaving it untouched).

    Example:
        >>> with ShowerWriter("out.h5", 1000, format="showerdata") as writer:  # doctest: +SKIP
        ...     for batch in model.iter_sample(energies, seed=1, batch_size=100):
        ...         writer.write(batch)
    """

    def __init__(
        self,
        path: PathLike,
        n_showers: int,
        format: str = "caloclouds",
        *,
        attrs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if format not in POINT_FORMATS:
            raise ValueError(
                f"write_showers writes the formats {POINT_FORMATS}, got {format!r}" + _voxel_hint(format)
            )
        unknown = sorted(set(options) - set(_WRITE_OPTIONS[format]))
        if unknown:
            raise TypeError(
                f"unknown option(s) {unknown} for format {format!r}; "
                f"it accepts {list(_WRITE_OPTIONS[format]) or 'none'}"
            )
        if int(n_showers) < 0:
            raise ValueError(f"n_showers must be >= 0, got {n_showers}")
        self.path, self.n_showers, self.format, self.options = Path(path), int(n_showers), format, options
        self.attrs = dict(attrs or {})
        self.written = 0
        self._z_units: str | None = None
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> ShowerWriter:
        with protected(), contextlib.ExitStack() as stack:
            tmp = stack.enter_context(_atomic_shower_file(self.path))
            if self.format == "caloclouds":
                file = stack.enter_context(h5py.File(tmp, "w"))
                self._backend = _CaloCloudsBackend(file, self.n_showers, **self.options)
            else:
                self._backend = _ShowerDataBackend(h5py.File(tmp, "w"), self.n_showers)
            self._stack = stack.pop_all()
        return self

    def write(self, showers: Showers, extra: Mapping[str, np.ndarray] | None = None) -> None:
        """Append a batch (point energies in MeV in memory, GeV on disk).

        ``extra``: per-shower arrays stored beside the points under their names (``(B,)``, or
        ``(B, P)`` such as cell ids, padded with -1); the CaloClouds layout only.
        """
        if extra and self.format != "caloclouds":
            raise ValueError(f"extra datasets ({sorted(extra)}) are stored in the caloclouds layout only")
        if self._stack is None:
            raise RuntimeError("use ShowerWriter in a with-block")
        if self.written + len(showers) > self.n_showers:
            raise ValueError(
                f"{self.path}: writing {self.written + len(showers)} showers into a file "
                f"declared for {self.n_showers}"
            )
        if self._z_units is not None and showers.z_units != self._z_units:
            raise ValueError(
                f"{self.path}: a batch with z in {showers.z_units} after batches in {self._z_units}"
            )
        _check_writable(showers, self.format)
        _check_free_space(self.path, showers)
        self._z_units = showers.z_units
        with protected():  # a Ctrl-C inside HDF5's callbacks would be swallowed: it waits for the batch
            self._backend.write(showers, self.written)
            for name, values in (extra or {}).items():
                self._backend.write_extra(name, values, self.written, self.n_showers)
        self.written += len(showers)

    def __exit__(self, exc_type, exc, tb) -> None:
        with protected():  # closing and moving the file into place is never cut in two
            self._finish(exc_type, exc, tb)

    def _finish(self, exc_type, exc, tb) -> None:
        stack, self._stack = self._stack, None
        if exc_type is None and self.written != self.n_showers:
            exc = ValueError(
                f"{self.path}: only {self.written} of the {self.n_showers} declared showers "
                "were written; the file was not created"
            )
            try:
                raise exc
            finally:
                stack.__exit__(ValueError, exc, exc.__traceback__)
        if exc_type is None:
            try:
                self._backend.finish(self._z_units or "layer", self.attrs)
            except BaseException as err:
                stack.__exit__(type(err), err, err.__traceback__)
                raise
        stack.__exit__(exc_type, exc, tb)


# ---------------------------------------------------------------------------------- validation
def _incident_energies(
    values: np.ndarray, n: int, path: Path, key: str, reference: str, unit: str
) -> np.ndarray:
    """``(N,)`` float64 incident energies from ``(N,)``, ``(N, 1)`` or ``(1, N)``, checked."""
    if values.shape not in ((n,), (n, 1), (1, n)):
        raise FileFormatError(
            path,
            key,
            f"has shape {values.shape}; expected (N,), (N, 1) or (1, N) incident energies in {unit} "
            f"with N = {n}, the number of showers in '{reference}'",
        )
    values = values.astype(np.float64).reshape(-1)
    _check_finite(values, path, key)
    _check_non_negative(values, path, key, f"incident energy ({unit})")
    return values


def _directions(values: np.ndarray | None, n: int, path: Path, key: str, reference: str) -> np.ndarray:
    """``(N, 3)`` unit directions from ``(N, 3)`` or ``(3, N)`` (``None``: normal incidence)."""
    if values is None:
        return np.tile([0.0, 0.0, 1.0], (n, 1))
    if values.shape == (n, 3):
        pass
    elif values.shape == (3, n):  # N == 3 fits both; (N, 3) wins above, being the documented one
        values = values.T
    else:
        raise FileFormatError(
            path,
            key,
            f"has shape {values.shape}; expected (N, 3) or (3, N) unit directions "
            f"with N = {n}, the number of showers in '{reference}'",
        )
    values = values.astype(np.float64)
    _check_finite(values, path, key)
    norm = np.linalg.norm(values, axis=1)
    off = np.abs(norm - 1.0)
    if np.any(off > UNIT_TOLERANCE):
        i = int(np.argmax(off))
        raise FileFormatError(
            path,
            key,
            f"shower {i} has a direction of norm {norm[i]:.6g}; expected unit vectors (within 1e-3)",
        )
    if np.any(values[:, 2] <= 0):
        i = int(np.argmax(values[:, 2] <= 0))
        raise FileFormatError(
            path,
            key,
            f"shower {i} has p_z = {values[i, 2]:.6g}; expected directions into the calorimeter (p_z > 0)",
        )
    renormalise = off > _RENORMALISE_ABOVE
    values[renormalise] /= norm[renormalise, None]
    return values


def _pdg(values: np.ndarray | None, n: int, path: Path, key: str, reference: str) -> np.ndarray:
    """``(N,)`` int32 PDG ids from ``(N,)`` or ``(N, 1)`` (``None``: photons)."""
    if values is None:
        return np.full(n, PHOTON, dtype=np.int32)
    if values.shape not in ((n,), (n, 1)):
        raise FileFormatError(
            path, key, f"has shape {values.shape}; expected (N,) PDG ids with N = {n}, as in '{reference}'"
        )
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        raise FileFormatError(path, key, "holds non-integer values; expected integer PDG ids")
    return _check_particles(values.reshape(-1).astype(np.int32), path, key)


def _check_particles(pdg: np.ndarray, path: Path, key: str) -> np.ndarray:
    """``pdg`` if every id is a particle that showers in a calorimeter, else a FileFormatError."""
    from .conditions import SHOWERING_PARTICLES, unknown_particles

    unknown = unknown_particles(pdg)
    if unknown:
        raise FileFormatError(
            path,
            key,
            f"holds PDG ids {unknown[:5]} that are not particles a calorimeter showers; expected "
            + ", ".join(f"{k} ({v})" for k, v in SHOWERING_PARTICLES.items()),
        )
    return pdg


def _check_finite(values: np.ndarray, path: Path, key: str) -> None:
    bad = ~np.isfinite(values)
    if np.any(bad):
        where = np.argwhere(bad)[0]
        raise FileFormatError(
            path, key, f"holds NaN or infinite values (first in shower {where[0]}); all values must be finite"
        )


def _check_non_negative(values: np.ndarray, path: Path, key: str, what: str) -> None:
    bad = values < 0
    if np.any(bad):
        where = tuple(np.argwhere(bad)[0])
        raise FileFormatError(
            path, key, f"shower {where[0]} has a negative {what}: {values[where]:.6g}; energies must be >= 0"
        )
