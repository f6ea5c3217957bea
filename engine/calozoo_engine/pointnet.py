"""The point diffusion model: a per-point network, EDM preconditioning, and the samplers.

Every point of a shower is denoised independently given the shower's context
``c = [E / 127 GeV, p_x, p_y, p_z]`` and the noise level ``sigma`` (the points are i.i.d. given
the conditions; ShowerFlow supplies the structure between layers).

- :class:`PointwiseNet` (``F``): a Fourier time embedding and six :class:`ConcatSquashLinear`
  layers, ``4 -> 32 -> 64 -> 128 -> 64 -> 32 -> 4`` for CaloClouds3 (69,608 parameters). The
  parameter names match the authors' checkpoints (``layers.{k}._layer``, ``._hyper_bias``,
  ``._hyper_gate``, ``timestep_embed.0/1``), so :mod:`.checkpoint` maps them one to one.
- :class:`Denoiser` (``D``): EDM preconditioning (Karras et al., arXiv:2206.00364) with
  ``sigma_data = 0.5``; with ``boundary=True`` the consistency-model scalings (Song et al.,
  arXiv:2303.01469) that make ``D(x; sigma_min) = x`` exactly.
- the EDM coefficients as named functions of ``sigma`` (floats or tensors): :func:`c_skip`,
  :func:`c_out`, :func:`c_in`, :func:`c_noise` and the consistency-boundary :func:`c_skip_boundary`,
  :func:`c_out_boundary`; :class:`Denoiser`, :class:`OneStep` and :class:`MultiStep` use them.
- :func:`karras_sigmas`, :func:`heun_sample` (the teacher, 18-20 steps),
  :class:`OneStep` (the distilled student, one step) and :class:`MultiStep` (the student at a
  few noise levels, the consistency models' multistep sampler). :mod:`.sampling` has the same
  noise levels and the teacher's sampler through diffusers' schedulers.

Shapes: points ``(B, N, 4)``, context ``(B, C)``, ``sigma`` ``(B,)``. Everything that depends on
the context only (the time embedding, each layer's gate and context bias) is computed once per
shower and broadcast over its points — the per-point cost is six small matrix products.
"""

from __future__ import annotations

import math
import weakref

import torch
from torch import nn

__all__ = [
    "SIGMA_DATA",
    "SIGMA_MIN",
    "SIGMA_MAX",
    "FourierFeatures",
    "ConcatSquashLinear",
    "PointwiseNet",
    "Denoiser",
    "OneStep",
    "MultiStep",
    "c_skip",
    "c_out",
    "c_in",
    "c_noise",
    "c_skip_boundary",
    "c_out_boundary",
    "karras_sigmas",
    "heun_step",
    "heun_sample",
]

SIGMA_DATA = 0.5
SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
RHO = 7.0
#: Batch invariance: a matrix product rounds a row differently for different numbers of rows, and
#: an elementwise function (a sigmoid, a softplus) a number differently for different positions in
#: its tensor (vector body or scalar tail; about 1e-7 relative), so a shower's numbers depend, at
#: that level, on the others in its batch. A model loaded with ``batch_invariant=True`` evaluates
#: its per-shower networks (the flow, the point network's modulations) in blocks of this many rows,
#: each in storage of its own: with one row, every shower's call has the same shapes and alignment
#: in any batch, and its showers are bit-identical for any batch size.
ROW_BLOCK = 1
#: CaloClouds3 widths (input, hidden..., output).
CC3_WIDTHS = (4, 32, 64, 128, 64, 32, 4)
#: At inference, the folded weights of showers taken one at a time (batch 1, and batch-invariant
#: models, whose blocks are one row) come from the compiled pass :func:`.kernels.fold_one`: about
#: 50 small torch operations a shower become one call, the same numbers to float32 rounding
#: (checked against torch, within :data:`FOLD_TOLERANCE`, when the pass is made). False: torch.
FUSE_MODULATIONS = True
FOLD_TOLERANCE = 1e-5
#: PointwiseNet -> [what the compiled pass holds (its tensors' slots), the FoldProgram or None],
#: outside the modules so that state dicts, copies and pickles never see it.
_FOLDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------ EDM coefficients
# Each works on a float (math) or a tensor (torch, elementwise), and each is written exactly as
# the expressions it replaced, so the shipped models' numbers did not move by a bit.
def _sqrt(x):
    return torch.sqrt(x) if isinstance(x, torch.Tensor) else math.sqrt(x)


