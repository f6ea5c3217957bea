"""Registers the ILD ECAL geometries with calozoo (the module the entry point names).

calozoo imports this module every time it lists geometries, so it stays light: no numpy, nothing
from this package's geometry code. The metadata repeats three facts of ``ild_ecal.json`` so that
listing needs no file read; ``tests/test_ild.py`` checks that they agree.
"""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_geometries"]

_COMMON = {"n_layers": 30, "cell_size_mm": 5.08833, "threshold_mev": 0.1}


@calozoo.hookimpl
def calozoo_register_geometries(register):
    register(
        "ild-ecal-regular",
        "calozoo_ild.regular:ILDRegular",
        summary="ILD ECAL, regularised (training): 30 Si layers at their real depths, aligned cells, no gaps",
        **_COMMON,
    )
    register(
        "ild-ecal-barrel",
        "calozoo_ild.barrel:ILDBarrel",
        summary="ILD ECAL barrel as built: 8 staves, guard rings and gaps, staggered slabs, 0.1 MeV cut",
        **_COMMON,
    )
    register(
        "ild-ecal-endcap-regular",
        "calozoo_ild.regular:ILDEndcapRegular",
        summary="ILD ECAL regularised for the endcap (training): the field along the shower axis",
        **_COMMON,
    )
    register(
        "ild-ecal-endcap",
        "calozoo_ild.endcap:ILDEndcap",
        summary="ILD ECAL endcaps as built: 4 quadrants, gaps, the hole and its ring, 0.1 MeV cut",
        **_COMMON,
    )
