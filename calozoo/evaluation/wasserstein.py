"""Wasserstein-1 distances of per-shower observables, as the CaloClouds II paper reports them.

CaloClouds II (Buhmann et al., arXiv:2309.05704) compares models by the Wasserstein-1 distance
between the reference's and the model's distributions of per-shower observables, one number per
observable, and as a curve of distance versus incident energy. Here the 26 observables are:
the number of hit cells, the visible energy, the centre of gravity in x, y and z, the energy in
ten groups of three consecutive layers, the energy in ten rings about the shower axis (each
2.5 cells wide, the last one open), and the mean energy per hit cell.

Each observable is standardised by the reference's mean and standard deviation before the
distance is taken (``scipy.stats.wasserstein_distance``), so the 26 numbers are comparable with
each other and between energies; 0 is identical, 1 is a shift by one standard deviation.
Weighted samples (bootstrap resamples, halves of the reference) use the distance's weights.
"""

from __future__ import annotations

import numpy as np

from .features import ShowerFeatures

__all__ = ["W1_OBSERVABLES", "w1_observables", "wasserstein_distances"]

#: Layers per longitudinal group, and radial rings: the CaloClouds II choice of ten of each.
N_GROUPS = 10
RING_WIDTH_CELLS = 2.5

#: The 26 observables' names, in the order of :func:`w1_observables`' columns.
W1_OBSERVABLES: tuple[str, ...] = (
    "occupancy",
    "visible_energy",
    "cog_x",
    "cog_y",
    "cog_z",
    *[f"energy_layers_{i}" for i in range(N_GROUPS)],
    *[f"energy_ring_{i}" for i in range(N_GROUPS)],
    "mean_cell_energy",
)


def w1_observables(features: ShowerFeatures, cell_size_mm: float) -> np.ndarray:
    """``(N, 26)`` the :data:`W1_OBSERVABLES` of every shower (MeV, cells, mm, layers; NaN set to 0)."""
    n = len(features)
    layers = features.layer_energy_mev
    groups = np.array_split(np.arange(layers.shape[1]), N_GROUPS)
    longitudinal = np.stack([layers[:, g].sum(axis=1) for g in groups], axis=1)
    # the radial profile has one bin per cell width (underflow first, overflow last)
    radial = features.profiles["energy_per_radius"]
    edges = features.profile_edges["energy_per_radius"]
    centres = np.concatenate([[0.0], 0.5 * (edges[1:] + edges[:-1]), [np.inf]])
    # the last ring is open: everything beyond nine rings (the overflow bin included) counts there
    ring = np.minimum(centres / (RING_WIDTH_CELLS * cell_size_mm), N_GROUPS - 1).astype(np.int64)
    rings = np.zeros((n, N_GROUPS))
    for r in range(N_GROUPS):
        rings[:, r] = radial[:, ring == r].sum(axis=1)
    s = features.scalars
    occupancy = s["occupancy"]
    mean_cell = np.divide(s["visible_energy"], occupancy, out=np.zeros(n), where=occupancy > 0)
    columns = [occupancy, s["visible_energy"], s["cog_x"], s["cog_y"], s["cog_z"]]
    matrix = np.column_stack([*columns, longitudinal, rings, mean_cell])
    return np.nan_to_num(matrix, nan=0.0)


def wasserstein_distances(
    reference: np.ndarray,
    generated: np.ndarray,
    reference_weights: np.ndarray | None = None,
    generated_weights: np.ndarray | None = None,
    scale: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``(F,)`` the Wasserstein-1 distance of each column, after standardising by the reference.

    The same number as ``scipy.stats.wasserstein_distance`` column by column (the tests check
    it), computed as the area between the two weighted empirical CDFs with one sort per column,
    and for ``K`` sets of weights at once: the floors need hundreds of weighted resamples.

    Args:
        reference: ``(N₁, F)`` per-shower observables.
        generated: ``(N₂, F)`` the same columns.
        reference_weights, generated_weights: ``(N,)`` or ``(K, N)`` weights of the showers
            (default 1); with ``(K, N)`` the result is ``(K, F)``.
        scale: ``(mean, std)`` to standardise with (default: the reference's unweighted ones).
    """
    mean, std = scale if scale is not None else (reference.mean(axis=0), reference.std(axis=0))
    std = np.where(std > 0, std, 1.0)
    first, second = (reference - mean) / std, (generated - mean) / std
    wa = np.ones(len(first)) if reference_weights is None else np.asarray(reference_weights, np.float64)
    wb = np.ones(len(second)) if generated_weights is None else np.asarray(generated_weights, np.float64)
    batched = wa.ndim == 2 or wb.ndim == 2
    wa, wb = np.atleast_2d(wa), np.atleast_2d(wb)
    wa = wa / wa.sum(axis=1, keepdims=True)
    wb = wb / wb.sum(axis=1, keepdims=True)
    k = max(len(wa), len(wb))
    signed = np.concatenate(
        [np.broadcast_to(wa, (k, wa.shape[1])), -np.broadcast_to(wb, (k, wb.shape[1]))], 1
    )
    out = np.empty((k, first.shape[1]))
    for column in range(first.shape[1]):
        values = np.concatenate([first[:, column], second[:, column]])
        order = np.argsort(values, kind="stable")
        gaps = np.diff(values[order])
        cdf_difference = np.cumsum(signed[:, order], axis=1)[:, :-1]
        out[:, column] = np.abs(cdf_difference) @ gaps
    return out if batched else out[0]
