"""CaloClouds2 as a user meets it: the shipped model, its chain, its calibrator, training it."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from calozoo_caloclouds2.calibration import CaloClouds2Calibrator
from calozoo_caloclouds2.model import (
    COUNTS,
    ENERGIES,
    IDENTITY,
    PAPER_ARCHITECTURE,
    CaloClouds2,
    CaloClouds2Recipe,
    layer_targets,
    load_pretrained,
    polyval,
)
from calozoo_engine import training
from calozoo_engine.data import TrainingSet
from calozoo_engine.features import ShowerSummaries
from calozoo_engine.flow import ShowerFlow
from calozoo_toyflow.gamma import ToyGammaShowers
from click.testing import CliRunner

import calozoo
from calozoo.cli import main
from calozoo.conditions import direction_from_angles
from calozoo.errors import InvalidConditionError, ModelFolderError
from calozoo.io import write_showers
from calozoo.testing import check_model

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_pretrained()


@pytest.fixture(scope="module")
def toy():
    energy = np.random.default_rng(0).uniform(10, 90, 40)
    return ToyGammaShowers().sample(energy=energy, seed=3)


# ------------------------------------------------------------------ the shipped model
def test_the_shipped_model_honours_the_calozoo_contract(model, tmp_path):
    check_model(model, tmp_path)


def test_loaded_by_name_offline_with_its_calibration():
    model = calozoo.load("caloclouds2")
    assert isinstance(model, CaloClouds2)
    assert model.calibration["geometry"] == "ild-ecal-barrel"
    assert model.poly_real != list(IDENTITY) and model.poly_fake != list(IDENTITY)
    assert sum(p.numel() for p in model.net.parameters()) == 504_920  # the paper's CaloClouds2 network


def test_normal_incidence_only_and_the_energy_range_are_explained(model):
    inclined = direction_from_angles(60.0, 90.0)
    with pytest.raises(InvalidConditionError, match="normal incidence only.*caloclouds3"):
        model.sample(50.0, inclined, seed=0)
    with pytest.raises(InvalidConditionError, match="extrapolate=True"):
        model.sample(120.0, seed=0)
    assert len(load_pretrained(extrapolate=True).sample(120.0, seed=0)) == 1


def test_same_seed_same_showers(model):
    first = model.sample([20.0, 70.0], seed=5)
    assert first == model.sample([20.0, 70.0], seed=5)
    assert first != model.sample([20.0, 70.0], seed=6)


def test_batch_invariant_showers_do_not_depend_on_the_batch_size():
    model = load_pretrained(batch_invariant=True)
    energy = np.random.default_rng(2).uniform(10, 90, 40)
    whole = model.sample(energy, seed=4, batch_size=40)
    for batch_size in (1, 13):
        assert model.sample(energy, seed=4, batch_size=batch_size) == whole
    assert model.with_occupancy(model.poly_real, model.poly_fake).batch_invariant


def test_showers_are_centred_on_the_flows_centre_of_gravity(model, monkeypatch):
    recorded = {}
    real_sample = model.flow.sample

    def spy(context, generator, **kw):
        recorded["targets"] = out = real_sample(context, generator, **kw)
        return out

    monkeypatch.setattr(model.flow, "sample", spy)
    showers = model.sample([15.0, 50.0, 85.0], seed=2)
    cog_xy = recorded["targets"][:, 2:4].numpy() * model.recipe.cog_std[:2] + model.recipe.cog_mean[:2]
    e = showers.points[..., 3] * showers.padding_mask
    centre = (showers.points[..., :2] * e[..., None]).sum(1) / e.sum(1)[:, None]
    np.testing.assert_allclose(centre, cog_xy, atol=1e-3)
    # the layer energies are the flow's visible energy shared by its fractions
    visible = recorded["targets"][:, 1].clamp_min(0).numpy() * 2500.0
    np.testing.assert_allclose(showers.visible_energy_mev, visible, rtol=1e-4)


def test_fidelity_at_50_gev_against_the_reference_mc(model):
    """Means at 45-55 GeV against the reference MC's test set (tests/reference_50gev.json)."""
    ref = json.loads((HERE / "reference_50gev.json").read_text())
    energy = np.random.default_rng(1).uniform(45, 55, 200)
    showers = model.sample(energy, seed=11)
    hits = calozoo.geometry("ild-ecal-barrel").project(showers).showers.num_points
    assert showers.visible_energy_mev.mean() == pytest.approx(ref["visible_energy_mev"], rel=0.04)
    assert hits.mean() == pytest.approx(ref["barrel_hits"], rel=0.08)


