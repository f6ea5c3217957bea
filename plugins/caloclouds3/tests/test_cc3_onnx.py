"""The ONNX export for DDFastShowerML: the TorchScript contract, ONNX Runtime == eager == TorchScript."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from calozoo_caloclouds3.export import MAX_POINTS, OUTPUT_LENGTH, DDMLModule, unpack_output
from calozoo_caloclouds3.model import CaloClouds3
from calozoo_engine import onnx_export
from calozoo_engine.export import ddml_inputs as args
from calozoo_engine.onnx_export import CANDIDATES, OnnxShower, is_calozoo_onnx, onnx_parity
from calozoo_engine.onnx_export import onnx_feed as feed

import calozoo

torch.set_num_threads(1)
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning"),
    pytest.mark.usefixtures("keep_global_rng"),
]

CONDITIONS = [(50.0, 90.0, 90.0), (1.0, 60.0, 100.0), (127.0, 140.0, 82.0), (20.0, 35.0, 108.0)]


@pytest.fixture(scope="module")
def model(small_caloclouds3) -> CaloClouds3:
    return small_caloclouds3(0.7, 1.05, 0.98)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cc3_onnx")
    path = model.export(folder / "caloclouds3.onnx")
    assert path == folder / "caloclouds3.onnx" and [p.name for p in folder.iterdir()] == [path.name]
    return path


def session(path: Path, seed: int | None = None) -> ort.InferenceSession:
    if seed is not None:
        ort.set_seed(seed)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------------ the file on its own
def test_onnx_file_has_the_torchscript_contract(exported):
    s = session(exported, seed=3)
    assert [i.name for i in s.get_inputs()] == ["energy", "theta", "phi"]
    assert [i.shape for i in s.get_inputs()] == [[1, 1]] * 3
    for conditions in CONDITIONS:
        out = s.run(None, feed(*conditions))[0]
        assert out.shape == (OUTPUT_LENGTH,) and out.dtype == np.float32
        counts, points = unpack_output(torch.from_numpy(out))
        n = int(counts.sum())
        assert 0 < n <= MAX_POINTS and np.all(out[30 + 4 * n :] == 0)
        layer = points[:, 2]
        assert torch.equal(layer, torch.repeat_interleave(torch.arange(30), counts).float())
        assert bool((points[:, 3] > 0).all()) and bool(torch.isfinite(points).all())
    info = json.loads(_metadata(exported)["calozoo"])
    assert info["format"] == "onnx" and info["candidates"] == CANDIDATES
    assert info["geometry"] == "ild-ecal-barrel" and info["max_points"] == MAX_POINTS
    assert (info["occupancy_factor"], info["widening"], info["energy_factor"]) == (0.7, 1.05, 0.98)
    assert is_calozoo_onnx(exported)


def _metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_onnx_showers_follow_the_seed(exported):
    first, again, other = (session(exported, seed) for seed in (11, 11, 12))
    a = [first.run(None, feed(50.0, 90.0, 90.0))[0] for _ in range(2)]
    b = [again.run(None, feed(50.0, 90.0, 90.0))[0] for _ in range(2)]
    c = other.run(None, feed(50.0, 90.0, 90.0))[0]
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # the same seed, the same showers
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[0], c)  # each call and seed new draws


# ------------------------------------------------------------------------ ONNX == eager == TorchScript
def test_onnx_runtime_equals_eager_on_the_same_draws(model):
    parity = onnx_parity(DDMLModule(model), conditions=tuple(CONDITIONS))
    assert parity.counts_equal and parity.problems() == []
    assert parity.targets < 1e-5 and parity.features < 1e-5 and parity.layer_energy < 1e-5


def test_eager_form_equals_the_torchscript_module_on_the_same_draws(model):
    """The traced form picks the first acceptable candidate and runs the TorchScript module's chain."""
    eager = DDMLModule(model)
    scripted = eager.to_torchscript()
    form = OnnxShower(eager, draws="inputs")
    gen = torch.Generator().manual_seed(5)
    for conditions in CONDITIONS:
        latent = torch.randn(CANDIDATES, 60, generator=gen)
        noise = torch.randn(MAX_POINTS, 4, generator=gen)
        with torch.no_grad():
            out, targets, _ = form(*args(*conditions), latent, noise)
            cond, _ = scripted.condition(*args(*conditions))
            rows = [scripted.flow(latent[k : k + 1], cond) for k in range(CANDIDATES)]
            ok = [int((row[:, 30:] < 0).sum()) <= 7 for row in rows]
            first = ok.index(True) if any(ok) else CANDIDATES - 1
            assert torch.allclose(targets, rows[first], rtol=1e-5, atol=1e-5)
            counts, _ = scripted.layer_counts(targets, args(*conditions)[0])
            expected = scripted.sample_with(*args(*conditions), targets, noise[: int(counts.sum())])
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_first_acceptable_candidate_is_kept(model):
    """Candidates with more than seven negative layer energies are passed over; if all are, the last."""
    eager = DDMLModule(model)
    form = OnnxShower(eager, draws="inputs")
    noise = torch.randn(MAX_POINTS, 4, generator=torch.Generator().manual_seed(1))
    calls = []
    real = eager.flow.forward

    def flow(latent, context):
        out = real(latent, context).clone()
        out[:, 30:] = out[:, 30:].abs() + 0.01
        out[latent[:, 0] > 0, 30:38] = -1.0  # a candidate whose first latent is positive: refused
        calls.append(out)
        return out

    eager.flow.forward = flow
    try:
        for signs, expected in (([1, -1, -1, 1], 1), ([-1, 1, 1, 1], 0), ([1, 1, 1, -1], 3), ([1] * 4, 3)):
            latent = torch.randn(CANDIDATES, 60).abs() * torch.tensor(signs, dtype=torch.float32)[:, None]
            with torch.no_grad():
                _, targets, _ = form(*args(50.0, 90.0, 90.0), latent, noise)
            assert torch.equal(targets[0], calls[-1][expected])
    finally:
        eager.flow.forward = real


