"""ShowerFlow: the conditional normalising flow over a shower's 30 layer counts and 30 layer energies.

Built from normflows (:class:`normflows.ConditionalNormalizingFlow`, its fixed ``Permute`` and
its rational-quadratic spline) plus two small flows of the paper's own design:

- :class:`TanhAffineCoupling` — the first ``floor(D/2)`` coordinates pass unchanged, the rest
  become ``exp(s) x + m`` with ``s = -tanh(s_hat)`` (the scale bounded to ``[1/e, e]``) and
  ``(m, s_hat) = MLP([x_first, c])``, two hidden layers of width ``10 D``;
- :class:`ContextSpline` — an element-wise monotonic rational-quadratic spline on all ``D``
  coordinates, 8 bins, identity outside ``[-3, 3]``, its knots a function of the context only.

CaloClouds3 stacks 2 blocks of ``A P A P A P S P A P A P A P`` (12 couplings, 2 splines, about
5.8 M parameters for ``D = 60``, ``C = 4``); CaloClouds2 10 blocks of ``A P A P A P P S A P A P A P``
over its 65 targets (the block pattern and count are arguments). The permutations are buffers,
saved with the weights.

Direction convention (normflows'): ``forward`` maps the latent normal to data (sampling);
``inverse`` maps data to the latent (likelihood).
"""

from __future__ import annotations

import math
import warnings
import weakref

import normflows as nf
import torch
from normflows.utils.splines import (
    DEFAULT_MIN_DERIVATIVE,
    rational_quadratic_spline,
    unconstrained_rational_quadratic_spline,
)
from torch import nn

from .pointnet import ROW_BLOCK

__all__ = ["TanhAffineCoupling", "ContextSpline", "StandardNormal", "ShowerFlow", "BLOCK_PATTERN"]

