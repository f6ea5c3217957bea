"""Events of several particles in a real detector: showers overlaid cell by cell.

The energy deposits of independent showers superpose: the detector sees, per cell, the sum of
every shower's deposit there, and only then applies its threshold. :func:`overlay` does exactly
that: it projects every shower into the geometry with no threshold, sums the deposits of the
showers of one event per cell, applies the geometry's threshold to the sums, and places each hit
cell at its centre in the geometry's own (global) coordinates (:meth:`Geometry.cell_centre_mm`).

An :class:`Events` holds the hit cells of many events as flat arrays (sorted by event) and what
went in: one row per particle with its event, energy, global entry point and direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CalozooError
from ..interfaces import Geometry
from ..layered import cell_sums
from ..showers import Showers

__all__ = [
    "Events",
    "Particles",
    "overlay",
    "sample_events",
    "local_directions",
    "without_threshold",
    "ReconstructionError",
]


class ReconstructionError(CalozooError, ValueError):
    """Input reconstruction cannot use: a geometry without cell positions, inconsistent events."""


@dataclass(frozen=True, eq=False)
class Particles:
    """What went into events: one row per incident particle.

    Attributes:
        event: ``(K,)`` the event of each particle.
        energy_gev: ``(K,)`` incident energy.
        entry_point_mm: ``(K, 3)`` where it enters the calorimeter, global mm (NaN if unknown).
        direction: ``(K, 3)`` its global unit direction (NaN if unknown).
        pdg: ``(K,)`` particle id.
    """

    event: np.ndarray
    energy_gev: np.ndarray
    entry_point_mm: np.ndarray
    direction: np.ndarray
    pdg: np.ndarray

    def __post_init__(self) -> None:
        k = len(np.asarray(self.event).reshape(-1))
        for name, dtype, shape in (
            ("event", np.int64, (k,)),
            ("energy_gev", np.float64, (k,)),
            ("entry_point_mm", np.float64, (k, 3)),
            ("direction", np.float64, (k, 3)),
            ("pdg", np.int32, (k,)),
        ):
            value = np.asarray(getattr(self, name), dtype=dtype)
            if value.shape != shape:
                raise ReconstructionError(f"particles: {name} must have shape {shape}, got {value.shape}")
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.event)


@dataclass(eq=False)
class Events:
    """Hit cells of ``n_events`` events, flat and sorted by event.

    Attributes:
        n_events: the number of events (an event may have no hits).
        event: ``(M,)`` event of each hit cell, non-decreasing.
        cell_id: ``(M,)`` the geometry's cell id.
        position_mm: ``(M, 3)`` cell centre in the geometry's global coordinates, mm.
        layer: ``(M,)`` layer index (0 = front).
        energy_mev: ``(M,)`` cell energy (threshold applied to the summed deposits).
        particles: what went in (:class:`Particles`), or ``None`` for events of unknown origin.
        geometry: the geometry's registered name.
    """

    n_events: int
    event: np.ndarray
    cell_id: np.ndarray
    position_mm: np.ndarray
    layer: np.ndarray
    energy_mev: np.ndarray
    particles: Particles | None = None
    geometry: str = ""
    _starts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.n_events = int(self.n_events)
        self.event = np.asarray(self.event, dtype=np.int64).reshape(-1)
        m = len(self.event)
        self.cell_id = np.asarray(self.cell_id, dtype=np.int64).reshape(-1)
        self.position_mm = np.asarray(self.position_mm, dtype=np.float64).reshape(-1, 3)
        self.layer = np.asarray(self.layer, dtype=np.int64).reshape(-1)
        self.energy_mev = np.asarray(self.energy_mev, dtype=np.float64).reshape(-1)
        for name in ("cell_id", "position_mm", "layer", "energy_mev"):
            if len(getattr(self, name)) != m:
                raise ReconstructionError(
                    f"events: {name} has {len(getattr(self, name))} rows, event has {m}"
                )
        if m and (np.any(np.diff(self.event) < 0) or self.event[0] < 0 or self.event[-1] >= self.n_events):
            raise ReconstructionError(
                f"events: event indices must be sorted and within 0..{self.n_events - 1}"
            )
        if not (np.isfinite(self.position_mm).all() and np.isfinite(self.energy_mev).all()):
            raise ReconstructionError("events: cell positions and energies must be finite")
        self._starts = np.searchsorted(self.event, np.arange(self.n_events + 1))

    def __len__(self) -> int:
        return self.n_events

    def hits(self, i: int) -> slice:
        """The rows of event ``i``."""
        if not 0 <= i < self.n_events:
            raise IndexError(f"event {i} out of range for {self.n_events} events")
        return slice(int(self._starts[i]), int(self._starts[i + 1]))

    @property
    def visible_energy_mev(self) -> np.ndarray:
        """``(n_events,)`` summed cell energy per event."""
        return np.bincount(self.event, self.energy_mev, self.n_events)

    @property
    def n_hits(self) -> np.ndarray:
        """``(n_events,)`` hit cells per event."""
        return np.diff(self._starts)


def without_threshold(geometry: Geometry) -> Geometry:
    """A copy of ``geometry`` that keeps every cell (threshold 0), for summing deposits first.

    Raises:
        ReconstructionError: the geometry's saved settings have no ``threshold_mev``.
    """
    config = geometry.get_config()
    if "threshold_mev" not in config:
        raise ReconstructionError(
            f"{geometry.name}: cannot overlay showers in this geometry: its settings "
            f"({sorted(config)}) have no threshold_mev to set to 0 while the deposits are summed"
        )
    if float(config["threshold_mev"]) == 0.0:
        return geometry
    return type(geometry).from_saved({**config, "threshold_mev": 0.0}, geometry.get_tensors())


def overlay(
    geometry: Geometry,
    showers: Showers,
    incident_point_mm,
    event,
    *,
    n_events: int | None = None,
    direction=None,
) -> Events:
    """Put showers into the detector together: sum their deposits per cell, then apply the threshold.

    Args:
        geometry: where the showers land (any geometry with :meth:`Geometry.cell_centre_mm`).
        showers: training points (``z`` in layer units) with directions in the local frame of
            the place they enter, as a model's ``sample`` returns them.
        incident_point_mm: ``(N, 3)`` (or ``(3,)`` shared) global entry points, as
            ``geometry.project`` takes them.
        event: ``(N,)`` the event each shower belongs to (integers ``0 .. n_events - 1``).
        n_events: the number of events (default ``max(event) + 1``).
        direction: ``(N, 3)`` global unit directions of the particles, kept in
            :attr:`Events.particles` for the comparison with what is reconstructed (default
            unknown: NaN).

    Returns:
        :class:`Events`, one per event, hits sorted by event then cell id.

    Raises:
        ReconstructionError: ``event`` of the wrong shape or out of range; a geometry whose cells
            have no global positions or whose threshold cannot be lifted.
    """
    n = len(showers)
    event = np.asarray(event)
    if event.shape != (n,) or (n and (not np.issubdtype(event.dtype, np.integer) or event.min() < 0)):
        raise ReconstructionError(
            f"overlay: event must be ({n},) non-negative integers, one per shower; got shape {event.shape}"
        )
    n_events = int(event.max()) + 1 if n_events is None and n else int(n_events or 0)
    if n and event.max() >= n_events:
        raise ReconstructionError(f"overlay: event index {int(event.max())} >= n_events = {n_events}")
    point = np.broadcast_to(np.asarray(incident_point_mm, dtype=np.float64), (n, 3))
    if direction is None:
        direction = np.full((n, 3), np.nan)
    direction = np.broadcast_to(np.asarray(direction, dtype=np.float64), (n, 3))
    particles = Particles(event, showers.incident_energy_gev, point, direction, showers.pdg)

    cells = without_threshold(geometry).project(showers, np.array(point))
    mask = cells.cell_id >= 0
    owner = np.broadcast_to(np.arange(n)[:, None], mask.shape)[mask]
    ids = cells.cell_id[mask]
    energy = cells.showers.points[..., 3][mask].astype(np.float64)
    layer = np.floor(cells.showers.points[..., 2][mask]).astype(np.int64)
    ev, ids_sum, e_sum = cell_sums(event[owner].astype(np.int64), ids, energy)
    keep = e_sum >= geometry.threshold_mev
    ev, ids_sum, e_sum = ev[keep], ids_sum[keep], e_sum[keep]
    # the layer of each summed cell: from any one of its deposits (a cell id names one layer)
    sorted_ids, index = np.unique(ids, return_index=True)
    cell_layer = layer[index][np.searchsorted(sorted_ids, ids_sum)]
    try:
        position = geometry.cell_centre_mm(ids_sum)
    except NotImplementedError as err:
        raise ReconstructionError(str(err)) from None
    return Events(n_events, ev, ids_sum, position, cell_layer, e_sum, particles, geometry.name)


def local_directions(geometry: Geometry, entry_point_mm, direction) -> np.ndarray:
    """``(N, 3)`` the local-frame directions a model needs for global entry points and directions.

    Uses the geometry's ``locate(point, direction)`` (the ILD barrel's); a geometry without it
    has one frame for all, its own coordinates, so the directions are returned as given.
    """
    direction = np.asarray(direction, dtype=np.float64)
    locate = getattr(geometry, "locate", None)
    if locate is None:
        return direction
    return np.asarray(locate(np.asarray(entry_point_mm, dtype=np.float64), direction).direction)


def sample_events(
    model,
    geometry: Geometry,
    energy_gev,
    entry_point_mm,
    direction,
    event,
    *,
    seed: int,
    n_events: int | None = None,
    batch_size: int = 1000,
    progress: bool = False,
) -> Events:
    """Showers of ``model`` entering ``geometry`` at global points and directions, overlaid per event.

    Args:
        model: any :class:`~calozoo.interfaces.ShowerModel` (a generative model or the reference MC).
        geometry: the detector.
        energy_gev: ``(N,)`` particle energies.
        entry_point_mm: ``(N, 3)`` global points on the calorimeter's face.
        direction: ``(N, 3)`` global unit directions.
        event: ``(N,)`` the event of each particle.
        seed: the showers' seed (shower ``i`` is the model's shower ``i`` of this seed).

    Returns:
        :class:`Events` with the particles recorded.
    """
    local = local_directions(geometry, entry_point_mm, direction)
    showers = model.sample(
        np.asarray(energy_gev, dtype=np.float64), local, seed=seed, batch_size=batch_size, progress=progress
    )
    return overlay(geometry, showers, entry_point_mm, event, n_events=n_events, direction=direction)
