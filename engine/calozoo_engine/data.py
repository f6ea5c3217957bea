"""The training set in memory, and batches of showers of similar size.

A data set is one CaloClouds-layout file or a folder of them (what ``calozoo simulate``
writes: ``shard-*.h5``). :class:`TrainingSet` holds all points in one flat ``(M, 4)`` array with
per-shower offsets (no padding in memory), plus the conditions.

:func:`bucket_batches` sorts showers by size and cuts the order into batches of about
``points_per_batch`` points, so a padded batch wastes little; batches are shuffled each epoch.
With ``max_points`` a shower larger than that contributes a random subset of its points (the
points are i.i.d. given the conditions, so a subset is an unbiased sample of the same
distribution — a cheaper step on a CPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from calozoo.errors import FileFormatError
from calozoo.io import read_showers
from calozoo.showers import Showers

from .features import ShowerSummaries

__all__ = [
    "data_files",
    "TrainingSet",
    "SummarySet",
    "write_summaries",
    "read_training_data",
    "is_summary_file",
    "SUMMARY_KIND",
    "bucket_batches",
]

#: ``calozoo_kind`` of a file of per-shower summaries (:func:`write_summaries`).
SUMMARY_KIND = "shower summaries"


def _check_size(path, n: int, minimum: int | None = None) -> None:
    """Refuse a data set of fewer than ``minimum`` showers (default: what training needs)."""
    minimum = max(MIN_TRAINING_SHOWERS if minimum is None else minimum, 1)
    if n < minimum:
        hint = "make a data set with `calozoo simulate`"
        raise FileFormatError(path, None, f"holds {n} showers; at least {minimum} are needed ({hint})")


def data_files(path: str | os.PathLike) -> list[Path]:
    """The HDF5 files of a data set: ``path`` itself, or the ``*.h5`` files in the folder ``path``."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.h5"))
        if not files:
            raise FileFormatError(
                path, None, "the folder holds no *.h5 files (expected shards from `calozoo simulate`)"
            )
        return files
    if not path.exists():
        raise FileNotFoundError(
            f"training data {str(path)!r} does not exist (give an .h5 file or a folder of them)"
        )
    return [path]


#: The fewest showers a training stage accepts (a training and a validation split need a few).
MIN_TRAINING_SHOWERS = 10


