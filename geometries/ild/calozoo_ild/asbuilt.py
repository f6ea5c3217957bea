"""What the ILD geometries as built (barrel and endcap) share: the layers, the threshold, the checks
of their inputs, and the bookkeeping of a projection once each point knows its cell.

A geometry built on :class:`AsBuilt` finds, for each training point, the face-frame position the
tilt and the incident point put it at, and from that its cell (a non-negative int64 key), whether
it is alive and whether it is beyond the detector's edges. :meth:`AsBuilt._sum_cells` does the
rest the same way for both: the energy per cell, the threshold, the losses by cause, the missing
layers warning and the padded cell hits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from calozoo.conditions import UNIT_TOLERANCE
from calozoo.interfaces import CellHits, EnergyLosses, Geometry, check_training_points, warn_missing_layers
from calozoo.layered import cell_sums, pad_cell_hits, sum_per_shower
from calozoo.showers import Showers, tilt_xy_mm

from .facts import load_facts

__all__ = ["AsBuilt", "TrainingPoints"]


class TrainingPoints:
    """The flattened points of a batch, placed on the detector's face (:meth:`AsBuilt._place`).

    Attributes:
        shower: ``(M,)`` the shower of each point.
        e: ``(M,)`` float64 energies, MeV.
        layer: ``(M,)`` int64 layer, clipped to ``0 .. n_layers - 1``.
        in_layers: ``(M,)`` whether the point was inside ``[0, n_layers)`` before clipping.
        u, v: ``(M,)`` float64 position on the face (tilt re-applied, incident point added), mm.
    """

    def __init__(self, shower, e, layer, in_layers, u, v):
        self.shower, self.e, self.layer, self.in_layers, self.u, self.v = shower, e, layer, in_layers, u, v


class AsBuilt(Geometry):
    """Base of the ILD geometries as built: 30 layers at the facts' depths and a threshold.

    Subclasses set :attr:`normal_name` (what the local ``z`` is called in errors) and
    :attr:`towards` (what lies behind the front face), and implement ``project`` with
    :meth:`_incident_points`, :meth:`_place` and :meth:`_sum_cells` (the barrel does the last two
    in one compiled pass, :mod:`calozoo_ild.kernels`).
    """

    normal_name: ClassVar[str] = "outward normal"
    towards: ClassVar[str] = "towards the beam"

    def __init__(self, threshold_mev: float | None, name: str):
        self.facts = load_facts()
        threshold_mev = self.facts.threshold_mev if threshold_mev is None else float(threshold_mev)
        if not threshold_mev >= 0:
            raise ValueError(f"threshold_mev must be >= 0, got {threshold_mev}")
        self._threshold = threshold_mev
        self.name = name
        self.cell_size_mm = self.facts.cell_size_mm
        self._depth = self.facts.layer_depth_mm()

    @property
    def n_layers(self) -> int:
        return self.facts.n_layers

    @property
    def layer_depth_mm(self) -> np.ndarray:
        return self._depth.copy()

    @property
    def threshold_mev(self) -> float:
        return self._threshold

    def get_config(self) -> dict[str, Any]:
        return {"threshold_mev": self._threshold, "name": self.name}

    # ------------------------------------------------------------------ checks of the inputs
    def _check_local_direction(self, direction: np.ndarray, what: str) -> None:
        if not np.all(np.isfinite(direction)):
            raise ValueError(f"{self.name}: {what} contains NaN or infinite values")
        norm = np.linalg.norm(direction, axis=-1)
        if np.any(np.abs(norm - 1.0) > UNIT_TOLERANCE):
            bad = norm[np.abs(norm - 1.0) > UNIT_TOLERANCE]
            raise ValueError(
                f"{self.name}: {what} must be unit vectors, got norms {np.unique(bad)[:3].tolist()}"
            )
        backward = direction[..., 2] <= 0
        if np.any(backward):
            raise ValueError(
                f"{self.name}: {what} points out of the calorimeter ({self.towards}): its component "
                f"along the {self.normal_name} must be > 0, got {direction[..., 2][backward][:3]}"
            )

    def _directions(self, global_direction, n: int) -> np.ndarray:
        """``(n, 3)`` global directions from ``(3,)`` (shared) or ``(n, 3)``."""
        d = np.asarray(global_direction, dtype=np.float64)
        d = np.broadcast_to(np.atleast_2d(d), (n, 3)) if d.ndim == 1 else d
        if d.shape != (n, 3):
            raise ValueError(f"{self.name}: direction must be (3,) or (N, 3) for N = {n} points")
        return d

    def _non_finite_points(self) -> ValueError:
        """The error for training points that hold NaN or infinite values."""
        return ValueError(f"{self.name}: the showers' points contain NaN or infinite values")

    def _incident_points(self, showers: Showers, incident_point_mm) -> np.ndarray:
        """``(N, 3)`` global incident points of a batch (the default point if ``None``)."""
        check_training_points(self, showers)
        n = len(showers)
        point = self.default_incident_point_mm if incident_point_mm is None else incident_point_mm
        point = np.asarray(point, dtype=np.float64)
        if point.shape == (3,):
            point = np.broadcast_to(point, (n, 3))
        if point.shape != (n, 3):
            raise ValueError(
                f"{self.name}: incident_point_mm must be (3,) or (N, 3) for N = {n} showers, "
                f"got {point.shape}"
            )
        return point

    def _place(self, showers: Showers, origin: np.ndarray) -> TrainingPoints:
        """The points of ``showers`` on the face: the tilt of their layer re-applied, at ``origin``.

        At depth ``d`` the trajectory sits at ``d (p_x, p_y) / p_z`` from the incident point.
        """
        self._check_local_direction(showers.direction, "shower direction")
        points, shower = showers.flat()
        x, y, z, e = points.astype(np.float64).T
        if not (
            np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(z).all() and np.isfinite(e).all()
        ):
            raise self._non_finite_points()
        layer = np.floor(z).astype(np.int64)
        in_layers = (layer >= 0) & (layer < self.n_layers)
        layer = np.clip(layer, 0, self.n_layers - 1)
        axis = tilt_xy_mm(showers.direction[shower], self._depth[layer])
        return TrainingPoints(
            shower,
            e,
            layer,
            in_layers,
            x + axis[:, 0] + origin[shower, 0],
            y + axis[:, 1] + origin[shower, 1],
        )

    # ------------------------------------------------------------------ bookkeeping
    def _sum_cells(
        self,
        showers: Showers,
        p: TrainingPoints,
        origin: np.ndarray,
        key: np.ndarray,
        alive: np.ndarray,
        beyond: np.ndarray,
        to_cell_id: Callable[[np.ndarray], np.ndarray],
        layer_of: Callable[[np.ndarray], np.ndarray],
    ) -> CellHits:
        """Sum the live points per cell, apply the threshold, account for every lost MeV.

        Args:
            showers: the batch (conditions copied to the hits, warning on missing layers).
            p: its points on the face (:meth:`_place`).
            origin: ``(N, 2)`` incident points in the face frame: hits come back relative to them.
            key: ``(K,)`` non-negative int64 cell key of each live point (``alive`` selects them).
            alive: ``(M,)`` in a live cell (the caller has already excluded points outside the
                layers and beyond the edges).
            beyond: ``(M,)`` inside the layers but beyond the detector's edges.
            to_cell_id: turns summed keys into the geometry's cell ids.
            layer_of: the layer of cell ids.
        """
        n = len(showers)
        dead = p.in_layers & ~beyond & ~alive
        dead_mev = sum_per_shower(p.shower[dead], p.e[dead], n)
        outside_mev = sum_per_shower(p.shower[beyond], p.e[beyond], n)
        outside_layers_mev = sum_per_shower(p.shower[~p.in_layers], p.e[~p.in_layers], n)
        s, key, energy = cell_sums(p.shower[alive], key, p.e[alive])
        keep = energy >= self._threshold
        below_mev = sum_per_shower(s[~keep], energy[~keep], n)
        s, energy = s[keep], energy[keep]
        cell_id = to_cell_id(key[keep])
        centre = self.cell_position_mm(cell_id)
        xyz = np.column_stack(
            [centre[:, 0] - origin[s, 0], centre[:, 1] - origin[s, 1], layer_of(cell_id) + 0.5]
        )
        losses = EnergyLosses(
            below_threshold_mev=below_mev,
            outside_layers_mev=outside_layers_mev,
            outside_mev=outside_mev,
            dead_mev=dead_mev,
        )
        warn_missing_layers(self, showers, losses, stacklevel=4)
        hits = pad_cell_hits(showers, s, cell_id, xyz, energy)
        return CellHits(hits.showers, hits.cell_id, losses)