def c_skip(sigma, sigma_data: float = SIGMA_DATA):
    """EDM's skip weight ``sigma_data^2 / (sigma^2 + sigma_data^2)`` (Karras et al., Table 1)."""
    sd2 = sigma_data**2
    return sd2 / (sigma**2 + sd2)


def c_out(sigma, sigma_data: float = SIGMA_DATA):
    """EDM's output weight ``sigma sigma_data / sqrt(sigma^2 + sigma_data^2)``."""
    return sigma * sigma_data / _sqrt(sigma**2 + sigma_data**2)


def c_in(sigma, sigma_data: float = SIGMA_DATA):
    """EDM's input weight ``1 / sqrt(sigma^2 + sigma_data^2)``: the network sees unit variance."""
    return 1 / _sqrt(sigma**2 + sigma_data**2)


def c_noise(sigma):
    """EDM's noise input of the network, ``ln(sigma) / 4``."""
    return (torch.log(sigma) if isinstance(sigma, torch.Tensor) else math.log(sigma)) / 4


def c_skip_boundary(sigma, sigma_data: float = SIGMA_DATA, sigma_min: float = SIGMA_MIN):
    """The consistency models' skip weight ``sigma_data^2 / ((sigma - sigma_min)^2 + sigma_data^2)``.

    Song et al. (arXiv:2303.01469, appendix C): 1 at ``sigma_min``, so with
    :func:`c_out_boundary` (0 there) the model is the identity at ``sigma_min``.
    """
    sd2 = sigma_data**2
    return sd2 / ((sigma - sigma_min) ** 2 + sd2)


def c_out_boundary(sigma, sigma_data: float = SIGMA_DATA, sigma_min: float = SIGMA_MIN):
    """The consistency models' output weight.

    ``(sigma - sigma_min) sigma_data / sqrt(sigma^2 + sigma_data^2)``: 0 at ``sigma_min`` (Song et al.,
    appendix C).
    """
    return (sigma - sigma_min) * sigma_data / _sqrt(sigma**2 + sigma_data**2)


