"""The internal angle: a shower's direction from an energy-weighted PCA of its hit cells.

As in the CaloClouds3 paper (section 4.3), the reconstructed direction is the first principal
component of the hit cells' positions, each weighted by its energy; comparing it with the true
incident direction measures how well a model keeps the shower's orientation. The most energetic
cells trace the core, so a PCA of only the top few per cent of them (the paper: 4 %) points
better than one of all hits, which the soft, wide halo pulls around.

All functions work on flattened cells of many showers at once (``shower_index`` says which
shower each cell belongs to): no Python loop over showers.
"""

from __future__ import annotations

import numpy as np

from ..conditions import angles_from_direction

__all__ = ["principal_axis", "energy_rank", "top_energy_mask", "angular_errors", "MIN_HITS"]

#: Fewest cells a PCA is made of: with fewer than 3 the axis of a tiny cluster is mostly noise.
MIN_HITS = 3


def principal_axis(
    shower_index: np.ndarray,
    position_mm: np.ndarray,
    weight: np.ndarray,
    n_showers: int,
    outward: np.ndarray | None = None,
    min_hits: int = 2,
):
    """First principal component of each shower's energy-weighted cell positions.

    Args:
        shower_index: ``(C,)`` shower of each cell.
        position_mm: ``(C, 3)`` cell centres ``(x, y, depth)`` in mm in the local frame (or any
            frame, with ``outward``).
        weight: ``(C,)`` cell energies, MeV.
        n_showers: number of showers ``N``.
        outward: ``(N, 3)`` the direction each axis is to point along (default: into the
            calorimeter, ``z > 0``).
        min_hits: showers with fewer cells get NaN.

    Returns:
        ``(N, 3)`` unit axes; NaN for showers with fewer than ``min_hits`` cells.
    """
    total = np.bincount(shower_index, weight, n_showers).astype(np.float64)
    safe = np.where(total > 0, total, 1.0)
    mean = np.stack([np.bincount(shower_index, weight * position_mm[:, k], n_showers) for k in range(3)], 1)
    mean = mean / safe[:, None]
    # Centre first: the depth is ~100 mm, its spread ~30 mm, and second moments about the origin
    # would lose digits in the subtraction.
    centred = position_mm - mean[shower_index]
    covariance = np.empty((n_showers, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            c = np.bincount(shower_index, weight * centred[:, i] * centred[:, j], n_showers) / safe
            covariance[:, i, j] = covariance[:, j, i] = c
    _, vectors = np.linalg.eigh(covariance)
    axis = vectors[:, :, -1]  # eigh sorts eigenvalues ascending: the last is the largest
    along = axis[:, 2] if outward is None else np.sum(axis * outward, axis=1)
    axis *= np.where(along < 0, -1.0, 1.0)[:, None]
    hits = np.bincount(shower_index, minlength=n_showers)
    axis[hits < min_hits] = np.nan
    return axis


def energy_rank(shower_index: np.ndarray, energy: np.ndarray, n_showers: int):
    """Rank of each cell by energy within its shower (0 = most energetic), and cells per shower.

    Returns ``(rank (C,), counts (N,))``; ties are broken by the cells' order.
    """
    counts = np.bincount(shower_index, minlength=n_showers)
    order = np.lexsort((-energy, shower_index))
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(energy), dtype=np.int64)
    rank[order] = np.arange(len(energy)) - starts[shower_index[order]]
    return rank, counts


def top_energy_mask(shower_index: np.ndarray, energy: np.ndarray, fraction: float, n_showers: int, rank=None):
    """``(C,)`` True for each shower's most energetic cells: the top ``fraction`` of its cells.

    A shower keeps ``max(ceil(fraction * n_cells), MIN_HITS)`` cells (all of them if it has
    fewer). Pass ``rank`` (from :func:`energy_rank`) to scan many fractions with one sort.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    rank, counts = rank if rank is not None else energy_rank(shower_index, energy, n_showers)
    keep = np.maximum(np.ceil(fraction * counts - 1e-9).astype(np.int64), MIN_HITS)
    return rank < keep[shower_index]


def angular_errors(axis: np.ndarray, direction: np.ndarray) -> dict[str, np.ndarray]:
    """Angle between reconstructed and true directions, and its θ and φ parts, in degrees.

    θ and φ are the global polar and azimuthal angles of the CaloClouds3 / ILD convention
    (:func:`calozoo.conditions.angles_from_direction`: θ to the beam, φ about it).

    Args:
        axis: ``(N, 3)`` reconstructed unit axes (NaN where unknown).
        direction: ``(N, 3)`` true unit directions.

    Returns:
        ``"angle"`` (``(N,)``, in ``[0, 90]`` since a PCA axis has no sign), ``"theta"`` and
        ``"phi"`` (``(N,)`` signed differences, φ wrapped to ``[-180, 180)``).
    """
    cosine = np.abs(np.sum(axis * direction, axis=1))
    angle = np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0)))
    theta, phi = angles_from_direction(axis)
    theta_true, phi_true = angles_from_direction(direction)
    dphi = (phi - phi_true + 180.0) % 360.0 - 180.0
    return {"angle": angle, "theta": theta - theta_true, "phi": dphi}
