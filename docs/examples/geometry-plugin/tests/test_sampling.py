"""The sampling calorimeter keeps the calozoo geometry contract, and its gaps and edges lose energy."""

import numpy as np

import calozoo
from calozoo import Showers
from calozoo.testing import parametrize_with_checks


# every check of the geometry kit is its own test: test_conformance[sampling-calo-projection], ...
@parametrize_with_checks("sampling-calo", "sampling-calo-flat", kind="geometry")
def test_conformance(check, tmp_path):
    check(tmp_path)


def _pencil(n_points: int = 200) -> Showers:
    """One narrow shower along the axis, 10 MeV in all, through the first ten layers."""
    z = np.linspace(0.0, 9.99, n_points)
    points = np.column_stack([np.zeros(n_points), np.zeros(n_points), z, np.full(n_points, 10.0 / n_points)])
    return Showers.from_point_lists([points], [1.0])


def test_a_shower_in_the_gap_is_dead_and_one_past_the_edge_is_outside():
    geo = calozoo.geometry("sampling-calo")
    centre = geo.project(_pencil())
    assert centre.showers.num_points[0] == 10  # one cell per layer
    assert np.allclose(centre.losses.total_mev, 0.0)
    gap = geo.project(_pencil(), incident_point_mm=[101.0, 0.0])  # between modules 0 and 1
    assert len(gap.showers.shower(0)) == 0 and np.isclose(gap.losses.dead_mev[0], 10.0)
    edge = geo.project(_pencil(), incident_point_mm=[0.0, 250.0])  # above the modules
    assert np.isclose(edge.losses.outside_mev[0], 10.0)
