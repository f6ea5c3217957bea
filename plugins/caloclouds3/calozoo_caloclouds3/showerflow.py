"""ShowerFlow: the conditional normalising flow over a shower's 30 layer counts and 30 layer energies.

Built from normflows (:class:`normflows.ConditionalNormalizingFlow`, its fixed ``Permute`` and
its rational-quadratic spline) plus two small flows of the paper's own design:

- :class:`TanhAffineCoupling` — the first ``floor(D/2)`` coordinates pass unchanged, the rest
  become ``exp(s) x + m`` with ``s = -tanh(s_hat)`` (the scale bounded to ``[1/e, e]``) and
  ``(m, s_hat) = MLP([x_first, c])``, two hidden layers of width ``10 D``;
- :class:`ContextSpline` — an element-wise monotonic rational-quadratic spline on all ``D``
  coordinates, 8 bins, identity outside ``[-3, 3]``, its knots a function of the context only.

CaloClouds3 stacks 2 blocks of ``A P A P A P S P A P A P A P`` (12 couplings, 2 splines, about
5.8 M parameters for ``D = 60``, ``C = 4``). The permutations are buffers, saved with the weights.

Direction convention (normflows'): ``forward`` maps the latent normal to data (sampling);
``inverse`` maps data to the latent (likelihood).
"""

from __future__ import annotations

import math

import normflows as nf
import torch
from normflows.utils.splines import unconstrained_rational_quadratic_spline
from torch import nn

from .features import N_LAYERS

__all__ = ["TanhAffineCoupling", "ContextSpline", "StandardNormal", "ShowerFlow", "BLOCK_PATTERN"]

#: One block of CaloClouds3's flow: A = affine coupling, P = permutation, S = spline.
BLOCK_PATTERN = "APAPAPSPAPAPAP"
#: A shower with more negative layer energies than this is drawn again (the paper's rule).
MAX_NEGATIVE_LAYERS = 7


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

    def __init__(self, features: int, context_features: int, bins: int = 8, tail_bound: float = 3.0):
        super().__init__()
        self.features, self.bins, self.tail_bound = features, bins, tail_bound
        width = 4 * features
        # Widths, heights (bins each) and the bins - 1 inner derivatives (linear tails fix the ends).
        self.net = _mlp([context_features, width, width, features * (3 * bins - 1)])

    def _spline(
        self, x: torch.Tensor, context: torch.Tensor, inverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.net(context).view(len(x), self.features, 3 * self.bins - 1)
        widths, heights, derivs = params.split([self.bins, self.bins, self.bins - 1], -1)
        out, logdet = unconstrained_rational_quadratic_spline(
            x, widths, heights, derivs, inverse=inverse, tails="linear", tail_bound=self.tail_bound
        )
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


class ShowerFlow(nn.Module):
    """The conditional flow ``p(targets | c)`` with seeded sampling and the paper's rejection rule.

    Args:
        features: 60 for CaloClouds3 (30 counts, 30 energies).
        context_features: 4 (``E / 127``, ``p_x``, ``p_y``, ``p_z``).
        blocks: number of :data:`BLOCK_PATTERN` blocks.
        seed: draws the fixed permutations (then saved with the weights).
    """

    def __init__(
        self,
        features: int = 2 * N_LAYERS,
        context_features: int = 4,
        blocks: int = 2,
        hidden_factor: int = 10,
        bins: int = 8,
        tail_bound: float = 3.0,
        seed: int = 0,
    ):
        super().__init__()
        self.features, self.context_features = features, context_features
        self.settings = dict(
            features=features,
            context_features=context_features,
            blocks=blocks,
            hidden_factor=hidden_factor,
            bins=bins,
            tail_bound=tail_bound,
        )
        flows: list[nf.flows.Flow] = []
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            for letter in BLOCK_PATTERN * blocks:
                if letter == "A":
                    flows.append(TanhAffineCoupling(features, context_features, hidden_factor))
                elif letter == "P":
                    flows.append(nf.flows.Permute(features, mode="shuffle"))
                else:
                    flows.append(ContextSpline(features, context_features, bins, tail_bound))
        finally:
            torch.random.set_rng_state(state)
        self.flow = nf.ConditionalNormalizingFlow(StandardNormal(features), flows)

    def _check_context(self, context: torch.Tensor, n: int | None = None) -> None:
        if context.dim() != 2 or context.shape[1] != self.context_features:
            raise ValueError(
                f"ShowerFlow context must have shape (N, {self.context_features}) "
                f"[E/127, p_x, p_y, p_z], got {tuple(context.shape)}"
            )
        if n is not None and len(context) != n:
            raise ValueError(f"ShowerFlow got {n} targets but {len(context)} context rows")

    def log_prob(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``(N,)`` log-density of ``(N, 60)`` targets given ``(N, 4)`` contexts."""
        self._check_context(context, len(x))
        return self.flow.log_prob(x, context)

    def forward(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Map latent normals ``z`` to targets (no rejection)."""
        return self.flow.forward(z, context)

    @staticmethod
    def dequantise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Spread integer counts over one point's width and empty layers' energies over 0.05 MeV.

        Without this the likelihood rewards collapsing onto the exact zeros of empty layers.
        """
        from .features import COUNT_SCALE, LAYER_ENERGY_SCALE_GEV

        u = torch.rand(x.shape, generator=generator)
        width = torch.ones(x.shape[1])
        width[:N_LAYERS] = 1 / COUNT_SCALE
        width[N_LAYERS:] = 0.05e-3 / LAYER_ENERGY_SCALE_GEV
        return x + u * width

    @torch.no_grad()
    def sample(
        self, context: torch.Tensor, generator: torch.Generator, max_rounds: int = 100
    ) -> torch.Tensor:
        """``(N, 60)`` targets for ``(N, 4)`` contexts, redrawing unphysical showers.

        A shower whose 30 layer energies include more than seven negative values is drawn again
        (up to ``max_rounds`` times; the paper sees ~0.1 % of them near normal incidence).
        Negative values that remain are for the caller to clip.
        """
        self._check_context(context)
        out = self.forward(torch.randn(len(context), self.features, generator=generator), context)
        for _ in range(max_rounds):
            bad = ((out[:, N_LAYERS:] < 0).sum(-1) > MAX_NEGATIVE_LAYERS).nonzero()[:, 0]
            if len(bad) == 0:
                break
            z = torch.randn(len(bad), self.features, generator=generator)
            out[bad] = self.forward(z, context[bad])
        return out
