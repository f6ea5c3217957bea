"""Per-layer summaries of point clouds, and point clouds from per-layer counts (shared by both toys).

Both toy models describe a shower layer by layer: how many points each of the 30 layers holds,
how much visible energy (MeV) it carries, and how far from the shower axis its points lie. This
module turns point clouds into those summaries (for training) and summaries back into point
clouds (for generation), so the two models place their points in exactly the same way.

Points follow calozoo's training-point convention: ``x, y`` are measured from the incident
trajectory in each layer (the tilt of inclined showers removed), so the shower axis sits at
``x = y = 0`` in every layer; projection into a geometry puts the tilt back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from calozoo.showers import Showers, layer_index

__all__ = ["layer_summaries", "radial_distances_mm", "point_owners", "per_shower_draws", "build_showers"]


def layer_summaries(showers: Showers, n_layers: int) -> tuple[np.ndarray, np.ndarray]:
    """Point counts and visible energies per layer.

    Args:
        showers: ``N`` showers with ``z`` in layer units (layer ``i`` is ``[i, i + 1)``).
        n_layers: number of layers; points outside ``[0, n_layers)`` join the nearest layer.

    Returns:
        ``counts`` ``(N, n_layers)`` int64 and ``energies_mev`` ``(N, n_layers)`` float64.
    """
    if showers.z_units != "layer":
        raise ValueError(f"showers must have z in layer units, got z in {showers.z_units}")
    return showers.layer_sums(n_layers)


def radial_distances_mm(showers: Showers, n_layers: int) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every real point from its shower's axis (``x = y = 0``, the tilt removed).

    Returns:
        ``layer`` ``(M,)`` int64 layer index and ``radius_mm`` ``(M,)`` float64 for the ``M`` real
        points of all showers.
    """
    real = showers.flat()[0].astype(np.float64)
    return layer_index(real[:, 2], n_layers), np.hypot(real[:, 0], real[:, 1])


def point_owners(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shower and layer index of every point, for ``counts`` ``(B, L)`` points per layer.

    Points come shower by shower and, inside a shower, layer by layer.
    """
    n_showers, n_layers = counts.shape
    cells = np.repeat(np.arange(n_showers * n_layers), counts.reshape(-1))
    return cells // n_layers, cells % n_layers


def per_shower_draws(rngs: list[np.random.Generator], sizes: np.ndarray, uniforms: int, normals: int):
    """Per-point random numbers, each shower's from its own generator, concatenated in point order.

    Shower ``i`` draws ``rngs[i].random((uniforms, sizes[i]))`` then
    ``rngs[i].standard_normal((normals, sizes[i]))``: the numbers of a shower depend on its
    generator alone, not on the other showers of the batch, while the maths on them stays
    vectorised over the batch.

    Returns:
        ``(uniforms, M)`` floats in ``[0, 1)`` and ``(normals, M)`` standard normals for the
        ``M = sizes.sum()`` points.
    """
    u_parts, g_parts = [np.zeros((uniforms, 0))], [np.zeros((normals, 0))]
    for rng, n in zip(rngs, np.asarray(sizes).reshape(-1)):
        u_parts.append(rng.random((uniforms, int(n))))
        g_parts.append(rng.standard_normal((normals, int(n))))
    return np.concatenate(u_parts, axis=1), np.concatenate(g_parts, axis=1)


def build_showers(
    counts: np.ndarray,
    layer_energy_mev: np.ndarray,
    radius_mm: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    point_energy_sigma: float | np.ndarray,
    energy_gev: np.ndarray,
    direction: np.ndarray,
    pdg: np.ndarray,
    rngs: list[np.random.Generator],
) -> Showers:
    """Scatter points into layers so that each layer holds its count and its energy.

    Each point gets a distance from the axis from ``radius_mm``, a uniform azimuth, a uniform
    depth inside its layer and a log-normal energy; the energies of a layer are then rescaled so
    that they add up to ``layer_energy_mev`` exactly (the log-normal only shapes how a layer's
    energy is shared between its points).

    Args:
        counts: ``(B, L)`` non-negative int points per layer.
        layer_energy_mev: ``(B, L)`` non-negative visible energy per layer, MeV (0 where the
            count is 0).
        radius_mm: ``radius_mm(shower_index, layer_index, u)`` -> ``(M,)`` distances from the
            axis in mm for the ``M`` points, from ``u``: ``(2, M)`` uniforms in ``[0, 1)``
            drawn from each point's shower's generator.
        point_energy_sigma: width of the log-normal point energies, a number or ``(L,)``.
        energy_gev, direction, pdg: ``(B,)``, ``(B, 3)``, ``(B,)`` incident conditions.
        rngs: ``B`` generators, shower ``i``'s the only source of its points' randomness
            (:func:`per_shower_draws`: 4 uniforms and 1 normal per point).
    """
    n_showers, n_layers = counts.shape
    shower, layer = point_owners(counts)
    num_points = counts.sum(axis=1)
    u, g = per_shower_draws(rngs, num_points, uniforms=4, normals=1)
    radius = radius_mm(shower, layer, u[:2])
    azimuth = 2.0 * np.pi * u[2]
    depth_in_layer = u[3]
    sigma = np.broadcast_to(np.asarray(point_energy_sigma, dtype=np.float64), (n_layers,))[layer]
    weight = np.exp(sigma * g[0])

    cell = shower * n_layers + layer
    weight_sum = np.bincount(cell, weights=weight, minlength=n_showers * n_layers)
    energy = weight * layer_energy_mev.reshape(-1)[cell] / weight_sum[cell]

    first = np.cumsum(num_points) - num_points  # index of each shower's first point
    slot = np.arange(len(shower)) - first[shower]
    points = np.zeros((n_showers, int(num_points.max(initial=0)), 4), dtype=np.float32)
    points[shower, slot, 0] = radius * np.cos(azimuth)
    points[shower, slot, 1] = radius * np.sin(azimuth)
    # float32 can round layer + 0.99999999 up to layer + 1; keep every point inside its layer.
    z = np.minimum(layer + depth_in_layer, np.nextafter(np.float32(layer + 1), np.float32(0)))
    points[shower, slot, 2] = z
    points[shower, slot, 3] = energy
    return Showers(points, num_points, energy_gev, direction, pdg, z_units="layer")
