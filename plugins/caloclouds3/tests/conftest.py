"""Shared pieces of the CaloClouds3 export tests."""

from __future__ import annotations

import pytest
import torch
from calozoo_caloclouds3.model import CaloClouds3
from calozoo_engine.features import PointScaler
from calozoo_engine.flow import ShowerFlow
from calozoo_engine.pointnet import PointwiseNet


@pytest.fixture
def keep_global_rng():
    """Whatever a test draws from torch's global generator, the next test starts where it did."""
    with torch.random.fork_rng():
        yield


@pytest.fixture(scope="session")
def small_caloclouds3():
    """``make(f_occ, widening, f_E)``: small random networks with the shipped point network's
    shapes, quick to export."""
    return _small_caloclouds3


def _small_caloclouds3(occupancy_factor: float, widening: float, energy_factor: float) -> CaloClouds3:
    torch.manual_seed(0)  # the networks' linear layers draw from the global generator
    return CaloClouds3(
        ShowerFlow(blocks=1, hidden_factor=2, seed=0),
        PointwiseNet(seed=0),
        PointScaler([0, 0, 12, -7], [20, 20, 5, 1.3]),
        occupancy_factor=occupancy_factor,
        widening=widening,
        energy_factor=energy_factor,
    )
