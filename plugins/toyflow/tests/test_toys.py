"""The toy densities of the flow-size study: their samples follow their exact log-densities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from calozoo_toyflow.toys import KINDS, SLIVER, ToyDensity


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_toy_and_draws(kind):
    a, b, other = ToyDensity(kind, 8, seed=3), ToyDensity(kind, 8, seed=3), ToyDensity(kind, 8, seed=4)
    xa, ca = a.sample(50, seed=1)
    xb, cb = b.sample(50, seed=1)
    assert np.array_equal(xa, xb) and np.array_equal(ca, cb)
    assert not np.allclose(a.log_prob(xa, ca), other.log_prob(xa, ca))
    assert not np.array_equal(xa, a.sample(50, seed=2)[0])


@pytest.mark.parametrize("kind", ["smooth", "kink", "step"])
def test_density_integrates_to_one_in_two_dimensions(kind):
    toy = ToyDensity(kind, 2, seed=0)
    grid = np.linspace(-12, 12, 1201)
    step = grid[1] - grid[0]
    gx, gy = np.meshgrid(grid, grid, indexing="ij")
    x = np.stack([gx.ravel(), gy.ravel()], 1)
    for c in (0.1, 0.8):
        total = np.exp(toy.log_prob(x, np.full(len(x), c))).sum() * step**2
        assert total == pytest.approx(1.0, abs=0.01)


def test_submanifold_puts_the_empty_share_in_the_box():
    toy = ToyDensity("submanifold", 2, seed=0)
    c = 0.3
    q = float(toy._empty_probability(np.array([[c]]))[0, 0])
    # the box [0, w]^2 (M maps it to a thin parallelogram): density q / w^2 on it
    inside = np.array([[0.5 * SLIVER, 0.5 * SLIVER + 0.6 * 0.5 * SLIVER]])
    assert toy.log_prob(inside, [c])[0] == pytest.approx(math.log(q) - 2 * math.log(SLIVER))
    x, cs = toy.sample(200_000, seed=5)
    latent = x @ toy.unmixing.T
    empty = (latent <= SLIVER).all(1)
    expected = toy._empty_probability(cs)[:, 0].mean()
    assert empty.mean() == pytest.approx(expected, abs=4 * math.sqrt(expected / len(x)))
    # one coordinate empty and the other not: outside the support
    assert np.isneginf(toy.log_prob(np.array([[0.5 * SLIVER, 1.0]]), [c]))[0]


def test_samples_score_their_entropy_in_sixty_dimensions():
    """E_p[log p] = -H: the Gaussian toy's entropy is known, so sampling and log_prob agree
    (including the mixing matrix's unit determinant)."""
    toy = ToyDensity("smooth", 60, seed=0)
    x, c = toy.sample(40_000, seed=1)
    log_p = toy.log_prob(x, c)
    _, sigma = toy._mu_sigma(c)
    entropy = (0.5 * np.log(2 * math.pi * math.e * sigma**2)).sum(1).mean()
    assert log_p.mean() == pytest.approx(-entropy, abs=4 * log_p.std() / math.sqrt(len(x)))


@pytest.mark.parametrize("kind", KINDS)
def test_every_draw_is_inside_the_support(kind):
    toy = ToyDensity(kind, 60, seed=2)
    x, c = toy.sample(2000, seed=0)
    assert np.isfinite(toy.log_prob(x, c)).all()


def test_step_toy_has_no_density_below_its_edge():
    toy = ToyDensity("step", 2, seed=0)
    assert np.isneginf(toy.log_prob(np.array([[-50.0, 0.0]]), [0.5]))[0]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="toy kind must be one of smooth, kink, step, submanifold"):
        ToyDensity("gaussian")
    with pytest.raises(ValueError, match="even for submanifold"):
        ToyDensity("submanifold", 7)
    toy = ToyDensity("smooth", 4)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 4\)"):
        toy.log_prob(np.zeros((3, 5)), np.zeros(3))
