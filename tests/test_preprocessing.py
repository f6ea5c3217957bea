"""Preprocessing raw hits into training points: bookkeeping, tilt removal, binning, seeding, errors."""

import numpy as np
import pytest

from calozoo.conditions import direction_from_angles
from calozoo.layered import PlanarGeometry
from calozoo.preprocessing import layer_boundaries_mm, preprocess, trajectory_xy_mm
from calozoo.showers import Showers

# ILD-like depths: silicon layer bottoms (global radius, mm) minus the front face at 1804.7 mm,
# plus half the 0.525 mm silicon thickness (specs/geometry.md).
SILICON_BOTTOMS_MM = [
    1811.34, 1814.465, 1823.81, 1826.935, 1836.28, 1839.405, 1848.75, 1851.875, 1861.22, 1864.345,
    1873.69, 1876.815, 1886.16, 1889.285, 1898.63, 1901.755, 1911.10, 1914.225, 1923.57, 1926.695,
    1938.14, 1943.365, 1954.81, 1960.035, 1971.48, 1976.705, 1988.15, 1993.375, 2004.82, 2010.045,
]  # fmt: skip
DEPTH_MM = np.array(SILICON_BOTTOMS_MM) - 1804.7 + 0.2625
GEO = PlanarGeometry(DEPTH_MM, cell_size_mm=5.08833)
PITCH_MM = GEO.cell_size_mm / 5
INCLINED = direction_from_angles(60, 90)  # leans along +x: p_x / p_z = tan 30°


def fake_shower(rng, direction, hits_per_layer=200, width_mm=4.0) -> np.ndarray:
    """``(n, 4)`` raw hits in the silicon of every layer around the tilted axis (x, y, z mm; e MeV)."""
    z = np.repeat(DEPTH_MM, hits_per_layer) + rng.uniform(-0.26, 0.26, 30 * hits_per_layer)
    xy = trajectory_xy_mm(direction, z) + rng.normal(0, width_mm, (len(z), 2))
    return np.column_stack([xy, z, rng.exponential(0.05, len(z))])


def raw_showers(seed=0) -> Showers:
    """Three showers: normal incidence, θ = 60°, and θ = 120°, φ = 100° (leaning along -x and +y)."""
    directions = np.array([[0, 0, 1], INCLINED, direction_from_angles(120, 100)])
    rng = np.random.default_rng(seed)
    lists = [fake_shower(rng, d, hits_per_layer=rng.integers(50, 150)) for d in directions]
    return Showers.from_point_lists(lists, [50.0] * 3, directions, z_units="mm")


def nearest_layer(z):
    return np.argmin(np.abs(np.asarray(z)[:, None] - DEPTH_MM[None, :]), axis=1)