#: One block of CaloClouds3's flow: A = affine coupling, P = permutation, S = spline.
BLOCK_PATTERN = "APAPAPSPAPAPAP"
#: A shower with more negative layer energies than this is drawn again (the paper's rule).
MAX_NEGATIVE_LAYERS = 7
#: Inference on one row runs a faster form of the flow (:meth:`ShowerFlow.forward`): the compiled
#: pass (:data:`FUSE_ONE_ROW`) or a trace. False: always eager (for comparisons).
TRACE_ONE_ROW = True
#: The faster one-row form is the compiled pass of :mod:`.kernels` (every layer in one call,
#: the eager pass's numbers to float32 rounding), made at the first one-row call, so that every
#: one-row call of a process gives the same numbers; False: a trace of the eager pass (torch's
#: kernels without normflows' Python overhead, the same numbers bit for bit).
FUSE_ONE_ROW = True
#: One-row calls made eagerly before the trace (about a second to make) is made: short jobs never
#: pay it (the trace gives eager's numbers, so the switch changes none).
TRACE_AFTER_CALLS = 32
#: The compiled pass is used only if it gives the eager pass's targets within this (absolute, and
#: relative to their size) on the check latents.
FUSED_TOLERANCE = 1e-4
#: ShowerFlow -> {:data:`FUSE_ONE_ROW`: [one-row calls so far, what the faster form holds
#: (:func:`_held_tensors`), the form (:class:`_Fused` or :class:`_Traced`) or None]}, outside the
#: modules so that state dicts, copies and pickles never see it.
_ONE_ROW: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class TanhAffineCoupling(nf.flows.Flow):
    """Conditional affine coupling with a tanh-bounded log-scale."""

    def __init__(self, features: int, context_features: int, hidden_factor: int = 10):
        super().__init__()
        self.n_pass = features // 2
        n_out = features - self.n_pass
        hidden = hidden_factor * features
        self.net = _mlp([self.n_pass + context_features, hidden, hidden, 2 * n_out])

    def _shift_scale(self, passed: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift, raw = self.net(torch.cat([passed, context], -1)).chunk(2, -1)
        return shift, -torch.tanh(raw)

    def forward(self, z, context=None):
        passed, rest = z[:, : self.n_pass], z[:, self.n_pass :]
        shift, log_scale = self._shift_scale(passed, context)
        return torch.cat([passed, rest * torch.exp(log_scale) + shift], -1), log_scale.sum(-1)

    def inverse(self, z, context=None):
        passed, rest = z[:, : self.n_pass], z[:, self.n_pass :]
        shift, log_scale = self._shift_scale(passed, context)
        return torch.cat([passed, (rest - shift) * torch.exp(-log_scale)], -1), -log_scale.sum(-1)


class ContextSpline(nf.flows.Flow):
    """Element-wise rational-quadratic spline whose knots depend on the context only."""

    def __init__(
        self,
        features: int,
        context_features: int,
        bins: int = 8,
        tail_bound: float = 3.0,
        hidden_factor: int = 4,
    ):
        super().__init__()
        self.features, self.bins, self.tail_bound = features, bins, tail_bound
        width = hidden_factor * features
        # Widths, heights (bins each) and the bins - 1 inner derivatives (linear tails fix the ends).
        self.net = _mlp([context_features, width, width, features * (3 * bins - 1)])

    def _spline(
        self, x: torch.Tensor, context: torch.Tensor, inverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.net(context).view(len(x), self.features, 3 * self.bins - 1)
        widths, heights, derivs = params.split([self.bins, self.bins, self.bins - 1], -1)
        if torch.onnx.is_in_onnx_export():
            return self._spline_traceable(x, widths, heights, derivs, inverse, gather=False)
        if torch.jit.is_tracing():
            return self._spline_traceable(x, widths, heights, derivs, inverse, gather=True)
        out, logdet = unconstrained_rational_quadratic_spline(
            x, widths, heights, derivs, inverse=inverse, tails="linear", tail_bound=self.tail_bound
        )
        return out, logdet.sum(-1)

    def _spline_traceable(
        self,
        x: torch.Tensor,
        widths: torch.Tensor,
        heights: torch.Tensor,
        derivs: torch.Tensor,
        inverse: bool,
        gather: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """normflows' spline without boolean-mask assignments, for a trace.

        normflows evaluates the spline on the inputs inside ``[-B, B]`` only, selected by a mask,
        and a trace of its mask assignments fixes shapes that depend on how many inputs fell
        outside in the example (it fails on other inputs). ``gather=True`` (TorchScript traces):
        the inside inputs are gathered by their indices (``nonzero``, a dynamic shape in a trace)
        and the results scattered back — normflows' spline gets exactly the tensors the mask
        would give it, so the numbers are the same bit for bit. ``gather=False`` (the ONNX export):
        every input is evaluated clamped to the interval and the identity tails are chosen
        elementwise — the same numbers to rounding (about 1e-6).
        """
        bound = self.tail_bound
        inside = (x >= -bound) & (x <= bound)
        # the linear tails' end derivatives: softplus(constant) + min_derivative = 1
        ends = torch.full_like(derivs[..., :1], math.log(math.exp(1 - DEFAULT_MIN_DERIVATIVE) - 1))
        derivs = torch.cat([ends, derivs, ends], -1)
        limits = dict(inverse=inverse, left=-bound, right=bound, bottom=-bound, top=bound)
        if not gather:
            out, logdet = rational_quadratic_spline(x.clamp(-bound, bound), widths, heights, derivs, **limits)
            out = torch.where(inside, out, x)
            return out, torch.where(inside, logdet, torch.zeros_like(logdet)).sum(-1)
        index = torch.nonzero(inside.reshape(-1))[:, 0]
        out, logdet = rational_quadratic_spline(
            x.reshape(-1).index_select(0, index),
            *(t.reshape(-1, t.shape[-1]).index_select(0, index) for t in (widths, heights, derivs)),
            **limits,
        )
        out = x.reshape(-1).index_copy(0, index, out).reshape(x.shape)
        logdet = torch.zeros_like(x).reshape(-1).index_copy(0, index, logdet).reshape(x.shape)
        return out, logdet.sum(-1)

    def forward(self, z, context=None):
        return self._spline(z, context, inverse=False)

    def inverse(self, z, context=None):
        return self._spline(z, context, inverse=True)


class StandardNormal(nf.distributions.BaseDistribution):
    """The base: a standard normal in ``D`` dimensions (:class:`ShowerFlow` samples it, seeded)."""

    def __init__(self, features: int):
        super().__init__()
        self.features = features

    def log_prob(self, z, context=None):
        return -0.5 * (z**2).sum(-1) - 0.5 * self.features * math.log(2 * math.pi)


def _held_tensors(module: nn.Module) -> list[tuple[dict, str, object]]:
    """Every ``(slots, name, object)`` of the module tree's parameters, buffers and submodules:
    what a trace holds on to. Checking these by identity is cheap; walking the tree is not."""
    out = []
    for sub in module.modules():
        for slots in (sub._parameters, sub._buffers, sub._modules):
            out += [(slots, key, held) for key, held in slots.items()]
    return out


class _EagerForward(nn.Module):
    """normflows' forward pass as a module of its own (what :meth:`ShowerFlow.forward` traces)."""

    def __init__(self, flow: nn.Module):
        super().__init__()
        self.flow = flow

    def forward(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.flow.forward(z, context)


class _Traced:
    """A trace of :class:`_EagerForward`: it reads the module's tensors when it runs."""

    def __init__(self, traced):
        self.traced = traced

    def current(self) -> bool:
        return True

    def __call__(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.traced(z, context)


class _Fused:
    """The compiled one-row pass (:class:`~.kernels.FlowProgram`) on a ``(1, D)`` row."""

    def __init__(self, program):
        self.program = program

    def current(self) -> bool:
        return self.program.current()

    def __call__(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.program(z.numpy()[0], context.numpy()[0]))[None]


class ShowerFlow(nn.Module):
    """The conditional flow ``p(targets | c)`` with seeded sampling and the paper's rejection rule.

    Args:
        features: 60 for CaloClouds3 (30 counts, 30 energies), 65 for CaloClouds2.
        context_features: 4 for CaloClouds3 (``E / 127``, ``p_x``, ``p_y``, ``p_z``), 1 for CaloClouds2.
        blocks: number of ``pattern`` blocks.
        hidden_factor: the couplings' MLP width is ``hidden_factor x features``.
        spline_factor: the splines' MLP width is ``spline_factor x features`` (the paper: 4).
        pattern: one block, in the letters A (affine coupling), P (permutation), S (spline).
        energy_columns: ``(start, stop)`` of the layer energies, for the rejection rule (default: the
            second half of the targets, CaloClouds3's layout).
        seed: draws the fixed permutations (then saved with the weights).
    """

    def __init__(
        self,
        features: int = 60,
        context_features: int = 4,
        blocks: int = 2,
        hidden_factor: int = 10,
        bins: int = 8,
        tail_bound: float = 3.0,
        pattern: str = BLOCK_PATTERN,
        energy_columns: tuple[int, int] | None = None,
        spline_factor: int = 4,
        seed: int = 0,
    ):
        super().__init__()
        if not pattern or set(pattern) - set("APS"):
            raise ValueError(f"flow block pattern must be letters A, P, S, got {pattern!r}")
        self.features, self.context_features = features, context_features
        if energy_columns is None:
            energy_columns = (features // 2, features)
        self.energy_columns = (int(energy_columns[0]), int(energy_columns[1]))
        self.settings = dict(
            features=features,
            context_features=context_features,
            blocks=blocks,
            hidden_factor=hidden_factor,
            bins=bins,
            tail_bound=tail_bound,
            pattern=pattern,
            energy_columns=list(self.energy_columns),
            spline_factor=spline_factor,
        )
        flows: list[nf.flows.Flow] = []
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            for letter in pattern * blocks:
                if letter == "A":
                    flows.append(TanhAffineCoupling(features, context_features, hidden_factor))
                elif letter == "P":
                    flows.append(nf.flows.Permute(features, mode="shuffle"))
                else:
                    flows.append(ContextSpline(features, context_features, bins, tail_bound, spline_factor))
        finally:
            torch.random.set_rng_state(state)
        self.flow = nf.ConditionalNormalizingFlow(StandardNormal(features), flows)

    def _check_context(self, context: torch.Tensor, n: int | None = None) -> None:
        if context.dim() != 2 or context.shape[1] != self.context_features:
            raise ValueError(
                f"ShowerFlow context must have shape (N, {self.context_features}), got {tuple(context.shape)}"
            )
        if n is not None and len(context) != n:
            raise ValueError(f"ShowerFlow got {n} targets but {len(context)} context rows")

    def log_prob(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``(N,)`` log-density of ``(N, D)`` targets given ``(N, C)`` contexts."""
        self._check_context(context, len(x))
        return self.flow.log_prob(x, context)

    def forward(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Map latent normals ``z`` to targets (no rejection).

        One row at inference (no gradients, eval mode, CPU, float32; with :data:`TRACE_ONE_ROW`)
        runs a faster form of this very pass, checked against it: the compiled pass of
        :mod:`.kernels` (:data:`FUSE_ONE_ROW`, made at the first such call; the same targets
        within :data:`FUSED_TOLERANCE`), else a trace made after :data:`TRACE_AFTER_CALLS` such
        calls (the same bit for bit), else eager. Batch 1 is what the flow's Python overhead
        costs most (docs/engine.md).
        """
        if self._one_row_inference(z, context):
            faster = self._one_row_form(z, context)
            if faster is not None:
                return faster(z, context)
        return self.flow.forward(z, context)

    def _one_row_inference(self, z: torch.Tensor, context: torch.Tensor) -> bool:
        return (
            TRACE_ONE_ROW
            and z.shape[0] == 1
            and not self.training
            and not torch.is_grad_enabled()
            and z.device.type == "cpu"
            and z.dtype == torch.float32
            and context.dtype == torch.float32
            and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export()
        )

    def _one_row_form(self, z: torch.Tensor, context: torch.Tensor):
        """The faster one-row form for the flow's current tensors (made and checked once)."""
        state = _ONE_ROW.setdefault(self, {}).setdefault(FUSE_ONE_ROW, [0, None, None])
        if state[1] is not None and all(slots.get(key) is held for slots, key, held in state[1]):
            # no parameter, buffer or submodule replaced since it was made (nor, for the
            # compiled pass, any storage moved)
            form = state[2]
            if form is None or form.current():
                return form
        state[0] += 1
        if state[0] <= TRACE_AFTER_CALLS and not FUSE_ONE_ROW:
            return None
        state[1:] = [_held_tensors(self), self._make_one_row_form(z, context)]
        return state[2]

    def _make_one_row_form(self, z: torch.Tensor, context: torch.Tensor):
        eager = _EagerForward(self.flow)
        gen = torch.Generator().manual_seed(0)
        # large latents reach the spline's identity tails, small ones stay inside [-3, 3]
        checks = [z] + [torch.randn(z.shape, generator=gen) * s for s in (0.1, 1.0, 3.0, 6.0, 10.0)]
        expected = [eager(x, context) for x in checks]
        if FUSE_ONE_ROW:
            from .kernels import FlowProgram

            program = FlowProgram.of(self.flow.flows)
            if program is not None:
                fused = _Fused(program)
                tol = FUSED_TOLERANCE
                if all(
                    torch.allclose(fused(x, context), e, rtol=tol, atol=tol) for x, e in zip(checks, expected)
                ):
                    return fused
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's and torch.jit's notes
            traced = torch.jit.trace(eager, (z, context), check_trace=False)
        same = all(torch.equal(traced(x, context), e) for x, e in zip(checks, expected))
        return _Traced(traced) if same else None

    def forward_rows(
        self, z: torch.Tensor, context: torch.Tensor, row_block: int = ROW_BLOCK
    ) -> torch.Tensor:
        """:meth:`forward` in blocks of ``row_block`` rows (the last zero-padded), each in storage of
        its own; with one row (:data:`~.pointnet.ROW_BLOCK`) each row's result is the same bit for
        bit whatever else is in the batch; ``row_block = 0``: one call."""
        if row_block <= 0:
            return self.forward(z, context)
        n = len(z)
        pad = (-n) % row_block
        z = torch.cat([z, z.new_zeros(pad, z.shape[1])])
        context = torch.cat([context, context.new_zeros(pad, context.shape[1])])
        parts = [
            self.forward(z[i : i + row_block].clone(), context[i : i + row_block].clone())
            for i in range(0, n + pad, row_block)
        ]
        return torch.cat(parts)[:n] if parts else z[:0]

    @staticmethod
    def dequantise(x: torch.Tensor, width: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add uniform noise of ``width`` (a recipe's :meth:`~.recipe.Recipe.dequantisation`).

        Integer counts spread over one point's width, empty layers' energies over a sliver:
        without this the likelihood rewards collapsing onto exact values.
        """
        return x + torch.rand(x.shape, generator=generator) * width

    @torch.no_grad()
    def sample(
        self,
        context: torch.Tensor,
        generator: torch.Generator | list[torch.Generator],
        max_rounds: int = 100,
        row_block: int = 0,
    ) -> torch.Tensor:
        """``(N, D)`` targets for ``(N, C)`` contexts, redrawing unphysical showers.

        ``generator`` is one generator for the batch, or a list of one per row (then row ``i``'s
        latents, first and redrawn, come from ``generator[i]`` alone: the samples do not depend on
        the batch). A shower whose layer energies (``energy_columns``) include more than seven
        negative values is drawn again (up to ``max_rounds`` times; the paper sees ~0.1 % of them
        near normal incidence). Negative values that remain are for the caller to clip.
        ``row_block > 0`` evaluates the flow in blocks of that many rows (:meth:`forward_rows`).
        """
        self._check_context(context)
        per_row = isinstance(generator, (list, tuple))
        if per_row and len(generator) != len(context):
            raise ValueError(f"got {len(generator)} generators for {len(context)} context rows")

        def latent(rows) -> torch.Tensor:
            if len(rows) == 0:
                return torch.zeros(0, self.features)
            if not per_row:
                return torch.randn(len(rows), self.features, generator=generator)
            return torch.stack([torch.randn(self.features, generator=generator[int(i)]) for i in rows])

        out = self.forward_rows(latent(torch.arange(len(context))), context, row_block)
        start, stop = self.energy_columns
        for _ in range(max_rounds):
            bad = ((out[:, start:stop] < 0).sum(-1) > MAX_NEGATIVE_LAYERS).nonzero()[:, 0]
            if len(bad) == 0:
                break
            out[bad] = self.forward_rows(latent(bad), context[bad], row_block)
        return out
