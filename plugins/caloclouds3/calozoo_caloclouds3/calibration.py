"""Fitting CaloClouds3's three calibration factors for a geometry.

CaloClouds3 generates points; a detector sees cells. How many points fall into one cell, how
much energy the cell threshold removes, and how the cell grid blurs the transverse profile
depend on the geometry, so the paper fits three numbers after projection:

- the **occupancy factor** ``f_occ`` (points per layer ``n -> floor(n f_occ)``) so the mean number
  of hit cells matches the reference (the authors: 0.648 on ILD);
- the **transverse widening** ``w`` (``x, y -> w x, w y``) so the mean energy-weighted radial
  width about the shower axis matches (the authors: 1.04);
- the **energy factor** ``f_E`` so the mean visible energy matches (the authors: ~1.006).

With ``per_layer=True`` (beyond the paper) the occupancy factor is fitted layer by layer, so the
mean number of hit cells matches in every layer: one global factor cannot match a points-to-cells
ratio that changes with depth. The paper's global ``f_occ`` is fitted first; the per-layer
multipliers of it follow (each layer's cells depend on that layer's points only, so the 30
bisections run together), then the widening and ``f_E`` again.

With ``cell_energy=True`` (beyond the paper) the spread of the point energies is fitted too:
thinning keeps a share of the points and gives each the energy of ``1 / f_occ`` points, which
moves lightly hit cells (the MIP peak) up. The logarithm of every point energy is multiplied by
``energy_spread`` before the layers' rescaling, chosen so that the mean logarithm of a hit
cell's energy matches the reference.

Points of a shower are i.i.d. given its conditions, so keeping a random ``f_occ`` share of a
layer's points (and rescaling them to the layer's energy) is distributed exactly like
generating that many points (:class:`calozoo_engine.calibration.Thinning`):
:meth:`CaloClouds3Calibrator.apply` does this to already generated showers, and the fit scans it.
The fitted factors are then written into the model, which applies them while generating
(:meth:`CaloClouds3Calibrator.calibrate`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from calozoo_engine.calibration import CellSummary, Thinning, bisect, bisect_each, check_pair, summarise_cells
from calozoo_engine.recipe import Recipe

from calozoo.interfaces import Calibrator, Geometry
from calozoo.showers import Showers

__all__ = ["CaloClouds3Calibrator"]

#: the layers of CaloClouds3's training points (the thinning keeps a share of each)
N_LAYERS = Recipe.n_layers


@dataclass
class _Factors:
    """The factors a fit scans: occupancy, widening, energy, per-layer occupancy, energy spread."""

    occ: float = 1.0
    widen: float = 1.0
    energy: float = 1.0
    layers: np.ndarray | None = None
    spread: float = 1.0

    def args(self) -> tuple:
        """The arguments of :class:`~calozoo_engine.calibration.Thinning`."""
        return self.occ, self.widen, self.energy, self.layers, self.spread


class CaloClouds3Calibrator(Calibrator):
    """Fits ``f_occ``, the widening and ``f_E`` of CaloClouds3 for one geometry.

    Args:
        geometry: the registered geometry to calibrate for (or pass one to :meth:`fit`).
        rounds: passes over the three factors (each changes what the others see; two settle them).
        seed: the random subsets of points :meth:`apply` keeps.
        incident_point_mm: where showers enter during the fit (``None``: the geometry's default).
        per_layer: also fit the occupancy factor layer by layer (see the module docstring).
        cell_energy: also fit the spread of the point energies (see the module docstring).
        direction_window: ``"model"`` keeps the directions the model accepts; ``"reference"``
            makes the calibrated model accept those the reference spans (plus 1°): for a model
            trained on other directions than the barrel's, with a reference drawn like its
            training set (the endcap variant).
    """

    name: ClassVar[str] = "caloclouds3"

    def __init__(
        self,
        geometry: str = "ild-ecal-barrel",
        rounds: int = 2,
        seed: int = 0,
        incident_point_mm=None,
        per_layer: bool = False,
        cell_energy: bool = False,
        direction_window: str = "model",
    ):
        if direction_window not in ("model", "reference"):
            raise ValueError(f"direction_window must be 'model' or 'reference', got {direction_window!r}")
        self.direction_window = direction_window
        self.geometry = geometry
        self.per_layer = bool(per_layer)
        self.cell_energy = bool(cell_energy)
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
        check_pair(generated, reference)
        geometry = self._geometry(geometry)
        target = summarise_cells(reference, geometry, self.incident_point_mm)
        before = summarise_cells(generated, geometry, self.incident_point_mm)
        n_layers = int(geometry.n_layers)
        thin = Thinning(generated, self.seed, n_layers)
        f = _Factors()

        def measure(what: str, **change):
            return getattr(
                summarise_cells(thin(*replace(f, **change).args()), geometry, self.incident_point_mm), what
            )

        def global_occupancy(spread: float = 1.0) -> float:
            return bisect(lambda v: measure("occupancy", occ=v, spread=spread), target.occupancy, 0.02, 1.0)

        def width_and_energy() -> None:
            f.widen = bisect(lambda v: measure("radial_width_mm", widen=v), target.radial_width_mm, 0.6, 1.6)
            f.energy = self._energy(measure, target, f)

        for _ in range(self.rounds):  # the paper's three factors
            f.occ = global_occupancy()
            width_and_energy()

        def occupancy_for(spread: float) -> dict[str, Any]:
            """The occupancy factor(s) matching the reference's hit cells at this energy spread."""
            if self.per_layer:  # each layer's cells depend on its own points only: 30 bisections at once
                share = bisect_each(
                    lambda v: measure("layer_occupancy", occ=1.0, layers=v, spread=spread),
                    target.layer_occupancy,
                    np.full(n_layers, 0.02),
                    np.ones(n_layers),
                )
                return {"layers": share / f.occ}
            return {"occ": global_occupancy(spread)}

        def log_cell_energy(spread: float) -> float:
            return measure("log_cell_energy", spread=spread, **occupancy_for(spread))

        for _ in range(self.rounds if (self.per_layer or self.cell_energy) else 0):
            if (
                self.cell_energy
            ):  # a wider spread, with the occupancy refitted, lowers the mean log cell energy
                f.spread = bisect(
                    lambda v: -log_cell_energy(v), -target.log_cell_energy, 0.5, 2.0, iterations=10
                )
            for key, value in occupancy_for(f.spread).items():
                setattr(f, key, value)
            width_and_energy()
        self.occupancy_factor_, self.widening_, self.energy_factor_ = f.occ, f.widen, f.energy
        self.layer_occupancy_, self.energy_spread_ = f.layers, f.spread
        after = summarise_cells(thin(*f.args()), geometry, self.incident_point_mm)
        self.report_ = {
            "geometry": geometry.name,
            "n_showers": len(reference),
            "reference": target.to_dict(),
            "uncalibrated": before.to_dict(),
            "calibrated": after.to_dict(),
        }
        return self

    @staticmethod
    def _energy(measure, target: CellSummary, f: _Factors) -> float:
        energy = f.energy
        for _ in range(3):
            energy *= target.visible_energy_mev / measure("visible_energy_mev", energy=energy)
        return energy

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
        layers = self.layer_occupancy_
        thin = Thinning(showers, self.seed, N_LAYERS if layers is None else len(layers))
        return thin(
            self.occupancy_factor_,
            self.widening_,
            self.energy_factor_,
            self.layer_occupancy_,
            self.energy_spread_,
        )

    def calibrate(self, model, reference: Showers, seed: int = 0, batch_size: int = 100):
        """Fit against ``reference`` for ``model`` (a CaloClouds3) and return the calibrated model.

        The model generates uncalibrated showers at the reference's conditions, the factors are
        fitted, and a copy of the model carrying them (and this fit's report) is returned.
        """
        if self.direction_window == "reference":
            model = model.with_direction_window(reference.direction)
        raw = model.with_calibration(1.0, 1.0, 1.0)
        generated = raw.sample(
            reference.incident_energy_gev, reference.direction, seed=seed, batch_size=batch_size
        )
        self.fit(generated, reference)
        return model.with_calibration(
            self.occupancy_factor_,
            self.widening_,
            self.energy_factor_,
            self.layer_occupancy_,
            self.energy_spread_,
            **self.report_,
        )

    def describe_fit(self) -> str:
        self._check_fitted()
        layers = ""
        if self.layer_occupancy_ is not None:
            m = self.layer_occupancy_
            layers = f" (per layer x{m.min():.3f}-{m.max():.3f})"
        spread = f", energy spread = {self.energy_spread_:.4f}" if self.energy_spread_ != 1.0 else ""
        return (
            f"f_occ = {self.occupancy_factor_:.4f}{layers}, widening = {self.widening_:.4f}, "
            f"f_E = {self.energy_factor_:.4f}{spread}"
        )

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "geometry": self.geometry,
            "rounds": self.rounds,
            "seed": self.seed,
            "incident_point_mm": self.incident_point_mm,
            "per_layer": self.per_layer,
            "cell_energy": self.cell_energy,
            "direction_window": self.direction_window,
        }
        if hasattr(self, "occupancy_factor_"):
            layers = self.layer_occupancy_
            config["fitted"] = {
                "occupancy_factor": self.occupancy_factor_,
                "layer_occupancy": None if layers is None else [float(m) for m in layers],
                "energy_spread": self.energy_spread_,
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
            layers = fitted.get("layer_occupancy")
            calibrator.layer_occupancy_ = None if layers is None else np.asarray(layers, dtype=np.float64)
            calibrator.energy_spread_ = float(fitted.get("energy_spread", 1.0))
            calibrator.widening_ = float(fitted["widening"])
            calibrator.energy_factor_ = float(fitted["energy_factor"])
            calibrator.report_ = fitted["report"]
        return calibrator
