"""Events and photons files (HDF5), written atomically.

An **events file** (``calozoo_kind = "events"``) holds :class:`~calozoo.reconstruction.Events`
flat: ``event``, ``cell_id``, ``position_mm``, ``layer``, ``energy_mev`` and, when known, the
particles under ``particles/``; attributes ``n_events`` and ``geometry``. :func:`read_events` also
reads the cell hits that ``calozoo project`` writes (one shower per event).

A **photons file** (``calozoo_kind = "photons"``) holds one row per photon candidate (the columns
of :class:`~calozoo.reconstruction.Photons`) and ``unassigned_mev`` per event.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..serialization import atomic_path
from .events import Events, Particles, ReconstructionError
from .finder import Photons

__all__ = ["write_events", "read_events", "write_photons", "read_photons"]

_EVENT_COLUMNS = ("event", "cell_id", "position_mm", "layer", "energy_mev")
_PARTICLE_COLUMNS = ("event", "energy_gev", "entry_point_mm", "direction", "pdg")


def _kind(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("calozoo_kind")
    except OSError:
        return None


def write_events(path: str | os.PathLike, events: Events) -> Path:
    """Write ``events`` to ``path`` (replacing only an events file)."""
    import h5py

    path = Path(path)
    with atomic_path(path, kind="events file", recognise=lambda p: _kind(p) == "events") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["calozoo_kind"] = "events"
            f.attrs["n_events"] = events.n_events
            f.attrs["geometry"] = events.geometry
            for name in _EVENT_COLUMNS:
                f.create_dataset(name, data=getattr(events, name), compression="gzip")
            if events.particles is not None:
                group = f.create_group("particles")
                for name in _PARTICLE_COLUMNS:
                    group.create_dataset(name, data=getattr(events.particles, name))
    return path


def read_events(path: str | os.PathLike, geometry=None) -> Events:
    """Events from an events file, or from projected cell hits (``calozoo project``: one event per shower).

    Raises:
        FileFormatError: neither kind of file.
        ReconstructionError: cell hits in a geometry that does not give its cells' positions.
    """
    import h5py

    import calozoo

    from ..io import projection_of, read_cell_hits

    path = Path(path)
    if _kind(path) == "events":
        with h5py.File(path, "r") as f:
            columns = {name: f[name][()] for name in _EVENT_COLUMNS}
            particles = None
            if "particles" in f:
                particles = Particles(**{name: f["particles"][name][()] for name in _PARTICLE_COLUMNS})
            return Events(
                int(f.attrs["n_events"]), **columns, particles=particles, geometry=str(f.attrs["geometry"])
            )
    projection = projection_of(path)
    if projection is None:
        raise FileFormatError(
            path,
            None,
            "holds neither events (calozoo.reconstruction.write_events) nor projected cell hits "
            "(`calozoo project`)",
        )
    name = geometry or projection.get("projected_into")
    if not name:
        raise ReconstructionError(f"{path}: the file does not name its geometry; give --geometry")
    geo = calozoo.geometry(name) if isinstance(name, str) else name
    cells = read_cell_hits(path)
    mask = cells.cell_id >= 0
    if not np.any(mask) and cells.showers.num_points.sum():
        raise ReconstructionError(
            f"{path}: the cell hits have no cell ids (a showerdata file); project again"
        )
    owner = np.broadcast_to(np.arange(len(cells))[:, None], mask.shape)[mask]
    ids = cells.cell_id[mask]
    try:
        position = geo.cell_centre_mm(ids)
    except NotImplementedError as err:
        raise ReconstructionError(str(err)) from None
    points = cells.showers.points[mask]
    return Events(
        len(cells),
        owner,
        ids,
        position,
        np.floor(points[:, 2]).astype(np.int64),
        points[:, 3],
        None,
        geo.name,
    )


def write_photons(path: str | os.PathLike, photons: Photons, geometry: str = "") -> Path:
    """Write ``photons`` to ``path`` (replacing only a photons file)."""
    import h5py

    path = Path(path)
    with atomic_path(path, kind="photons file", recognise=lambda p: _kind(p) == "photons") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["calozoo_kind"] = "photons"
            f.attrs["n_events"] = photons.n_events
            f.attrs["geometry"] = geometry
            for name, value in photons.arrays().items():
                f.create_dataset(name, data=value)
    return path


def read_photons(path: str | os.PathLike) -> Photons:
    """Photons from a file :func:`write_photons` wrote."""
    import h5py

    path = Path(path)
    if _kind(path) != "photons":
        raise FileFormatError(path, None, "is not a photons file (write one with `calozoo reconstruct`)")
    with h5py.File(path, "r") as f:
        columns = {name: f[name][()] for name in f if isinstance(f[name], h5py.Dataset)}
        return Photons(int(f.attrs["n_events"]), **columns)
