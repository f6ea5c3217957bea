"""Raw hits -> preprocessing -> projection in the ILD geometries: a shower fired at θ = 60° is
straight as training points and tilted by depth * tan(30°) per layer as cell hits."""

import numpy as np
import pytest

import calozoo
from calozoo.conditions import direction_from_angles
from calozoo.preprocessing import preprocess
from calozoo.showers import Showers

DIRECTION = direction_from_angles(60.0, 90.0)  # 30 deg from the layer normal, leaning along the beam


@pytest.fixture(scope="module")
def regular():
    return calozoo.geometry("ild-ecal-regular", threshold_mev=0)


def tilted_raw_hits(geometry, n_showers=4, hits_per_layer=300, seed=0):
    """Raw hits scattered around the tilted trajectory, at the silicon depths, 0.1-1 MeV each."""
    rng = np.random.default_rng(seed)
    depth = np.repeat(geometry.layer_depth_mm, hits_per_layer)
    clouds = []
    for _ in range(n_showers):
        x = depth * DIRECTION[0] / DIRECTION[2] + rng.normal(0, 4.0, len(depth))
        y = rng.normal(0, 4.0, len(depth))
        clouds.append(np.column_stack([x, y, depth, rng.uniform(0.1, 1.0, len(depth))]))
    return Showers.from_point_lists(clouds, [50.0] * n_showers, [DIRECTION] * n_showers, z_units="mm")


def layer_centroids(showers, n_layers=30):
    """Energy-weighted mean x per layer over all showers, mm."""
    points = showers.points[showers.padding_mask].astype(np.float64)
    layer = np.floor(points[:, 2]).astype(int)
    energy = np.bincount(layer, weights=points[:, 3], minlength=n_layers)
    return np.bincount(layer, weights=points[:, 3] * points[:, 0], minlength=n_layers) / energy


def test_straight_after_preprocessing_and_tilted_after_projection(regular):
    raw = tilted_raw_hits(regular)
    points = preprocess(raw, regular, seed=1)
    np.testing.assert_allclose(points.visible_energy_mev, raw.visible_energy_mev, rtol=1e-6)
    # straight: every layer's centroid on the axis (within a sub-cell, 1.02 mm)
    assert np.max(np.abs(layer_centroids(points))) < 1.02

    cells = regular.project(points).showers
    np.testing.assert_allclose(cells.visible_energy_mev, raw.visible_energy_mev, rtol=1e-5)
    expected = regular.layer_depth_mm * np.tan(np.radians(30.0))  # 3.9 mm ... 123 mm
    # tilted: centroid follows depth * tan(30 deg) to within half a cell (cell centres quantise)
    np.testing.assert_allclose(layer_centroids(cells), expected, atol=0.5 * regular.cell_size_mm)
    assert expected[-1] - expected[0] > 100


def test_the_barrel_keeps_the_tilt_and_loses_only_dead_energy():
    barrel = calozoo.geometry("ild-ecal-barrel")
    regular = calozoo.geometry("ild-ecal-regular", threshold_mev=0)
    points = preprocess(tilted_raw_hits(regular), regular, seed=2)
    hits = barrel.project(points)
    total = points.visible_energy_mev
    kept = hits.showers.visible_energy_mev
    lost = hits.losses.total_mev  # dead, beyond the edges, outside the layers, below threshold
    np.testing.assert_allclose(kept + lost, total, rtol=1e-6)
    assert np.all(hits.losses.dead_mev > 0) and np.all(kept > 0.8 * total)
