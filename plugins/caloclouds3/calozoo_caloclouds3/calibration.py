"""Fitting CaloClouds3's three calibration factors for a geometry.

CaloClouds3 generates points; a detector sees cells. How many points fall into one cell, how
much energy the cell threshold removes, and how the cell grid blurs the transverse profile
depend on the geometry, so the paper fits three numbers after projection:

- the **occupancy factor** ``f_occ`` (points per layer ``n -> floor(n f_occ)``) so the mean number
  of hit cells matches the reference (the authors: 0.648 on ILD);
- the **transverse widening** ``w`` (``x, y -> w x, w y``) so the mean energy-weighted radial
  width about the shower axis matches (the authors: 1.04);
- the **energy factor** ``f_E`` so the mean visible energy matches (the authors: ~1.006).

Points of a shower are i.i.d. given its conditions, so keeping a random ``f_occ`` share of a
layer's points (and rescaling them to the layer's energy) is distributed exactly like
generating that many points: :meth:`CaloClouds3Calibrator.apply` does this to already generated
showers, and the fit scans it. The fitted factors are then written into the model, which applies
them while generating (:meth:`CaloClouds3Calibrator.calibrate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from calozoo.interfaces import Calibrator, Geometry
from calozoo.showers import Showers

__all__ = ["CaloClouds3Calibrator", "CellSummary", "summarise_cells"]

N_LAYERS = 30


@dataclass
class CellSummary:
    """Means over a sample after projection: visible energy (MeV), hit cells, radial width (mm)."""

    visible_energy_mev: float
    occupancy: float
    radial_width_mm: float

    def to_dict(self) -> dict[str, float]:
        return {
            "visible_energy_mev": self.visible_energy_mev,
            "occupancy": self.occupancy,
            "radial_width_mm": self.radial_width_mm,
        }


def summarise_cells(showers: Showers, geometry: Geometry, incident_point_mm=None) -> CellSummary:
    """Project training points into ``geometry`` and take the three calibration targets' means.

    The radial width is the energy-weighted rms distance of a shower's cells from its tilted
    axis (``depth x (p_x, p_y) / p_z`` from the incident point), averaged over showers.
    """
    cells = geometry.project(showers, incident_point_mm).showers
    mask = cells.padding_mask
    e = cells.points[..., 3] * mask
    layer = np.clip(np.floor(cells.points[..., 2]), 0, geometry.n_layers - 1).astype(np.int64)
    depth = np.asarray(geometry.layer_depth_mm)[layer]
    slope = cells.direction[:, :2] / cells.direction[:, 2:3]
    dx = cells.points[..., 0] - depth * slope[:, None, 0]
    dy = cells.points[..., 1] - depth * slope[:, None, 1]
    total = e.sum(1)
    width = np.sqrt((e * (dx**2 + dy**2)).sum(1) / np.maximum(total, 1e-30))
    return CellSummary(float(total.mean()), float(cells.num_points.mean()), float(width[total > 0].mean()))


class CaloClouds3Calibrator(Calibrator):
    """Fits ``f_occ``, the widening and ``f_E`` of CaloClouds3 for one geometry.

    Args:
        geometry: the registered geometry to calibrate for (or pass one to :meth:`fit`).
        rounds: passes over the three factors (each changes what the others see; two settle them).
        seed: the random subsets of points :meth:`apply` keeps.
        incident_point_mm: where showers enter during the fit (``None``: the geometry's default).
    """

    name: ClassVar[str] = "caloclouds3"

    def __init__(
        self, geometry: str = "ild-ecal-barrel", rounds: int = 2, seed: int = 0, incident_point_mm=None
    ):
        self.geometry = geometry
        self.rounds = int(rounds)
        self.seed = int(seed)
        self.incident_point_mm = (
            None if incident_point_mm is None else list(np.asarray(incident_point_mm, float))
        )

    # ------------------------------------------------------------------ fitting
    def fit(
        self, generated: Showers, reference: Showers, geometry: Geometry | None = None
    ) -> CaloClouds3Calibrator:
        """Fit on uncalibrated ``generated`` showers (factors 1, 1, 1) and ``reference`` showers.

        Both must have the same incident conditions, shower by shower.

        Raises:
            ValueError: the samples differ in size or conditions, or are not training points.
        """
        _check_pair(generated, reference)
        geometry = self._geometry(geometry)
        target = summarise_cells(reference, geometry, self.incident_point_mm)
        before = summarise_cells(generated, geometry, self.incident_point_mm)
        thin = _Thinning(generated, self.seed)
        occ, widen, energy = 1.0, 1.0, 1.0
        for _ in range(self.rounds):
            occ = _bisect(
                lambda f, w=widen, e=energy: self._summary(thin, geometry, f, w, e).occupancy,
                target.occupancy,
                0.02,
                1.0,
            )
            widen = _bisect(
                lambda w, f=occ, e=energy: self._summary(thin, geometry, f, w, e).radial_width_mm,
                target.radial_width_mm,
                0.6,
                1.6,
            )
            for _ in range(3):
                got = self._summary(thin, geometry, occ, widen, energy).visible_energy_mev
                energy *= target.visible_energy_mev / got
        self.occupancy_factor_, self.widening_, self.energy_factor_ = occ, widen, energy
        after = self._summary(thin, geometry, occ, widen, energy)
        self.report_ = {
            "geometry": geometry.name,
            "n_showers": len(reference),
            "reference": target.to_dict(),
            "uncalibrated": before.to_dict(),
            "calibrated": after.to_dict(),
        }
        return self

    def _summary(
        self, thin: _Thinning, geometry: Geometry, occ: float, widen: float, energy: float
    ) -> CellSummary:
        return summarise_cells(thin(occ, widen, energy), geometry, self.incident_point_mm)

    def _geometry(self, geometry: Geometry | None) -> Geometry:
        if geometry is not None:
            return geometry
        import calozoo

        return calozoo.geometry(self.geometry)

    def _check_fitted(self) -> None:
        if not hasattr(self, "occupancy_factor_"):
            raise RuntimeError("CaloClouds3Calibrator is not fitted: call fit() or calibrate() first")

    # ------------------------------------------------------------------ using it
    def apply(self, showers: Showers) -> Showers:
        """Calibrate already generated (uncalibrated) showers: thin, widen, rescale."""
        self._check_fitted()
        return _transform(showers, self.occupancy_factor_, self.widening_, self.energy_factor_, self.seed)

    def calibrate(self, model, reference: Showers, seed: int = 0, batch_size: int = 100):
        """Fit against ``reference`` for ``model`` (a CaloClouds3) and return the calibrated model.

        The model generates uncalibrated showers at the reference's conditions, the factors are
        fitted, and a copy of the model carrying them (and this fit's report) is returned.
        """
        raw = model.with_calibration(1.0, 1.0, 1.0)
        generated = raw.sample(
            reference.incident_energy_gev, reference.direction, seed=seed, batch_size=batch_size
        )
        self.fit(generated, reference)
        return model.with_calibration(
            self.occupancy_factor_, self.widening_, self.energy_factor_, **self.report_
        )

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "geometry": self.geometry,
            "rounds": self.rounds,
            "seed": self.seed,
            "incident_point_mm": self.incident_point_mm,
        }
        if hasattr(self, "occupancy_factor_"):
            config["fitted"] = {
                "occupancy_factor": self.occupancy_factor_,
                "widening": self.widening_,
                "energy_factor": self.energy_factor_,
                "report": self.report_,
            }
        return config

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> CaloClouds3Calibrator:
        config = dict(config)
        fitted = config.pop("fitted", None)
        calibrator = cls(**config)
        if fitted is not None:
            calibrator.occupancy_factor_ = float(fitted["occupancy_factor"])
            calibrator.widening_ = float(fitted["widening"])
            calibrator.energy_factor_ = float(fitted["energy_factor"])
            calibrator.report_ = fitted["report"]
        return calibrator


def _check_pair(generated: Showers, reference: Showers) -> None:
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


def _bisect(measure, target: float, low: float, high: float, iterations: int = 14) -> float:
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


class _Thinning:
    """Keep ``floor(n_l f)`` random points per layer (energies rescaled to the layer's sum), widen, scale.

    The random priorities come from ``seed`` alone, so a larger ``f`` keeps a superset of the
    points a smaller one keeps (the fit scans a smooth, monotonic function). Everything that does
    not depend on the factors (the per-layer ranking, the layer sums) is computed once here, and
    each call only applies factors.
    """

    def __init__(self, showers: Showers, seed: int):
        mask = showers.padding_mask
        self.showers = showers
        self.owner = np.broadcast_to(np.arange(len(showers))[:, None], mask.shape)[mask]
        self.points = showers.points[mask].astype(np.float64)
        layer = np.clip(np.floor(self.points[:, 2]), 0, N_LAYERS - 1).astype(np.int64)
        self.group = self.owner * N_LAYERS + layer
        priority = np.random.default_rng(seed).random(len(self.points))
        order = np.lexsort((priority, self.group))
        self.sizes = np.bincount(self.group, minlength=len(showers) * N_LAYERS)
        start = np.cumsum(self.sizes) - self.sizes
        self.rank = np.empty(len(self.points), np.int64)
        self.rank[order] = np.arange(len(self.points)) - start[self.group[order]]
        self.layer_sum = np.bincount(self.group, weights=self.points[:, 3], minlength=len(self.sizes))

    def __call__(self, occupancy: float, widening: float, energy: float) -> Showers:
        keep = self.rank < np.floor(self.sizes[self.group] * occupancy)
        g = self.group[keep]
        kept_sum = np.bincount(g, weights=self.points[keep, 3], minlength=len(self.sizes))
        pts = self.points[keep]
        pts[:, 3] *= self.layer_sum[g] / np.maximum(kept_sum[g], 1e-30) * energy
        pts[:, :2] *= widening
        s = self.showers
        counts = np.bincount(self.owner[keep], minlength=len(s))
        lists = np.split(pts.astype(np.float32), np.cumsum(counts)[:-1])
        return Showers.from_point_lists(
            lists, s.incident_energy_gev, direction=s.direction, pdg=s.pdg, z_units="layer"
        )


def _transform(showers: Showers, occupancy: float, widening: float, energy: float, seed: int) -> Showers:
    """:class:`_Thinning` of ``showers`` with ``seed``, applied once."""
    return _Thinning(showers, seed)(occupancy, widening, energy)