def test_energy_bookkeeping_matches_an_independent_count():
    rng = np.random.default_rng(1)
    base = fake_shower(rng, INCLINED, hits_per_layer=100)
    strays = np.array(
        [
            [0.0, 0.0, 1.0, 0.07],  # in front of the first layer (half a pitch before it is 5.3 mm)
            [100.0, 0.0, DEPTH_MM[-1] + 10, 0.09],  # behind the last layer
            [300.0, 0.0, DEPTH_MM[3], 0.11],  # outside the box
            [0.0, -260.0, DEPTH_MM[20], 0.13],  # outside the box
            [5.0, 5.0, DEPTH_MM[4], 0.0],  # zero energy: ignored
        ]
    )
    hits = np.concatenate([base, strays])
    raw = Showers.from_point_lists([hits, base[:40]], [50.0, 10.0], [INCLINED, INCLINED], z_units="mm")
    points, report = preprocess(raw, GEO, seed=0, return_report=True)

    # independently: nearest layer centre, tilt at that centre, box
    hits = raw.shower(0).astype(np.float64)
    half_pitch = (DEPTH_MM[1] - DEPTH_MM[0]) / 2, (DEPTH_MM[-1] - DEPTH_MM[-2]) / 2
    in_layers = (hits[:, 2] >= DEPTH_MM[0] - half_pitch[0]) & (hits[:, 2] < DEPTH_MM[-1] + half_pitch[1])
    shift = trajectory_xy_mm(INCLINED, DEPTH_MM[nearest_layer(hits[:, 2])])
    in_box = np.all(np.abs(hits[:, :2] - shift) <= 250, axis=1)
    e = hits[:, 3]
    np.testing.assert_allclose(points.visible_energy_mev[0], e[in_layers & in_box].sum(), rtol=1e-6)
    np.testing.assert_allclose(report.energy_trimmed_mev[0], e[in_layers & ~in_box].sum(), rtol=1e-12)
    np.testing.assert_allclose(report.energy_trimmed_mev[0], 0.11 + 0.13, rtol=1e-6)
    np.testing.assert_allclose(report.energy_outside_layers_mev[0], 0.07 + 0.09, rtol=1e-6)
    assert report.hits_outside_layers.tolist() == [2, 0] and report.hits_trimmed.tolist() == [2, 0]
    assert report.hits_in.tolist() == [len(hits), 40]
    assert report.points_out.tolist() == points.num_points.tolist()
    np.testing.assert_allclose(points.visible_energy_mev[1], base[:40, 3].sum(), rtol=1e-6)
    # every MeV is accounted for, and the points are inside the box
    balance = (
        report.energy_out_mev
        + report.energy_outside_layers_mev
        + report.energy_trimmed_mev
        + report.energy_capped_mev
    )
    np.testing.assert_allclose(balance, report.energy_in_mev, rtol=1e-12)
    np.testing.assert_allclose(report.energy_out_mev, points.visible_energy_mev, rtol=1e-6)
    assert np.all(np.abs(points.points[..., :2]) <= 250)
    assert points.z_units == "layer"
    assert points.incident_energy_gev.tolist() == [50.0, 10.0] and np.array_equal(points.pdg, raw.pdg)
    np.testing.assert_array_equal(points.direction, raw.direction)
    points.check_padding()


def test_inclined_shower_comes_out_straight():
    rng = np.random.default_rng(2)
    raw = Showers.from_point_lists([fake_shower(rng, INCLINED, 400)], [50.0], [INCLINED], z_units="mm")
    hits = raw.shower(0)
    raw_layer = nearest_layer(hits[:, 2])
    raw_centroid = np.bincount(raw_layer, hits[:, 3] * hits[:, 0]) / np.bincount(raw_layer, hits[:, 3])
    assert raw_centroid[-1] > 100  # 207 mm deep at 30° from the normal: the raw shower leans far

    points = preprocess(raw, GEO, seed=4).shower(0)
    layer = np.floor(points[:, 2]).astype(int)
    e = points[:, 3]
    for column in (0, 1):
        centroid = np.bincount(layer, e * points[:, column]) / np.bincount(layer, e)
        assert np.all(np.abs(centroid) < PITCH_MM), centroid


def test_tilt_is_removed_at_the_layer_centre_not_at_the_hit():
    # one hit per layer, 0.25 mm behind the layer centre, 40 mm off the axis
    z = DEPTH_MM + 0.25
    hits = np.column_stack([trajectory_xy_mm(INCLINED, z) + [40.0, 0.0], z, np.ones(30)])
    raw = Showers.from_point_lists([hits], [1.0], [INCLINED], z_units="mm")
    points = preprocess(raw, GEO, seed=0).shower(0)
    assert np.floor(points[:, 2]).tolist() == list(range(30))
    expected_x = hits[:, 0].astype(np.float32) - DEPTH_MM * INCLINED[0] / INCLINED[2]
    np.testing.assert_allclose(points[:, 0], expected_x, atol=1e-4)
    np.testing.assert_allclose(points[:, 0], 40 + 0.25 / np.sqrt(3), atol=1e-4)


