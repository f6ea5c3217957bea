"""Registers ``toy-gamma`` and ``toyflow`` with calozoo (the module the entry point names).

calozoo imports this module every time it lists models, so it must stay light: no torch, no
numpy, nothing from this package's model code. Each model is registered as cheap metadata plus
a factory *import string*; the factory module (and torch with it) is imported only when a user
calls ``calozoo.load(name)``.
"""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_models"]

# The conditions both toys accept (the same numbers as their ``conditions`` properties).
_CONDITIONS = {"energy_gev": (1, 127), "pdg": (22,), "max_angle_deg": 60}


@calozoo.hookimpl
def calozoo_register_models(register):
    register(
        "toy-gamma",
        "calozoo_toyflow.gamma:load_toy_gamma",
        summary="analytic parametrised photon showers (Gamma profiles, core + tail radii), numpy only",
        trainable=False,
        weights="none needed",
        **_CONDITIONS,
    )
    register(
        "toyflow",
        "calozoo_toyflow.model:load_pretrained",
        summary="small conditional normalising flow over per-layer counts and energies, trained on toy-gamma",
        trainable=True,
        weights="shipped (trained on 2000 toy-gamma showers)",
        **_CONDITIONS,
    )
