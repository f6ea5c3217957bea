"""Registers ``caloclouds2`` and its calibrator with calozoo (light: no torch, no numpy here)."""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_models", "calozoo_register_calibrators"]


@calozoo.hookimpl
def calozoo_register_models(register):
    register(
        "caloclouds2",
        "calozoo_caloclouds2.model:load_pretrained",
        summary="CaloClouds2 (arXiv:2309.05704): ShowerFlow + one-step point model, normal incidence",
        trainable=True,
        weights="shipped (trained on the reference MC's 10-90 GeV normal-incidence set, "
        "calibrated for ild-ecal-barrel)",
        energy_gev=(10, 90),
        pdg=(22,),
        max_angle_deg=0,
        train_command="calozoo_caloclouds2.cli:train_command",
    )


@calozoo.hookimpl
def calozoo_register_calibrators(register):
    register(
        "caloclouds2",
        "calozoo_caloclouds2.calibration:CaloClouds2Calibrator",
        summary="fits CaloClouds2's occupancy polynomials g(N) = poly_fake(poly_real(N)) for a geometry",
    )