def test_one_point_per_sub_cell_with_summed_energy_at_the_most_energetic_hit():
    geo = PlanarGeometry([5.0, 15.0, 25.0], cell_size_mm=5.0)  # sub-cell pitch 1 mm
    # Shower 0 draws from child 0 of SeedSequence(seed): first its grid offset, then its depths.
    rng = np.random.default_rng(np.random.SeedSequence(7).spawn(1)[0])
    ox, oy = rng.uniform(-2.5, 2.5, size=2)  # lower-left corner of sub-cell (0, 0)
    hits = np.array(
        [
            [ox + 0.5, oy + 0.5, 15.2, 4.0],  # layer 1, sub-cell (0, 0): alone
            [ox + 0.1, oy + 0.2, 4.9, 1.0],  # layer 0, sub-cell (0, 0) ...
            [ox + 0.7, oy + 0.8, 5.1, 5.0],  # ... its most energetic hit
            [ox + 0.5, oy + 0.5, 5.0, 2.0],
            [ox + 1.3, oy + 0.4, 5.0, 3.0],  # layer 0, sub-cell (1, 0): a tie, the first wins
            [ox + 1.9, oy + 0.1, 5.2, 3.0],
        ]
    ).astype(np.float32)
    raw = Showers.from_point_lists([hits], [1.0], z_units="mm")
    points = preprocess(raw, geo, seed=7).shower(0)
    # ordered by layer, then sub-cell; each z = layer + the shower's next uniform numbers
    layer = np.array([0, 0, 1])
    expected = np.column_stack(
        [hits[[2, 4, 0], 0], hits[[2, 4, 0], 1], (layer + rng.random(3)).astype(np.float32), [8, 6, 4]]
    ).astype(np.float32)
    np.testing.assert_array_equal(points, expected)


def test_depth_is_layer_plus_a_uniform_fraction():
    raw = raw_showers(3)
    points = preprocess(raw, GEO, seed=5)
    for i in range(len(raw)):
        hits, p = raw.shower(i), points.shower(i)
        layer = np.floor(p[:, 2]).astype(int)
        assert np.all((p[:, 2] >= layer) & (p[:, 2] < layer + 1)) and np.all((layer >= 0) & (layer < 30))
        # each layer's points carry exactly the energy of that layer's hits
        np.testing.assert_allclose(
            np.bincount(layer, p[:, 3], minlength=30),
            np.bincount(nearest_layer(hits[:, 2]), hits[:, 3], minlength=30),
            rtol=1e-5,
        )
        fraction = p[:, 2] - layer
        assert abs(fraction.mean() - 0.5) < 0.05 and fraction.min() < 0.05 and fraction.max() > 0.95


def test_a_depth_draw_just_below_one_stays_inside_the_last_layer(monkeypatch):
    class AlmostOne:  # float32(29 + 0.9999999999) would round to 30
        def __init__(self, seed):
            pass

        def uniform(self, low, high, size):
            return np.zeros(size)

        def random(self, n):
            return np.full(n, 1 - 1e-10)

    monkeypatch.setattr(np.random, "default_rng", AlmostOne)
    raw = Showers.from_point_lists([[[0.0, 0.0, DEPTH_MM[-1], 1.0]]], [1.0], z_units="mm")
    z = preprocess(raw, GEO, seed=0).shower(0)[0, 2]
    assert 29 <= z < 30


def test_seeds_decide_the_binning_and_batch_size_does_not():
    raw = raw_showers(4)
    raw = Showers.from_point_lists([*raw, np.zeros((0, 4)), raw.shower(0)], [50.0] * 5, z_units="mm")
    reference = preprocess(raw, GEO, seed=11)
    assert preprocess(raw, GEO, seed=11) == reference
    for batch_size in (1, 2, 3):
        assert preprocess(raw, GEO, seed=11, batch_size=batch_size) == reference
    assert reference.num_points[3] == 0
    # the same hits in two showers get different grids; another seed gives another binning
    assert reference.num_points[0] != reference.num_points[4]
    other = preprocess(raw, GEO, seed=12)
    assert np.any(other.num_points != reference.num_points)
    np.testing.assert_allclose(other.visible_energy_mev, reference.visible_energy_mev, rtol=1e-6)


