"""Registers ``reference-mc`` and the ``calozoo simulate`` command (light: no numpy, no numba here)."""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_models", "calozoo_register_commands"]


@calozoo.hookimpl
def calozoo_register_models(register):
    register(
        "reference-mc",
        "calozoo_refmc.model:load_reference_mc",
        summary="analogue EM cascade Monte Carlo in the ILD layer stack (full simulation, numba)",
        trainable=False,
        weights="none needed",
        energy_gev=(0.1, 1000),
        pdg=(22, 11),
        max_angle_deg=89,
    )


@calozoo.hookimpl
def calozoo_register_commands(register):
    register(
        "simulate",
        "calozoo_refmc.cli:simulate_command",
        summary="write a data set of reference-MC showers (CaloClouds layout), sharded and resumable",
    )
