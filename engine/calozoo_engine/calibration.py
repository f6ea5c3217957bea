"""What calibrating a point-cloud model for a geometry takes, whatever the model's factors are.

A model generates points; a detector sees cells. How many points fall into one cell, how much
energy the cell threshold removes and how the cell grid blurs the transverse profile depend on
the geometry, so a model's calibrator fits a few numbers after projection
(:func:`summarise_cells`: mean visible energy, hit cells and radial width).

Points of a shower are i.i.d. given its conditions, so keeping a random share of a layer's
points (and rescaling them to the layer's energy) is distributed exactly like generating that
many points: :class:`Thinning` does this to already generated showers, which lets a calibrator
scan its factors (:func:`bisect`) on one sample instead of generating again for every trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from calozoo.interfaces import Geometry
from calozoo.showers import Showers, layer_index, tilt_xy_mm

__all__ = ["CellSummary", "summarise_cells", "Thinning", "bisect", "bisect_each", "check_pair"]


@dataclass
class CellSummary:
    """Means over a sample after projection: visible energy (MeV), hit cells, radial width (mm),
    hit cells per layer, and the logarithm of a hit cell's energy (ln MeV, over all hit cells)."""

    visible_energy_mev: float
    occupancy: float
    radial_width_mm: float
    layer_occupancy: np.ndarray | None = None
    log_cell_energy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "visible_energy_mev": self.visible_energy_mev,
            "occupancy": self.occupancy,
            "radial_width_mm": self.radial_width_mm,
        }
        if self.layer_occupancy is not None:
            out["layer_occupancy"] = [round(float(v), 3) for v in self.layer_occupancy]
        if self.log_cell_energy is not None:
            out["log_cell_energy"] = self.log_cell_energy
        return out


def summarise_cells(showers: Showers, geometry: Geometry, incident_point_mm=None) -> CellSummary:
    """Project training points into ``geometry`` and take the three calibration targets' means.

    The radial width is the energy-weighted rms distance of a shower's cells from its tilted
    axis (``depth x (p_x, p_y) / p_z`` from the incident point), averaged over showers.
    """
    cells = geometry.project(showers, incident_point_mm).showers
    mask = cells.padding_mask
    e = cells.points[..., 3] * mask
    depth = np.asarray(geometry.layer_depth_mm)[layer_index(cells.points[..., 2], geometry.n_layers)]
    axis = tilt_xy_mm(cells.direction[:, None, :], depth)
    dx = cells.points[..., 0] - axis[..., 0]
    dy = cells.points[..., 1] - axis[..., 1]
    total = e.sum(1)
    width = np.sqrt((e * (dx**2 + dy**2)).sum(1) / np.maximum(total, 1e-30))
    layer = layer_index(cells.points[..., 2], geometry.n_layers)[mask]
    per_layer = np.bincount(layer, minlength=geometry.n_layers) / max(len(cells), 1)
    log_e = float(np.log(cells.points[..., 3][mask]).mean()) if mask.any() else float("nan")
    return CellSummary(
        float(total.mean()), float(cells.num_points.mean()), float(width[total > 0].mean()), per_layer, log_e
    )


def check_pair(generated: Showers, reference: Showers) -> None:
    for label, s in [("generated", generated), ("reference", reference)]:
        if s.z_units != "layer":
            raise ValueError(
                f"{label} showers must be training points (z in layer units), got z in {s.z_units}"
            )
        if len(s) == 0:
            raise ValueError(f"{label} showers are empty")
    if len(generated) != len(reference) or not np.allclose(
        generated.incident_energy_gev, reference.incident_energy_gev
    ):
        raise ValueError(
            "generated and reference showers must share their incident conditions shower by shower "
            f"(got {len(generated)} and {len(reference)} showers); "
            "generate with the reference's energies and directions"
        )


def bisect_each(measure, target: np.ndarray, low: np.ndarray, high: np.ndarray, iterations: int = 14):
    """:func:`bisect` for many independent increasing measures at once: ``measure(x)`` of an
    ``(K,)`` array returns ``(K,)`` values, entry ``k`` depending on ``x[k]`` only."""
    low, high = np.array(low, dtype=np.float64), np.array(high, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        below = measure(mid) < target
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    return 0.5 * (low + high)


def bisect(measure, target: float, low: float, high: float, iterations: int = 14) -> float:
    """Where the increasing ``measure`` reaches ``target`` in ``[low, high]`` (clipped to the ends)."""
    if measure(high) <= target:
        return high
    if measure(low) >= target:
        return low
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        if measure(mid) < target:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


class Thinning:
    """Keep ``floor(n_l f)`` random points per layer (energies rescaled to the layer's sum), widen, scale.

    The random priorities come from ``seed`` alone, so a larger ``f`` keeps a superset of the
    points a smaller one keeps (the fit scans a smooth, monotonic function). Everything that does
    not depend on the factors (the per-layer ranking, the layer sums) is computed once here, and
    each call only applies factors.
    """

    def __init__(self, showers: Showers, seed: int, n_layers: int):
        self.showers = showers
        points, self.owner = showers.flat()
        self.points = points.astype(np.float64)
        self.group = self.owner * n_layers + layer_index(self.points[:, 2], n_layers)
        priority = np.random.default_rng(seed).random(len(self.points))
        order = np.lexsort((priority, self.group))
        self.sizes = np.bincount(self.group, minlength=len(showers) * n_layers)
        start = np.cumsum(self.sizes) - self.sizes
        self.rank = np.empty(len(self.points), np.int64)
        self.rank[order] = np.arange(len(self.points)) - start[self.group[order]]
        self.layer_sum = np.bincount(self.group, weights=self.points[:, 3], minlength=len(self.sizes))

    def __call__(
        self, occupancy, widening: float, energy: float, layer_share=None, energy_spread: float = 1.0
    ) -> Showers:
        """The thinned showers; ``occupancy`` is one share for all, or ``(N,)``, one per shower;
        ``layer_share`` (``(L,)``, optional) multiplies it layer by layer (capped at 1);
        ``energy_spread`` raises the point energies to this power before the layers' rescaling
        (the same as generating with it: :func:`.points.assemble_points`)."""
        occupancy = np.asarray(occupancy, dtype=np.float64)
        share = occupancy[self.owner] if occupancy.ndim == 1 else occupancy
        if layer_share is not None:
            n_layers = len(layer_share)
            share = np.minimum(share * np.asarray(layer_share, dtype=np.float64)[self.group % n_layers], 1.0)
        keep = self.rank < np.floor(self.sizes[self.group] * share)
        g = self.group[keep]
        pts = self.points[keep]
        if energy_spread != 1.0:
            pts[:, 3] = pts[:, 3] ** energy_spread
        kept_sum = np.bincount(g, weights=pts[:, 3], minlength=len(self.sizes))
        pts[:, 3] *= self.layer_sum[g] / np.maximum(kept_sum[g], 1e-30) * energy
        pts[:, :2] *= widening
        s = self.showers
        return Showers.from_flat(pts, self.owner[keep], s.incident_energy_gev, s.direction, s.pdg)
