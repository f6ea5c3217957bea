"""ShowerFlow's one-row inference runs a faster form of itself, nothing else moves: a trace (the
same numbers bit for bit) or the compiled pass of :mod:`calozoo_engine.kernels` (the same
numbers to float32 rounding)."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from calozoo_engine import flow as flow_module
from calozoo_engine.flow import TRACE_AFTER_CALLS, ShowerFlow


def small_flow(seed: int = 0) -> ShowerFlow:
    return ShowerFlow(features=8, context_features=2, blocks=1, hidden_factor=2, seed=seed).eval()


def eager(flow: ShowerFlow, z: torch.Tensor, c: torch.Tensor, monkeypatch) -> torch.Tensor:
    with monkeypatch.context() as m:
        m.setattr(flow_module, "TRACE_ONE_ROW", False)
        return flow(z, c)


@pytest.fixture(autouse=True)
def trace_not_fused(request, monkeypatch):
    """The trace's tests run with the compiled pass off; the compiled pass's tests turn it on."""
    monkeypatch.setattr(flow_module, "FUSE_ONE_ROW", "fused" in request.node.name)


def traced_state(flow: ShowerFlow):
    return flow_module._ONE_ROW.get(flow, {}).get(flow_module.FUSE_ONE_ROW)


def warm(flow: ShowerFlow, calls: int = TRACE_AFTER_CALLS + 1) -> None:
    with torch.no_grad():
        for _ in range(calls):
            flow(torch.randn(1, 8), torch.rand(1, 2))


def test_one_row_inference_is_traced_after_a_few_calls_and_bit_identical(monkeypatch):
    flow = small_flow()
    warm(flow, TRACE_AFTER_CALLS)
    assert traced_state(flow)[2] is None  # short jobs never pay for the trace
    warm(flow, 1)
    assert traced_state(flow)[2] is not None
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for scale in (0.05, 1.0, 4.0, 12.0):  # inside the spline interval and in its identity tails
            for _ in range(10):
                z, c = torch.randn(1, 8, generator=gen) * scale, torch.rand(1, 2, generator=gen)
                assert torch.equal(flow(z, c), eager(flow, z, c, monkeypatch))


def test_new_weights_are_used_whether_copied_in_or_replaced(monkeypatch):
    flow = small_flow()
    warm(flow)
    z, c = torch.randn(1, 8), torch.rand(1, 2)
    with torch.no_grad():
        before = flow(z, c)
        flow.load_state_dict(small_flow(seed=5).state_dict())  # copied into the same tensors
        copied = flow(z, c)
        assert not torch.equal(copied, before) and torch.equal(copied, eager(flow, z, c, monkeypatch))
        coupling = next(m for m in flow.modules() if isinstance(m, torch.nn.Linear))
        coupling.weight = torch.nn.Parameter(coupling.weight * 1.5)  # a new tensor: traced again
        warm(flow)
        replaced = flow(z, c)
        assert not torch.equal(replaced, copied) and torch.equal(replaced, eager(flow, z, c, monkeypatch))


def test_training_gradients_and_batches_stay_eager():
    flow = small_flow()
    warm(flow)
    z, c = torch.randn(1, 8), torch.rand(1, 2)
    out = flow(z, c)  # gradients enabled: eager, differentiable
    assert out.requires_grad
    out.sum().backward()
    assert all(p.grad is not None for p in flow.parameters() if p.requires_grad)
    calls = traced_state(flow)[0]
    with torch.no_grad():
        flow(torch.randn(4, 8), torch.rand(4, 2))  # more rows: eager, not counted
        flow.train()
        flow(z, c)
    assert traced_state(flow)[0] == calls


def test_state_dict_copies_and_pickles_never_see_the_trace():
    flow = small_flow()
    keys = list(flow.state_dict())
    warm(flow)
    assert traced_state(flow)[2] is not None
    assert list(flow.state_dict()) == keys
    again = pickle.loads(pickle.dumps(flow))
    twin = copy.deepcopy(flow)
    z, c = torch.randn(1, 8), torch.rand(1, 2)
    with torch.no_grad():
        assert torch.equal(again(z, c), flow(z, c)) and torch.equal(twin(z, c), flow(z, c))
    assert traced_state(again) is not None and traced_state(again)[2] is None  # its own count


@pytest.mark.parametrize("rows", [1, 3])
def test_sample_is_the_same_with_and_without_the_trace(monkeypatch, rows):
    flow = small_flow()
    warm(flow)
    context = torch.rand(rows, 2)
    traced = flow.sample(context, torch.Generator().manual_seed(4), row_block=1)
    monkeypatch.setattr(flow_module, "TRACE_ONE_ROW", False)
    plain = flow.sample(context, torch.Generator().manual_seed(4), row_block=1)
    assert torch.equal(traced, plain)


@pytest.mark.parametrize("outside_in_example", [0, 1, 2])
def test_traced_spline_is_bit_identical_whatever_falls_outside_its_interval(outside_in_example):
    """A trace of normflows' masked spline made on an example with exactly one input outside
    [-3, 3] failed on inputs with another count; the traced spline gathers by index instead."""
    from calozoo_engine.flow import ContextSpline

    torch.manual_seed(0)
    spline = ContextSpline(features=12, context_features=2).eval()

    class Forward(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.spline = spline

        def forward(self, x, c):
            return self.spline.forward(x, c)

    def inputs(outside: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(1, 12, generator=gen) * 5.8 - 2.9
        x[0, :outside] = 3.5 * torch.sign(torch.randn(outside, generator=gen))
        return x, torch.rand(1, 2, generator=gen)

    with torch.no_grad():
        traced = torch.jit.trace(Forward(), inputs(outside_in_example, 0), check_trace=False)
        for outside in (0, 1, 2, 5, 11):
            for seed in range(3):
                x, c = inputs(outside, seed + 1)
                expected, got = spline(x, c), traced(x, c)
                assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def fused_form(flow: ShowerFlow):
    warm(flow)
    return traced_state(flow)[2]


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "settings",
    [
        dict(features=8, context_features=2, blocks=1, hidden_factor=2),
        # an odd number of coordinates, two splines a block, other bins and bounds
        dict(
            features=7,
            context_features=2,
            blocks=2,
            hidden_factor=3,
            bins=5,
            tail_bound=2.0,
            pattern="APSAPS",
        ),
    ],
)
def test_fused_one_row_pass_gives_the_eager_targets(monkeypatch, settings):
    flow = ShowerFlow(**settings, seed=3).eval()
    d = settings["features"]

    def draw(shape):
        return torch.randn(shape) if shape[1] == d else torch.rand(shape)

    with torch.no_grad():
        for _ in range(TRACE_AFTER_CALLS + 1):
            flow(draw((1, d)), draw((1, 2)))
    assert isinstance(traced_state(flow)[2], flow_module._Fused)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for scale in (0.05, 1.0, 2.5, 4.0, 12.0):  # inside the spline interval and in its identity tails
            for _ in range(20):
                z, c = torch.randn(1, d, generator=gen) * scale, torch.rand(1, 2, generator=gen)
                fused, plain = flow(z, c), eager(flow, z, c, monkeypatch)
                assert fused.shape == (1, d) and fused.dtype == torch.float32
                assert close(fused, plain)


def test_fused_pass_follows_weights_copied_in_replaced_or_moved(monkeypatch):
    flow = small_flow()
    assert isinstance(fused_form(flow), flow_module._Fused)
    z, c = torch.randn(1, 8), torch.rand(1, 2)
    with torch.no_grad():
        before = flow(z, c)
        flow.load_state_dict(small_flow(seed=5).state_dict())  # copied into the same storage
        copied = flow(z, c)
        assert not close(copied, before) and close(copied, eager(flow, z, c, monkeypatch))
        linear = next(m for m in flow.modules() if isinstance(m, torch.nn.Linear))
        linear.weight = torch.nn.Parameter(linear.weight * 1.5)  # a new tensor: made again
        replaced = flow(z, c)
        assert not close(replaced, copied) and close(replaced, eager(flow, z, c, monkeypatch))
        linear.weight.data = linear.weight.data * 2  # the same tensor, new storage: made again
        moved = flow(z, c)
        assert not close(moved, replaced) and close(moved, eager(flow, z, c, monkeypatch))
    assert isinstance(traced_state(flow)[2], flow_module._Fused)


def test_fused_pass_gives_way_to_the_trace_for_a_step_it_cannot_run_or_a_failed_check(monkeypatch):
    import normflows as nf

    flow = small_flow()
    steps = flow.flow.flows
    index = next(i for i, step in enumerate(steps) if isinstance(step, nf.flows.Permute))
    steps[index] = nf.flows.Permute(8, mode="swap")
    assert isinstance(fused_form(flow), flow_module._Traced)
    z, c = torch.randn(1, 8), torch.rand(1, 2)
    with torch.no_grad():
        assert torch.equal(flow(z, c), eager(flow, z, c, monkeypatch))
    monkeypatch.setattr(flow_module, "FUSED_TOLERANCE", 0.0)  # nothing but bit-identical passes
    other = small_flow(seed=1)
    assert isinstance(fused_form(other), flow_module._Traced)


def test_fused_sample_does_not_depend_on_the_batch_with_one_row_blocks():
    flow = small_flow()
    warm(flow)
    context = torch.rand(5, 2)
    gens = lambda: [torch.Generator().manual_seed(10 + i) for i in range(5)]  # noqa: E731
    together = flow.sample(context, gens(), row_block=1)
    alone = [flow.sample(context[i : i + 1], [gens()[i]], row_block=1) for i in range(5)]
    assert torch.equal(together, torch.cat(alone))
