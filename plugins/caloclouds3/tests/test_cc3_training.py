"""Training CaloClouds3 as a user runs it: data loading, size buckets, the three stages, resuming."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from calozoo_caloclouds3.model import COUNT_SCALE, CaloClouds3, CaloClouds3Recipe, flow_targets
from calozoo_engine import training
from calozoo_engine.data import TrainingSet, bucket_batches, data_files
from calozoo_engine.features import PointScaler
from calozoo_engine.flow import ShowerFlow
from calozoo_engine.pointnet import Denoiser, PointwiseNet, heun_sample, karras_sigmas
from calozoo_toyflow.gamma import ToyGammaShowers
from click.testing import CliRunner

import calozoo
from calozoo.cli import main
from calozoo.errors import FileFormatError, InvalidConditionError, ModelFolderError
from calozoo.io import write_showers
from calozoo.showers import Showers


@pytest.fixture(scope="module")
def showers():
    energy = np.random.default_rng(0).uniform(5, 40, 60)
    return ToyGammaShowers().sample(energy=energy, seed=3)


@pytest.fixture(scope="module")
def data_path(tmp_path_factory, showers):
    folder = tmp_path_factory.mktemp("data")
    write_showers(folder / "shard-00000.h5", showers[:30])
    write_showers(folder / "shard-00001.h5", showers[30:])
    return folder


def test_training_set_reads_a_folder_of_shards_without_losing_points(data_path, showers):
    data = TrainingSet.read(data_path, progress=False)
    assert len(data) == 60
    assert data.points.shape == (int(showers.num_points.sum()), 4)
    np.testing.assert_array_equal(data.num_points, showers.num_points)
    counts, energy = showers.layer_sums(30)
    assert counts.sum() == showers.num_points.sum()
    np.testing.assert_allclose(energy.sum(1), showers.visible_energy_mev, rtol=1e-5)
    targets = CaloClouds3Recipe("fixed").flow_targets(data.summaries(30))
    np.testing.assert_allclose(targets, flow_targets(counts, energy), rtol=1e-6)
    assert targets[0, :30].sum() * COUNT_SCALE == pytest.approx(showers.num_points[0], rel=1e-5)
    # the default units: per GeV of incident energy, about 1 per layer at every energy
    per_gev = CaloClouds3Recipe().flow_targets(data.summaries(30))
    np.testing.assert_allclose(
        per_gev, flow_targets(counts, energy, showers.incident_energy_gev, "per-gev"), rtol=1e-6
    )
    points_per_gev = per_gev[:, :30].sum(1) * 7864 / 127 / 30
    np.testing.assert_allclose(points_per_gev * showers.incident_energy_gev, showers.num_points, rtol=1e-5)
    # the energy-weighted centre of gravity, z in layer units
    e = showers.points[0, : showers.num_points[0], 3]
    z = showers.points[0, : showers.num_points[0], 2]
    assert data.summaries(30).cog[0, 2] == pytest.approx((e * z).sum() / e.sum(), rel=1e-5)


def test_missing_or_empty_data_is_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data_files(tmp_path / "nothing.h5")
    with pytest.raises(FileFormatError, match="no \\*.h5 files"):
        data_files(tmp_path)


def test_bucket_batches_cover_every_shower_once_with_little_padding():
    rng = np.random.default_rng(1)
    sizes = rng.integers(50, 5000, 1000)
    batches = bucket_batches(sizes, 20000, rng)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    padded = sum(len(b) * sizes[b].max() for b in batches)
    assert padded < 1.15 * sizes.sum()  # random batches of this size pad about 2x
    assert all(len(b) * sizes[b].max() <= 20000 or len(b) == 1 for b in batches)


def test_padded_batches_subsample_large_showers(data_path):
    data = TrainingSet.read(data_path, progress=False)
    points, mask = data.padded(np.arange(5), np.random.default_rng(0), max_points=40)
    assert points.shape[1] == min(40, data.num_points[:5].max())
    np.testing.assert_array_equal(mask.sum(1), np.minimum(data.num_points[:5], 40))
    assert np.all(points[~mask] == 0)


def test_point_scaler_round_trips_and_has_the_paper_form():
    pts = np.array([[1.0, -2.0, 3.5, 0.5], [-4.0, 6.0, 12.2, 2.0], [0.0, 0.0, 20.9, 0.05]])
    scaler = PointScaler.fit(pts)
    feats = scaler.normalise(pts)
    np.testing.assert_allclose(feats.std(0), 0.5, rtol=1e-5)  # (v - mu) / (2 sigma)
    np.testing.assert_allclose(scaler.denormalise(feats), pts, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="positive widths"):
        PointScaler([0, 0, 0, 0], [1, 0, 1, 1])


def test_stages_resume_exactly_where_they_stopped(data_path, tmp_path, monkeypatch):
    data = TrainingSet.read(data_path, progress=False)
    settings = training.TeacherSettings(
        steps=4, points_per_batch=2000, max_points=200, checkpoint_every=2, log_every=1
    )
    straight = training.train_teacher(
        data, tmp_path / "a", settings, recipe=CaloClouds3Recipe(), progress=False
    )

    # The same command, killed during its third step (after the checkpoint at step 2), then run again.
    calls = {"n": 0}
    real_loss = Denoiser.loss

    def crashing_loss(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_loss(self, *args)

    monkeypatch.setattr(Denoiser, "loss", crashing_loss)
    with pytest.raises(KeyboardInterrupt):
        training.train_teacher(data, tmp_path / "b", settings, recipe=CaloClouds3Recipe(), progress=False)
    monkeypatch.setattr(Denoiser, "loss", real_loss)
    resumed = training.train_teacher(
        data, tmp_path / "b", settings, recipe=CaloClouds3Recipe(), progress=False
    )

    a, state_a = training.load_checkpoint(straight)
    b, state_b = training.load_checkpoint(resumed)
    assert state_a["step"] == state_b["step"] == 4
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    log = (tmp_path / "b" / "teacher" / "log.jsonl").read_text().splitlines()
    assert len(log) == 4  # steps 1-2 from the first run, 3-4 from the second


def test_whole_pipeline_from_the_command_line(data_path, tmp_path):
    work = str(tmp_path / "work")
    runner = CliRunner()
    for stage, extra in [
        ("flow", ["--batch-size", "32"]),
        ("teacher", ["--points-per-batch", "4000"]),
        ("distill", []),
    ]:
        result = runner.invoke(
            main,
            [
                "train",
                "caloclouds3",
                "--data",
                str(data_path),
                "--stage",
                stage,
                "--steps",
                "2",
                "--work",
                work,
                *extra,
            ],
        )
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["train", "caloclouds3", "--stage", "assemble", "--work", work])
    assert result.exit_code == 0, result.output
    model = CaloClouds3.load(tmp_path / "work" / "model")
    assert model.training["distill"]["steps"] == 2
    assert model.occupancy_factor == 1.0 and model.calibration == {}
    result = runner.invoke(
        main,
        [
            "train", "caloclouds3", "--stage", "calibrate", "--work", work, "--reference", str(data_path),
            "-C", "per_layer=true",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model = CaloClouds3.load(tmp_path / "work" / "model")
    assert model.layer_occupancy is not None and "per layer" in result.output
    assert model.calibration["geometry"] == "ild-ecal-barrel"
    assert model.calibration["n_showers"] == 60  # both shards of the reference folder
    assert (tmp_path / "work" / "model-calibrator" / "config.json").exists()
    showers = model.sample(20.0, seed=0)
    assert len(showers) == 1 and showers.z_units == "layer"


def test_a_new_flow_with_the_shipped_point_network(data_path, tmp_path):
    work = str(tmp_path / "work")
    runner = CliRunner()
    train = ["train", "caloclouds3", "--data", str(data_path), "--work", work, "--stage", "flow"]
    result = runner.invoke(
        main, [*train, "--steps", "2", "--batch-size", "16", "--recipe", "flow_units=fixed"]
    )
    assert result.exit_code == 0, result.output
    # a resumed stage keeps its recipe: other explicit options are refused, none is fine
    result = runner.invoke(main, [*train, "--steps", "3", "--recipe", "flow_units=per-gev"])
    assert result.exit_code != 0 and "flow_units" in result.output and "without --recipe" in result.output
    result = runner.invoke(main, [*train, "--steps", "3", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["train", "caloclouds3", "--stage", "assemble", "--work", work])
    assert result.exit_code != 0 and "no distill checkpoint" in result.output
    result = runner.invoke(
        main, ["train", "caloclouds3", "--stage", "assemble", "--work", work, "--base", "shipped"]
    )
    assert result.exit_code == 0, result.output
    model = CaloClouds3.load(tmp_path / "work" / "model")
    shipped = calozoo.load("caloclouds3")
    assert model.recipe.flow_units == "fixed" and model.training["flow"]["steps"] == 3
    assert all(
        torch.equal(a, b) for a, b in zip(model.net.state_dict().values(), shipped.net.state_dict().values())
    )
    assert model.scaler.to_dict() == shipped.scaler.to_dict()
    assert model.training["distill"] == shipped.training["distill"]
    assert len(model.sample(20.0, seed=0)) == 1


def test_a_smaller_flow_trains_and_ships_with_the_shipped_point_network(data_path, tmp_path):
    """``--recipe flow_size=1x1``: the toy study's smallest ShowerFlow, on real showers."""
    work = str(tmp_path / "work")
    runner = CliRunner()
    train = ["train", "caloclouds3", "--data", str(data_path), "--work", work]
    flow_stage = [*train, "--stage", "flow", "--steps", "2", "--batch-size", "16"]
    result = runner.invoke(main, [*flow_stage, "--recipe", "flow_size=1x1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, [*flow_stage, "--recipe", "flow_size=4x2"])  # resumed: its size kept
    assert result.exit_code != 0 and "flow_size" in result.output
    result = runner.invoke(main, [*train, "--stage", "assemble", "--base", "shipped"])
    assert result.exit_code == 0, result.output
    model = CaloClouds3.load(tmp_path / "work" / "model")
    shipped = calozoo.load("caloclouds3")
    sizes = [sum(p.numel() for p in m.flow.parameters()) for m in (model, shipped)]
    assert model.recipe.flow_size == "1x1" and sizes[0] * 19 < sizes[1]  # 20x fewer parameters
    assert (model.flow.settings["hidden_factor"], model.flow.settings["spline_factor"]) == (1, 1)
    assert CaloClouds3Recipe.from_dict(model.recipe.to_dict()).flow_size == "1x1"
    assert "flow_size" not in shipped.recipe.to_dict()  # the paper's size, recorded as before
    assert len(model.sample(20.0, seed=0)) == 1


def test_recipe_options_are_checked(data_path):
    runner = CliRunner()
    train = ["train", "caloclouds3", "--data", str(data_path), "--stage", "flow"]
    result = runner.invoke(main, [*train, "--recipe", "flow_units=log"])
    assert result.exit_code != 0 and "accepted values are fixed, per-gev" in result.output
    result = runner.invoke(main, [*train, "--recipe", "units"])
    assert result.exit_code != 0 and "KEY one of ['flow_size', 'flow_units']" in result.output
    result = runner.invoke(main, [*train, "--recipe", "flow_size=3x3"])
    assert result.exit_code != 0 and "accepted values are 10x4, 7x3, 4x2, 2x1, 1x1" in result.output
    result = runner.invoke(main, [*train, "--base", "shipped"])
    assert result.exit_code != 0 and "assemble stage only" in result.output
    assert CaloClouds3Recipe().flow_units == "per-gev"  # new runs; files without a recipe: the paper's
    assert CaloClouds3Recipe().restore(None).flow_units == "fixed"
    assert calozoo.load("caloclouds3").recipe.flow_units == "per-gev"  # the shipped flow's


def test_cli_refuses_options_of_another_stage_and_missing_inputs(data_path, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main, ["train", "caloclouds3", "--data", str(data_path), "--stage", "flow", "--max-points", "5"]
    )
    assert result.exit_code != 0 and "does not apply to the flow stage" in result.output
    result = runner.invoke(main, ["train", "caloclouds3", "--stage", "teacher"])
    assert result.exit_code != 0 and "--data is required" in result.output
    result = runner.invoke(
        main,
        ["train", "caloclouds3", "--stage", "distill", "--data", str(data_path), "--work", str(tmp_path)],
    )
    assert result.exit_code != 0 and "run the teacher stage first" in result.output
    result = runner.invoke(main, ["train", "caloclouds33", "--stage", "flow"])
    assert result.exit_code != 0 and "caloclouds3" in result.output  # suggestion
    result = runner.invoke(main, ["train", "toy-gamma"])
    assert result.exit_code != 0 and "has no `train` command" in result.output
    with pytest.raises(ModelFolderError, match="no flow checkpoint"):
        training.assemble(tmp_path / "empty", CaloClouds3Recipe())


def test_edm_preconditioning_and_the_consistency_boundary():
    net = PointwiseNet(seed=1)
    x = torch.randn(2, 7, 4)
    cond = torch.rand(2, 4)
    student = Denoiser(net, boundary=True)
    # The consistency model is the identity at sigma_min, whatever the network says.
    torch.testing.assert_close(student(x, torch.full((2,), 0.002), cond), x)
    c_skip, c_out, c_in = Denoiser(net).scalings(torch.tensor([0.5]))
    assert float(c_skip) == pytest.approx(0.5) and float(c_out) == pytest.approx(0.5**0.5 / 2)
    sigmas = karras_sigmas(20)
    assert float(sigmas[0]) == pytest.approx(80.0) and float(sigmas[-1]) == pytest.approx(0.002)
    assert torch.all(sigmas[:-1] > sigmas[1:])
    # Points are denoised independently: a point's output does not depend on its neighbours.
    out_all = net(x, torch.zeros(2), cond)
    out_one = net(x[:, :1], torch.zeros(2), cond)
    torch.testing.assert_close(out_all[:, :1], out_one)
    owner = torch.tensor([0] * 7 + [1] * 7)
    flat = net.forward_flat(x.reshape(14, 4), torch.zeros(2), cond, owner)
    torch.testing.assert_close(flat, out_all.reshape(14, 4), rtol=1e-5, atol=1e-6)


def test_showerflow_is_invertible_and_keeps_its_permutations(tmp_path):
    flow = ShowerFlow(seed=3)
    assert 5.5e6 < sum(p.numel() for p in flow.parameters()) < 6.5e6  # the paper: about 6.0 M
    x = torch.rand(5, 60)
    c = torch.rand(5, 4)
    z = flow.flow.inverse(x, c)
    torch.testing.assert_close(flow(z, c), x, rtol=1e-4, atol=1e-4)
    other = ShowerFlow(seed=4)
    other.load_state_dict(flow.state_dict())  # permutations travel with the weights
    torch.testing.assert_close(other.log_prob(x, c), flow.log_prob(x, c))
    with pytest.raises(ValueError, match="context must have shape"):
        flow.log_prob(x, torch.rand(5, 3))


def test_teacher_sampling_is_seeded_and_follows_the_karras_grid():
    teacher = Denoiser(PointwiseNet(seed=2))
    cond = torch.rand(3, 4)
    a = heun_sample(teacher, cond, 50, torch.Generator().manual_seed(1), steps=6)
    b = heun_sample(teacher, cond, 50, torch.Generator().manual_seed(1), steps=6)
    assert a.shape == (3, 50, 4) and torch.isfinite(a).all()
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    # an untrained network's D is near c_skip x: the ODE shrinks 80-sigma noise to order sigma_data
    assert float(a.std()) < 5.0


def test_training_on_a_file_without_showers_is_a_clear_error(tmp_path):
    from calozoo.errors import FileFormatError
    from calozoo.io import write_showers
    from calozoo.showers import Showers

    write_showers(tmp_path / "shard-00000.h5", Showers.empty())
    with pytest.raises(FileFormatError, match="holds 0 showers; at least 10 are needed"):
        TrainingSet.read(tmp_path, progress=False)


def test_the_flow_trains_alike_on_compact_summaries(data_path, tmp_path):
    runner = CliRunner()
    summaries = tmp_path / "summaries.h5"
    base = ["train", "caloclouds3", "--data"]
    result = runner.invoke(main, [*base, str(data_path), "--stage", "summarise", "-o", str(summaries)])
    assert result.exit_code == 0, result.output
    assert "60 showers" in result.output
    # the summaries are what the flow learns from, and they are small
    from calozoo_engine.data import SummarySet

    data = TrainingSet.read(data_path, progress=False)
    back = SummarySet.read(summaries)
    np.testing.assert_array_equal(back.data.counts, data.summaries(30).counts)
    np.testing.assert_allclose(back.data.energy_mev, data.summaries(30).energy_mev, rtol=1e-6)
    np.testing.assert_allclose(back.energy_gev, data.energy_gev, rtol=1e-6)
    assert back.particles == data.particles == (22,)  # what a model trained on them will accept
    points_bytes = sum(f.stat().st_size for f in data_files(data_path))
    assert summaries.stat().st_size < 0.05 * points_bytes  # a twentieth of the points' files, at most
    # the flow stage on the summaries gives the flow it gives on the points (float32 sums aside)
    logs = []
    for source in (data_path, summaries):
        work = tmp_path / f"work-{source.name}"
        args = [
            *base,
            str(source),
            "--stage",
            "flow",
            "--steps",
            "2",
            "--batch-size",
            "16",
            "--work",
            str(work),
        ]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        logs.append([json.loads(line) for line in (work / "flow" / "log.jsonl").read_text().splitlines()])
    assert logs[0][-1]["validation_nll"] == pytest.approx(logs[1][-1]["validation_nll"], rel=1e-4)
    refused = runner.invoke(main, [*base, str(summaries), "--stage", "teacher", "--steps", "1"])
    assert refused.exit_code == 1 and "need point shards" in refused.output


@pytest.mark.skipif(shutil.which("bash") is None, reason="the node recipe is a bash script")
def test_the_node_recipe_runs_end_to_end_on_a_cpu(tmp_path):
    """plugins/caloclouds3/scripts/node_recipe.sh at toy sizes: data, three stages, calibration, export."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "node_recipe.sh"
    sizes = {
        "N_POINTS": "24", "N_FLOW": "12", "N_CALIB": "12", "FLOW_STEPS": "2", "TEACHER_STEPS": "2",
        "DISTILL_STEPS": "2", "WORKERS": "1",
    }  # fmt: skip
    env = {**os.environ, **sizes, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = ["bash", str(script), str(tmp_path / "out"), "cpu"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    model = CaloClouds3.load(tmp_path / "out" / "model")
    assert model.recipe.flow_units == "per-gev" and model.layer_occupancy is not None
    assert model.training["flow"]["steps"] == 2 and model.training["distill"]["steps"] == 2
    assert (tmp_path / "out" / "caloclouds3.pt").stat().st_size > 0
    assert "Traceback" not in done.stderr


def test_another_detector_trains_through_the_same_commands(showers, tmp_path):
    """The geometry is a parameter: ``--geometry`` gives the recipe the detector's layer count, and
    the model keeps it and what its flow was trained on (energies, particle, directions)."""
    pytest.importorskip("calozoo_calochallenge")
    points = showers.points.copy()
    points[..., 2] *= 1.5  # the toy's 30 layers stretched over 45
    electrons = Showers(
        points=points,
        num_points=showers.num_points,
        incident_energy_gev=showers.incident_energy_gev,
        direction=showers.direction,
        pdg=11,
        z_units="layer",
    )
    (tmp_path / "data").mkdir()
    write_showers(tmp_path / "data" / "shard-00000.h5", electrons)
    runner = CliRunner()
    work = str(tmp_path / "work")
    flow = ["train", "caloclouds3", "--data", str(tmp_path / "data"), "--work", work, "--stage", "flow"]
    flow += ["--steps", "2", "--batch-size", "16"]
    result = runner.invoke(main, flow)  # ILD's 30 layers by default: refused, not folded
    assert result.exit_code != 0 and "points in layer 44" in result.output and "--geometry" in result.output
    result = runner.invoke(main, [*flow, "--geometry", "calochallenge-regular"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, [*flow, "--geometry", "ild-ecal-regular"])
    assert result.exit_code != 0 and "'n_layers': 45" in result.output  # a resumed run keeps its detector
    result = runner.invoke(
        main, ["train", "caloclouds3", "--stage", "assemble", "--work", work, "--base", "shipped"]
    )
    assert result.exit_code == 0, result.output
    model = calozoo.load("caloclouds3", Path(work) / "model")
    assert model.n_layers == 45 and model.flow.features == 90
    assert model.conditions.pdg == (11,)
    energy = showers.incident_energy_gev
    assert model.conditions.energy_min_gev == pytest.approx(0.99 * energy.min())
    assert model.conditions.energy_max_gev == pytest.approx(1.01 * energy.max())
    generated = model.sample([20.0, 30.0], showers.direction[:2], pdg=11, seed=0)
    assert generated.points[..., 2].max() < 45 and generated.layer_sums(45)[0].shape == (2, 45)
    with pytest.raises(InvalidConditionError, match="pdg"):
        model.sample([20.0], showers.direction[:1], pdg=22, seed=0)
    with pytest.raises(InvalidConditionError):
        model.sample([200.0], showers.direction[:1], pdg=11, seed=0)
    # a recipe of fixed layers refuses another detector
    from calozoo_caloclouds2.model import CaloClouds2Recipe

    with pytest.raises(ModelFolderError, match="30 layers"):
        CaloClouds2Recipe().for_geometry(calozoo.geometry("calochallenge-regular"))
    assert CaloClouds3Recipe.from_dict(model.recipe.to_dict()).n_layers == 45
