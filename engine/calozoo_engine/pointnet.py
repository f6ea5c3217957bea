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
- :func:`karras_sigmas`, :func:`heun_sample` (the teacher, 18-20 steps) and
  :class:`OneStep` (the distilled student, one step).

Shapes: points ``(B, N, 4)``, context ``(B, C)``, ``sigma`` ``(B,)``. Everything that depends on
the context only (the time embedding, each layer's gate and context bias) is computed once per
shower and broadcast over its points — the per-point cost is six small matrix products.
"""

from __future__ import annotations

import math

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
    "karras_sigmas",
    "heun_sample",
]

SIGMA_DATA = 0.5
SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
RHO = 7.0
#: Per-shower quantities are computed in blocks of this many rows, the last one zero-padded: a
#: matrix product rounds differently for different numbers of rows, and a shower's numbers must
#: not depend on how many others share its batch (:mod:`calozoo.seeding`).
ROW_BLOCK = 64
#: CaloClouds3 widths (input, hidden..., output).
CC3_WIDTHS = (4, 32, 64, 128, 64, 32, 4)


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
        self.row_block = int(ROW_BLOCK)
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

    def forward_flat(
        self, x: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor, owner: torch.Tensor
    ) -> torch.Tensor:
        """Like :meth:`forward` for flat points: ``x`` ``(M, 4)``, ``owner`` ``(M,)`` the shower of each.

        The points must be shower-major (``owner`` sorted, as :func:`~.points.point_owner` makes
        it). Inference path: per shower, each layer's gate and context bias fold into its weights,
        ``(W h + b) * g + H c = (g W) h + (g b + H c)``, so a layer is one matrix product per shower
        and showers of any sizes share a batch without padding.
        """
        n = cond.shape[0]
        if n == 0:
            return x.new_zeros((0, self.widths[-1]))
        # the per-shower numbers in fixed blocks of rows (the last zero-padded): a shower's
        # modulation is then the same whatever else shares its batch
        block = self.row_block
        pad = (block - n % block) % block
        c_noise_p = torch.cat([c_noise, torch.zeros(pad, dtype=c_noise.dtype)])
        cond_p = torch.cat([cond, torch.zeros(pad, cond.shape[1], dtype=cond.dtype)])
        blocks: list[torch.Tensor] = []
        for start in range(0, n + pad, block):
            stop = start + block
            blocks.append(self.modulations(c_noise_p[start:stop], cond_p[start:stop]))
        mod = torch.cat(blocks, 0)[:n]
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
        sizes: list[int] = torch.bincount(owner, minlength=cond.shape[0]).tolist()
        out: list[torch.Tensor] = []
        last = len(weights) - 1
        for b, h in enumerate(torch.split(x, sizes)):
            for i in range(len(weights)):
                h = torch.nn.functional.linear(h, weights[i][b], biases[i][b])
                if i < last:
                    h = torch.nn.functional.leaky_relu(h, 0.01, inplace=True)
            out.append(h)
        return torch.cat(out, 0) if len(out) > 0 else x.new_zeros((0, self.widths[-1]))


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
        sd2 = self.sigma_data**2
        s = sigma[:, None, None]
        c_in = 1 / torch.sqrt(s**2 + sd2)
        if self.boundary:
            c_skip = sd2 / ((s - SIGMA_MIN) ** 2 + sd2)
            c_out = (s - SIGMA_MIN) * self.sigma_data / torch.sqrt(s**2 + sd2)
        else:
            c_skip = sd2 / (s**2 + sd2)
            c_out = s * self.sigma_data / torch.sqrt(s**2 + sd2)
        return c_skip, c_out, c_in

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c_skip, c_out, c_in = self.scalings(sigma)
        return c_skip * x + c_out * self.net(c_in * x, torch.log(sigma) / 4, cond)

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
        c_skip, c_out, c_in = self.scalings(sigma)
        target = (x - c_skip * noisy) / c_out
        out = self.net(c_in * noisy, torch.log(sigma) / 4, cond)
        return masked_mean(((out - target) ** 2).mean(-1), mask)


class OneStep(nn.Module):
    """The distilled student's single step for flat points: ``x_0 = D(sigma eps; sigma)``, ``sigma = 80``.

    The consistency-model scalings (identity at ``sigma_min``) are constants here, so the module
    is TorchScript-compatible and is what both :class:`~.model.CaloClouds3` and the export run.
    Inputs: ``noise`` ``(M, 4)`` standard normal, ``owner`` ``(M,)`` sorted shower index,
    ``cond`` ``(B, C)``.
    """

    def __init__(self, net: PointwiseNet, sigma: float = SIGMA_MAX, sigma_data: float = SIGMA_DATA):
        super().__init__()
        self.net = net
        sd2 = sigma_data**2
        self.sigma = float(sigma)
        self.c_skip = sd2 / ((sigma - SIGMA_MIN) ** 2 + sd2)
        self.c_out = (sigma - SIGMA_MIN) * sigma_data / math.sqrt(sigma**2 + sd2)
        self.c_in = 1.0 / math.sqrt(sigma**2 + sd2)
        self.c_noise = math.log(sigma) / 4

    def forward(self, noise: torch.Tensor, owner: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = noise * self.sigma
        c_noise = torch.full((cond.shape[0],), self.c_noise)
        return self.c_skip * x + self.c_out * self.net.forward_flat(self.c_in * x, c_noise, cond, owner)


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
