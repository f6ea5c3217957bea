"""The three interfaces every plugin implements: ShowerModel, Geometry and Calibrator.

Units everywhere: lengths in mm, deposited energies in MeV, incident energies in GeV,
directions as unit vectors in the local shower frame (``z`` through the layers, ``p_z > 0``).

Three kinds of point clouds flow between them (all :class:`~calozoo.showers.Showers`):

- **raw hits** (``z_units="mm"``): energy deposits as a full simulation records them, in the
  local frame with the origin at the incident point on the calorimeter's front face; ``z`` is
  the depth behind the front face. Inclined showers lean: their axis at depth ``d`` sits at
  ``d * (p_x / p_z, p_y / p_z)``.
- **training points** (``z_units="layer"``): what preprocessing makes of raw hits and what
  models generate (the CaloClouds convention): ``x, y`` relative to the incident trajectory at
  that layer (the tilt removed), ``z`` in layer units (layer ``i`` is ``[i, i + 1)``).
- **cell hits** (:class:`CellHits`): training points projected into a detector: the tilt
  re-applied, the shower placed at its incident point, energies summed per cell, dead regions
  and sub-threshold cells dropped; one point per cell at the cell centre, ``x, y`` in the local
  frame relative to the incident point, ``z`` = layer index + 0.5. Every projection also says
  where the energy that did not become cell hits went (:class:`EnergyLosses`): below the
  threshold, outside the layers, beyond the geometry's edges, in dead regions.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .conditions import Conditions
from .seeding import root_sequence, shower_seeds
from .serialization import load_folder, save_folder
from .showers import Showers, concatenate

__all__ = [
    "ShowerModel",
    "Geometry",
    "Calibrator",
    "CellHits",
    "EnergyLosses",
    "MissingLayersWarning",
    "warn_missing_layers",
    "check_training_points",
    "Saveable",
]


class Saveable:
    """Save to and load from a folder (JSON config + safetensors), with the class checked on load.

    Subclasses provide :meth:`get_config` (JSON-serialisable settings), :meth:`get_tensors`
    (learned arrays) and :meth:`from_saved` (rebuild from both).
    """

    def get_config(self) -> dict[str, Any]:
        """Settings needed to rebuild this object (JSON-serialisable)."""
        return {}

    def get_tensors(self) -> dict[str, Any]:
        """Learned state as named numpy arrays or torch tensors."""
        return {}

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, np.ndarray]):
        """Rebuild from what :meth:`get_config` and :meth:`get_tensors` returned."""
        return cls(**config)

    def save(self, path: str | os.PathLike) -> Path:
        """Write this object to the folder ``path`` atomically (replacing an older save)."""
        return save_folder(path, type(self), self.get_config(), self.get_tensors())

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load from a folder written by :meth:`save`; refuses a folder of another class."""
        config, tensors = load_folder(path, expected=cls)
        return cls.from_saved(config, tensors)


