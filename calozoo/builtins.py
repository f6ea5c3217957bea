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
    register(
        "reconstruct",
        "calozoo.reconstruction.cli:reconstruct_command",
        summary="Find photons in cell hits (events or projected showers) and write them to a file.",
    )
    register(
        "benchmark",
        "calozoo.reconstruction.cli:benchmark_command",
        summary="Reconstruction benchmarks (linearity, diphoton, angle) of a model against the reference.",
    )
