"""The toy models as a user meets them: the calozoo contract, physics sanity, training, fidelity,
seeding and loading by name."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from calozoo_toyflow.gamma import ToyGammaShowers, load_toy_gamma
from calozoo_toyflow.model import SHIPPED_WEIGHTS, ToyFlow, load_pretrained, stick_breaking, unstick
from calozoo_toyflow.points import layer_summaries
from calozoo_toyflow.train import training_showers

import calozoo
from calozoo.errors import ModelFolderError
from calozoo.testing import check_model

NORMAL = [0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def gamma():
    return ToyGammaShowers()


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained()


@pytest.fixture(scope="module")
def small_training_set():
    return training_showers(300, seed=1)


def tiny_fit(showers, seed=0):
    """A few seconds' worth of training is not the point here: a small net, a few epochs."""
    return ToyFlow(hidden_features=32, num_layers=2).fit(showers, epochs=4, seed=seed)


# ---------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("make", [ToyGammaShowers, load_pretrained], ids=["toy-gamma", "toyflow"])
def test_conformance(make, tmp_path):
    check_model(make(), tmp_path)


def test_plugin_module_does_not_import_torch_or_numpy():
    code = (
        "import sys, calozoo_toyflow.plugin; "
        "heavy = {'torch', 'numpy', 'normflows'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_both_models_load_by_name():
    names = [r.name for r in calozoo.list_models()]
    assert "toyflow" in names and "toy-gamma" in names
    assert isinstance(calozoo.load("toyflow"), ToyFlow)
    assert isinstance(calozoo.load("toy-gamma"), ToyGammaShowers)


def test_a_toy_gamma_folder_does_not_load_as_toyflow(gamma, tmp_path):
    gamma.save(tmp_path / "gamma")
    with pytest.raises(ModelFolderError, match=r"holds a calozoo_toyflow\.gamma:ToyGammaShowers, not a"):
        calozoo.load("toyflow", path=tmp_path / "gamma")
    assert isinstance(calozoo.load("toy-gamma", path=tmp_path / "gamma"), ToyGammaShowers)


def test_shipped_weights_are_small_and_load(pretrained):
    size = sum(f.stat().st_size for f in SHIPPED_WEIGHTS.iterdir())
    assert size < 1_000_000
    assert pretrained.training_["nll_per_epoch"][-1] < pretrained.training_["nll_per_epoch"][0]


def test_factories_refuse_options_they_cannot_use(tmp_path):
    with pytest.raises(TypeError, match="unexpected keyword"):
        load_pretrained(hidden_features=8)
    ToyGammaShowers().save(tmp_path / "gamma")
    with pytest.raises(TypeError, match="cannot be combined"):
        load_toy_gamma(tmp_path / "gamma", points_per_gev=10)


# ---------------------------------------------------------------------------- toy-gamma physics
def test_toy_gamma_energy_scale_and_point_counts(gamma):
    showers = gamma.sample([50.0] * 100 + [100.0] * 100, NORMAL, seed=3)
    visible = showers.visible_energy_mev
    # ~2% of the incident energy is visible in the silicon: 50 GeV -> ~1000 MeV (minus leakage)
    assert 900 < visible[:100].mean() < 1020
    assert 1800 < visible[100:].mean() < 2040
    # ~60 points per GeV
    assert 2700 < showers.num_points[:100].mean() < 3100
    assert 5400 < showers.num_points[100:].mean() < 6200
    z = showers.points[..., 2][showers.padding_mask]
    assert z.min() >= 0 and z.max() < 30


def test_toy_gamma_shower_maximum_moves_deeper_with_energy(gamma):
    def mean_depth(energy):
        showers = gamma.sample([energy] * 100, NORMAL, seed=4)
        _, energies = layer_summaries(showers, 30)
        return np.average(np.arange(30), weights=energies.sum(axis=0))

    assert mean_depth(5.0) + 1.5 < mean_depth(100.0)  # t_max grows like ln E


def test_toy_gamma_inclined_showers_are_training_points(gamma):
    """Training points carry no tilt (projection adds it); the longer slant path shows in depth."""
    tilt = np.radians(40.0)
    inclined = gamma.sample([50.0] * 50, [np.sin(tilt), 0.0, np.cos(tilt)], seed=5)
    normal = gamma.sample([50.0] * 50, NORMAL, seed=5)
    points = inclined.points[inclined.padding_mask]
    in_layer = (points[:, 2] >= 10) & (points[:, 2] < 11)
    assert np.median(points[in_layer, 0]) == pytest.approx(0.0, abs=1.0)
    assert np.median(points[in_layer, 1]) == pytest.approx(0.0, abs=1.0)

    def mean_layer(showers):
        _, energies = layer_summaries(showers, 30)
        return np.average(np.arange(30), weights=energies.sum(axis=0))

    assert mean_layer(inclined) < mean_layer(normal) - 0.5  # more X0 per layer: the maximum comes earlier


# ---------------------------------------------------------------------------- training
def test_fit_lowers_the_nll_and_is_reproducible(small_training_set):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    model = tiny_fit(small_training_set, seed=0)
    assert torch.rand(1) == expected_next, "fit must leave the global torch random state alone"
    nll = model.training_["nll_per_epoch"]
    assert nll[-1] < nll[0] - 5.0
    again = tiny_fit(small_training_set, seed=0)
    assert again.sample(30.0, seed=1) == model.sample(30.0, seed=1)


def test_an_untrained_toyflow_says_so():
    with pytest.raises(RuntimeError, match="not trained"):
        ToyFlow().sample(10.0, seed=0)


def test_stick_breaking_round_trip():
    values = np.random.default_rng(0).uniform(0.01, 100.0, (5, 30))
    np.testing.assert_allclose(unstick(stick_breaking(values)), values, rtol=1e-9)


# ---------------------------------------------------------------------------- the trained toyflow
def test_toyflow_matches_toy_gamma_at_50_gev(gamma, pretrained):
    reference = gamma.sample([50.0] * 400, NORMAL, seed=6)
    generated = pretrained.sample([50.0] * 400, NORMAL, seed=6)
    ref_visible, gen_visible = reference.visible_energy_mev.mean(), generated.visible_energy_mev.mean()
    assert gen_visible == pytest.approx(ref_visible, rel=0.10)
    assert generated.num_points.mean() == pytest.approx(reference.num_points.mean(), rel=0.10)
    ref_layers = layer_summaries(reference, 30)[1].mean(axis=0)
    gen_layers = layer_summaries(generated, 30)[1].mean(axis=0)
    important = ref_layers > 0.02 * ref_visible  # layers holding more than 2% of the energy
    ratio = gen_layers[important] / ref_layers[important]
    assert np.all((ratio > 0.67) & (ratio < 1.5)), ratio.round(2)


def test_toyflow_point_count_grows_with_energy(pretrained):
    counts = [pretrained.sample([e] * 100, NORMAL, seed=7).num_points.mean() for e in (10.0, 50.0, 100.0)]
    assert counts[0] < counts[1] < counts[2]
    assert 7 < counts[2] / counts[0] < 13  # roughly proportional to the energy


def test_toyflow_seeding_ignores_the_global_torch_state(pretrained):
    direction = [np.sin(0.5), 0.0, np.cos(0.5)]
    torch.manual_seed(1)
    first = pretrained.sample([20.0, 80.0], direction, seed=11)
    torch.manual_seed(2)
    assert pretrained.sample([20.0, 80.0], direction, seed=11) == first
    assert not (pretrained.sample([20.0, 80.0], direction, seed=12) == first)