class ShowerModel(Saveable, ABC):
    """A generator of calorimeter showers as point clouds in the local shower frame.

    Subclasses set :attr:`conditions` and implement :meth:`generate`; :meth:`sample` checks the
    user's conditions, splits them into batches, hands each batch its showers' own seeds and
    shows progress, so every model rejects bad input the same way and gives the same showers
    for a seed whatever the batch size.

    Output: :class:`~calozoo.showers.Showers` with ``x, y`` in mm, ``z`` in layer units
    (layer ``i`` is ``[i, i + 1)``) unless the model says otherwise, ``e`` in MeV, non-negative.
    """

    #: Registered name of the model (e.g. ``"caloclouds3"``).
    name: ClassVar[str] = "unnamed"
    #: Number of calorimeter layers the model's ``z`` coordinate spans.
    n_layers: ClassVar[int] = 30

    @property
    @abstractmethod
    def conditions(self) -> Conditions:
        """The energies (GeV), directions and particles this model accepts."""

    @abstractmethod
    def generate(
        self, energy_gev: np.ndarray, direction: np.ndarray, pdg: np.ndarray, seeds: np.ndarray
    ) -> Showers:
        """Generate one batch from already-checked conditions.

        Args:
            energy_gev: ``(B,)`` incident energies in GeV, inside :attr:`conditions`.
            direction: ``(B, 3)`` unit directions, ``p_z > 0``.
            pdg: ``(B,)`` particle ids.
            seeds: ``(B,)`` uint64 per-shower seeds (:func:`calozoo.seeding.shower_seeds`), the
                only source of randomness allowed: shower ``i`` draws from ``seeds[i]`` alone
                (:func:`calozoo.seeding.shower_rngs` for numpy generators, one
                ``torch.Generator().manual_seed(int(s))`` per shower for torch), so a shower does
                not depend on which other showers share its batch.
        """

    def iter_sample(
        self,
        energy,
        direction=None,
        *,
        pdg=None,
        seed: int | None = None,
        batch_size: int = 1000,
        progress: bool = False,
        start: int = 0,
    ) -> Iterator[Showers]:
        """Like :meth:`sample`, one batch at a time (memory bounded by a batch).

        All conditions are checked before the first batch is generated; concatenating the batches
        gives exactly what :meth:`sample` returns for the same arguments.
        """
        energy, direction, pdg = self.conditions.validate(energy, direction, pdg)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
            raise ValueError(f"start must be a non-negative integer, got {start!r}")
        # the root is made here: a bad seed fails at once, and seed=None is one fresh root for the call
        root = root_sequence(seed)
        return self._batches(energy, direction, pdg, root, int(batch_size), progress, int(start))

    def _batches(
        self, energy, direction, pdg, root, batch_size: int, progress: bool, start: int = 0
    ) -> Iterator[Showers]:
        from tqdm.auto import tqdm

        # One stream per shower (calozoo.seeding): shower i of the job is child start + i of the
        # root, whatever the batch it falls in, so the batch size never changes the showers.
        with tqdm(total=len(energy), unit="shower", disable=not progress, desc=self.name) as bar:
            for first in range(0, len(energy), batch_size):
                stop = first + batch_size
                seeds = shower_seeds(root, len(energy[first:stop]), start=start + first)
                batch = self.generate(energy[first:stop], direction[first:stop], pdg[first:stop], seeds)
                bar.update(len(batch))
                yield batch

    def sample(
        self,
        energy,
        direction=None,
        *,
        pdg=None,
        seed: int | None = None,
        batch_size: int = 1000,
        progress: bool = False,
        start: int = 0,
    ) -> Showers:
        """Generate showers for the given incident conditions.

        Args:
            energy: incident energy in GeV, a number or ``(N,)``.
            direction: unit direction ``(3,)`` or ``(N, 3)`` in the local frame, ``p_z > 0``;
                default normal incidence ``(0, 0, 1)``.
            pdg: particle id(s); default the model's first accepted particle.
            seed: the same seed gives the same showers, whatever the batch size: shower ``i``
                draws from child ``start + i`` of ``numpy.random.SeedSequence(seed)``
                (:mod:`calozoo.seeding`), so the first ``n`` showers of a longer call are those
                of a call for ``n``; ``None`` draws one fresh seed for the whole call.
            batch_size: showers generated per call of :meth:`generate` (memory and speed only).
            progress: show a tqdm progress bar.
            start: the index of the first shower in the job seeded ``seed`` (``0``): a part of a
                larger job, e.g. one shard, gives that job's showers ``start, start + 1, ...``.

        Raises:
            InvalidConditionError: energies outside the model's range, non-unit, backward or
                NaN directions, shapes that do not match, particles it does not simulate.
        """
        return concatenate(
            list(
                self.iter_sample(
                    energy,
                    direction,
                    pdg=pdg,
                    seed=seed,
                    batch_size=batch_size,
                    progress=progress,
                    start=start,
                )
            )
        )

    def fit(self, showers: Showers, **options) -> ShowerModel:
        """Train on showers (trainable models only)."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")

    def export(self, path: str | os.PathLike, **options) -> Path:
        """Export for the C++ chain (TorchScript for DDFastShowerML); optional."""
        raise NotImplementedError(f"{type(self).__name__} has no export")

    def describe(self) -> str:
        return f"{self.name}: {self.conditions.describe()}"


class MissingLayersWarning(UserWarning):
    """Showers reach layers the geometry does not have (e.g. a 30-layer model projected into a
    geometry with fewer layers): the energy there is lost (``losses.outside_layers_mev``)."""


#: How each standard loss is named in messages.
_LOSS_LABELS = {
    "below_threshold_mev": "below threshold",
    "outside_layers_mev": "outside the layers",
    "outside_mev": "beyond the edges",
    "dead_mev": "dead regions",
}


@dataclass(frozen=True, kw_only=True, eq=False)  # arrays: no == or hash
class EnergyLosses:
    """Where the energy of the input points that did not become cell hits went, per shower, MeV.

    Every geometry fills every field, with zeros where a cause cannot happen (nothing is dead in
    a grid without gaps, nothing is beyond the edges of an unbounded one). The causes do not
    overlap: a point is counted once, by the first of *outside the layers*, *beyond the edges*,
    *dead* that applies, and the energy of cells below threshold is *below threshold*; so the
    cell hits' energy plus :attr:`total_mev` is the input's energy. A geometry with a cause of
    its own subclasses this and adds a field ending in ``_mev``; :meth:`causes` and
    :attr:`total_mev` include it.

    Attributes:
        below_threshold_mev: ``(N,)`` in cells whose summed energy is below the threshold.
        outside_layers_mev: ``(N,)`` in points in front of the first layer or behind the last
            (``z`` outside ``[0, n_layers)``): layers the geometry does not have.
        outside_mev: ``(N,)`` beyond the geometry's transverse edges (the ILD barrel: beyond a
            slab's ends, in the neighbouring stave, or beyond the barrel's ends).
        dead_mev: ``(N,)`` between cells: guard rings, wafer, tower and module gaps.

    Example:
        >>> lost = EnergyLosses.zeros(2)
        >>> lost.total_mev.tolist(), list(lost.causes())
        ([0.0, 0.0], ['below_threshold_mev', 'outside_layers_mev', 'outside_mev', 'dead_mev'])
    """

    below_threshold_mev: np.ndarray
    outside_layers_mev: np.ndarray
    outside_mev: np.ndarray
    dead_mev: np.ndarray

    def __post_init__(self) -> None:
        shape = None
        for name in self.causes():
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.ndim != 1 or (shape is not None and value.shape != shape):
                raise ValueError(
                    f"EnergyLosses: {name} must be (N,) like the other causes, got {value.shape}"
                )
            shape = value.shape
            object.__setattr__(self, name, value)

    @classmethod
    def zeros(cls, n: int, **causes) -> EnergyLosses:
        """``n`` showers that lost nothing, except the ``causes`` given (``name=(n,) array``)."""
        values = {f.name: np.zeros(n) for f in dataclasses.fields(cls)}
        values.update(causes)
        return cls(**values)

    def causes(self) -> dict[str, np.ndarray]:
        """``{field name: (N,) MeV}`` of every cause, in field order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name.endswith("_mev")}

    @property
    def total_mev(self) -> np.ndarray:
        """``(N,)`` everything lost: the input's energy minus the energy of the cell hits."""
        return np.sum(list(self.causes().values()), axis=0) if len(self) else np.zeros(0)

    def __len__(self) -> int:
        return len(self.dead_mev)

    def summary(self, input_mev: float | None = None) -> str:
        """One line: the energy lost in all and by each cause that lost any, largest first,
        summed over the showers; ``input_mev`` (the input's energy) adds the shares of it.

        >>> EnergyLosses.zeros(1, dead_mev=[3.0], below_threshold_mev=[1.0]).summary(100.0)
        '4 MeV (4.0%): dead regions 3 MeV (3.0%), below threshold 1 MeV (1.0%)'
        """
        totals = {name: float(value.sum()) for name, value in self.causes().items()}
        order = sorted((name for name in totals if totals[name] > 0), key=lambda name: -totals[name])

        def amount(value: float) -> str:
            share = f" ({value / input_mev:.1%})" if input_mev else ""
            return f"{value:.4g} MeV{share}"

        parts = [
            f"{_LOSS_LABELS.get(name, name.removesuffix('_mev'))} {amount(totals[name])}" for name in order
        ]
        return amount(sum(totals.values())) + (": " + ", ".join(parts) if parts else "")

    def dominant(self) -> str:
        """The label of the cause that lost the most energy summed over the showers."""
        totals = {name: float(value.sum()) for name, value in self.causes().items()}
        name = max(totals, key=lambda n: totals[n])
        return _LOSS_LABELS.get(name, name.removesuffix("_mev"))


