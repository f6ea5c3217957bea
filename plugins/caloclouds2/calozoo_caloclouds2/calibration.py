"""Fitting CaloClouds2's occupancy correction ``g(N) = poly_fake(poly_real(N))`` for a geometry.

After projection, several points share a cell, so the number of hit cells grows more slowly
than the number of points — and differently for reference showers and for the model's points.
CaloClouds2 therefore fits two cubic polynomials:

- ``poly_real``: reference showers' points -> their hit cells after projection;
- ``poly_fake``: the model's hit cells -> the points it generated for them;

so a shower the flow gives ``N`` points is generated with ``g(N)`` points, which lands on the hit
count a reference shower of ``N`` points has. Both relations are noisy, so ``poly_fake`` is not a
regression of points on hits (that would be biased towards the mean): it inverts the model's mean
hits-versus-points cubic on a grid over the generated range. It is fitted on the uncalibrated
model, then refitted on a sample of the calibrated model (``rounds=2``): showers of one point count
differ in energy between the two (the uncalibrated model reaches a count at a lower energy), and
the hits a count gives depend on the energy, so the second fit sees only where the calibrated
model works.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from calozoo_engine.calibration import Thinning, summarise_cells
from calozoo_engine.recipe import Recipe

from calozoo.interfaces import Calibrator, Geometry
from calozoo.showers import Showers

__all__ = ["CaloClouds2Calibrator"]

DEGREE = 3


class CaloClouds2Calibrator(Calibrator):
    """Fits CaloClouds2's occupancy polynomials for one geometry.

    Args:
        geometry: the registered geometry to calibrate for (or pass one to :meth:`fit`).
        rounds: 1 fits ``poly_fake`` on the uncalibrated model; 2 adds a calibrated sample.
        seed: seeds generation in :meth:`calibrate` and the thinning in :meth:`apply`.
    """

    name: ClassVar[str] = "caloclouds2"

    def __init__(self, geometry: str = "ild-ecal-barrel", rounds: int = 2, seed: int = 0):
        if rounds not in (1, 2):
            raise ValueError(f"rounds must be 1 or 2, got {rounds!r}")
        self.geometry = geometry
        self.rounds = int(rounds)
        self.seed = int(seed)

    # ------------------------------------------------------------------ fitting
    def fit(
        self, generated: Showers | list[Showers], reference: Showers, geometry: Geometry | None = None
    ) -> CaloClouds2Calibrator:
        """Fit ``poly_real`` on ``reference`` and ``poly_fake`` on ``generated`` (one sample or several).

        Raises:
            ValueError: a sample is not training points, or too small for a cubic fit.
        """
        geometry = self._geometry(geometry)
        samples = [generated] if isinstance(generated, Showers) else list(generated)
        ref_points, ref_hits = _points_and_hits(reference, geometry, "reference")
        gen = [_points_and_hits(s, geometry, "generated") for s in samples]
        gen_points = np.concatenate([p for p, _ in gen])
        gen_hits = np.concatenate([h for _, h in gen])
        self.poly_real_ = np.polyfit(ref_points, ref_hits, DEGREE).tolist()
        self.poly_fake_ = _inverse_cubic(gen_points, gen_hits).tolist()
        first_points, first_hits = gen[0]
        self.report_ = {
            "geometry": self.geometry if isinstance(self.geometry, str) else type(geometry).__name__,
            "reference_showers": int(len(reference)),
            "generated_showers": int(len(gen_points)),
            "reference_hits_mean": float(ref_hits.mean()),
            "uncalibrated_hits_mean": float(first_hits.mean()),
            "reference_points_mean": float(ref_points.mean()),
            "uncalibrated_points_mean": float(first_points.mean()),
        }
        return self

    def _geometry(self, geometry: Geometry | None) -> Geometry:
        if geometry is not None:
            return geometry
        import calozoo

        return calozoo.geometry(self.geometry)

    def _check_fitted(self) -> None:
        if not hasattr(self, "poly_real_"):
            raise RuntimeError("CaloClouds2Calibrator is not fitted: call fit() or calibrate() first")

    def correction(self, n_points) -> np.ndarray:
        """``g(N)`` for flow point counts ``N``."""
        self._check_fitted()
        n = np.asarray(n_points, dtype=np.float64)
        return np.maximum(np.polyval(self.poly_fake_, np.polyval(self.poly_real_, n)), 0.0)

    # ------------------------------------------------------------------ using it
    def apply(self, showers: Showers) -> Showers:
        """Calibrate already generated (uncalibrated) showers by thinning each to ``g(N)`` points.

        Thinning can only remove points: a shower ``g`` asks to grow keeps all of its points
        (generate with :meth:`calibrate`'s model for those). Layer energies are preserved.
        """
        self._check_fitted()
        n = showers.num_points.astype(np.float64)
        keep = np.minimum(self.correction(n) / np.maximum(n, 1.0), 1.0)
        return Thinning(showers, self.seed, Recipe.n_layers)(keep, 1.0, 1.0)

    def calibrate(self, model, reference: Showers, seed: int = 0, batch_size: int = 100):
        """Fit against ``reference`` for ``model`` (a CaloClouds2) and return the calibrated model."""
        from .model import IDENTITY

        conditions = (reference.incident_energy_gev, reference.direction)
        raw = model.with_occupancy(IDENTITY, IDENTITY)
        samples = [raw.sample(*conditions, seed=seed, batch_size=batch_size)]
        self.fit(samples, reference)
        if self.rounds == 2:
            first = model.with_occupancy(self.poly_real_, self.poly_fake_)
            samples.append(first.sample(*conditions, seed=seed + 1, batch_size=batch_size))
            report = self.report_
            # the second fit sees only the calibrated sample: at a given point count, the
            # uncalibrated model's showers are of other energies, so pooling would bias the fit
            self.fit(samples[1:], reference)
            self.report_ = {**report, "generated_showers": report["generated_showers"] * 2}
        calibrated = model.with_occupancy(self.poly_real_, self.poly_fake_)
        check = calibrated.sample(*conditions, seed=seed + 2, batch_size=batch_size)
        geometry = self._geometry(None)
        self.report_["calibrated_hits_mean"] = float(summarise_cells(check, geometry).occupancy)
        return model.with_occupancy(self.poly_real_, self.poly_fake_, **self.report_)

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"geometry": self.geometry, "rounds": self.rounds, "seed": self.seed}
        if hasattr(self, "poly_real_"):
            config["fitted"] = {
                "poly_real": self.poly_real_,
                "poly_fake": self.poly_fake_,
                "report": self.report_,
            }
        return config

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> CaloClouds2Calibrator:
        config = dict(config)
        fitted = config.pop("fitted", None)
        calibrator = cls(**config)
        if fitted is not None:
            calibrator.poly_real_ = [float(c) for c in fitted["poly_real"]]
            calibrator.poly_fake_ = [float(c) for c in fitted["poly_fake"]]
            calibrator.report_ = fitted["report"]
        return calibrator


def _inverse_cubic(points: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Coefficients of a cubic ``hits -> points`` inverting the mean relation ``hits(points)``."""
    forward = np.polyfit(points, hits, DEGREE)
    grid = np.linspace(np.quantile(points, 0.005), np.quantile(points, 0.995), 200)
    mapped = np.polyval(forward, grid)
    if np.any(np.diff(mapped) <= 0):
        raise ValueError(
            "the generated showers' hit count does not grow with their point count over the fitted "
            "range; the sample is too small or the model is broken"
        )
    return np.polyfit(mapped, grid, DEGREE)


def _points_and_hits(showers: Showers, geometry: Geometry, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Per shower: training points and hit cells after projection into ``geometry``."""
    if showers.z_units != "layer":
        raise ValueError(
            f"{label} showers must be training points (z in layer units), got {showers.z_units!r}"
        )
    if len(showers) < 2 * (DEGREE + 1):
        raise ValueError(
            f"{label} sample has {len(showers)} showers; a cubic fit needs at least {2 * (DEGREE + 1)}"
        )
    cells = geometry.project(showers).showers
    return showers.num_points.astype(np.float64), cells.num_points.astype(np.float64)
