"""The shipped CaloClouds3 as a user meets it: the calozoo contract, the generation chain, the
calibration, clear errors, importing the authors' network, and fidelity against the reference MC."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from calozoo_caloclouds3.calibration import CaloClouds3Calibrator
from calozoo_caloclouds3.model import SHIPPED_WEIGHTS, CaloClouds3, layer_targets, load_pretrained
from calozoo_engine.calibration import Thinning, summarise_cells
from calozoo_toyflow.model import SHIPPED_WEIGHTS as TOYFLOW_WEIGHTS
from click.testing import CliRunner

import calozoo
from calozoo.cli import main
from calozoo.conditions import direction_from_angles
from calozoo.errors import InvalidConditionError, ModelFolderError
from calozoo.testing import check_model

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_pretrained()


@pytest.fixture(scope="module")
def barrel():
    return calozoo.geometry("ild-ecal-barrel")


def test_the_shipped_model_honours_the_calozoo_contract(model, tmp_path):
    check_model(model, tmp_path)


def test_loaded_by_name_and_calibrated_for_the_barrel():
    model = calozoo.load("caloclouds3")
    assert isinstance(model, CaloClouds3)
    assert model.calibration["geometry"] == "ild-ecal-barrel"
    assert 0.05 < model.occupancy_factor < 1.0  # sub-cell points merge into cells
    assert 0.8 < model.widening < 1.3 and 0.8 < model.energy_factor < 1.25


def test_variants_are_named_and_a_wrong_one_says_which_exist(model):
    assert calozoo.load("caloclouds3", variant="barrel").get_config() == model.get_config()
    with pytest.raises(ValueError, match=r"no variant 'forward'; its variants are \['barrel', 'endcap'\]"):
        calozoo.load("caloclouds3", variant="forward")
    with pytest.raises(ModelFolderError, match="not both"):
        load_pretrained(SHIPPED_WEIGHTS, variant="barrel")
    with pytest.raises(ModelFolderError, match="no variant 'forward'"):
        load_pretrained(variant="forward")


def test_a_direction_window_taken_from_a_data_set_is_kept_and_saved(model, tmp_path):
    from calozoo.distributions import endcap_ip_directions

    directions = endcap_ip_directions(300, np.random.default_rng(4))
    with pytest.raises(InvalidConditionError, match="outside the trained window"):
        model.sample([10.0, 10.0], directions[:2], seed=1)
    wide = model.with_direction_window(directions)
    assert wide.sample([10.0, 10.0], directions[:2], seed=1).num_points.min() > 0
    assert model.direction_window["phi_deg"] == (80.0, 110.0)  # the original is unchanged
    normal = np.degrees(np.arccos(directions[:, 2]))
    assert wide.direction_window["max_angle_deg"] == pytest.approx(normal.max() + 1.0)
    wide.save(tmp_path / "wide")
    assert CaloClouds3.load(tmp_path / "wide").direction_window == wide.direction_window
    # a calibrator told to take the reference's window passes it on to the calibrated model
    assert CaloClouds3Calibrator(direction_window="reference").get_config()["direction_window"] == "reference"
    with pytest.raises(ValueError, match="'model' or 'reference'"):
        CaloClouds3Calibrator(direction_window="endcap")


def test_the_endcap_variant_is_calibrated_for_the_endcap():
    endcap = calozoo.load("caloclouds3", variant="endcap")
    assert endcap.calibration["geometry"] == "ild-ecal-endcap"
    # the barrel's point network, the endcap's own flow
    barrel = load_pretrained()
    assert all(
        torch.equal(a, b) for a, b in zip(endcap.net.state_dict().values(), barrel.net.state_dict().values())
    )
    assert not torch.equal(next(iter(endcap.flow.parameters())), next(iter(barrel.flow.parameters())))
    assert endcap.direction_window["max_angle_deg"] > 40  # the endcap's directions, 9-43 deg
    from calozoo.distributions import endcap_ip_directions

    showers = endcap.sample([20.0, 20.0], endcap_ip_directions(2, np.random.default_rng(3)), seed=3)
    assert (showers.num_points > 100).all()
    # projected into the endcap it is calibrated for: about the visible energy of a 20 GeV photon
    hits = calozoo.geometry("ild-ecal-endcap").project(showers)
    assert 300 < hits.showers.visible_energy_mev.mean() < 600


def test_layers_get_the_flows_counts_and_energies(model, monkeypatch):
    recorded = {}
    real_sample = model.flow.sample

    def spy(context, generator, **kw):
        recorded["targets"] = out = real_sample(context, generator, **kw)
        return out

    monkeypatch.setattr(model.flow, "sample", spy)
    direction = direction_from_angles([90.0, 60.0, 120.0], [90.0, 85.0, 100.0])
    showers = model.sample([10.0, 50.0, 100.0], direction, seed=4)
    scales = model.recipe.scales([10.0, 50.0, 100.0])
    counts, energy = layer_targets(recorded["targets"], model.occupancy, *scales)
    got_counts, got_energy = showers.layer_sums(30)
    np.testing.assert_array_equal(got_counts, counts.numpy())
    expected = energy.numpy() * model.energy_factor
    filled = got_counts > 0
    np.testing.assert_allclose(got_energy[filled], expected[filled], rtol=2e-4)
    # energy of a layer the flow gave no points is lost, as in the paper's chain
    assert np.all(got_energy[~filled] == 0)


def test_every_generated_point_carries_energy(model, tmp_path):
    """A layer the flow leaves without energy gets no points (they would read back as padding)."""
    showers = model.sample(np.repeat([1.0, 5.0, 50.0, 127.0], 250), seed=9, batch_size=250)
    assert np.all(showers.points[..., 3][showers.padding_mask] > 0)
    calozoo.write_showers(tmp_path / "cc3.h5", showers)  # the CaloClouds layout accepts them
    assert calozoo.read_showers(tmp_path / "cc3.h5").num_points.tolist() == showers.num_points.tolist()


def test_same_seed_same_showers_other_seed_other_showers(model):
    a = model.sample([20.0, 80.0], seed=11)
    assert a == model.sample([20.0, 80.0], seed=11)
    assert a != model.sample([20.0, 80.0], seed=12)


def test_batch_invariant_showers_do_not_depend_on_the_batch_size():
    """Loaded batch invariant, shower i of a seed is the same bit for bit in any batch, and the
    first showers of a longer job are a shorter job's (directions spread over the trained window)."""
    model = load_pretrained(batch_invariant=True)
    rng = np.random.default_rng(0)
    energy = rng.uniform(5, 120, 70)
    direction = direction_from_angles(rng.uniform(40, 140, 70), rng.uniform(82, 108, 70))
    whole = model.sample(energy, direction, seed=3, batch_size=70)
    for batch_size in (1, 9, 64):
        assert model.sample(energy, direction, seed=3, batch_size=batch_size) == whole
    assert model.sample(energy[:10], direction[:10], seed=3) == whole[:10]
    assert model.with_calibration(1.0, 1.0, 1.0).batch_invariant