def test_shipped_model_exports_with_parity(tmp_path):
    shipped = calozoo.load("caloclouds3")
    parity = onnx_parity(DDMLModule(shipped), conditions=tuple(CONDITIONS))
    assert parity.problems() == [], parity
    out = session(shipped.export(tmp_path / "cc3.onnx"), seed=0).run(None, feed(50.0, 90.0, 90.0))[0]
    counts, points = unpack_output(torch.from_numpy(out))
    assert 500 < int(counts.sum()) == len(points) and 500 < float(points[:, 3].sum()) < 2000


def test_onnx_and_torchscript_give_the_same_showers_in_distribution(model, exported):
    """Different generators, the same model: the visible energy and the point count agree."""
    scripted = DDMLModule(model).to_torchscript()
    s = session(exported, seed=2)
    torch.manual_seed(2)
    sums = {"onnx": [], "torchscript": []}
    for _ in range(150):
        for name, out in (("onnx", s.run(None, feed(50.0, 90.0, 90.0))[0]), ("torchscript", None)):
            if out is None:
                out = scripted(*args(50.0, 90.0, 90.0)).numpy()
            counts, points = unpack_output(torch.from_numpy(out))
            sums[name].append((float(points[:, 3].sum()), int(counts.sum())))
    a, b = np.array(sums["onnx"]), np.array(sums["torchscript"])
    error = np.sqrt((a.var(0) + b.var(0)) / len(a))
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < 4 * error), (a.mean(0), b.mean(0), error)


# ------------------------------------------------------------------------ safe writing
def test_onnx_export_never_replaces_a_file_calozoo_did_not_export(model, tmp_path):
    from calozoo.errors import OutputError

    target = tmp_path / "notes.onnx"
    target.write_bytes(b"somebody else's graph")
    with pytest.raises(OutputError, match="notes.onnx: exists and is not an ONNX file exported"):
        model.export(target)
    assert target.read_bytes() == b"somebody else's graph"


def test_onnx_export_that_fails_its_parity_check_leaves_nothing(model, tmp_path, monkeypatch, exported):
    target = tmp_path / "caloclouds3.onnx"
    target.write_bytes(exported.read_bytes())  # an earlier export stays as it was
    before = target.read_bytes()
    broken = onnx_export.Parity(0.5, 0.0, 0.0, True, 0.0)
    monkeypatch.setattr(onnx_export, "onnx_parity", lambda *a, **k: broken)
    with pytest.raises(RuntimeError, match="targets differ by 0.5"):
        model.export(target)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_format_by_name_or_by_option(model, tmp_path):
    from calozoo_engine.export import export_format, is_calozoo_export

    assert export_format("x.onnx") == "onnx" and export_format("x.ONNX") == "onnx"
    assert export_format("x.pt") == "torchscript" and export_format("x.onnx", "torchscript") == "torchscript"
    with pytest.raises(ValueError, match="export format must be one of torchscript, onnx, got 'tflite'"):
        export_format("x.pt", "tflite")
    onnx_file = model.export(tmp_path / "graph.bin", format="onnx")
    assert is_calozoo_onnx(onnx_file) and not is_calozoo_export(onnx_file)


def test_onnx_export_from_the_command_line(tmp_path):
    from click.testing import CliRunner

    from calozoo.cli import main

    out = tmp_path / "cc3.model"
    result = CliRunner().invoke(main, ["export", "caloclouds3", "-o", str(out), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert is_calozoo_onnx(out)
    result = CliRunner().invoke(main, ["export", "caloclouds3", "-o", str(out), "--format", "tflite"])
    assert result.exit_code != 0 and "'tflite' is not one of 'torchscript', 'onnx'" in result.output
