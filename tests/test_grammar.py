"""The shared command-line words (calozoo.grammar): each form of --energy and the directions, each error."""

import click
import numpy as np
import pytest

from calozoo import grammar
from calozoo.conditions import angles_from_direction, direction_from_angles
from calozoo.distributions import (
    DIRECTION_DISTRIBUTIONS,
    ENDCAP_FACE_Z_MM,
    STAVE_INNER_RADIUS_MM,
    barrel_ip_directions,
    endcap_ip_directions,
)
from calozoo.grammar import EnergySpec, parse_direction, parse_energy, resolve_directions


@pytest.mark.parametrize(
    "text, kind, values",
    [
        ("50", "fixed", (50.0,)),
        (" 12.5 ", "fixed", (12.5,)),
        ("10,50,100", "fixed", (10.0, 50.0, 100.0)),
        ("100,10", "fixed", (100.0, 10.0)),  # in the order given
        ("10:100", "uniform", (10.0, 100.0)),
        ("log:1:127", "log-uniform", (1.0, 127.0)),
        ("LOG:0.5:2", "log-uniform", (0.5, 2.0)),
        ("1e1:1e2", "uniform", (10.0, 100.0)),
    ],
)
def test_each_energy_form(text, kind, values):
    spec = parse_energy(text)
    assert spec == EnergySpec(kind, values)
    assert parse_energy(str(spec)) == spec  # the canonical text reads back


def test_repeated_energies_are_a_list_of_fixed_energies():
    assert parse_energy(["10", "50"]) == parse_energy("10,50") == EnergySpec("fixed", (10.0, 50.0))
    assert parse_energy(["10,20", "30"]).values == (10.0, 20.0, 30.0)
    assert parse_energy(("7",)) == EnergySpec("fixed", (7.0,))


@pytest.mark.parametrize(
    "value, message",
    [
        ("abc", "expected a number of GeV (50), fixed energies"),
        ("", "expected a number of GeV"),
        ("10:", "expected a number of GeV"),
        ("10,,50", "expected a number of GeV"),
        ("1:2:3", "expected a number of GeV"),
        ("log:10", "expected a number of GeV"),
        ("log:", "expected a number of GeV"),
        ("10,20:30", "expected a number of GeV"),
        ("-5", "positive, finite numbers of GeV"),
        ("0", "positive, finite numbers of GeV"),
        ("10:nan", "positive, finite numbers of GeV"),
        ("10:inf", "positive, finite numbers of GeV"),
        ("10,-1", "positive, finite numbers of GeV"),
        ("log:0:10", "positive, finite numbers of GeV"),
        ("90:10", "a range needs LOW < HIGH"),
        ("10:10", "a range needs LOW < HIGH"),
        ("log:127:1", "a range needs LOW < HIGH"),
        (["10:100", "5"], "a range ('10:100') cannot be combined"),
        ([], "got nothing"),
    ],
)
def test_each_energy_error_says_what_is_accepted(value, message):
    with pytest.raises(click.BadParameter) as caught:
        parse_energy(value)
    text = caught.value.format_message()
    assert message in text
    if value and "cannot be combined" not in message:
        assert "log:LOW:HIGH (log:1:127)" in text


def test_energy_samples():
    cycled = parse_energy("10,50,100").sample(7, None)
    assert cycled.dtype == np.float64
    assert cycled.tolist() == np.resize([10.0, 50.0, 100.0], 7).tolist()  # as simulate always did
    assert parse_energy("50").sample(3, None).tolist() == [50.0] * 3
    # a range: exactly n uniform draws of the generator given
    uniform = parse_energy("10:100").sample(1000, np.random.default_rng(4))
    np.testing.assert_array_equal(uniform, np.random.default_rng(4).uniform(10, 100, 1000))
    log = parse_energy("log:1:100").sample(4000, np.random.default_rng(4))
    assert log.min() >= 1 and log.max() <= 100
    # uniform in log E: as many below 10 GeV as above
    assert np.mean(log < 10) == pytest.approx(0.5, abs=0.03)
    np.testing.assert_array_equal(log, parse_energy("log:1:100").sample(4000, np.random.default_rng(4)))


def test_parse_direction():
    assert parse_direction("0,0,1") == [0.0, 0.0, 1.0]
    for bad in ("0,0", "0,0,1,0", "a,b,c", "0,nan,1", ""):
        with pytest.raises(click.BadParameter, match="three comma-separated numbers px,py,pz"):
            parse_direction(bad)