def test_per_shower_streams_make_batches_agree_to_rounding(model):
    """Without batch invariance, a shower's random numbers are still its own: the showers of
    two batch sizes agree up to the rounding of the batched products."""
    energy = np.linspace(10, 120, 40)
    a = model.sample(energy, seed=8, batch_size=40)
    b = model.sample(energy, seed=8, batch_size=7)
    assert np.mean(a.num_points == b.num_points) > 0.8
    np.testing.assert_allclose(a.visible_energy_mev, b.visible_energy_mev, rtol=1e-3)


def test_energies_outside_the_training_range_need_an_explicit_opt_in(model):
    for energy in (0.5, 130.0):
        with pytest.raises(InvalidConditionError, match="extrapolate=True"):
            model.sample(energy, seed=0)
    bold = load_pretrained(extrapolate=True)
    assert bold.sample(150.0, seed=0).num_points[0] > 0
    assert calozoo.load("caloclouds3", extrapolate=True).conditions.energy_max_gev > 127


def test_extrapolation_from_the_command_line(tmp_path):
    runner = CliRunner()
    args = ["generate", "caloclouds3", "-n", "3", "--energy", "150", "-o", str(tmp_path / "x.h5")]
    refused = runner.invoke(main, args)
    assert refused.exit_code != 0 and "-O extrapolate=true" in refused.output
    assert not (tmp_path / "x.h5").exists()
    result = runner.invoke(main, [*args, "-O", "extrapolate=true"])
    assert result.exit_code == 0, result.output
    assert calozoo.read_showers(tmp_path / "x.h5").incident_energy_gev.tolist() == [150.0] * 3
    bad = runner.invoke(main, [*args, "-O", "extrapolate"])
    assert bad.exit_code != 0 and "KEY=VALUE" in bad.output


