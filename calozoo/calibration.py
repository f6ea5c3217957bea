"""Calibrators that ship with the core."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .interfaces import Calibrator, Geometry
from .showers import Showers

__all__ = ["EnergyScaleCalibrator"]


class EnergyScaleCalibrator(Calibrator):
    """Scale every point energy by one factor ``f_E`` so that, after projection into ``geometry``
    (threshold included) when one is given, the mean visible energy per shower matches the
    reference. This is CaloClouds3's energy correction factor as a reusable object.

    Example:
        >>> cal = EnergyScaleCalibrator().fit(generated, reference)  # doctest: +SKIP
        >>> corrected = cal.apply(generated)                           # doctest: +SKIP
    """

    name = "energy-scale"

    def __init__(self, factor: float | None = None):
        self.factor_ = factor

    def fit(self, generated: Showers, reference: Showers, geometry: Geometry | None = None):
        if len(generated) == 0 or len(reference) == 0:
            raise ValueError("fit needs at least one generated and one reference shower")
        if geometry is not None:
            generated = geometry.project(generated).showers
            reference = geometry.project(reference).showers
        mean_generated = float(generated.visible_energy_mev.mean())
        if mean_generated <= 0:
            raise ValueError("generated showers have no visible energy; cannot fit an energy scale")
        self.factor_ = float(reference.visible_energy_mev.mean()) / mean_generated
        return self

    def apply(self, showers: Showers) -> Showers:
        if self.factor_ is None:
            raise RuntimeError("EnergyScaleCalibrator is not fitted: call fit() or pass factor=")
        points = showers.points.copy()
        points[..., 3] *= self.factor_
        return replace(showers, points=points)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor_}

    def __repr__(self) -> str:
        return f"EnergyScaleCalibrator(factor={self.factor_})"
