"""Registers the CaloChallenge geometries with calozoo (the module the entry point names).

calozoo imports this module every time it lists geometries, so it stays light: no numpy. The
metadata repeats facts of :mod:`calozoo_calochallenge.geometry`; the conformance kit checks that
they agree.
"""

from __future__ import annotations

import calozoo

__all__ = ["calozoo_register_geometries"]


@calozoo.hookimpl
def calozoo_register_geometries(register):
    register(
        "calochallenge-regular",
        "calozoo_calochallenge.geometry:CaloChallengeRegular",
        summary="CaloChallenge Si-W cylinder, regularised (training): 45 readout layers, 2.325 mm cells",
        n_layers=45,
        cell_size_mm=2.325,
        threshold_mev=0.0,
    )
    register(
        "calochallenge-ds2",
        "calozoo_calochallenge.geometry:dataset2",
        summary="CaloChallenge dataset 2 readout: 45 layers x 16 angles x 9 radii (6480 voxels), 0.5 keV",
        n_layers=45,
        cell_size_mm=None,
        threshold_mev=0.0005,
    )
    register(
        "calochallenge-ds3",
        "calozoo_calochallenge.geometry:dataset3",
        summary="CaloChallenge dataset 3 readout: 45 layers x 50 angles x 18 radii (40500 voxels), 0.5 keV",
        n_layers=45,
        cell_size_mm=None,
        threshold_mev=0.0005,
    )