class FourierFeatures(nn.Module):
    """Random Fourier features of a scalar: ``[cos(2 pi w t), sin(2 pi w t)]``, ``w`` fixed."""

    def __init__(self, out_features: int = 64, std: float = 16.0, generator: torch.Generator | None = None):
        super().__init__()
        # A buffer named ``weight`` (not a parameter): it is drawn once and never trained, and
        # the name matches the authors' ``timestep_embed.0.weight``.
        self.register_buffer("weight", torch.randn(out_features // 2, 1, generator=generator) * std)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * t @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


class ConcatSquashLinear(nn.Module):
    """``out = (W h + b) * sigmoid(G ctx + g) + H ctx`` (FFJORD's concat-squash layer)."""

    def __init__(self, dim_in: int, dim_out: int, dim_ctx: int):
        super().__init__()
        self._layer = nn.Linear(dim_in, dim_out)
        self._hyper_bias = nn.Linear(dim_ctx, dim_out, bias=False)
        self._hyper_gate = nn.Linear(dim_ctx, dim_out)

    def modulation(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gate and the additive context term for a ``(B, C)`` context -> two ``(B, 1, out)``."""
        return torch.sigmoid(self._hyper_gate(ctx)).unsqueeze(1), self._hyper_bias(ctx).unsqueeze(1)

    def forward(self, h: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        gate, bias = self.modulation(ctx)
        return self._layer(h) * gate + bias


class PointwiseNet(nn.Module):
    """``F(x, c_noise, c)``: the raw network the preconditioning wraps.

    Args:
        widths: layer widths from the 4 point features to the 4 outputs.
        context_features: size of the shower conditioning ``c``.
        embed_features: size of the time embedding.
        seed: seeds the fixed Fourier frequencies.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = CC3_WIDTHS,
        context_features: int = 4,
        embed_features: int = 64,
        seed: int = 0,
    ):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.widths = tuple(int(w) for w in widths)
        self.context_features = int(context_features)
        self.timestep_embed = nn.Sequential(
            FourierFeatures(embed_features, generator=generator),
            nn.Linear(embed_features, embed_features),
            nn.LeakyReLU(0.01),
        )
        dim_ctx = embed_features + context_features
        self.layers = nn.ModuleList(
            ConcatSquashLinear(a, b, dim_ctx) for a, b in zip(self.widths[:-1], self.widths[1:])
        )
        self.act = nn.LeakyReLU(0.01)

    def context(self, c_noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``(B,)`` noise input and ``(B, C)`` conditioning -> the ``(B, 64 + C)`` layer context."""
        return torch.cat([self.timestep_embed(c_noise[:, None]), cond], dim=-1)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        ctx = self.context(c_noise, cond)
        h = x
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h, ctx)
            if i < last:
                h = self.act(h)
        return h

    def modulations(self, c_noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Every layer's gate ``sigmoid(G c + g)`` and context bias ``H c``, side by side, per shower."""
        ctx = self.context(c_noise, cond)
        parts: list[torch.Tensor] = []
        for layer in self.layers:
            parts.append(torch.sigmoid(layer._hyper_gate(ctx)))
            parts.append(layer._hyper_bias(ctx))
        return torch.cat(parts, 1)

    def fold(self, mod: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each layer's per-shower weight ``(B, out, in)`` and bias ``(B, out)`` with the gate and the
        context bias of ``mod`` (:meth:`modulations`) folded in: ``(g W) h + (g b + H c)``."""
        weights: list[torch.Tensor] = []
        biases: list[torch.Tensor] = []
        offset = 0
        for layer in self.layers:
            width = layer._layer.weight.shape[0]
            gate = mod[:, offset : offset + width]  # (B, out)
            context_bias = mod[:, offset + width : offset + 2 * width]
            offset += 2 * width
            weights.append(gate[:, :, None] * layer._layer.weight[None])  # (B, out, in)
            biases.append(gate * layer._layer.bias[None] + context_bias)  # (B, out)
        return weights, biases

    def forward_one(self, x: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """:meth:`forward_flat` for the points ``x`` ``(M, 4)`` of one shower (``cond`` ``(1, C)``).

        The same operations, with no per-shower split: its number of points stays a tensor
        dimension (what the ONNX export traces with ``M`` dynamic).
        """
        weights, biases = self.fold(self.modulations(c_noise, cond))
        h = x
        last = len(weights) - 1
        for i in range(len(weights)):
            h = torch.nn.functional.linear(h, weights[i][0], biases[i][0])
            if i < last:
                h = torch.nn.functional.leaky_relu(h, 0.01)
        return h

    def forward_flat(
        self,
        x: torch.Tensor,
        c_noise: torch.Tensor,
        cond: torch.Tensor,
        owner: torch.Tensor,
        row_block: int = 0,
    ) -> torch.Tensor:
        """Like :meth:`forward` for flat points: ``x`` ``(M, 4)``, ``owner`` ``(M,)`` the shower of each.

        The points must be shower-major (``owner`` sorted, as :func:`~.points.point_owner` makes
        it). Inference path: per shower, each layer's gate and context bias fold into its weights,
        ``(W h + b) * g + H c = (g W) h + (g b + H c)``, so a layer is one matrix product per shower
        and showers of any sizes share a batch without padding. ``row_block > 0`` computes the
        per-shower modulations in blocks of that many rows (batch invariance, :data:`ROW_BLOCK`).
        """
        n = cond.shape[0]
        if n == 0:
            return x.new_zeros((0, self.widths[-1]))
        # row_block > 0: the per-shower numbers in blocks of row_block rows (the last zero-padded),
        # each block in storage of its own; with ROW_BLOCK = 1 every shower's call has the same
        # shapes and alignment whatever else shares its batch, so the same rounding, bit for bit
        block = row_block if row_block > 0 else n
        folded: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
        if not torch.jit.is_scripting():
            if block == 1:  # one shower at a time: the compiled pass, row by row
                folded = self._compiled_folds(c_noise, cond)
        if folded is not None:
            weights, biases = folded
        else:
            pad = (block - n % block) % block
            c_noise_p = torch.cat([c_noise, torch.zeros(pad, dtype=c_noise.dtype)])
            cond_p = torch.cat([cond, torch.zeros(pad, cond.shape[1], dtype=cond.dtype)])
            blocks: list[torch.Tensor] = []
            for start in range(0, n + pad, block):
                stop = start + block
                blocks.append(self.modulations(c_noise_p[start:stop].clone(), cond_p[start:stop].clone()))
            weights, biases = self.fold(torch.cat(blocks, 0)[:n])
        sizes: list[int] = torch.bincount(owner, minlength=cond.shape[0]).tolist()
        out: list[torch.Tensor] = []
        last = len(weights) - 1
        for b, h in enumerate(torch.split(x, sizes)):
            # Batch invariance: a shower's rows, weights and biases are views that start anywhere
            # in the batch's tensors, and some matrix-product kernels round differently for
            # differently aligned operands, so each gets storage of its own.
            if row_block > 0:
                h = h.clone()
            for i in range(len(weights)):
                weight, bias = weights[i][b], biases[i][b]
                if row_block > 0:
                    weight, bias = weight.clone(), bias.clone()
                h = torch.nn.functional.linear(h, weight, bias)
                if i < last:
                    h = torch.nn.functional.leaky_relu(h, 0.01, inplace=True)
            out.append(h)
        return torch.cat(out, 0) if len(out) > 0 else x.new_zeros((0, self.widths[-1]))

    @torch.jit.unused
    def _compiled_folds(
        self, c_noise: torch.Tensor, cond: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
        """:meth:`fold` of :meth:`modulations` for each row on its own, by the compiled pass
        (:data:`FUSE_MODULATIONS`), or ``None`` where torch computes them (gradients, a trace, not
        float32 on the CPU, a network the pass cannot read)."""
        if not (
            FUSE_MODULATIONS
            and not torch.is_grad_enabled()
            and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export()
            and cond.dtype == torch.float32
            and cond.device.type == "cpu"
        ):
            return None
        program = self._fold_program(c_noise, cond)
        if program is None:
            return None
        parts = program(c_noise.numpy(), cond.numpy())
        weights = [torch.from_numpy(weight) for weight, _ in parts]
        biases = [torch.from_numpy(bias) for _, bias in parts]
        return weights, biases

    def _fold_program(self, c_noise: torch.Tensor, cond: torch.Tensor):
        """The compiled pass for the network's current tensors (made and checked once)."""
        from .flow import _held_tensors

        state = _FOLDS.get(self)
        if state is not None and all(slots.get(key) is held for slots, key, held in state[0]):
            if state[1] is None or state[1].current():
                return state[1]
        from .kernels import FoldProgram

        program = FoldProgram.of(self)
        if program is not None:
            got = program(c_noise[:1].numpy(), cond[:1].numpy())
            weights, biases = self.fold(self.modulations(c_noise[:1], cond[:1]))
            tol = FOLD_TOLERANCE
            for (weight, bias), w, b in zip(got, weights, biases):
                close = torch.allclose(torch.from_numpy(weight), w, rtol=tol, atol=tol)
                if not (close and torch.allclose(torch.from_numpy(bias), b, rtol=tol, atol=tol)):
                    program = None
                    break
        _FOLDS[self] = [_held_tensors(self), program]
        return program


class Denoiser(nn.Module):
    """EDM preconditioning around a :class:`PointwiseNet`: ``D(x; sigma, c)``.

    ``D = c_skip x + c_out F(c_in x, ln(sigma) / 4, c)`` with ``sigma_data = 0.5``. With
    ``boundary=True`` (the distilled student) ``c_skip`` and ``c_out`` are the consistency-model
    versions, so the model is the identity at ``sigma_min``.
    """

    def __init__(self, net: PointwiseNet, boundary: bool = False, sigma_data: float = SIGMA_DATA):
        super().__init__()
        self.net = net
        self.boundary = bool(boundary)
        self.sigma_data = float(sigma_data)

    def scalings(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``c_skip, c_out, c_in`` for ``(B,)`` noise levels, each ``(B, 1, 1)``."""
        s = sigma[:, None, None]
        sd = self.sigma_data
        if self.boundary:
            return c_skip_boundary(s, sd), c_out_boundary(s, sd), c_in(s, sd)
        return c_skip(s, sd), c_out(s, sd), c_in(s, sd)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        skip, out, inp = self.scalings(sigma)
        return skip * x + out * self.net(inp * x, c_noise(sigma), cond)

    def loss(
        self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """The EDM training loss for clean points ``x`` ``(B, N, 4)`` with ``mask`` ``(B, N)``.

        One ``sigma ~ LogNormal(-1.2, 1.2)`` per shower; the network output is regressed on
        ``(x - c_skip x_noisy) / c_out``, which weights every noise level equally.
        """
        # Drawn on the CPU generator, then moved: the same seed gives the same noise on any device.
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(len(x), generator=generator)).to(x.device)
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        noisy = x + sigma[:, None, None] * noise
        skip, out_weight, inp = self.scalings(sigma)
        target = (x - skip * noisy) / out_weight
        out = self.net(inp * noisy, c_noise(sigma), cond)
        return masked_mean(((out - target) ** 2).mean(-1), mask)


class OneStep(nn.Module):
    """The distilled student's single step for flat points: ``x_0 = D(sigma eps; sigma)``, ``sigma = 80``.

    The consistency-model scalings (identity at ``sigma_min``) are constants here, so the module
    is TorchScript-compatible and is what both :class:`~.model.CaloClouds3` and the export run.
    Inputs: ``noise`` ``(M, 4)`` standard normal, ``owner`` ``(M,)`` sorted shower index,
    ``cond`` ``(B, C)``.
    """

    def __init__(
        self, net: PointwiseNet, sigma: float = SIGMA_MAX, sigma_data: float = SIGMA_DATA, row_block: int = 0
    ):
        super().__init__()
        self.net = net
        self.row_block = int(row_block)
        self.sigma = float(sigma)
        self.c_skip = c_skip_boundary(self.sigma, sigma_data)
        self.c_out = c_out_boundary(self.sigma, sigma_data)
        self.c_in = c_in(self.sigma, sigma_data)
        self.c_noise = c_noise(self.sigma)

    def forward(self, noise: torch.Tensor, owner: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = noise * self.sigma
        c_noise = torch.full((cond.shape[0],), self.c_noise)
        features = self.net.forward_flat(self.c_in * x, c_noise, cond, owner, self.row_block)
        return self.c_skip * x + self.c_out * features

    def forward_one(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` for one shower's ``(M, 4)`` noise and ``(1, C)`` conditioning
        (:meth:`PointwiseNet.forward_one`)."""
        x = noise * self.sigma
        c_noise = torch.full((1,), self.c_noise)
        return self.c_skip * x + self.c_out * self.net.forward_one(self.c_in * x, c_noise, cond)


class MultiStep(nn.Module):
    """The distilled student at a few noise levels: the consistency models' multistep sampler.

    Song et al. (arXiv:2303.01469, Algorithm 1): ``x_0 = f(sigma_0 eps_0; sigma_0)``, then for each
    further level ``x = x_0 + sqrt(sigma_k^2 - sigma_min^2) eps_k`` and ``x_0 = f(x; sigma_k)``, with
    ``f`` the student (:class:`Denoiser` with the boundary scalings). With one level it is
    :class:`OneStep`, bit for bit. Like it, every constant is computed here, the noise comes in
    (the module draws nothing), and it is TorchScript-compatible.

    Args:
        net: the student's :class:`PointwiseNet`.
        sigmas: the noise levels, strictly decreasing, each above ``sigma_min``; the first is
            where the sample starts (``SIGMA_MAX`` for the distilled students).
        row_block: as for :class:`OneStep` (``> 0``: bit-identical showers for any batch).

    Inputs: ``noise`` ``(M, 4)`` standard normal, ``owner`` ``(M,)`` sorted shower index, ``cond``
    ``(B, C)``, and ``extra`` ``(L - 1, M, 4)`` standard normals for the levels after the first
    (``None`` with one level). :func:`.sampling.multistep_sample` draws them per shower.
    """

    def __init__(
        self,
        net: PointwiseNet,
        sigmas: tuple[float, ...] = (SIGMA_MAX, 0.8),
        sigma_data: float = SIGMA_DATA,
        row_block: int = 0,
    ):
        super().__init__()
        levels = [float(s) for s in sigmas]
        if len(levels) == 0:
            raise ValueError("MultiStep needs at least one noise level")
        if any(s <= SIGMA_MIN for s in levels):
            raise ValueError(f"every noise level must be above sigma_min = {SIGMA_MIN}, got {levels}")
        if any(b >= a for a, b in zip(levels[:-1], levels[1:])):
            raise ValueError(f"the noise levels must be strictly decreasing, got {levels}")
        self.net = net
        self.row_block = int(row_block)
        self.sigmas = levels
        self.c_skip = [c_skip_boundary(s, sigma_data) for s in levels]
        self.c_out = [c_out_boundary(s, sigma_data) for s in levels]
        self.c_in = [c_in(s, sigma_data) for s in levels]
        self.c_noise = [c_noise(s) for s in levels]
        # the standard deviation of the noise added before each level (the first starts from noise)
        self.renoise = [math.sqrt(s**2 - SIGMA_MIN**2) for s in levels]

    def denoise(self, x: torch.Tensor, level: int, owner: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The student ``f(x; sigma_level)`` on flat points."""
        noise_input = torch.full((cond.shape[0],), self.c_noise[level])
        features = self.net.forward_flat(self.c_in[level] * x, noise_input, cond, owner, self.row_block)
        return self.c_skip[level] * x + self.c_out[level] * features

    def forward(
        self,
        noise: torch.Tensor,
        owner: torch.Tensor,
        cond: torch.Tensor,
        extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.denoise(noise * self.sigmas[0], 0, owner, cond)
        for level in range(1, len(self.sigmas)):
            if extra is None:
                raise ValueError("MultiStep with more than one level needs the extra noise")
            x = self.denoise(x + self.renoise[level] * extra[level - 1], level, owner, cond)
        return x


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``(B, N)`` per-point values over the real points (``mask`` True)."""
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp_min(1)


def karras_sigmas(
    n: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO
) -> torch.Tensor:
    """The ``n`` noise levels of Karras et al. from ``sigma_max`` down to ``sigma_min``."""
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return ((hi + ramp * (lo - hi)) ** rho).to(torch.float32)


def heun_step(denoiser: Denoiser, x: torch.Tensor, s: torch.Tensor, s_next: torch.Tensor, cond: torch.Tensor):
    """One Heun (2nd order) step of the probability-flow ODE from ``s`` to ``s_next`` (``(B,)`` each)."""
    d = (x - denoiser(x, s, cond)) / s[:, None, None]
    x_next = x + (s_next - s)[:, None, None] * d
    d_next = (x_next - denoiser(x_next, s_next, cond)) / s_next[:, None, None]
    return x + (s_next - s)[:, None, None] * (d + d_next) / 2


@torch.no_grad()
def heun_sample(
    denoiser: Denoiser, cond: torch.Tensor, n_points: int, generator: torch.Generator, steps: int = 18
):
    """Sample ``(B, n_points, 4)`` with the teacher: Heun on the Karras grid, a final Euler step to 0."""
    sigmas = karras_sigmas(steps)
    x = torch.randn(len(cond), n_points, 4, generator=generator) * sigmas[0]
    ones = torch.ones(len(cond))
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        x = heun_step(denoiser, x, s * ones, s_next * ones, cond)
    return denoiser(x, sigmas[-1] * ones, cond)
