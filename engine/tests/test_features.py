"""Per-shower summaries carry the incident energy, so a recipe can scale its targets with it."""

import numpy as np
from calozoo_engine.features import ShowerSummaries

from calozoo.showers import Showers


def showers():
    points = [np.array([[0.0, 0.0, 0.5, 2.0], [1.0, 0.0, 1.5, 1.0]]), np.array([[0.0, 1.0, 0.2, 3.0]])]
    return Showers.from_point_lists(points, [10.0, 20.0])


def test_summaries_keep_the_incident_energy_through_selection_and_concatenation():
    s = ShowerSummaries.of(showers(), 2)
    assert s.incident_energy_gev.tolist() == [10.0, 20.0]
    assert s.counts.tolist() == [[1, 1], [1, 0]]
    assert s[np.array([1])].incident_energy_gev.tolist() == [20.0]
    both = ShowerSummaries.concatenate([s, s[np.array([0])]])
    assert both.incident_energy_gev.tolist() == [10.0, 20.0, 10.0]
    unknown = ShowerSummaries(s.counts, s.energy_mev, s.cog)
    assert ShowerSummaries.concatenate([s, unknown]).incident_energy_gev is None
