"""CaloClouds2's own steps of the generation chain, in plain torch (TorchScript-compatible).

The rest — the owner index of flat points, sorting points into layers by their generated depth,
rescaling each layer to its energy, padding — is CaloClouds3's :mod:`calozoo_caloclouds3.chain`.
"""

from __future__ import annotations

import torch

__all__ = ["polyval", "occupancy_correction", "layer_targets", "shift_to_cog"]

N_LAYERS = 30


def polyval(coefficients: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``sum_k c_k x^(K-k)`` — highest power first, as :func:`numpy.polyfit` returns them (Horner)."""
    out = torch.zeros_like(x)
    for k in range(coefficients.shape[0]):
        out = out * x + coefficients[k]
    return out


def occupancy_correction(n: torch.Tensor, poly_real: torch.Tensor, poly_fake: torch.Tensor) -> torch.Tensor:
    """``g(N) = poly_fake(poly_real(N))``: points to generate for a shower whose flow says ``N``.

    ``poly_real`` maps a reference shower's points to its hit cells after projection, ``poly_fake``
    maps hit cells to the points the model needs to produce that many (the calibrator fits both).
    """
    return polyval(poly_fake, polyval(poly_real, n)).clamp_min(0.0)


def layer_targets(
    targets: torch.Tensor,
    poly_real: torch.Tensor,
    poly_fake: torch.Tensor,
    points_scale: float = 5000.0,
    visible_scale_mev: float = 2500.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ShowerFlow's 65 outputs -> points ``(B, 30)`` int64 and energy ``(B, 30)`` MeV per layer.

    ``N = g(5000 s_0)`` points are shared out in proportion to the (clipped) layer-count
    fractions, rounded; the visible energy ``2.5 GeV s_1`` in proportion to the layer-energy
    fractions. A layer without energy gets no points (they would be zero-energy points).
    """
    n_layers = (targets.shape[1] - 5) // 2  # from the width: TorchScript cannot read module globals
    t = targets.clamp_min(0.0)
    n = occupancy_correction(t[:, 0] * points_scale, poly_real, poly_fake)
    count_share = t[:, 5 : 5 + n_layers]
    count_share = count_share / count_share.sum(1, keepdim=True).clamp_min(1e-12)
    energy_share = t[:, 5 + n_layers : 5 + 2 * n_layers]
    energy_share = energy_share / energy_share.sum(1, keepdim=True).clamp_min(1e-12)
    energy = energy_share * (t[:, 1:2] * visible_scale_mev)
    counts = torch.floor(count_share * n[:, None] + 0.5).to(torch.int64)
    counts = torch.where(energy > 0, counts, torch.zeros_like(counts))
    return counts, energy


def shift_to_cog(points: torch.Tensor, owner: torch.Tensor, cog_xy: torch.Tensor) -> torch.Tensor:
    """Shift each shower's ``x, y`` so its energy-weighted centre sits at ``cog_xy`` ``(B, 2)`` mm."""
    n_showers = cog_xy.shape[0]
    e = points[:, 3]
    total = torch.zeros(n_showers, dtype=e.dtype).index_add_(0, owner, e).clamp_min(1e-30)
    centre = torch.zeros(n_showers, 2, dtype=e.dtype).index_add_(0, owner, points[:, :2] * e[:, None])
    shift = cog_xy - centre / total[:, None]
    out = points.clone()
    out[:, :2] = points[:, :2] + shift[owner]
    return out
