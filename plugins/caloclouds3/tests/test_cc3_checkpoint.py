"""Importing the authors' checkpoints: the weights arrive intact, and no pickled code ever runs."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from calozoo_engine.checkpoint import (
    NETWORK_PREFIX,
    Placeholder,
    authors_network_shapes,
    load_authors_point_network,
    read_checkpoint,
)
from calozoo_engine.pointnet import PointwiseNet

from calozoo.errors import FileFormatError

torch.set_num_threads(1)

CONFIG_MODULE = "cc3_authors_configs_for_test"
CC2_WIDTHS = (4, 128, 256, 512, 256, 128, 4)
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def random_net(seed: int, widths: tuple[int, ...] = (4, 32, 64, 128, 64, 32, 4)) -> PointwiseNet:
    """A network whose every tensor (the Fourier buffer included) is random for ``seed``."""
    net = PointwiseNet(widths=widths, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in net.state_dict().values():
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
    return net


def authors_state(net: PointwiseNet, prefix: str = NETWORK_PREFIX) -> OrderedDict[str, torch.Tensor]:
    return OrderedDict((prefix + k, v.clone()) for k, v in net.state_dict().items())


def save_authors(path: Path, checkpoint: dict[str, Any], legacy: bool = False) -> Path:
    """``torch.save`` with an ``args`` of a config class whose module is gone at load time."""
    module = types.ModuleType(CONFIG_MODULE)

    class Configs:
        def __init__(self) -> None:
            self.lr = 1e-4
            self.model_name = "epicVAE_nFlow_kDiffusion"
            self.features = 4

    Configs.__module__ = CONFIG_MODULE
    Configs.__qualname__ = "Configs"
    module.Configs = Configs  # type: ignore[attr-defined]
    sys.modules[CONFIG_MODULE] = module
    try:
        torch.save({"args": Configs(), **checkpoint}, path, _use_new_zipfile_serialization=not legacy)
    finally:
        del sys.modules[CONFIG_MODULE]
    return path


def full_checkpoint(ema: PointwiseNet, live: PointwiseNet, **extra_others: Any) -> dict[str, Any]:
    first = authors_state(live)
    optimizer = {
        "state": {0: {"step": torch.tensor(7.0), "exp_avg": torch.zeros(32, 4)}},
        "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0, 1, 2]}],
    }
    others = {"model_ema": authors_state(ema), "model_teacher": first, "optimizer": optimizer}
    return {"state_dict": authors_state(live), "others": {**others, **extra_others}}


def same_weights(a: PointwiseNet, b: PointwiseNet) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def outputs(net: PointwiseNet) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 50, 4, generator=generator)
    c_noise = torch.randn(3, generator=generator)
    cond = torch.rand(3, 4, generator=generator)
    with torch.no_grad():
        return net(x, c_noise, cond)


@pytest.fixture(scope="module")
def nets() -> tuple[PointwiseNet, PointwiseNet]:
    return random_net(1), random_net(2)


def test_expected_names_are_ours():
    shapes = authors_network_shapes()
    assert len(shapes) == 33
    assert shapes == {k: tuple(v.shape) for k, v in PointwiseNet().state_dict().items()}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_loads_the_ema_weights(tmp_path, nets, legacy):
    ema, live = nets
    path = save_authors(tmp_path / "cd.pt", full_checkpoint(ema, live), legacy=legacy)
    # The point of the exercise: torch's own safe loader refuses the config object.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)

    net, info = load_authors_point_network(path)
    assert same_weights(net, ema) and not same_weights(net, live)
    assert torch.equal(outputs(net), outputs(ema))
    assert info["source"] == "others.model_ema"
    assert info["format"] == ("legacy" if legacy else "zip")
    assert info["args_class"] == f"{CONFIG_MODULE}.Configs"
    assert info["args_state"]["model_name"] == "epicVAE_nFlow_kDiffusion"
    assert info["placeholder_classes"] == [f"{CONFIG_MODULE}.Configs"]
    assert info["key_prefixes"] == [NETWORK_PREFIX]
    assert info["n_values"] == sum(v.numel() for v in ema.state_dict().values()) == 69_640
    assert CONFIG_MODULE not in sys.modules


def test_read_checkpoint_keeps_everything(tmp_path, nets):
    ema, live = nets
    path = save_authors(tmp_path / "cd.pt", full_checkpoint(ema, live))
    ckpt = read_checkpoint(path)
    args = ckpt["args"]
    assert isinstance(args, Placeholder)
    assert (args.module_name, args.class_name) == (CONFIG_MODULE, "Configs")
    assert args.state == {"lr": 1e-4, "model_name": "epicVAE_nFlow_kDiffusion", "features": 4}
    optimizer = ckpt["others"]["optimizer"]
    assert torch.equal(optimizer["state"][0]["step"], torch.tensor(7.0))
    assert optimizer["param_groups"][0]["betas"] == (0.9, 0.999)
    assert isinstance(ckpt["state_dict"], OrderedDict)
    assert torch.equal(
        ckpt["others"]["model_teacher"][NETWORK_PREFIX + "layers.0._layer.weight"],
        live.layers[0]._layer.weight,
    )


def test_falls_back_to_state_dict_and_tolerates_module_prefix(tmp_path, nets):
    ema, live = nets
    path = save_authors(tmp_path / "dp.pt", {"state_dict": authors_state(live, "module." + NETWORK_PREFIX)})
    net, info = load_authors_point_network(path)
    assert info["source"] == "state_dict"
    assert info["key_prefixes"] == ["module." + NETWORK_PREFIX]
    assert same_weights(net, live)


def test_half_precision_weights_become_float32(tmp_path, nets):
    ema, _ = nets
    state = OrderedDict((k, v.half()) for k, v in authors_state(ema).items())
    net, info = load_authors_point_network(save_authors(tmp_path / "half.pt", {"state_dict": state}))
    assert info["source_dtypes"] == ["torch.float16"]
    assert all(v.dtype == torch.float32 for v in net.state_dict().values())
    assert torch.equal(net.layers[2]._layer.weight, ema.layers[2]._layer.weight.half().float())


def test_big_endian_archive(tmp_path, nets):
    ema, _ = nets
    little = save_authors(tmp_path / "little.pt", {"state_dict": authors_state(ema)})
    big = tmp_path / "big.pt"
    with zipfile.ZipFile(little) as source, zipfile.ZipFile(big, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in item.filename:  # every storage here is float32
                data = np.frombuffer(data, dtype="<f4").astype(">f4").tobytes()
            target.writestr(item, data)
    net, _ = load_authors_point_network(big)
    assert same_weights(net, ema)


# --------------------------------------------------------------------------------------------
# Malicious files
# --------------------------------------------------------------------------------------------


class Shell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Exec:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


class Eval(Exec):
    def __reduce__(self):
        return builtins.eval, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


class Popen(Exec):
    def __reduce__(self):
        return subprocess.Popen, (["touch", str(self.marker)],)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("payload", [Shell, Exec, Eval, Popen])
def test_pickled_code_never_runs(tmp_path, nets, payload, legacy):
    ema, live = nets
    marker = tmp_path / "pwned"
    checkpoint = full_checkpoint(ema, live, hook=payload(marker))
    checkpoint["state_dict"]["extra"] = payload(marker)  # in the unused state dict: harmless
    path = save_authors(tmp_path / "evil.pt", checkpoint, legacy=legacy)

    net, info = load_authors_point_network(path)
    assert not marker.exists()
    assert same_weights(net, ema)
    called = {
        "posix.system",
        "os.system",
        "nt.system",
        "builtins.exec",
        "builtins.eval",
        "subprocess.Popen",
    } & {*info["placeholder_classes"]}
    assert len(called) == 1
    hook = read_checkpoint(path)["others"]["hook"]
    assert isinstance(hook, Placeholder) and "pwned" in str(hook.args)
    assert not marker.exists()


def raw_zip(path: Path, data_pkl: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
    return path


def test_handcrafted_pickle_cannot_call_through_placeholders(tmp_path):
    marker = tmp_path / "pwned"
    # getattr(os.system, "system")("touch marker"): the second call hits an inert placeholder.
    evil = f"cbuiltins\ngetattr\n(cos\nsystem\nVsystem\ntR(Vtouch {marker}\ntR.".encode()
    legacy = tmp_path / "b.pt"
    legacy.write_bytes(b"".join(pickle.dumps(x, protocol=2) for x in (LEGACY_MAGIC, 1001, {})) + evil)
    for path in (raw_zip(tmp_path / "a.pt", evil), legacy):
        with pytest.raises(FileFormatError, match="cannot be unpickled safely"):
            read_checkpoint(path)
        assert not marker.exists()
    # A global that is only ever called: the result is a placeholder, nothing ran.
    quiet = f"(dp0\nVx\ncposix\nsystem\n(Vtouch {marker}\ntRs.".encode()
    ckpt = read_checkpoint(raw_zip(tmp_path / "c.pt", quiet))
    assert isinstance(ckpt["x"], Placeholder) and ckpt["x"].qualified_name() == "posix.system"
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# Broken files
# --------------------------------------------------------------------------------------------


@pytest.fixture
def good_file(tmp_path, nets) -> Path:
    ema, live = nets
    return save_authors(tmp_path / "good.pt", full_checkpoint(ema, live))


def load_error(path: Path) -> str:
    with pytest.raises(FileFormatError) as info:
        load_authors_point_network(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_not_a_file(tmp_path):
    assert "no such file" in load_error(tmp_path / "missing.pt")
    assert "not a file" in load_error(tmp_path)


def test_empty_and_random_files(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert "empty" in load_error(empty)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(
        torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).byte().numpy().tobytes()
    )
    assert "not a PyTorch checkpoint" in load_error(noise)


def test_plain_pickle_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(b"\x80\x02}q\x00.")
    assert "not a torch.save checkpoint" in load_error(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_truncated_file(tmp_path, nets, legacy):
    ema, live = nets
    path = save_authors(tmp_path / "cut.pt", full_checkpoint(ema, live), legacy=legacy)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in load_error(path)


def test_corrupt_storage_bytes(good_file, nets):
    ema, _ = nets
    data = bytearray(good_file.read_bytes())
    weights = ema.layers[3]._hyper_gate.weight.detach().numpy().tobytes()
    at = data.index(weights)
    data[at + 100] ^= 0xFF
    good_file.write_bytes(bytes(data))
    assert "corrupt" in load_error(good_file)


def test_missing_storage_record(good_file, tmp_path):
    holed = tmp_path / "holed.pt"
    with zipfile.ZipFile(good_file) as source, zipfile.ZipFile(holed, "w") as target:
        for item in source.infolist():
            if not item.filename.endswith("/data/3"):
                target.writestr(item, source.read(item))
    message = load_error(holed)
    assert "data/3" in message and "missing" in message


def test_zip_without_pickle(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "not a torch.save checkpoint" in load_error(path)


def test_missing_state_dicts(tmp_path):
    path = save_authors(tmp_path / "empty_ckpt.pt", {"others": {"optimizer": {}}})
    message = load_error(path)
    assert "state_dict" in message and "model_ema" in message


def test_missing_and_unexpected_names(tmp_path, nets):
    ema, _ = nets
    state = authors_state(ema)
    del state[NETWORK_PREFIX + "layers.5._hyper_gate.bias"]
    del state[NETWORK_PREFIX + "timestep_embed.1.bias"]
    state["diffusion.inner_model.layers.6._layer.weight"] = torch.zeros(4, 4)
    message = load_error(save_authors(tmp_path / "names.pt", {"state_dict": state}))
    assert (
        "2 missing" in message
        and "layers.5._hyper_gate.bias" in message
        and "timestep_embed.1.bias" in message
    )
    assert "1 unexpected: diffusion.inner_model.layers.6._layer.weight" in message
    assert "key 'state_dict'" in message


def test_caloclouds2_widths_are_recognised(tmp_path):
    cc2 = random_net(3, widths=CC2_WIDTHS)
    path = save_authors(tmp_path / "cc2.pt", {"state_dict": {}, "others": {"model_ema": authors_state(cc2)}})
    message = load_error(path)
    assert "CaloClouds2" in message and "4 -> 128 -> 256 -> 512 -> 256 -> 128 -> 4" in message
    assert "layers.0._layer.weight has shape (128, 4), expected (32, 4)" in message
    assert "key 'others.model_ema'" in message


def test_non_tensor_and_non_finite_weights(tmp_path, nets):
    ema, _ = nets
    state = authors_state(ema)
    state[NETWORK_PREFIX + "layers.1._layer.bias"] = [0.0] * 64
    state[NETWORK_PREFIX + "layers.2._layer.bias"][5] = float("nan")
    message = load_error(save_authors(tmp_path / "nan.pt", {"state_dict": state}))
    assert "layers.1._layer.bias is a list, not a tensor" in message
    assert "layers.2._layer.bias holds NaN" in message
