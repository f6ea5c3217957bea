"""What the core registers itself, through the same hooks as any plugin."""

from __future__ import annotations

from .hookspecs import hookimpl


@hookimpl
def calozoo_register_calibrators(register):
    register(
        "energy-scale",
        "calozoo.calibration:EnergyScaleCalibrator",
        summary="one factor on all point energies so the mean visible energy matches the reference",
    )


@hookimpl
def calozoo_register_commands(register):
    register(
        "evaluate",
        "calozoo.evaluation.cli:evaluate_command",
        summary="Compare generated with reference showers: observables, distances, plots, report.",
    )
    register(
        "calibrate",
        "calozoo.calibrate:calibrate_command",
        summary="Fit MODEL's calibrator for a geometry against reference showers.",
    )