@dataclass
class CellHits:
    """Showers after projection into a detector's cells.

    Attributes:
        showers: one point per hit cell at the cell centre; ``e`` the cell energy in MeV
            (threshold applied).
        cell_id: ``(N, H)`` int64 geometry-specific cell ids, ``-1`` in the padding.
        losses: the energy of the input that did not become cell hits, per shower and cause.
            Every :meth:`Geometry.project` fills it; ``None`` only for cell hits built by hand.
    """

    showers: Showers
    cell_id: np.ndarray
    losses: EnergyLosses | None = None

    def __len__(self) -> int:
        return len(self.showers)


def check_training_points(geometry: Geometry, showers: Showers) -> None:
    """What every :meth:`Geometry.project` accepts: :class:`Showers` of training points (z in layers).

    Raises:
        TypeError: not a :class:`Showers` (e.g. a numpy array), saying how to make one.
        ValueError: raw hits (z in mm) instead of training points.
    """
    if not isinstance(showers, Showers):
        raise TypeError(
            f"{geometry.name}: project() takes calozoo.Showers (training points, z in layer units), got "
            f"{type(showers).__module__}.{type(showers).__qualname__}; make one with "
            "calozoo.Showers.from_point_lists(points, energies, directions) or read a file with "
            "calozoo.read_showers"
        )
    if showers.z_units != "layer":
        raise ValueError(f"{geometry.name}: project() needs z in layer units, got z in {showers.z_units}")