def test_directions_outside_the_training_window_are_refused(model):
    with pytest.raises(InvalidConditionError, match="phi = \\[60.0\\] deg.*phi 80-110"):
        model.sample(50.0, direction_from_angles(90.0, 60.0), seed=0)
    with pytest.raises(InvalidConditionError, match="at most 62 deg"):  # theta 20: 70 deg from the normal
        model.sample(50.0, direction_from_angles(20.0, 90.0), seed=0)


def test_corrupt_or_mismatched_weight_files_are_refused(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(SHIPPED_WEIGHTS, broken)
    weights = sorted(broken.glob("weights*.safetensors"))[0]
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ModelFolderError):
        load_pretrained(broken)
    shapes = tmp_path / "shapes"
    shutil.copytree(SHIPPED_WEIGHTS, shapes)
    config = json.loads((shapes / "config.json").read_text())
    config["config"]["net"]["widths"] = [4, 128, 256, 512, 256, 128, 4]
    (shapes / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match="architecture"):
        load_pretrained(shapes)
    with pytest.raises(ModelFolderError):
        load_pretrained(TOYFLOW_WEIGHTS)  # another model's folder


def test_calibrator_thinning_keeps_layer_energies_and_recovers_known_factors(model, barrel):
    raw = model.with_calibration(1.0, 1.0, 1.0)
    generated = raw.sample(np.full(60, 40.0), seed=2)
    same = Thinning(generated, 0, 30)(1.0, 1.0, 1.0)
    np.testing.assert_array_equal(same.num_points, generated.num_points)
    half = Thinning(generated, 0, 30)(0.5, 1.0, 1.0)
    counts, energy = generated.layer_sums(30)
    half_counts, half_energy = half.layer_sums(30)
    np.testing.assert_array_equal(half_counts, np.floor(counts * 0.5))
    kept = half_counts > 0
    np.testing.assert_allclose(half_energy[kept], energy[kept], rtol=1e-4)
    # A "reference" made from the same showers with known factors: the fit finds them again.
    reference = Thinning(generated, 5, 30)(0.45, 1.1, 0.95)
    calibrator = CaloClouds3Calibrator(rounds=2).fit(generated, reference, barrel)
    assert calibrator.occupancy_factor_ == pytest.approx(0.45, abs=0.03)
    assert calibrator.widening_ == pytest.approx(1.1, abs=0.03)
    assert calibrator.energy_factor_ == pytest.approx(0.95, abs=0.02)
    after = summarise_cells(calibrator.apply(generated), barrel)
    target = summarise_cells(reference, barrel)
    assert after.occupancy == pytest.approx(target.occupancy, rel=0.02)
    assert after.visible_energy_mev == pytest.approx(target.visible_energy_mev, rel=0.01)
    with pytest.raises(ValueError, match="share their incident conditions"):
        calibrator.fit(generated[:10], reference[:20], barrel)


