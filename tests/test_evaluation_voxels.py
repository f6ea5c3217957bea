"""Voxel-space evaluation as the CaloChallenge does it: the high-level observables are what their
definitions say, equal samples sit at the twin floor, a distorted one stands out."""

import numpy as np
import pytest

from calozoo.evaluation.voxels import VoxelLayout, compare_voxels, voxel_features
from calozoo.io import VoxelShowers

LAYOUT = VoxelLayout(n_layers=5, n_alpha=8, n_r=6, radial_edges_mm=tuple(4.0 * np.arange(7)))


def toy_voxels(n, seed, width_scale=1.0):
    """Showers with a Gaussian core about the axis and a per-layer energy profile."""
    rng = np.random.default_rng(seed)
    x, y = LAYOUT.centres_xy()
    incident = np.exp(rng.uniform(np.log(10), np.log(100), n))
    out = np.zeros((n, LAYOUT.n_layers, LAYOUT.n_alpha * LAYOUT.n_r))
    for layer in range(LAYOUT.n_layers):
        width = (3.0 + 2.0 * layer) * width_scale * rng.uniform(0.9, 1.1, n)
        shift = rng.normal(0, 0.5, (n, 2))
        weight = np.exp(-((x - shift[:, :1]) ** 2 + (y - shift[:, 1:]) ** 2) / (2 * width[:, None] ** 2))
        energy = incident * 10 * np.exp(-0.5 * (layer - 2) ** 2) * rng.gamma(20, 1 / 20, n)
        cells = energy[:, None] * weight / weight.sum(axis=1, keepdims=True)
        out[:, layer] = np.where(cells > 0.05, cells, 0.0)
    return VoxelShowers(out.reshape(n, -1), incident)


def test_the_observables_are_their_definitions():
    one = np.zeros((1, LAYOUT.n_voxels))
    # layer 1, angular bin 2 (centre -pi + 2.5 * pi/4), radial bin 3 (centre 14 mm): 5 MeV
    voxel = (1 * LAYOUT.n_alpha + 2) * LAYOUT.n_r + 3
    one[0, voxel] = 5.0
    one[0, voxel + 1] = 5.0  # radial bin 4 (18 mm), same angle
    f = voxel_features(VoxelShowers(one, [0.5]), LAYOUT)
    angle = -np.pi + 2.5 * 2 * np.pi / 8
    assert f["energy"][0].tolist() == [0.0, 10.0, 0.0, 0.0, 0.0]
    assert f["centre_x"][0, 1] == pytest.approx(16 * np.cos(angle))
    assert f["centre_y"][0, 1] == pytest.approx(16 * np.sin(angle))
    assert f["width_x"][0, 1] == pytest.approx(2 * abs(np.cos(angle)))
    assert f["sparsity"][0, 1] == pytest.approx(2 / 48) and f["sparsity"][0, 0] == 0
    assert np.isnan(f["centre_x"][0, 0])  # an empty layer has no centre
    assert f["e_ratio"][0] == pytest.approx(10.0 / 500.0)
    with pytest.raises(ValueError, match="10 voxels but the layout has 240"):
        voxel_features(VoxelShowers(np.zeros((1, 10)), [1.0]), LAYOUT)


def test_equal_samples_sit_at_the_floor_and_a_wider_one_stands_out():
    reference, twin = toy_voxels(3000, 1), toy_voxels(3000, 2)
    same, wider = toy_voxels(3000, 3), toy_voxels(3000, 4, width_scale=1.15)
    good = compare_voxels(reference, same, LAYOUT, twin=twin, seed=1)
    bad = compare_voxels(reference, wider, LAYOUT, twin=twin, seed=1)
    floor = good["floor"]
    for name in ("energy", "width_x", "width_y", "sparsity", "e_ratio", "voxel_energy"):
        assert good["separation"][name]["mean"] < 3 * floor[name]["mean"] + 0.005, name
    assert bad["separation"]["width_x"]["mean"] > 10 * floor["width_x"]["mean"]
    assert bad["separation"]["sparsity"]["mean"] > 5 * floor["sparsity"]["mean"]
    assert good["classifier"]["high"]["auc"] < 0.56
    assert bad["classifier"]["high"]["auc"] > 0.75
    assert len(good["separation"]["energy"]["per_layer"]) == LAYOUT.n_layers
    with pytest.raises(ValueError, match="unknown classifiers"):
        compare_voxels(reference, same, LAYOUT, classifiers=("middle",))
    with pytest.raises(ValueError, match="not a voxel readout"):
        compare_voxels(reference, same, object())
