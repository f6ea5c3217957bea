"""The point network's folded weights of one shower at a time come from a compiled pass
(:func:`calozoo_engine.kernels.fold_one`): torch's numbers to float32 rounding, nothing else moves."""

from __future__ import annotations

import pytest
import torch
from calozoo_engine import pointnet
from calozoo_engine.pointnet import OneStep, PointwiseNet


def net(seed: int = 0) -> PointwiseNet:
    torch.manual_seed(seed)
    return PointwiseNet(seed=seed).eval()


def showers(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 40, (n,), generator=gen)
    owner = torch.repeat_interleave(torch.arange(n), sizes)
    cond = torch.cat([torch.rand(n, 1, generator=gen), torch.randn(n, 3, generator=gen)], 1)
    return torch.randn(len(owner), 4, generator=gen), owner, cond


def torch_folds(network: PointwiseNet, c_noise: torch.Tensor, cond: torch.Tensor):
    return network.fold(network.modulations(c_noise, cond))


def test_compiled_folds_are_torchs_to_rounding():
    network = net()
    gen = torch.Generator().manual_seed(3)
    c_noise = torch.randn(6, generator=gen)
    cond = torch.randn(6, 4, generator=gen)
    with torch.no_grad():
        weights, biases = network._compiled_folds(c_noise, cond)
        expected_weights, expected_biases = torch_folds(network, c_noise, cond)
    assert [w.shape for w in weights] == [w.shape for w in expected_weights]
    for got, expected in zip(weights + biases, expected_weights + expected_biases):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("row_block", [0, 1])
def test_one_shower_at_a_time_uses_the_compiled_folds_and_agrees_with_torch(monkeypatch, row_block):
    network = net()
    x, owner, cond = showers(1 if row_block == 0 else 5)
    c_noise = torch.full((len(cond),), 0.7)
    with torch.no_grad():
        compiled = network.forward_flat(x, c_noise, cond, owner, row_block)
        monkeypatch.setattr(pointnet, "FUSE_MODULATIONS", False)
        plain = network.forward_flat(x, c_noise, cond, owner, row_block)
    assert not torch.equal(compiled, plain)  # the compiled pass ran (rounding differs)
    torch.testing.assert_close(compiled, plain, rtol=1e-4, atol=1e-5)


def test_compiled_folds_keep_batch_invariance():
    step = OneStep(net(), row_block=1)
    x, owner, cond = showers(6)
    with torch.no_grad():
        together = step(x, owner, cond)
        alone = [
            step(x[owner == b], torch.zeros(int((owner == b).sum()), dtype=torch.long), cond[b : b + 1])
            for b in range(6)
        ]
    assert torch.equal(together, torch.cat(alone))


def test_gradients_batches_and_scripts_stay_in_torch(monkeypatch):
    network = net()
    x, owner, cond = showers(4)
    c_noise = torch.full((4,), 0.2)
    out = network.forward_flat(x, c_noise, cond, owner, 1)  # gradients on: torch, differentiable
    assert out.requires_grad
    with torch.no_grad():
        batched = network.forward_flat(x, c_noise, cond, owner, 0)  # four rows at once: torch
        monkeypatch.setattr(pointnet, "FUSE_MODULATIONS", False)
        assert torch.equal(batched, network.forward_flat(x, c_noise, cond, owner, 0))
        scripted = torch.jit.script(OneStep(network))
        assert torch.equal(scripted(x, owner, cond), OneStep(network)(x, owner, cond))


def test_compiled_folds_follow_new_weights(monkeypatch):
    network = net()
    x, owner, cond = showers(1)
    c_noise = torch.full((1,), 0.4)

    def both():
        with torch.no_grad():
            compiled = network.forward_flat(x, c_noise, cond, owner)
            with monkeypatch.context() as m:
                m.setattr(pointnet, "FUSE_MODULATIONS", False)
                return compiled, network.forward_flat(x, c_noise, cond, owner)

    before, _ = both()
    network.load_state_dict(net(seed=5).state_dict())  # copied into the same storage
    copied, plain = both()
    assert not torch.allclose(copied, before) and torch.allclose(copied, plain, rtol=1e-4, atol=1e-5)
    layer = network.layers[2]._hyper_gate
    layer.weight = torch.nn.Parameter(layer.weight * 3)  # a new tensor: made again
    replaced, plain = both()
    assert not torch.allclose(replaced, copied) and torch.allclose(replaced, plain, rtol=1e-4, atol=1e-5)
    layer.weight.data = layer.weight.data * 2  # new storage: made again
    moved, plain = both()
    assert not torch.allclose(moved, replaced) and torch.allclose(moved, plain, rtol=1e-4, atol=1e-5)
