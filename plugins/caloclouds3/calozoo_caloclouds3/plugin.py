"""Registers ``caloclouds3`` and its calibrator with calozoo (light: no torch, no numpy here)."""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_models", "calozoo_register_calibrators"]


@calozoo.hookimpl
def calozoo_register_models(register):
    register(
        "caloclouds3",
        "calozoo_caloclouds3.model:load_pretrained",
        summary="CaloClouds3 (arXiv:2511.01460): ShowerFlow + one-step consistency-distilled point model",
        trainable=True,
        weights="shipped (trained on the reference MC's CaloClouds3 set, calibrated for ild-ecal-barrel)",
        energy_gev=(1, 127),
        pdg=(22,),
        max_angle_deg=61.5,
        train_command="calozoo_caloclouds3.cli:train_command",
        import_command="calozoo_caloclouds3.cli:import_command",
    )


@calozoo.hookimpl
def calozoo_register_calibrators(register):
    register(
        "caloclouds3",
        "calozoo_caloclouds3.calibration:CaloClouds3Calibrator",
        summary="fits CaloClouds3's occupancy factor, transverse widening and energy factor for a geometry",
    )
