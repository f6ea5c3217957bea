"""The noise levels and the samplers of :mod:`.pointnet` through diffusers' schedulers.

- :func:`karras_sigmas` — the Karras grid from :class:`diffusers.EDMEulerScheduler`: the same
  ramp and formula in float64, cast to float32, so the same numbers bit for bit as
  :func:`.pointnet.karras_sigmas` (the engine's training and teacher keep using that one).
- :func:`heun_scheduler`, :func:`heun_sample` — the teacher's sampler driven by
  :class:`diffusers.HeunDiscreteScheduler`'s ``step``: Heun on the Karras grid, then an Euler
  step from ``sigma_min`` to 0, which is the plain sampler's final denoise at ``sigma_min`` up to
  rounding.
- :func:`multistep_sample` — the consistency models' multistep sampler
  (:class:`.pointnet.MultiStep`) with its noise drawn per shower. It is plain torch, not
  :class:`diffusers.CMStochasticIterativeScheduler`: that scheduler draws the noise inside
  ``step`` from one generator for the whole tensor, so a shower's noise would depend on the
  batch (see docs/engine.md, "Noise schedules and samplers"). The tests check it against that
  scheduler given the same noise.

Shapes as in :mod:`.pointnet`: points ``(B, N, 4)`` for the teacher, flat ``(M, 4)`` with a sorted
``owner`` for the student.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers import EDMEulerScheduler, HeunDiscreteScheduler

from .model import per_shower_normal
from .pointnet import RHO, SIGMA_DATA, SIGMA_MAX, SIGMA_MIN, Denoiser, MultiStep, PointwiseNet

__all__ = [
    "karras_sigmas",
    "heun_scheduler",
    "heun_sample",
    "MultiStep",
    "multistep_noise",
    "multistep_sample",
]


def karras_sigmas(
    n: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO
) -> torch.Tensor:
    """The ``n`` Karras noise levels from ``sigma_max`` down to ``sigma_min``, float32, from diffusers."""
    scheduler = EDMEulerScheduler(sigma_min=sigma_min, sigma_max=sigma_max, sigma_data=SIGMA_DATA, rho=rho)
    scheduler.set_timesteps(n)
    return scheduler.sigmas[:-1]  # the scheduler appends the final sigma = 0


def heun_scheduler(
    steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX
) -> HeunDiscreteScheduler:
    """A :class:`~diffusers.HeunDiscreteScheduler` on the ``steps`` Karras levels, for an ``x_0`` model.

    The scheduler has no ``sigma_min`` / ``sigma_max`` arguments: without them its Karras grid
    spans its DDPM betas' noise levels (0.029 to 25.1 by default). Its Karras conversion reads
    them from the config when they are there, so they are registered on it (``rho`` is fixed at
    7 in that conversion). ``prediction_type="sample"``: the model hands it ``D(x; sigma)``.
    ``set_begin_index(0)``: its timesteps, mapped back onto the betas, repeat for levels outside
    the betas' range, and a lookup by value would pick the wrong step.
    """
    scheduler = HeunDiscreteScheduler(use_karras_sigmas=True, prediction_type="sample")
    scheduler.register_to_config(sigma_min=float(sigma_min), sigma_max=float(sigma_max))
    scheduler.set_timesteps(steps)
    scheduler.set_begin_index(0)
    return scheduler


@torch.no_grad()
def heun_sample(
    denoiser: Denoiser, cond: torch.Tensor, n_points: int, generator: torch.Generator, steps: int = 18
) -> torch.Tensor:
    """:func:`.pointnet.heun_sample` through diffusers: ``(B, n_points, 4)``, the same noise.

    The scheduler's ``sigmas`` hold every model evaluation's level in order
    (``s_0, s_1, s_1, ..., s_(n-1), s_(n-1), 0``: Heun's two evaluations per step, then the
    Euler step to 0), so step ``i`` evaluates the denoiser at ``sigmas[i]``.
    """
    scheduler = heun_scheduler(steps)
    x = torch.randn(len(cond), n_points, 4, generator=generator) * scheduler.init_noise_sigma
    ones = torch.ones(len(cond))
    for i, t in enumerate(scheduler.timesteps):
        x = scheduler.step(denoiser(x, scheduler.sigmas[i] * ones, cond), t, x).prev_sample
    return x


def multistep_noise(generators: list[torch.Generator], counts, levels: int) -> torch.Tensor | None:
    """The ``(levels - 1, M, 4)`` extra noise of :class:`.pointnet.MultiStep`, level by level per shower.

    Shower ``i``'s rows come from ``generators[i]`` only, after whatever it drew before, so its
    noise does not depend on the batch; ``None`` for one level.
    """
    if levels <= 1:
        return None
    return torch.stack([per_shower_normal(generators, counts, 4) for _ in range(levels - 1)])


@torch.no_grad()
def multistep_sample(
    net: PointwiseNet,
    cond: torch.Tensor,
    counts: Sequence[int],
    generators: list[torch.Generator],
    sigmas: Sequence[float] = (SIGMA_MAX, 0.8),
    row_block: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The student at ``sigmas`` for ``counts[i]`` points of shower ``i``: ``(M, 4)`` points and ``owner``.

    Each shower draws its starting noise, then one ``(counts[i], 4)`` block per further level,
    from its own generator, so its noise does not depend on the batch; with ``row_block > 0``
    (:data:`~.pointnet.ROW_BLOCK`) neither does its rounding, and its points are bit-identical in
    any batch. With ``sigmas = (80,)`` it is :class:`.pointnet.OneStep` on
    :func:`~.model.per_shower_normal` noise.
    """
    counts = [int(n) for n in counts]
    noise = per_shower_normal(generators, counts, 4)
    extra = multistep_noise(generators, counts, len(sigmas))
    owner = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts, dtype=torch.long))
    return MultiStep(net, tuple(sigmas), row_block=row_block)(noise, owner, cond, extra), owner
