"""CaloClouds2's TorchScript export for DDFastShowerML: self-contained, == eager, == the Python model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from calozoo_caloclouds2.export import NORMAL_TOLERANCE_DEG, CaloClouds2DDML
from calozoo_caloclouds2.model import load_pretrained
from calozoo_engine.export import MAX_POINTS, OUTPUT_LENGTH, unpack_output
from calozoo_engine.export import ddml_inputs as args

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def run(module, seed: int, *conditions: float) -> torch.Tensor:
    torch.manual_seed(seed)
    return module(*args(*conditions))


NORMAL = (50.0, 90.0, 90.0)
NORMAL_DIRECTION = np.array([[0.0, 0.0, 1.0]])
REFUSED = r"CaloClouds2 is normal incidence only \(theta = phi = 90\)"


@pytest.fixture(autouse=True)
def _keep_global_rng():
    with torch.random.fork_rng():
        yield


@pytest.fixture(scope="module")
def model():
    return load_pretrained()


@pytest.fixture(scope="module")
def eager(model) -> CaloClouds2DDML:
    return CaloClouds2DDML(model)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cc2_export")
    path = model.export(folder / "caloclouds2.pt")
    assert path == folder / "caloclouds2.pt" and [p.name for p in folder.iterdir()] == [path.name]
    return path


@pytest.fixture(scope="module")
def scripted(exported) -> torch.jit.ScriptModule:
    return torch.jit.load(str(exported))


def centre(points: torch.Tensor) -> torch.Tensor:
    e = points[:, 3].double()
    return (points[:, :2].double() * e[:, None]).sum(0) / e.sum()


# ------------------------------------------------------------------------ the file on its own
def test_exported_file_runs_with_torch_alone(model, eager, exported, tmp_path):
    result = tmp_path / "out.pt"
    code = textwrap.dedent(
        f"""
        import sys
        import torch
        torch.set_num_threads(1)
        module = torch.jit.load({str(exported)!r})
        torch.manual_seed(7)
        out = module(torch.tensor([[50.0]]), torch.tensor([[90.0]]), torch.tensor([[90.0]]))
        assert out.shape == (35000,) and out.dtype == torch.float32, (out.shape, out.dtype)
        loaded = [m for m in sys.modules if m.startswith(("calozoo", "normflows"))]
        assert not loaded, loaded
        assert not any(p.requires_grad for p in module.parameters())
        torch.save(out, {str(result)!r})
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    out = torch.load(result)
    counts, points = unpack_output(out)
    n = int(counts.sum())
    assert 100 < n == len(points) <= MAX_POINTS and not bool(out[30 + 4 * n :].any())
    layer = points[:, 2].long()
    assert torch.equal(points[:, 2], layer.float())
    assert torch.equal(torch.bincount(layer, minlength=30), counts)
    sums = torch.zeros(30, dtype=torch.float64).index_add_(0, layer, points[:, 3].double())
    assert bool((points[:, 3] >= 0).all()) and bool((sums[counts > 0] > 0).all())
    # The same draws in another process: the eager module's counts and layer energies.
    expected_counts, expected = unpack_output(run(eager, 7, *NORMAL))
    assert torch.equal(counts, expected_counts)
    expected_sums = torch.zeros(30, dtype=torch.float64).index_add_(0, layer, expected[:, 3].double())
    torch.testing.assert_close(sums, expected_sums, rtol=1e-5, atol=1e-6)
    extra = {"calozoo.json": ""}
    torch.jit.load(str(exported), _extra_files=extra)
    info = json.loads(extra["calozoo.json"])
    assert info["model"] == "caloclouds2" and info["geometry"] == "ild-ecal-barrel"
    assert info["output_length"] == OUTPUT_LENGTH and info["max_points"] == MAX_POINTS
    np.testing.assert_allclose(info["poly_real"], model.poly_real, rtol=1e-6)
    np.testing.assert_allclose(info["poly_fake"], model.poly_fake, rtol=1e-6)
    assert info["calibration"] == model.calibration


# ------------------------------------------------------------------------ scripted == eager == model
def test_scripted_equals_eager(eager, exported):
    # Unoptimised, the scripted graph is the eager chain op for op (bit for bit). The optimiser
    # rewrites addmm as mm + add, which moves the 512-wide layer by an ulp (see the next test).
    with torch.jit.optimized_execution(False):
        module = torch.jit.load(str(exported))
        for seed in range(3):
            out = run(module, seed, *NORMAL)
            assert out.shape == (OUTPUT_LENGTH,) and out.dtype == torch.float32
            assert torch.equal(out, run(eager, seed, *NORMAL))


