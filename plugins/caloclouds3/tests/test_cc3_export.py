"""The TorchScript export for DDFastShowerML: self-contained, identical to eager, identical to the model."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from calozoo_caloclouds3.export import (
    MAX_POINTS,
    OUTPUT_LENGTH,
    DDMLModule,
    export_torchscript,
    unpack_output,
)
from calozoo_caloclouds3.model import CaloClouds3, CaloClouds3Recipe, conditioning, layer_targets
from calozoo_engine import points as chain
from calozoo_engine.export import ddml_inputs as args
from calozoo_engine.export import torch_kernels
from calozoo_engine.flow import ContextSpline, TanhAffineCoupling
from calozoo_engine.pointnet import OneStep

import calozoo
from calozoo.conditions import direction_from_angles

torch.set_num_threads(1)
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning"),
    pytest.mark.usefixtures("keep_global_rng"),
]

F_OCC, WIDENING, F_E = 0.7, 1.05, 0.98
ROUNDS = 3


#: the paper's flow units (those of the test model): points and MeV per unit at any energy
FIXED = CaloClouds3Recipe("fixed").scales([1.0])


@pytest.fixture(autouse=True)
def _exported_arithmetic():
    """The files run torch's kernels; the Python model does too here, so the two agree bit for bit
    (its compiled batch-1 passes agree to rounding: engine/tests)."""
    with torch_kernels():
        yield


@pytest.fixture(scope="module")
def model(small_caloclouds3) -> CaloClouds3:
    return small_caloclouds3(F_OCC, WIDENING, F_E)


@pytest.fixture(scope="module")
def eager(model) -> DDMLModule:
    return DDMLModule(model, max_rounds=ROUNDS)


@pytest.fixture(scope="module")
def scripted(eager) -> torch.jit.ScriptModule:
    return eager.to_torchscript()


@pytest.fixture(scope="module")
def depth() -> torch.Tensor:
    return torch.tensor(calozoo.geometry("ild-ecal-barrel").layer_depth_mm, dtype=torch.float64)


def run(module, seed: int, *conditions: float) -> torch.Tensor:
    torch.manual_seed(seed)
    return module(*args(*conditions))


def expected_layers(counts: torch.Tensor) -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(30), counts.reshape(-1))


# ------------------------------------------------------------------------ the file on its own
def test_exported_file_runs_with_torch_alone(model, eager, tmp_path):
    path = model.export(tmp_path / "caloclouds3.pt", max_rounds=ROUNDS)
    assert path == tmp_path / "caloclouds3.pt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["caloclouds3.pt"]  # no partial file left
    result = tmp_path / "out.pt"
    code = textwrap.dedent(
        f"""
        import sys
        import torch
        torch.set_num_threads(1)
        module = torch.jit.load({str(path)!r})
        torch.manual_seed(7)
        out = module(torch.tensor([[50.0]]), torch.tensor([[90.0]]), torch.tensor([[90.0]]))
        assert out.dim() == 1 and out.dtype == torch.float32 and out.numel() >= 35000, (out.shape, out.dtype)
        n = int(out[:30].sum())
        assert 0 < n <= 8742 and bool((out[30 + 4 * n :] == 0).all())
        loaded = [m for m in sys.modules if m.startswith(("calozoo", "normflows"))]
        assert not loaded, loaded
        assert not any(p.requires_grad for p in module.parameters())
        torch.save(out, {str(result)!r})
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    # The same draws in another process give the eager module's shower.
    assert torch.equal(torch.load(result), run(eager, 7, 50.0, 90.0, 90.0))
    extra = {"calozoo.json": ""}
    torch.jit.load(str(path), _extra_files=extra)
    info = json.loads(extra["calozoo.json"])
    assert info["geometry"] == "ild-ecal-barrel" and info["max_points"] == MAX_POINTS == 8742
    assert (info["occupancy_factor"], info["widening"], info["energy_factor"]) == (F_OCC, WIDENING, F_E)