# ------------------------------------------------------------------ recipe and chain
def test_flow_targets_carry_totals_fractions_and_a_standardised_cog(toy):
    summaries = ShowerSummaries.of(toy, 30)
    recipe = CaloClouds2Recipe().fit(summaries)
    targets = recipe.flow_targets(summaries)
    assert targets.shape == (40, 65)
    np.testing.assert_allclose(targets[:, 0] * 5000, toy.num_points, rtol=1e-5)
    np.testing.assert_allclose(targets[:, 1] * 2500, toy.visible_energy_mev, rtol=1e-5)
    np.testing.assert_allclose(targets[:, 2:5].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(targets[:, 2:5].std(0), 1, rtol=1e-4)
    np.testing.assert_allclose(targets[:, COUNTS].max(1), 1)
    np.testing.assert_allclose(targets[:, ENERGIES].max(1), 1)
    np.testing.assert_allclose(recipe.point_context([50.0], None, [3000]), [[0.0, 0.0]])
    again = CaloClouds2Recipe.from_dict(json.loads(json.dumps(recipe.to_dict())))
    np.testing.assert_array_equal(again.flow_targets(summaries), targets)


def test_the_chain_hands_out_the_flows_points_and_energy(toy):
    summaries = ShowerSummaries.of(toy, 30)
    targets = torch.from_numpy(CaloClouds2Recipe().fit(summaries).flow_targets(summaries))
    identity = torch.tensor(IDENTITY, dtype=torch.float32)
    counts, energy = layer_targets(targets, identity, identity)
    # rounding each layer moves the total by at most half a point per layer
    assert np.all(np.abs(counts.sum(1).numpy() - toy.num_points) <= 15)
    np.testing.assert_allclose(energy.sum(1).numpy(), toy.visible_energy_mev, rtol=1e-4)
    np.testing.assert_array_equal(counts.numpy() > 0, summaries.counts > 0)
    # g(N) = poly_fake(poly_real(N)) scales the points
    half = torch.tensor([0.0, 0.0, 0.5, 0.0])
    halved, _ = layer_targets(targets, half, identity)
    assert np.all(np.abs(halved.sum(1).numpy() - toy.num_points / 2) <= 15)
    x = torch.linspace(0, 5, 7)
    np.testing.assert_allclose(
        polyval(torch.tensor([1.0, -2.0, 0.5, 3.0]), x), np.polyval([1, -2, 0.5, 3], x)
    )


def test_the_paper_sized_flow_has_about_35_million_parameters():
    flow = ShowerFlow(**{**CaloClouds2Recipe(architecture=PAPER_ARCHITECTURE).flow_kwargs()})
    assert 3.2e7 < sum(p.numel() for p in flow.parameters()) < 3.7e7
    assert sum(isinstance(f, type(flow.flow.flows[7])) for f in flow.flow.flows) == 10  # the splines


# ------------------------------------------------------------------ calibration
def test_calibrator_maps_points_to_the_references_hit_count(toy):
    barrel = calozoo.geometry("ild-ecal-barrel")
    calibrator = CaloClouds2Calibrator().fit(toy, toy, barrel)
    # the same showers on both sides: g is the identity over the fitted range
    n = toy.num_points.astype(float)
    np.testing.assert_allclose(calibrator.correction(n), n, rtol=0.05)
    thinned = CaloClouds2Calibrator().fit(_half(toy), toy, barrel).apply(toy)
    assert thinned.num_points.sum() < toy.num_points.sum()
    # layer sums are kept (a layer thinned to no point loses its little energy)
    np.testing.assert_allclose(thinned.visible_energy_mev, toy.visible_energy_mev, rtol=0.01)
    with pytest.raises(ValueError, match="training points"):
        CaloClouds2Calibrator().fit(_half(toy, z_units="mm"), toy, barrel)
    with pytest.raises(ValueError, match="at least 8"):
        CaloClouds2Calibrator().fit(toy[:3], toy, barrel)
    with pytest.raises(RuntimeError, match="not fitted"):
        CaloClouds2Calibrator().apply(toy)


def _half(showers, z_units="layer"):
    """Every second point of each shower, energies doubled: fewer points for the same showers."""
    lists = [showers.points[i, : showers.num_points[i]][::2] * [1, 1, 1, 2] for i in range(len(showers))]
    return type(showers).from_point_lists(lists, showers.incident_energy_gev, z_units=z_units)


# ------------------------------------------------------------------ training
def test_train_command_runs_every_stage_and_writes_a_loadable_model(toy, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_showers(data / "shard-00000.h5", toy)
    work = str(tmp_path / "work")
    runner = CliRunner()
    small = {"flow": ["--batch-size", "16"], "teacher": ["--points-per-batch", "2048", "--max-points", "128"]}
    small["distill"] = small["teacher"]
    for stage in ("flow", "teacher", "distill"):
        args = ["train", "caloclouds2", "--data", str(data), "--stage", stage, "--steps", "2", "--work", work]
        result = runner.invoke(main, [*args, *small[stage]])
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["train", "caloclouds2", "--stage", "assemble", "--work", work])
    assert result.exit_code == 0, result.output
    model = CaloClouds2.load(tmp_path / "work" / "model")
    assert model.recipe.name == "caloclouds2" and model.net.context_features == 2
    assert model.training["distill"]["steps"] == 2
    assert model.flow.settings["pattern"] == "APAPAPPSAPAPAP" and model.flow.settings["blocks"] == 10

    # a work folder keeps its model: another model's recipe cannot continue a CaloClouds2 run
    class OtherRecipe(CaloClouds2Recipe):
        name = "other-model"

    with pytest.raises(ModelFolderError, match="started for caloclouds2"):
        training.train_flow(
            TrainingSet.read(data, progress=False),
            work,
            training.FlowSettings(steps=3),
            recipe=OtherRecipe(),
        )