def test_max_points_keeps_the_most_energetic():
    raw = raw_showers(5)
    full = preprocess(raw, GEO, seed=1)
    capped, report = preprocess(raw, GEO, seed=1, max_points=100, return_report=True)
    assert capped.num_points.tolist() == [100] * 3 and np.all(full.num_points > 100)
    for i in range(3):
        top = np.sort(full.shower(i)[:, 3])[-100:]
        np.testing.assert_array_equal(np.sort(capped.shower(i)[:, 3]), top)
    np.testing.assert_allclose(
        report.energy_capped_mev, full.visible_energy_mev - capped.visible_energy_mev, rtol=1e-5
    )


def test_hits_outside_the_local_frame_warn():
    raw = raw_showers(6)
    raw.points[..., 2] += 1804.7  # global radius instead of depth
    with pytest.warns(UserWarning, match="local frame"):
        points, report = preprocess(raw, GEO, seed=0, return_report=True)
    assert points.num_points.sum() == 0 and report.hits_outside_layers.tolist() == raw.num_points.tolist()


def test_trajectory_and_layer_boundaries():
    np.testing.assert_allclose(
        trajectory_xy_mm(INCLINED, [0.0, 10.0]), [[0, 0], [10 / np.sqrt(3), 0]], atol=1e-12
    )
    directions = np.array([[0.0, 0.6, 0.8], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(trajectory_xy_mm(directions, [4.0, 9.0]), [[0, 3], [0, 0]], atol=1e-12)
    np.testing.assert_allclose(layer_boundaries_mm(PlanarGeometry([1.0, 3.0, 7.0], 5.0)), [0, 2, 5, 9])
    assert len(preprocess(Showers.empty("mm"), GEO, seed=0)) == 0


def _with_direction(direction):
    raw = raw_showers(0)
    raw.direction[1] = direction
    return raw


def _without_cells():
    geo = PlanarGeometry(DEPTH_MM, 5.0)
    geo.cell_size_mm = None
    return geo


def _with_hit(column, value):
    raw = raw_showers(0)
    raw.points[1, 3, column] = value
    return raw


@pytest.mark.parametrize(
    "raw, geometry, options, message",
    [
        (lambda: Showers.from_point_lists([np.ones((2, 4))], [1.0]), GEO, {}, "z in mm"),
        (raw_showers, _without_cells, {}, "cell_size_mm"),
        (raw_showers, GEO, {"sub_cells": 0}, "sub_cells"),
        (raw_showers, GEO, {"sub_cells": 2.5}, "sub_cells"),
        (raw_showers, GEO, {"max_points": 0}, "max_points"),
        (raw_showers, GEO, {"batch_size": 0}, "batch_size"),
        (raw_showers, GEO, {"trim_mm": -1.0}, "trim_mm"),
        (lambda: _with_hit(0, np.nan), GEO, {}, r"NaN or infinite .* showers \[1\]"),
        (lambda: _with_hit(3, -0.1), GEO, {}, r"non-negative .* showers \[1\]"),
        (lambda: _with_direction([0.6, 0.8, 0.0]), GEO, {}, "p_z > 0"),
        (lambda: _with_direction([0.0, 0.0, -1.0]), GEO, {}, "p_z > 0"),
        (lambda: _with_direction([np.nan, 0.0, 1.0]), GEO, {}, "direction contains NaN"),
    ],
)
def test_bad_inputs_raise_clear_errors(raw, geometry, options, message):
    geometry = geometry() if callable(geometry) else geometry
    with pytest.raises(ValueError, match=message):
        preprocess(raw(), geometry, seed=0, **options)