def _earlier_export(path: Path) -> bytes:
    """A stand-in for an earlier export: a zip archive holding calozoo.json, as torch.jit.save writes."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("caloclouds3/extra/calozoo.json", "{}")
    return path.read_bytes()


def test_export_is_atomic(model, tmp_path, monkeypatch):
    target = tmp_path / "caloclouds3.pt"
    previous = _earlier_export(target)

    def broken_save(module, f, **kwargs):
        Path(f).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch.jit, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export_torchscript(model, target, max_rounds=1)
    assert target.read_bytes() == previous and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_export_never_replaces_a_file_calozoo_did_not_export(model, tmp_path, monkeypatch):
    from calozoo.errors import OutputError

    target = tmp_path / "thesis.pdf"
    target.write_bytes(b"years of work")
    monkeypatch.setattr(DDMLModule, "to_torchscript", lambda self: pytest.fail("scripted before the check"))
    with pytest.raises(OutputError, match="thesis.pdf: exists and is not a TorchScript file exported"):
        export_torchscript(model, target, max_rounds=1)
    assert target.read_bytes() == b"years of work" and [p.name for p in tmp_path.iterdir()] == [target.name]


# ------------------------------------------------------------------------ scripted == eager
@pytest.mark.parametrize("conditions", [(50.0, 90.0, 90.0), (1.0, 60.0, 100.0), (127.0, 140.0, 82.0)])
def test_scripted_equals_eager(eager, scripted, conditions):
    for seed in range(3):  # repeated calls also run the scripted graph after its profiling runs
        out = run(scripted, seed, *conditions)
        assert out.shape == (OUTPUT_LENGTH,) and out.dtype == torch.float32
        assert torch.equal(out, run(eager, seed, *conditions))


def test_traced_flow_matches_eager_inside_and_outside_the_spline_interval(model, scripted):
    cond = torch.tensor([[0.3, 0.2, -0.1, 0.97]])
    spline_inputs: list[torch.Tensor] = []
    hooks = [
        m.register_forward_pre_hook(lambda _m, a: spline_inputs.append(a[0].clone()))
        for m in model.flow.modules()
        if isinstance(m, ContextSpline)
    ]
    gen = torch.Generator().manual_seed(3)
    try:
        outside = []
        for scale in (0.1, 1.0, 5.0, 10.0):
            z = torch.randn(1, 60, generator=gen) * scale
            spline_inputs.clear()
            with torch.no_grad():
                expected = model.flow.flow.forward(z, cond)  # normflows' eager pass, which the file traces
            outside.append(bool((spline_inputs[0].abs() > 3).any()))
            assert torch.equal(scripted.flow(z, cond), expected)
    finally:
        for h in hooks:
            h.remove()
    assert outside[0] is False and outside[-1] is True  # both branches of the spline were compared


@pytest.mark.parametrize("n", [0, 1, 5000])
def test_scripted_point_model_matches_eager(model, scripted, n):
    gen = torch.Generator().manual_seed(n)
    noise, owner, cond = torch.randn(n, 4, generator=gen), torch.zeros(n, dtype=torch.int64), torch.rand(1, 4)
    with torch.no_grad():
        expected = OneStep(model.net)(noise, owner, cond)
    assert torch.equal(scripted.denoise(noise, owner, cond), expected)


def test_rejection_rule_in_the_scripted_glue(model):
    """More than 7 negative layer energies: redraw (at most max_rounds times), noise from torch.randn."""
    biased = copy.deepcopy(model.flow)
    with torch.no_grad():  # shift the couplings so that about half of the draws pass
        for m in biased.modules():
            if isinstance(m, TanhAffineCoupling):
                m.net[-1].bias[: m.net[-1].out_features // 2] += 0.3
    rounds = 4
    module = DDMLModule(CaloClouds3(biased, model.net, model.scaler), max_rounds=rounds).to_torchscript()
    cond = torch.tensor([[50 / 127, 0.0, 0.0, 1.0]])
    redraws = []
    for seed in range(12):
        torch.manual_seed(seed)
        with torch.no_grad():
            expected = biased.flow.forward(torch.randn(1, 60), cond)  # the eager pass the file traces
            done = 0
            while done < rounds and int((expected[:, 30:] < 0).sum()) > 7:
                expected = biased.flow.forward(torch.randn(1, 60), cond)
                done += 1
        after = torch.randn(5)
        torch.manual_seed(seed)
        assert torch.equal(module.sample_targets(cond), expected)
        assert torch.equal(torch.randn(5), after)  # the same number of draws
        redraws.append(done)
    assert min(redraws) == 0 and max(redraws) >= 1


# ------------------------------------------------------------------------ == the Python model
@pytest.mark.parametrize("conditions", [(40.0, 60.0, 95.0), (90.0, 120.0, 85.0)])
def test_points_equal_the_python_model_plus_tilt(model, eager, scripted, depth, conditions):
    energy, theta, phi = conditions
    direction = direction_from_angles(theta, phi)[None]
    cond = torch.from_numpy(conditioning(np.array([energy]), direction))
    for module in (eager, scripted):
        got_cond, got_direction = module.condition(*args(*conditions))
        assert torch.equal(got_cond, cond)
        np.testing.assert_allclose(got_direction.numpy(), direction, rtol=0, atol=1e-15)

    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        targets = model.flow(torch.randn(1, 60, generator=gen), cond)
    counts, layer_energy = layer_targets(targets, model.occupancy_factor, *FIXED)
    assert 0 < int(counts.sum()) <= MAX_POINTS
    owner = chain.point_owner(counts)
    noise = torch.randn(len(owner), 4, generator=gen)
    within = torch.rand(len(owner), generator=gen)
    with torch.no_grad():
        reference = model._points(cond, counts, layer_energy, owner, noise, within)
    layer = expected_layers(counts)
    shift = depth[layer, None] * torch.from_numpy(direction[0, :2] / direction[0, 2])
    for module in (eager, scripted):
        got_counts, points = unpack_output(module.sample_with(*args(*conditions), targets, noise))
        assert torch.equal(got_counts, counts[0])
        torch.testing.assert_close(points[:, :2], (reference[:, :2].double() + shift).float(), rtol=0, atol=0)
        assert torch.equal(points[:, 2], layer.float())
        assert bool(((reference[:, 2] >= points[:, 2]) & (reference[:, 2] <= points[:, 2] + 1)).all())
        assert torch.equal(points[:, 3], reference[:, 3])


# ------------------------------------------------------------------------ physics of the output
def test_layer_sums_counts_and_padding(scripted):
    conditions = (50.0, 60.0, 90.0)
    for seed in range(3):
        torch.manual_seed(seed)
        targets = scripted.sample_targets(scripted.condition(*args(*conditions))[0])
        out = run(scripted, seed, *conditions)
        counts, points = unpack_output(out)
        expected_counts, layer_energy = layer_targets(targets, F_OCC, *FIXED)
        assert torch.equal(counts, expected_counts[0])
        layer = points[:, 2].long()
        assert torch.equal(points[:, 2], layer.float()) and bool((layer.diff() >= 0).all())
        assert torch.equal(torch.bincount(layer, minlength=30), counts)
        sums = torch.zeros(30, dtype=torch.float64).index_add_(0, layer, points[:, 3].double())
        filled = counts > 0
        torch.testing.assert_close(sums[filled], layer_energy[0, filled].double() * F_E, rtol=1e-5, atol=1e-6)
        assert bool((points[:, 3] >= 0).all())
        assert bool((out[30 + 4 * len(points) :] == 0).all())


def test_tilt_shift_is_depth_times_slope(eager, depth):
    flat = copy.deepcopy(eager)
    flat.layer_depth_mm.zero_()
    for theta, phi in [(60.0, 90.0), (120.0, 100.0), (90.0, 90.0)]:
        _, tilted = unpack_output(run(eager, 4, 50.0, theta, phi))
        _, straight = unpack_output(run(flat, 4, 50.0, theta, phi))
        assert torch.equal(tilted[:, 2:], straight[:, 2:])
        d = direction_from_angles(theta, phi)
        layer_depth = depth[tilted[:, 2].long()]
        for axis in (0, 1):
            expected = (layer_depth * (d[axis] / d[2])).float()
            torch.testing.assert_close(tilted[:, axis] - straight[:, axis], expected, rtol=0, atol=2e-5)
    assert float(depth[-1] * math.cos(math.radians(60)) / math.sin(math.radians(60))) > 100  # a real shift


# ------------------------------------------------------------------------ the 8742-point cap
def test_cap_on_given_targets(eager, scripted):
    targets = torch.zeros(1, 60)
    targets[:, :30] = 2.0  # 366 points per layer after f_occ: 10,980 in all
    targets[:, 30:] = torch.linspace(0.1, 2.0, 30)
    raw, layer_energy = layer_targets(targets, F_OCC, *FIXED)
    assert int(raw.sum()) == 10_980 > MAX_POINTS
    capped = raw * MAX_POINTS // int(raw.sum())
    for module in (eager, scripted):
        counts, energy = module.layer_counts(targets, torch.full((1, 1), 50.0))
        assert (
            torch.equal(counts, capped)
            and int(counts.sum()) == 291 * 30
            and torch.equal(energy, layer_energy)
        )
    noise = torch.randn(int(capped.sum()), 4)
    out = scripted.sample_with(*args(50.0, 90.0, 90.0), targets, noise)
    assert torch.equal(out, eager.sample_with(*args(50.0, 90.0, 90.0), targets, noise))
    counts, points = unpack_output(out)
    assert torch.equal(counts, capped[0]) and len(points) == 8730 and out.shape == (OUTPUT_LENGTH,)
    assert torch.equal(points[:, 2], expected_layers(counts).float())
    sums = torch.zeros(30, dtype=torch.float64).index_add_(0, points[:, 2].long(), points[:, 3].double())
    torch.testing.assert_close(sums, layer_energy[0].double() * F_E, rtol=1e-5, atol=1e-6)
    assert bool((out[30 + 4 * 8730 :] == 0).all())
    for module in (eager, scripted):
        with pytest.raises((RuntimeError, torch.jit.Error), match="noise must have shape"):
            module.sample_with(*args(50.0, 90.0, 90.0), targets, noise[1:])


def test_cap_in_forward(model):
    crowded = DDMLModule(model.with_calibration(60.0, WIDENING, F_E), max_rounds=ROUNDS)
    for seed in range(2):
        torch.manual_seed(seed)
        targets = crowded.sample_targets(crowded.condition(*args(50.0, 90.0, 90.0))[0])
        raw, _ = layer_targets(targets, 60.0, *FIXED)
        assert int(raw.sum()) > MAX_POINTS
        counts, points = unpack_output(run(crowded, seed, 50.0, 90.0, 90.0))
        assert torch.equal(counts, raw[0] * MAX_POINTS // int(raw.sum()))
        assert len(points) == int(counts.sum()) <= MAX_POINTS
        assert torch.equal(torch.bincount(points[:, 2].long(), minlength=30), counts)


def test_flow_units_per_gev_and_occupancy_per_layer(model):
    layers = np.linspace(0.8, 1.2, 30)
    per_gev = CaloClouds3(
        model.flow,
        model.net,
        model.scaler,
        F_OCC,
        WIDENING,
        F_E,
        recipe=CaloClouds3Recipe("per-gev"),
        layer_occupancy=layers,
    )
    eager = DDMLModule(per_gev, max_rounds=ROUNDS)
    scripted = eager.to_torchscript()
    targets = torch.zeros(1, 60)
    targets[:, :30] = 1.0
    targets[:, 30:] = torch.linspace(0.1, 2.0, 30)
    for energy in (2.0, 100.0):
        expected = layer_targets(targets, per_gev.occupancy, *per_gev.recipe.scales([energy]))
        for module in (eager, scripted):
            counts, layer_energy = module.layer_counts(targets, torch.full((1, 1), energy))
            assert torch.equal(counts, expected[0]) and torch.equal(layer_energy, expected[1])
        # a unit is ~62 / 30 points and 22 / 30 MeV per GeV of incident energy
        assert int(expected[0].sum()) == pytest.approx(F_OCC * 7864 / 127 * energy, rel=0.05, abs=30)
        plain = layer_targets(targets, F_OCC, *per_gev.recipe.scales([energy]))[0]
        assert bool((expected[0][0, -5:] > plain[0, -5:]).all()) and bool(
            (expected[0][0, :5] <= plain[0, :5]).all()
        )
        torch.testing.assert_close(expected[1][0, 0], torch.tensor(0.1 * 22 / 30 * energy))


# ------------------------------------------------------------------------ edges and helpers
def test_no_points_gives_zeros(scripted):
    out = scripted.sample_with(*args(50.0, 90.0, 90.0), -torch.ones(1, 60), torch.zeros(0, 4))
    assert out.shape == (OUTPUT_LENGTH,) and not bool(out.any())
    counts, points = unpack_output(out)
    assert int(counts.sum()) == 0 and points.shape == (0, 4)


def test_geometry_choice_and_errors(model):
    toy = SimpleNamespace(layer_depth_mm=np.arange(30.0) + 1.5, name="toy")
    module = DDMLModule(model, geometry=toy)
    assert module.geometry_name == "toy" and torch.equal(
        module.layer_depth_mm, torch.arange(30.0).double() + 1.5
    )
    with pytest.raises(ValueError, match="30 finite layer depths"):
        DDMLModule(model, geometry=SimpleNamespace(layer_depth_mm=np.arange(20.0), name="short"))
    with pytest.raises(ValueError, match="max_rounds"):
        DDMLModule(model, max_rounds=-1)


def test_unpack_output_checks_its_input():
    flat = torch.zeros(40)
    flat[3] = 2
    flat[30:38] = torch.arange(8.0)
    counts, points = unpack_output(flat.numpy())
    assert counts[3] == 2 and int(counts.sum()) == 2 and torch.equal(points, torch.arange(8.0).reshape(2, 4))
    with pytest.raises(ValueError, match="integer counts"):
        unpack_output(torch.full((40,), 0.5))
    with pytest.raises(ValueError, match="more than"):
        unpack_output(torch.cat([torch.full((30,), 1.0), torch.zeros(10)]))
    with pytest.raises(ValueError, match="at least 30"):
        unpack_output(torch.zeros(5))


def test_export_from_the_command_line(tmp_path):
    from click.testing import CliRunner

    from calozoo.cli import main

    out = tmp_path / "cc3.pt"
    result = CliRunner().invoke(main, ["export", "caloclouds3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    flat = torch.jit.load(str(out))(torch.tensor([[50.0]]), torch.tensor([[90.0]]), torch.tensor([[90.0]]))
    counts, points = unpack_output(flat)
    assert int(counts.sum()) == len(points) > 100
    result = CliRunner().invoke(main, ["export", "toy-gamma", "-o", str(tmp_path / "x.pt")])
    assert result.exit_code != 0 and "cannot be exported" in result.output
