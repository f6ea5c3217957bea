"""The point assembly chain of the CaloClouds family, in plain torch (TorchScript-compatible).

Given per-layer targets (a variant's ``layer_targets``: points and energy per layer) and the
one-step point model's output, these functions build the shower; the Python models and the
exported TorchScript modules (:mod:`.export`) both call them, so the two cannot drift apart.

Points are kept *flat*: all points of a batch in one ``(M, 4)`` tensor, ``owner[m]`` the shower
of point ``m`` (no padding while computing; padded only at the end).
"""

from __future__ import annotations

import torch

__all__ = ["point_owner", "assemble_points", "depth_order", "tilt_shift", "pad_points"]


def point_owner(counts: torch.Tensor) -> torch.Tensor:
    """``owner`` ``(M,)``: the shower of each point for ``M = counts.sum()`` points."""
    return torch.repeat_interleave(torch.arange(counts.shape[0]), counts.sum(1))


def assemble_points(
    features: torch.Tensor,
    owner: torch.Tensor,
    counts: torch.Tensor,
    layer_energy_mev: torch.Tensor,
    within_layer: torch.Tensor | None,
    mean: torch.Tensor,
    std: torch.Tensor,
    widening: float,
    energy_factor: float,
    energy_spread: float = 1.0,
    order: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generated features -> points ``(M, 4)`` (x, y mm; z layer units; e MeV), flat, shower-major.

    Sorts each shower's points by generated ``z``, hands the first ``n_0`` to layer 0, the next
    ``n_1`` to layer 1, and so on; ``z`` becomes ``layer + within_layer`` (``within_layer`` in
    ``[0, 1)``; ``None``: ``z`` is the layer index); ``x, y`` are de-normalised and widened;
    energies are de-normalised (their logarithm times ``energy_spread``: 1 keeps the network's
    spread of point energies), rescaled so each layer sums to the flow's layer energy, and
    multiplied by ``energy_factor``.
    ``order``: that sort, computed by the caller (the ONNX export, whose operator set has no
    stable sort, gives its own for one shower).
    """
    n_showers, n_layers = counts.shape[0], counts.shape[1]
    if order is None:
        order = depth_order(features[:, 2], owner, n_showers)
    f = features[order]
    layer = torch.repeat_interleave(torch.arange(n_layers).repeat(n_showers), counts.reshape(-1))
    x = (f[:, 0] * 2 * std[0] + mean[0]) * widening
    y = (f[:, 1] * 2 * std[1] + mean[1]) * widening
    e = torch.exp((f[:, 3] * 2 * std[3] + mean[3]) * energy_spread)
    group = owner * n_layers + layer
    # scatter_add, not index_add_ (the same sums bit for bit; ONNX export writes it as a sum)
    sums = torch.zeros(n_showers * n_layers, dtype=e.dtype).scatter_add(0, group, e)
    e = e * (layer_energy_mev.reshape(-1)[group] / sums[group].clamp_min(1e-30)) * energy_factor
    base = layer.to(f.dtype)
    if within_layer is None:
        z = base
    else:
        # layer + within can round up to the next layer in float32 (20 + 0.99999994 = 21): keep it inside
        z = torch.minimum(base + within_layer, torch.nextafter(base + 1, base))
    return torch.stack([x, y, z, e], 1)


def depth_order(z: torch.Tensor, owner: torch.Tensor, n_showers: int) -> torch.Tensor:
    """The points sorted by ``z`` inside each shower (``owner`` sorted), ties kept in order.

    One stable sort: on ``z`` alone for one shower; for more, on one int64 key per point, the
    shower in the high 32 bits and ``z``'s float32 bits made order-preserving in the low ones
    (negative floats have their magnitude bits flipped; ``-0.0`` counts as ``0.0``). The same
    order, element for element, as a stable sort on ``z`` followed by one on the owner (which
    is what other dtypes than float32, and TorchScript, get).
    """
    if n_showers <= 1:
        return torch.argsort(z, stable=True)
    if z.dtype != torch.float32 or torch.jit.is_scripting():  # TorchScript cannot view bits
        order = torch.argsort(z, stable=True)
        return order[torch.argsort(owner[order], stable=True)]
    bits = (z + 0.0).view(torch.int32).to(torch.int64)
    bits = torch.where(bits < 0, torch.bitwise_xor(bits, 2147483647), bits)
    return torch.argsort(owner.to(torch.int64) * 4294967296 + bits, stable=True)


def tilt_shift(layer_depth_mm: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """``(B, L, 2)`` shift of each layer's points for showers with ``(B, 3)`` directions.

    At depth ``d`` the trajectory sits at ``d (p_x / p_z, p_y / p_z)`` (:func:`calozoo.showers.tilt_xy_mm`,
    in torch).
    """
    slope = direction[:, :2] / direction[:, 2:3]
    return layer_depth_mm[None, :, None] * slope[:, None, :]


def pad_points(
    points: torch.Tensor, owner: torch.Tensor, n_showers: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat shower-major points -> ``(B, P, 4)`` zero padded, and ``(B,)`` counts."""
    num = torch.bincount(owner, minlength=n_showers)
    width = int(num.max()) if n_showers > 0 and owner.numel() > 0 else 0
    start = torch.cumsum(num, 0) - num
    position = torch.arange(owner.shape[0]) - start[owner]
    out = torch.zeros(n_showers, width, 4, dtype=points.dtype)
    out[owner, position] = points
    return out, num