def test_per_layer_occupancy_recovers_known_shares_and_is_applied(model, barrel, tmp_path):
    raw = model.with_calibration(1.0, 1.0, 1.0)
    generated = raw.sample(np.full(60, 40.0), seed=2)
    shares = np.linspace(0.35, 0.8, 30)  # more points per cell kept deep in the stack
    reference = Thinning(generated, 5, 30)(1.0, 1.0, 1.0, shares)
    plain = CaloClouds3Calibrator(rounds=2).fit(generated, reference, barrel)
    layered = CaloClouds3Calibrator(rounds=2, per_layer=True).fit(generated, reference, barrel)
    target = summarise_cells(reference, barrel).layer_occupancy
    err = {}
    for name, fitted in [("plain", plain), ("per layer", layered)]:
        got = summarise_cells(fitted.apply(generated), barrel).layer_occupancy
        busy = target > 5
        err[name] = np.abs(got[busy] / target[busy] - 1).max()
    assert err["per layer"] < 0.05 < err["plain"]  # one factor cannot follow the depth; thirty can
    assert plain.layer_occupancy_ is None and layered.widening_ == pytest.approx(1.0, abs=0.03)
    busy_layers = target > 20
    fitted_shares = layered.occupancy_factor_ * layered.layer_occupancy_
    np.testing.assert_allclose(fitted_shares[busy_layers], shares[busy_layers], atol=0.05)
    # the model applies the 30 factors while generating, and keeps them when saved
    calibrated = model.with_calibration(
        layered.occupancy_factor_, layered.widening_, layered.energy_factor_, layered.layer_occupancy_
    )
    calibrated.save(tmp_path / "m")
    loaded = CaloClouds3.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.layer_occupancy, layered.layer_occupancy_)
    torch.testing.assert_close(loaded.occupancy, torch.tensor(fitted_shares, dtype=torch.float32)[None])
    again = loaded.sample(np.full(60, 40.0), seed=2)
    kept = again.layer_sums(30)[0].sum(0) / np.maximum(generated.layer_sums(30)[0].sum(0), 1)
    np.testing.assert_allclose(kept[busy_layers], fitted_shares[busy_layers], atol=0.01)
    assert CaloClouds3Calibrator.from_saved(layered.get_config(), {}).layer_occupancy_ is not None
    with pytest.raises(ValueError, match="30 positive numbers"):
        model.with_calibration(0.5, 1.0, 1.0, np.ones(29))


def test_energy_spread_recovers_a_known_spread_and_keeps_layer_energies(model, barrel):
    raw = model.with_calibration(1.0, 1.0, 1.0)
    generated = raw.sample(np.full(60, 40.0), seed=2)
    reference = Thinning(generated, 5, 30)(0.5, 1.0, 1.0, None, 1.3)
    fitted = CaloClouds3Calibrator(rounds=2, cell_energy=True).fit(generated, reference, barrel)
    assert fitted.energy_spread_ == pytest.approx(1.3, abs=0.05)
    assert fitted.occupancy_factor_ == pytest.approx(0.5, abs=0.05)
    plain = CaloClouds3Calibrator(rounds=2).fit(generated, reference, barrel)
    assert plain.energy_spread_ == 1.0
    target = summarise_cells(reference, barrel).log_cell_energy
    got = {c: summarise_cells(c.apply(generated), barrel).log_cell_energy for c in (plain, fitted)}
    assert abs(got[fitted] - target) < 0.02 < abs(got[plain] - target)
    # generating with a spread: the same layer energies, log point energies spread by that factor
    wide = raw.with_calibration(1.0, 1.0, 1.0, energy_spread=1.5).sample(np.full(60, 40.0), seed=2)
    np.testing.assert_allclose(wide.layer_sums(30)[1], generated.layer_sums(30)[1], rtol=1e-4, atol=1e-3)
    log_e = [np.log(s.points[..., 3][s.padding_mask]) for s in (generated, wide)]
    assert np.std(log_e[1]) / np.std(log_e[0]) == pytest.approx(1.5, rel=0.1)


def test_fidelity_at_50_gev_normal_incidence_in_the_barrel(model, barrel):
    """1000 showers against the reference MC's (numbers from docs/caloclouds3.md's study)."""
    reference = json.loads((HERE / "reference_barrel_50gev.json").read_text())
    showers = model.sample(np.full(1000, 50.0), seed=2024, batch_size=100)
    cells = barrel.project(showers).showers
    visible = cells.visible_energy_mev.mean()
    occupancy = cells.num_points.mean()
    layer = np.floor(cells.points[..., 2]).astype(int)
    profile = np.array([(cells.points[..., 3] * (layer == i)).sum(1).mean() for i in range(30)])
    assert visible == pytest.approx(reference["visible_energy_mev"], rel=0.03)
    assert occupancy == pytest.approx(reference["occupancy"], rel=0.05)
    ref_profile = np.array(reference["layer_energy_mev"])
    share = ref_profile / ref_profile.sum()
    deviation = np.abs(profile / ref_profile - 1)
    assert (share * deviation).sum() < 0.03  # energy-weighted mean deviation of the profile
    core = share > 0.01  # the layers holding at least 1 % of the energy each (about 20 of 30)
    assert core.sum() > 15
    # 7 %: the flow trained at scale puts 5-7 % too much energy into layers 0-4 at 50 GeV
    # (docs/caloclouds3-fidelity.md); the deeper layers are within 3.5 %
    np.testing.assert_allclose(profile[core], ref_profile[core], rtol=0.07)