def test_resolve_directions():
    assert resolve_directions(None, None, None, None) is None
    fixed = resolve_directions(70.0, 95.0, None, None)
    np.testing.assert_allclose(fixed.vector, direction_from_angles(70, 95))
    assert resolve_directions(None, None, "0.6,0,0.8", None).vector == (0.6, 0.0, 0.8)
    np.testing.assert_array_equal(
        resolve_directions(None, None, "0,0,1", None).sample(2, None), [[0, 0, 1.0]] * 2
    )
    drawn = resolve_directions(None, None, None, "barrel-ip")
    np.testing.assert_array_equal(
        drawn.sample(5, np.random.default_rng(3)), barrel_ip_directions(5, np.random.default_rng(3))
    )
    with pytest.raises(click.UsageError, match="--theta and --phi go together"):
        resolve_directions(90.0, None, None, None)
    with pytest.raises(click.UsageError, match="--theta and --phi go together"):
        resolve_directions(None, 90.0, None, None)
    with pytest.raises(click.UsageError, match="not --theta/--phi and --direction"):
        resolve_directions(90.0, 90.0, "0,0,1", None)
    with pytest.raises(click.UsageError, match="not --direction and --directions barrel-ip"):
        resolve_directions(None, None, "0,0,1", "barrel-ip")


def test_every_named_distribution_has_a_help_text():
    assert sorted(grammar.DIRECTIONS) == sorted(DIRECTION_DISTRIBUTIONS)


def test_barrel_ip_directions_cover_the_window_uniformly_on_the_stave():
    direction = barrel_ip_directions(4000, np.random.default_rng(1))
    theta, phi = angles_from_direction(direction)
    assert theta.min() > 30 and theta.max() < 150 and phi.min() > 80 and phi.max() < 110
    np.testing.assert_allclose(np.linalg.norm(direction, axis=1), 1.0)
    assert np.all(direction[:, 2] > 0)
    # uniform on the stave's face: the hit points along the beam are evenly spread
    along = STAVE_INNER_RADIUS_MM * direction[:, 0] / direction[:, 2]
    near, far = np.mean(abs(along) < 1000), np.mean((abs(along) >= 1000) & (abs(along) < 2000))
    assert near == pytest.approx(far, rel=0.1)
    # drawn only from the generator given: the same state, the same directions
    np.testing.assert_array_equal(
        barrel_ip_directions(7, np.random.default_rng(2)), barrel_ip_directions(7, np.random.default_rng(2))
    )
    assert barrel_ip_directions(0, np.random.default_rng(2)).shape == (0, 3)


def test_endcap_ip_directions_cover_quadrant_0_uniformly_from_the_interaction_point():
    direction = endcap_ip_directions(6000, np.random.default_rng(1))
    np.testing.assert_allclose(np.linalg.norm(direction, axis=1), 1.0)
    # where they hit the front face: quadrant 0 (x from -400, y from 400 to the octagon)
    x, y = (ENDCAP_FACE_Z_MM * direction[:, :2] / direction[:, 2:]).T
    assert x.min() > -400 and y.min() > 400 and x.max() < 2095.84 and y.max() < 2095.84
    assert np.all(x + y <= 2095.84 * np.sqrt(2) + 1e-6)
    assert x.min() < -380 and y.min() < 420 and (x + y).max() > 2940  # all of it, to the diagonal
    # uniform on the face: two equal areas get equal shares
    near = np.mean((x < 400) & (y < 1200))  # 800 x 800 mm beside the hole
    far = np.mean((x > 800) & (x < 1600) & (y > 800) & (y < 1600))
    assert near == pytest.approx(far, rel=0.1)
    angle = np.degrees(np.arccos(direction[:, 2]))
    assert 9.3 < angle.min() < 11 and 41 < angle.max() < 43.5
    np.testing.assert_array_equal(
        endcap_ip_directions(5, np.random.default_rng(2)), endcap_ip_directions(5, np.random.default_rng(2))
    )
    assert endcap_ip_directions(0, np.random.default_rng(2)).shape == (0, 3)


def test_the_grammar_imports_no_numpy():
    import subprocess
    import sys

    code = "import sys, calozoo.grammar; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
