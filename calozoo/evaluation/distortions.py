"""Deliberately distorted copies of showers: what each observable should catch.

Evaluating a reference against a distorted copy of an independent reference sample shows, before
any model is trained, which observables see which kind of mistake and how far above the
statistical floor they go. Each function returns a new :class:`~calozoo.showers.Showers` and
works on training points and on cell hits alike.

>>> import numpy as np
>>> from calozoo.showers import Showers
>>> s = Showers.from_point_lists([np.array([[0.0, 0.0, 0.5, 1.0], [1.0, 0.0, 1.5, 2.0]])], [10.0])
>>> scale_energies(s, 1.05).points[0, :, 3].astype(float).round(3).tolist()
[1.05, 2.1]
>>> empty_layer(s, 1).num_points.tolist()
[1]
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..showers import Showers

__all__ = ["scale_energies", "shift_points", "empty_layer", "thin_hits"]


def _rebuild(showers: Showers, keep: np.ndarray) -> Showers:
    """Keep the points where ``keep`` ``(N, P)`` is True, packed to the front of each shower."""
    keep = keep & showers.padding_mask
    s = showers
    return Showers.from_flat(
        s.points[keep], np.nonzero(keep)[0], s.incident_energy_gev, s.direction, s.pdg, s.z_units
    )


def scale_energies(showers: Showers, factor: float) -> Showers:
    """Every point (or cell) energy times ``factor``: a miscalibrated energy scale."""
    points = showers.points.copy()
    points[..., 3] *= factor
    return replace(showers, points=points)


def shift_points(showers: Showers, dx_mm: float = 0.0, dy_mm: float = 0.0) -> Showers:
    """Every point moved by ``(dx, dy)`` mm in the layer plane: a misplaced shower."""
    points = showers.points.copy()
    mask = showers.padding_mask
    points[..., 0][mask] += dx_mm
    points[..., 1][mask] += dy_mm
    return replace(showers, points=points)


def empty_layer(showers: Showers, layer: int) -> Showers:
    """Every point of layer ``layer`` removed (``z`` in layer units): a dead layer."""
    if showers.z_units != "layer":
        raise ValueError(f"empty_layer needs z in layer units, got z in {showers.z_units}")
    return _rebuild(showers, np.floor(showers.points[..., 2]) != layer)


def thin_hits(showers: Showers, fraction: float, seed: int = 0) -> Showers:
    """A random ``fraction`` of the points (or cells) removed: too few hits."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    return _rebuild(showers, rng.random(showers.points.shape[:2]) >= fraction)
