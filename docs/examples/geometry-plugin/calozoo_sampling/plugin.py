"""Registers ``sampling-calo`` and ``sampling-calo-flat`` with calozoo (the module the entry point names).

calozoo imports this module every time it lists geometries, so it stays light: no numpy, nothing
from this package's geometry code. Each geometry is cheap metadata plus a factory import string,
imported only when someone builds the geometry. The metadata repeats the geometry's layers, cell
size and threshold so that ``calozoo list-geometries`` needs no import; the conformance kit
checks that they agree.
"""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_geometries"]

_FACTS = {"n_layers": 20, "cell_size_mm": 10.0, "threshold_mev": 0.05}


@calozoo.hookimpl
def calozoo_register_geometries(register):
    register(
        "sampling-calo",
        "calozoo_sampling.geometry:SamplingCalorimeter",
        summary="20 W/Si layers, 10 mm cells, three 200 mm modules with 2 mm dead gaps, 0.05 MeV cut",
        **_FACTS,
    )
    register(
        "sampling-calo-flat",
        "calozoo_sampling.geometry:flat",
        summary="the same layers and cells, regularised: one unbounded grid, no gaps (for training)",
        **_FACTS,
    )