def warn_missing_layers(
    geometry: Geometry, showers: Showers, losses: EnergyLosses, stacklevel: int = 3
) -> None:
    """Warn (:class:`MissingLayersWarning`) if ``showers`` lost energy in layers ``geometry`` lacks.

    Every :meth:`Geometry.project` calls it before returning, so that projecting a model with
    more layers than the geometry never loses energy silently. The message says how much energy
    was lost there, in how many showers, and which loss dominates overall. ``stacklevel=3``
    points the warning at the caller of ``project``.
    """
    missing = losses.outside_layers_mev
    if not np.any(missing > 0):
        return
    z = showers.points[..., 2][showers.padding_mask & (showers.points[..., 3] > 0)]
    layer = np.floor(z).astype(np.int64)
    beyond = layer[(layer < 0) | (layer >= geometry.n_layers)]
    reached = []
    if beyond.size and beyond.max() >= geometry.n_layers:
        reached.append(f"layer {beyond.max()}")
    if beyond.size and beyond.min() < 0:
        reached.append(f"layer {beyond.min()} (in front of layer 0)")
    reached = " and ".join(reached) or f"outside layers 0-{geometry.n_layers - 1}"
    total = float(showers.visible_energy_mev.sum())
    lost = float(missing.sum())
    share = lost / total if total > 0 else 0.0
    hit = int(np.count_nonzero(missing > 0))
    warnings.warn(
        f"{geometry.name} has {geometry.n_layers} layers (0-{geometry.n_layers - 1}) but the showers "
        f"reach {reached}: {lost:.4g} MeV ({share:.1%} of the input's {total:.4g} MeV, in {hit} of "
        f"{len(showers)} showers) fell in layers it does not have and is lost. Lost in all: "
        f"{losses.summary(total)}; the largest loss is {losses.dominant()}. Was the model made for "
        f"a geometry with more layers?",
        MissingLayersWarning,
        stacklevel=stacklevel,
    )