@dataclass
class TrainingSet:
    """All showers of a data set, points flat.

    Attributes:
        points: ``(M, 4)`` float32 training points (x, y mm; z layer units; e MeV).
        offsets: ``(N + 1,)`` start of each shower in ``points``.
        energy_gev: ``(N,)``; direction: ``(N, 3)``.
        particles: the PDG codes of its showers (empty: not known).

    :meth:`summaries` gives the per-layer counts and energies and the centre of gravity of each
    shower (what a :class:`~.recipe.Recipe` makes ShowerFlow's targets of).
    """

    points: np.ndarray
    offsets: np.ndarray
    energy_gev: np.ndarray
    direction: np.ndarray
    particles: tuple[int, ...] = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_showers(cls, parts: list[Showers]) -> TrainingSet:
        points, counts, energies, directions, pdg = [], [], [], [], set()
        for s in parts:
            pdg.update(int(p) for p in np.unique(s.pdg))
            points.append(s.flat()[0].astype(np.float32))
            counts.append(s.num_points)
            energies.append(s.incident_energy_gev)
            directions.append(s.direction)
        num = np.concatenate(counts).astype(np.int64)
        return cls(
            points=np.concatenate(points),
            offsets=np.concatenate([[0], np.cumsum(num)]),
            energy_gev=np.concatenate(energies).astype(np.float64),
            direction=np.concatenate(directions).astype(np.float64),
            particles=tuple(sorted(pdg)),
        )

    @classmethod
    def read(
        cls,
        path: str | os.PathLike,
        limit: int | None = None,
        progress: bool = True,
        min_showers: int | None = None,
    ) -> TrainingSet:
        """Read a file or a folder of shards (at most ``limit`` showers; at least ``min_showers``,
        by default what training needs)."""
        parts, total = [], 0
        for file in tqdm(data_files(path), desc="reading", unit="file", disable=not progress):
            showers = read_showers(file)
            if showers.z_units != "layer":
                raise FileFormatError(
                    file, None, "training needs preprocessed points (z in layer units), not raw hits"
                )
            parts.append(showers)
            total += len(showers)
            if limit is not None and total >= limit:
                break
        data = cls.from_showers(parts) if parts else None
        _check_size(path, 0 if data is None else len(data), min_showers)
        return data if limit is None else data.subset(np.arange(min(limit, len(data))))

    def __len__(self) -> int:
        return len(self.energy_gev)

    @property
    def num_points(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def owner(self) -> np.ndarray:
        """``(M,)`` the shower of each point."""
        return np.repeat(np.arange(len(self)), self.num_points)

    def summaries(self, n_layers: int) -> ShowerSummaries:
        """Per-layer counts and energies and the centre of gravity of every shower."""
        key = ("summaries", n_layers)
        if key not in self._cache:
            showers = Showers.from_flat(self.points, self.owner, self.energy_gev, self.direction)
            self._cache[key] = ShowerSummaries.of(showers, n_layers)
        return self._cache[key]

    def subset(self, index: np.ndarray) -> TrainingSet:
        index = np.asarray(index)
        parts = [self.points[self.offsets[i] : self.offsets[i + 1]] for i in index]
        num = np.array([len(p) for p in parts], dtype=np.int64)
        return TrainingSet(
            points=np.concatenate(parts) if parts else np.zeros((0, 4), np.float32),
            offsets=np.concatenate([[0], np.cumsum(num)]),
            energy_gev=self.energy_gev[index],
            direction=self.direction[index],
            particles=self.particles,
        )

    def split(self, validation_fraction: float, seed: int) -> tuple[TrainingSet, TrainingSet]:
        """A fixed random split into training and validation showers."""
        order = np.random.default_rng(seed).permutation(len(self))
        n_val = int(round(validation_fraction * len(self)))
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))

    def padded(
        self, index: np.ndarray, rng: np.random.Generator, max_points: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(B, N, 4)`` points of the showers ``index`` (zero padded), ``(B, N)`` mask of real ones."""
        sizes = self.num_points[index]
        if max_points is not None:
            sizes = np.minimum(sizes, max_points)
        out = np.zeros((len(index), int(sizes.max()), 4), np.float32)
        mask = np.zeros(out.shape[:2], bool)
        for row, (i, n) in enumerate(zip(index, sizes)):
            pts = self.points[self.offsets[i] : self.offsets[i + 1]]
            if n < len(pts):
                pts = pts[rng.choice(len(pts), n, replace=False)]
            out[row, :n] = pts
            mask[row, :n] = True
        return out, mask


@dataclass
class SummarySet:
    """Per-shower summaries without the points: all the flow stage needs, ~200 bytes a shower.

    The flow learns per-layer counts and energies given the conditions, so a data set for it can
    be hundreds of thousands of showers in tens of MB (:func:`write_summaries`), where their
    points would take gigabytes. It has :class:`TrainingSet`'s interface for the flow stage
    (``len``, :meth:`summaries`, :meth:`subset`, :meth:`split` (the same split of the same
    showers), ``energy_gev``, ``direction``); the point-network stages need points.
    """

    data: ShowerSummaries
    energy_gev: np.ndarray
    direction: np.ndarray
    particles: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.energy_gev)

    @property
    def n_layers(self) -> int:
        return self.data.counts.shape[1]

    def summaries(self, n_layers: int) -> ShowerSummaries:
        if n_layers != self.n_layers:
            raise FileFormatError(
                "summaries", None, f"hold {self.n_layers} layers per shower, the model needs {n_layers}"
            )
        return self.data

    def subset(self, index: np.ndarray) -> SummarySet:
        index = np.asarray(index)
        return SummarySet(self.data[index], self.energy_gev[index], self.direction[index], self.particles)

    split = TrainingSet.split

    @classmethod
    def of(cls, data: TrainingSet, n_layers: int) -> SummarySet:
        """The summaries of a training set's showers."""
        return cls(data.summaries(n_layers), data.energy_gev, data.direction, data.particles)

    @classmethod
    def of_shards(
        cls, path: str | os.PathLike, n_layers: int, limit: int | None = None, progress: bool = True
    ) -> SummarySet:
        """The summaries of a point data set, read one file at a time (memory: one shard's points,
        however large the data set); the same as ``of(TrainingSet.read(path, limit))``."""
        parts, total = [], 0
        for file in tqdm(data_files(path), desc="summarising", unit="file", disable=not progress):
            part = cls.of(TrainingSet.read(file, progress=False, min_showers=1), n_layers)
            parts.append(part)
            total += len(part)
            if limit is not None and total >= limit:
                break
        data = cls(
            ShowerSummaries.concatenate([p.data for p in parts]),
            np.concatenate([p.energy_gev for p in parts]),
            np.concatenate([p.direction for p in parts]),
            _particles(parts),
        )
        _check_size(path, len(data))
        return data if limit is None else data.subset(np.arange(min(limit, len(data))))

    @classmethod
    def read(cls, path: str | os.PathLike, limit: int | None = None) -> SummarySet:
        """Read a summaries file or a folder of them (at most ``limit`` showers)."""
        import h5py

        parts = []
        for file in data_files(path):
            with h5py.File(file, "r") as f:
                if f.attrs.get("calozoo_kind") != SUMMARY_KIND:
                    raise FileFormatError(file, None, "is not a summaries file (write_summaries)")
                energy = f["incident_energy_gev"][()].astype(np.float64)
                summaries = ShowerSummaries(
                    f["counts"][()].astype(np.int64),
                    f["energy_mev"][()].astype(np.float64),
                    f["cog"][()].astype(np.float64),
                    energy,
                )
                pdg = tuple(int(p) for p in f.attrs.get("pdg", ()))
                parts.append(cls(summaries, energy, f["direction"][()].astype(np.float64), pdg))
        data = cls(
            ShowerSummaries.concatenate([p.data for p in parts]),
            np.concatenate([p.energy_gev for p in parts]),
            np.concatenate([p.direction for p in parts]),
            _particles(parts),
        )
        return data if limit is None else data.subset(np.arange(min(limit, len(data))))


def _particles(parts) -> tuple[int, ...]:
    """The PDG codes of several data sets together."""
    return tuple(sorted({pdg for part in parts for pdg in part.particles}))


def write_summaries(path: str | os.PathLike, data: SummarySet) -> Path:
    """Write ``data`` compactly (counts as uint16, the rest float32, compressed), atomically."""
    import h5py

    from calozoo.serialization import atomic_path

    path = Path(path)
    if data.data.counts.max(initial=0) > np.iinfo(np.uint16).max:
        raise ValueError("a layer holds more than 65535 points: too many for a summaries file")

    with atomic_path(path, kind="summaries file", recognise=is_summary_file) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["calozoo_kind"] = SUMMARY_KIND
            if data.particles:
                f.attrs["pdg"] = np.asarray(data.particles, dtype=np.int32)
            columns = {
                "counts": data.data.counts.astype(np.uint16),
                "energy_mev": data.data.energy_mev.astype(np.float32),
                "cog": data.data.cog.astype(np.float32),
                "incident_energy_gev": data.energy_gev.astype(np.float32),
                "direction": data.direction.astype(np.float32),
            }
            for name, value in columns.items():
                f.create_dataset(name, data=value, compression="gzip", shuffle=True)
    return path


def is_summary_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file :func:`write_summaries` wrote."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("calozoo_kind") == SUMMARY_KIND
    except OSError:
        return False


def read_training_data(path: str | os.PathLike, limit: int | None = None, points: bool = True):
    """A :class:`TrainingSet` (point shards) or, for the flow stage (``points=False``), also a
    :class:`SummarySet` (summaries files)."""
    files = data_files(path)
    if is_summary_file(files[0]):
        if points:
            raise FileFormatError(
                path,
                None,
                "holds shower summaries without points: the point-network stages need point "
                "shards (`calozoo simulate`); summaries serve the flow stage",
            )
        return SummarySet.read(path, limit)
    return TrainingSet.read(path, limit=limit)


def bucket_batches(
    num_points: np.ndarray, points_per_batch: int, rng: np.random.Generator, max_points: int | None = None
) -> list[np.ndarray]:
    """Shower indices in batches of similar size, about ``points_per_batch`` padded points each.

    Showers are sorted by size (ties and neighbours jittered so batches differ between epochs),
    cut greedily so that ``batch size x largest shower`` stays under the budget, then the batches
    are shuffled.
    """
    sizes = np.asarray(num_points, dtype=np.int64)
    if max_points is not None:
        sizes = np.minimum(sizes, max_points)
    order = np.argsort(sizes + rng.uniform(0, 0.2 * sizes.max() / max(len(sizes), 1) + 1, len(sizes)))
    batches, start = [], 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (stop - start + 1) * sizes[order[stop]] <= points_per_batch:
            stop += 1
        batches.append(order[start:stop])
        start = stop
    return [batches[i] for i in rng.permutation(len(batches))]