def test_optimised_scripted_matches_eager_in_counts_energies_and_centre(eager, scripted):
    for seed in range(2):
        counts, points = unpack_output(run(scripted, seed, *NORMAL))
        expected_counts, expected = unpack_output(run(eager, seed, *NORMAL))
        assert torch.equal(counts, expected_counts)
        layer = points[:, 2].long()
        sums = torch.zeros(30, dtype=torch.float64).index_add_(0, layer, points[:, 3].double())
        expected_sums = torch.zeros(30, dtype=torch.float64).index_add_(0, layer, expected[:, 3].double())
        torch.testing.assert_close(sums, expected_sums, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(centre(points), centre(expected), rtol=0, atol=1e-3)


def test_eager_module_is_the_python_model(model, eager, monkeypatch):
    """Same seed: the shower's torch.Generator in generate() and the global one draw the same numbers."""
    from calozoo_engine import flow as flow_module
    from calozoo_engine.export import torch_kernels

    # the module runs here with gradients on, so torch's kernels and normflows' eager flow: so does
    # the model (its compiled batch-1 passes give the same numbers to float32 rounding only)
    monkeypatch.setattr(flow_module, "TRACE_ONE_ROW", False)
    for seed in range(2):
        with torch_kernels():
            showers = model.generate(
                np.array([50.0]), NORMAL_DIRECTION, np.array([22]), np.array([seed], np.uint64)
            )
        reference = torch.from_numpy(showers.points[0, : showers.num_points[0]])
        counts, points = unpack_output(run(eager, seed, *NORMAL))
        assert len(points) == len(reference) == int(counts.sum())
        assert torch.equal(points[:, 2], reference[:, 2].floor())  # generate adds the within-layer position
        torch.testing.assert_close(points[:, :2], reference[:, :2], rtol=0, atol=1e-6)
        assert torch.equal(points[:, 3], reference[:, 3])


def test_centre_of_gravity_is_the_flows(model, eager, scripted):
    cog_std = torch.tensor(model.recipe.cog_std[:2], dtype=torch.float32)
    cog_mean = torch.tensor(model.recipe.cog_mean[:2], dtype=torch.float32)
    for seed in range(3):
        torch.manual_seed(seed)
        targets = eager.sample_targets(eager.condition(*args(*NORMAL))[0])
        expected = (targets[0, 2:4] * cog_std + cog_mean).double()
        for module in (eager, scripted):
            _, points = unpack_output(run(module, seed, *NORMAL))
            torch.testing.assert_close(centre(points), expected, rtol=0, atol=1e-3)


# ------------------------------------------------------------------------ normal incidence only
@pytest.mark.parametrize("angles", [(60.0, 90.0), (90.0, 100.0), (90.2, 90.0), (float("nan"), 90.0)])
def test_non_normal_directions_are_refused(eager, scripted, angles):
    for module in (eager, scripted):
        with pytest.raises((RuntimeError, torch.jit.Error), match=REFUSED):
            module(*args(50.0, *angles))


def test_rounding_near_the_normal_is_accepted(scripted):
    near = 90.0 + NORMAL_TOLERANCE_DEG / 2
    counts, points = unpack_output(run(scripted, 0, 50.0, near, 180.0 - near))
    assert int(counts.sum()) == len(points) > 100


def test_wrong_flow_is_refused(model):
    from calozoo_engine.flow import ShowerFlow

    wrong = model.with_occupancy(model.poly_real, model.poly_fake)
    wrong.flow = ShowerFlow(blocks=1, hidden_factor=1)  # CaloClouds3's 60 features, 4 conditions
    with pytest.raises(ValueError, match="65 features and 1 context feature"):
        CaloClouds2DDML(wrong)


# ------------------------------------------------------------------------ the command line
def test_export_from_the_command_line(tmp_path):
    from click.testing import CliRunner

    from calozoo.cli import main

    out = tmp_path / "cc2.pt"
    result = CliRunner().invoke(main, ["export", "caloclouds2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    flat = torch.jit.load(str(out))(*args(*NORMAL))
    counts, points = unpack_output(flat)
    assert flat.shape == (OUTPUT_LENGTH,) and int(counts.sum()) == len(points) > 100


# ------------------------------------------------------------------------ ONNX beside TorchScript
def test_onnx_export_gives_normal_incidence_showers_and_nans_elsewhere(model, tmp_path):
    import onnxruntime as ort
    from calozoo_engine.onnx_export import onnx_feed, onnx_parity

    refused = (50.0, 60.0, 90.0)
    parity = onnx_parity(CaloClouds2DDML(model), conditions=(NORMAL, (10.0, 90.0, 90.0), refused))
    assert parity.problems() == [], parity
    path = model.export(tmp_path / "caloclouds2.onnx")
    ort.set_seed(0)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run_onnx(*conditions):
        return session.run(None, onnx_feed(*conditions))[0]

    out = run_onnx(*NORMAL)
    counts, points = unpack_output(torch.from_numpy(out))
    assert out.shape == (OUTPUT_LENGTH,) and int(counts.sum()) == len(points) > 100
    near = 90.0 + NORMAL_TOLERANCE_DEG / 2
    assert np.isfinite(run_onnx(50.0, near, 180.0 - near)).all()
    for angles in [(60.0, 90.0), (90.0, 100.0), (float("nan"), 90.0)]:
        assert np.isnan(run_onnx(50.0, *angles)).all()  # ONNX cannot raise: NaNs, never a shower
