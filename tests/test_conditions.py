"""Incident conditions: broadcasting user input and refusing what a model cannot simulate."""

import numpy as np
import pytest

from calozoo.conditions import Conditions, angles_from_direction, direction_from_angles
from calozoo.errors import InvalidConditionError

COND = Conditions(1.0, 127.0, pdg=(22,), max_angle_deg=60.0)


def test_scalar_energy_and_shared_direction_broadcast():
    energy, direction, pdg = COND.validate([10, 20, 30], [0, 0, 1])
    assert energy.shape == (3,) and direction.shape == (3, 3) and pdg.tolist() == [22, 22, 22]
    energy, direction, _ = COND.validate(50)
    assert energy.tolist() == [50.0] and direction.tolist() == [[0, 0, 1]]


@pytest.mark.parametrize(
    "energy, direction, pdg, message",
    [
        (0.5, None, None, "1 to 127 GeV"),
        (200, None, None, "1 to 127 GeV"),
        (float("nan"), None, None, "NaN"),
        ([[1, 2]], None, None, "1-d"),
        ([], None, None, "1-d"),
        (10, [0, 0, 0.5], None, "unit vector"),
        (10, [0, 0, -1], None, "p_z > 0"),
        (10, [np.inf, 0, 1], None, "NaN or infinite"),
        ([10, 20], [[0, 0, 1]] * 3, None, r"\(2, 3\)"),
        (10, direction_from_angles(10, 90), None, "at most 60 deg"),
        (10, None, 11, "accepts pdg \\[22\\]"),
        (True, None, None, "True is not 1 GeV"),
        (["10"], None, None, "numbers of GeV"),
    ],
)
def test_bad_conditions_are_explained(energy, direction, pdg, message):
    with pytest.raises(InvalidConditionError, match=message):
        COND.validate(energy, direction, pdg)


def test_normal_only_model_refuses_any_tilt():
    normal_only = Conditions(10.0, 90.0, max_angle_deg=0.0)
    normal_only.validate(50, [0, 0, 1])
    with pytest.raises(InvalidConditionError, match="normal incidence"):
        normal_only.validate(50, direction_from_angles(85, 90))


def test_angles_follow_the_top_stave_convention():
    np.testing.assert_allclose(direction_from_angles(90, 90), [0, 0, 1], atol=1e-12)
    # a photon at theta = 60 deg leans towards +x, the beam direction, in the local frame
    d = direction_from_angles(60, 90)
    np.testing.assert_allclose(d, [0.5, 0, np.sqrt(3) / 2], atol=1e-12)
    theta, phi = angles_from_direction(direction_from_angles([30, 150], [80, 110]))
    np.testing.assert_allclose(theta, [30, 150])
    np.testing.assert_allclose(phi, [80, 110])
