"""Toy conditional densities with known log-densities, for sizing a flow (numpy only).

The CaloClouds3 authors chose ShowerFlow's size with toy studies: distributions with and without
submanifolds and first- or second-order discontinuities, fitted by flows of decreasing size,
goodness of fit against the number of parameters. These are such toys, shaped like ShowerFlow's
targets: ``D`` numbers (60 by default, as 30 layer counts and 30 layer energies) conditioned on
one number ``c`` in ``[0, 1]`` (an energy), neighbouring coordinates correlated as neighbouring
layers are.

Every toy is ``x = M l``: ``l`` has independent coordinates whose location and scale move with
``c``, and ``M`` is a fixed unit lower-triangular band (``x_i = l_i + 0.6 l_(i-1) + 0.3 l_(i-2)``),
so ``det M = 1`` and ``log p(x | c) = sum_i log p_i(l_i | c)`` exactly. The kinds differ in
``p_i``:

- ``smooth``: normal — nothing hard;
- ``kink``: Laplace — the density is continuous, its derivative jumps at the mode (a
  second-order discontinuity);
- ``step``: a shifted exponential — the density jumps from zero at its edge (a first-order
  discontinuity, like an energy that cannot be negative);
- ``submanifold``: coordinates ``i`` and ``i + D/2`` (a layer's count and energy) are both
  inside ``[0, w]`` (``w`` = :data:`SLIVER`: an empty layer, dequantised) with a probability that
  depends on ``c``, otherwise both are ``w`` + exponentials — the data lie on a thin slab
  around a lower-dimensional subspace for part of the time, with jumps at its faces.

Because the log-density is known, a fitted flow ``q`` is scored by ``KL(p || q) = E_p[log p -
log q]`` on fresh samples, in nats per sample: zero for a perfect fit, with no binning and no
classifier. See ``benchmarks/flow_size_study.py`` and docs/flow-size-study.md.

Example:
    >>> toy = ToyDensity("step", dim=6, seed=0)
    >>> x, c = toy.sample(1000, seed=1)
    >>> x.shape, c.shape, bool(np.isfinite(toy.log_prob(x, c)).all())
    ((1000, 6), (1000, 1), True)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["KINDS", "SLIVER", "ToyDensity"]

#: The toy kinds, from easy to hard.
KINDS = ("smooth", "kink", "step", "submanifold")
#: Width of the "empty layer" box of the ``submanifold`` toy (dequantisation's sliver).
SLIVER = 0.01
#: The band of the mixing matrix: x_i = l_i + 0.6 l_(i-1) + 0.3 l_(i-2).
BAND = (0.6, 0.3)


class ToyDensity:
    """One toy conditional density ``p(x | c)`` (see the module docstring).

    Args:
        kind: one of :data:`KINDS`.
        dim: the number of coordinates (even for ``submanifold``).
        seed: draws the toy's per-coordinate parameters (the same seed, the same toy).
    """

    def __init__(self, kind: str, dim: int = 60, seed: int = 0):
        if kind not in KINDS:
            raise ValueError(f"toy kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if dim < 2 or (kind == "submanifold" and dim % 2):
            raise ValueError(f"dim must be at least 2 (and even for submanifold), got {dim}")
        self.kind, self.dim = kind, int(dim)
        rng = np.random.default_rng(seed)
        self.location = rng.uniform(-0.5, 0.5, dim), rng.uniform(-1.0, 1.0, dim)
        self.log_scale = np.log(rng.uniform(0.3, 0.8, dim)), rng.uniform(-0.5, 0.5, dim)
        half = dim // 2
        self.empty_logit = rng.uniform(-2.0, 0.0, half), rng.uniform(-1.5, 1.5, half)
        mixing = np.eye(dim)
        for offset, weight in enumerate(BAND, start=1):
            mixing += weight * np.eye(dim, k=-offset)
        self.mixing = mixing
        self.unmixing = np.linalg.inv(mixing)

    # ------------------------------------------------------------------ per-coordinate parameters
    def _mu_sigma(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (a, b), (s, d) = self.location, self.log_scale
        return a + b * c, np.exp(s + d * c)

    def _empty_probability(self, c: np.ndarray) -> np.ndarray:
        alpha, beta = self.empty_logit
        return 1.0 / (1.0 + np.exp(-(alpha + beta * c)))

    # ------------------------------------------------------------------ the density
    def sample(self, n: int, seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws: ``x`` ``(n, dim)`` and their conditions ``c`` ``(n, 1)``, uniform in ``[0, 1]``."""
        rng = np.random.default_rng(seed)
        c = rng.uniform(0.0, 1.0, (n, 1))
        mu, sigma = self._mu_sigma(c)
        if self.kind == "smooth":
            latent = mu + sigma * rng.standard_normal((n, self.dim))
        elif self.kind == "kink":
            latent = mu + sigma / math.sqrt(2.0) * rng.laplace(size=(n, self.dim))
        elif self.kind == "step":
            latent = mu - sigma + sigma * rng.exponential(size=(n, self.dim))
        else:
            half = self.dim // 2
            empty = rng.uniform(size=(n, half)) < self._empty_probability(c)
            empty = np.concatenate([empty, empty], 1)
            full = SLIVER + sigma * rng.exponential(size=(n, self.dim))
            latent = np.where(empty, rng.uniform(0.0, SLIVER, (n, self.dim)), full)
        return latent @ self.mixing.T, c

    def log_prob(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``(n,)`` exact ``log p(x | c)`` (``-inf`` outside the support)."""
        x, c = np.asarray(x, dtype=np.float64), np.asarray(c, dtype=np.float64).reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.dim or len(x) != len(c):
            shapes = f"{x.shape}, {c.shape}"
            raise ValueError(f"x must have shape (n, {self.dim}) with one c per row, got {shapes}")
        latent = x @ self.unmixing.T
        mu, sigma = self._mu_sigma(c)
        with np.errstate(divide="ignore"):
            if self.kind == "smooth":
                z = (latent - mu) / sigma
                terms = -0.5 * z**2 - np.log(sigma) - 0.5 * math.log(2 * math.pi)
            elif self.kind == "kink":
                b = sigma / math.sqrt(2.0)
                terms = -np.abs(latent - mu) / b - np.log(2 * b)
            elif self.kind == "step":
                u = (latent - (mu - sigma)) / sigma
                terms = np.where(u >= 0, -u - np.log(sigma), -np.inf)
            else:
                return self._submanifold_log_prob(latent, c, sigma)
        return terms.sum(1)

    def _submanifold_log_prob(self, latent: np.ndarray, c: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        half = self.dim // 2
        q = self._empty_probability(c)
        inside = (latent >= 0) & (latent <= SLIVER)
        u = (latent - SLIVER) / sigma
        with np.errstate(divide="ignore"):
            full = np.where(u > 0, -u - np.log(sigma), -np.inf)
            both_empty = inside[:, :half] & inside[:, half:]
            empty_term = np.where(both_empty, np.log(q) - 2 * math.log(SLIVER), -np.inf)
            full_term = np.log1p(-q) + full[:, :half] + full[:, half:]
        return np.logaddexp(empty_term, full_term).sum(1)