class Geometry(Saveable, ABC):
    """A calorimeter: its layers, cells, dead regions, threshold, and the local shower frame.

    Layers are counted from the front face; ``layer_depth_mm[i]`` is the depth of the centre of
    sensitive layer ``i`` measured from the front face along the layer normal.
    """

    name: ClassVar[str] = "unnamed"
    #: Transverse pitch of the (square) cells in mm; preprocessing splits each cell into
    #: sub-cells of this pitch. Geometries without square cells leave it ``None``.
    cell_size_mm: float | None = None

    @property
    @abstractmethod
    def n_layers(self) -> int:
        """Number of sensitive layers."""

    @property
    @abstractmethod
    def layer_depth_mm(self) -> np.ndarray:
        """``(n_layers,)`` depth of each sensitive layer's centre behind the front face, mm."""

    @property
    @abstractmethod
    def threshold_mev(self) -> float:
        """Cell energies below this (MeV) are dropped after projection."""

    @abstractmethod
    def project(self, showers: Showers, incident_point_mm=None) -> CellHits:
        """Project training points into cells.

        Re-applies the tilt of each layer from the showers' directions and ``layer_depth_mm``,
        places each shower at its incident point, sums point energies per cell, drops energy in
        dead regions and cells below :attr:`threshold_mev`.

        Args:
            showers: training points (``z`` in layer units, tilt removed).
            incident_point_mm: where each shower enters the calorimeter, in the geometry's own
                coordinates (``(3,)`` shared or ``(N, 3)``); ``None`` for the geometry's default.

        Returns:
            :class:`CellHits` whose ``losses`` (:class:`EnergyLosses`) account for every MeV of
            the input that is not in a cell hit, by cause, zeros where a cause cannot happen:
            ``cells.showers.visible_energy_mev + cells.losses.total_mev`` is the input's
            ``visible_energy_mev``. Energy in layers the geometry does not have (``z`` outside
            ``[0, n_layers)``) is ``outside_layers_mev`` and raises a
            :class:`MissingLayersWarning` (:func:`warn_missing_layers`) saying how much was lost.
            :func:`calozoo.testing.check_geometry` checks all of this.
        """

    def cell_centre_mm(self, cell_id) -> np.ndarray:
        """``(..., 3)`` centres of cells in the geometry's own (global) coordinates, mm; NaN for ``-1``.

        What reconstruction (:mod:`calozoo.reconstruction`) places hits with: it works in any
        geometry that gives its cells' positions. Optional: a geometry without it can still
        project and be evaluated.
        """
        raise NotImplementedError(
            f"{self.name} does not give the global positions of its cells (Geometry.cell_centre_mm), "
            "which reconstruction needs"
        )

    def describe(self) -> str:
        return f"{self.name}: {self.n_layers} layers, threshold {self.threshold_mev:g} MeV"


class Calibrator(Saveable, ABC):
    """A small fitted correction applied after generation, so that after projection into a
    geometry a model matches reference showers (scikit-learn style: ``__init__`` stores
    settings, :meth:`fit` learns, learned state lives in attributes ending in ``_``)."""

    name: ClassVar[str] = "unnamed"

    @abstractmethod
    def fit(self, generated: Showers, reference: Showers, geometry: Geometry | None = None) -> Calibrator:
        """Learn the correction from generated and reference showers of the same conditions."""

    @abstractmethod
    def apply(self, showers: Showers) -> Showers:
        """Return corrected showers (a new object; the input is left unchanged)."""