def test_importing_the_authors_network(tmp_path):
    from test_cc3_checkpoint import authors_state, full_checkpoint, random_net, save_authors

    ema, live = random_net(1), random_net(2)
    path = save_authors(tmp_path / "authors.pt", full_checkpoint(ema, live))
    out = tmp_path / "imported"
    result = CliRunner().invoke(main, ["import", "caloclouds3", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    imported = CaloClouds3.load(out)
    for key, value in ema.state_dict().items():
        torch.testing.assert_close(imported.net.state_dict()[key], value)
    assert imported.scaler.mean[2] == pytest.approx(12.35925)  # the authors' normalisation
    assert len(imported.sample(50.0, seed=0)) == 1
    assert authors_state  # the helper used to build the file is the checkpoint tests' own
    # importing again into the same folder replaces the earlier import (a CaloClouds3 folder)
    path = save_authors(tmp_path / "authors.pt", full_checkpoint(live, ema))
    result = CliRunner().invoke(main, ["import", "caloclouds3", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    for key, value in live.state_dict().items():
        torch.testing.assert_close(CaloClouds3.load(out).net.state_dict()[key], value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["authors.pt", "imported"]


@pytest.mark.parametrize("holds", ["thesis", "report", "calibrator"])
def test_import_never_replaces_a_folder_that_is_not_a_caloclouds3_model(tmp_path, holds):
    out = tmp_path / "out"
    out.mkdir()
    if holds == "thesis":
        (out / "thesis.tex").write_text("years of work")
        message = f"{out}: exists and holds files calozoo did not write (thesis.tex)"
    elif holds == "report":
        (out / "results.json").write_text("{}")
        message = f"{out}: holds a calozoo evaluation report, not a saved calozoo_caloclouds3.model:"
    else:
        CaloClouds3Calibrator("ild-ecal-barrel").save(out)
        message = "holds a saved calozoo_caloclouds3.calibration:CaloClouds3Calibrator, not a saved"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    checkpoint = tmp_path / "authors.pt"
    checkpoint.write_bytes(b"refused before it is read")
    result = CliRunner().invoke(main, ["import", "caloclouds3", str(checkpoint), "-o", str(out)])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit, result.output
    assert message in result.output and "nothing was changed" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["authors.pt", "out"]


def test_info_is_a_model_card():
    """What it is, what it was trained on (with the reference MC's physics version), where it is
    calibrated, where it is valid, how good it is, its licence and how to cite it; no torch needed."""
    result = CliRunner().invoke(main, ["info", "caloclouds3"])
    assert result.exit_code == 0, result.output
    for expected in (
        "paper: Buss et al., CaloClouds3",
        "trained (flow): 115,000 showers, reference-MC physics version 2",
        "calibrated for: ild-ecal-barrel",
        "validity: photons of 1-127 GeV",
        "fidelity:",
        "licence: Apache-2.0",
        "bibtex: @article{caloclouds3",
        "eprint = {2511.01460}",
    ):
        assert expected in result.output


def test_every_direction_of_the_training_preset_is_accepted(model):
    # the barrel-ip preset (the training directions) reaches 61.97 deg from the layer normal
    from calozoo.distributions import barrel_ip_directions

    directions = barrel_ip_directions(200_000, np.random.default_rng(3))
    assert np.degrees(np.arccos(directions[:, 2].min())) > 61.5  # the old limit refused these
    model.conditions.validate(np.full(len(directions), 50.0), directions, None)
