"""The generic layered geometry: a planar stack of sensitive layers under one square cell grid.

This is the regularised detector of the CaloClouds papers in its simplest form (aligned cells,
no gaps, no staggering). Real detectors (the ILD barrel with its dead regions and staggered
slabs) subclass or replace it in geometry plugins; the per-cell summation here is shared.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .interfaces import CellHits, EnergyLosses, Geometry, check_training_points, warn_missing_layers
from .showers import Showers, layer_index, tilt_xy_mm

__all__ = ["PlanarGeometry", "cell_sums", "pad_cell_hits", "sum_per_shower"]

# Cell ids pack (layer, ix, iy) into one int64: 20 bits per transverse index, offset to be >= 0.
_INDEX_BITS = 20
_INDEX_OFFSET = 1 << (_INDEX_BITS - 1)


def cell_sums(shower_index: np.ndarray, cell_key: np.ndarray, energy: np.ndarray):
    """Sum ``energy`` over equal ``(shower_index, cell_key)`` pairs (keys must be >= 0).

    Returns ``(shower_index, cell_key, summed_energy)`` of the distinct pairs, sorted by shower
    then key. Vectorised: one sort, no Python loop over showers or cells.
    """
    if len(cell_key) and cell_key.min() < 0:
        raise ValueError("cell keys must be non-negative")
    key_bits = int(cell_key.max()).bit_length() if len(cell_key) else 0
    shower_bits = int(shower_index.max()).bit_length() if len(shower_index) else 0
    if key_bits + shower_bits <= 62:
        # One argsort on a packed int64 is ~5x faster than a two-key lexsort.
        order = np.argsort((shower_index.astype(np.int64) << key_bits) | cell_key)
    else:
        order = np.lexsort((cell_key, shower_index))
    s, k, e = shower_index[order], cell_key[order], energy[order]
    new = np.ones(len(s), dtype=bool)
    new[1:] = (s[1:] != s[:-1]) | (k[1:] != k[:-1])
    starts = np.flatnonzero(new)
    return s[starts], k[starts], np.add.reduceat(e, starts) if len(e) else e


def pad_cell_hits(
    showers: Showers,
    shower_index: np.ndarray,
    cell_id: np.ndarray,
    xyz: np.ndarray,
    energy: np.ndarray,
    losses: EnergyLosses | None = None,
) -> CellHits:
    """Pad per-cell results, sorted by shower, into :class:`CellHits` for ``showers``.

    Args:
        showers: the projected showers (their conditions are copied).
        shower_index: ``(M,)`` shower of each hit cell, non-decreasing.
        cell_id: ``(M,)`` int64 cell ids.
        xyz: ``(M, 3)`` cell centre: ``x, y`` in mm relative to the incident point, ``z`` = layer + 0.5.
        energy: ``(M,)`` cell energies, MeV.
        losses: the energy lost per shower and cause (:class:`~calozoo.interfaces.EnergyLosses`).
    """
    n = len(showers)
    counts = np.bincount(shower_index, minlength=n)
    width = int(counts.max()) if n else 0
    slot = np.arange(len(shower_index)) - np.repeat(np.cumsum(counts) - counts, counts)
    points = np.zeros((n, width, 4), dtype=np.float32)
    points[shower_index, slot, :3] = xyz
    points[shower_index, slot, 3] = energy
    ids = np.full((n, width), -1, dtype=np.int64)
    ids[shower_index, slot] = cell_id
    cells = Showers(points, counts, showers.incident_energy_gev, showers.direction, showers.pdg, "layer")
    return CellHits(cells, ids, losses)


def _incident_points(incident_point_mm, n: int, name: str) -> np.ndarray:
    """``(n, 2)`` incident points on the front face from ``None``, ``(2,)``, ``(3,)`` or ``(n, 2|3)``."""
    if incident_point_mm is None:
        return np.zeros((n, 2))
    point = np.asarray(incident_point_mm, dtype=np.float64)
    if point.ndim == 1:
        point = np.broadcast_to(point, (n, len(point)))
    if point.ndim != 2 or point.shape[0] != n or point.shape[1] not in (2, 3):
        raise ValueError(
            f"{name}: incident_point_mm must be (2,), (3,), (N, 2) or (N, 3) for N = {n} "
            f"showers, got {np.shape(incident_point_mm)}"
        )
    if not np.all(np.isfinite(point)):
        raise ValueError(f"{name}: incident_point_mm contains NaN or infinite values")
    if point.shape[1] == 3 and np.any(point[:, 2] != 0):
        raise ValueError(
            f"{name}: the incident point must lie on the front face (z = 0), got z = "
            f"{np.unique(point[:, 2])[:3].tolist()} mm"
        )
    return point[:, :2]


def sum_per_shower(shower_index: np.ndarray, energy: np.ndarray, n: int) -> np.ndarray:
    """``(n,)`` float64 sums of ``energy`` per shower (zeros for showers with nothing)."""
    return np.bincount(shower_index, weights=energy, minlength=n).astype(np.float64, copy=False)


class PlanarGeometry(Geometry):
    """Parallel sensitive layers, each covered by the same square cell grid, nothing dead.

    Args:
        layer_depth_mm: depth of each sensitive layer's centre behind the front face, mm.
        cell_size_mm: side of the square cells, mm (ILD: 5.08833).
        threshold_mev: cells below this energy are dropped (ILD: 0.1 MeV, half a MIP).
        name: the registered name.

    Points in layer units (``z`` in ``[i, i + 1)`` for layer ``i``, tilt removed) get the tilt of
    their layer back (``depth_i * (p_x / p_z, p_y / p_z)``), are moved to the incident point
    ``(x, y)`` on the front face (default ``(0, 0)``; a third coordinate, if given, must be 0) and
    are summed onto cell centres at ``z = i + 0.5``; the cell grid has a cell edge at ``x = y = 0``.
    Cell hits come back relative to the incident point, as every geometry returns them.

    Example:
        >>> geo = PlanarGeometry([3.0, 9.0], cell_size_mm=5.0)
        >>> s = Showers.from_point_lists([np.array([[1., 1., 0.2, 1.], [2., 4., 0.7, 2.]])], [1.0])
        >>> geo.project(s).showers.shower(0).tolist()
        [[2.5, 2.5, 0.5, 3.0]]
    """

    def __init__(self, layer_depth_mm, cell_size_mm: float, threshold_mev: float = 0.0, name: str = "planar"):
        depth = np.asarray(layer_depth_mm, dtype=np.float64)
        if depth.ndim != 1 or depth.size == 0 or np.any(np.diff(depth) <= 0):
            raise ValueError("layer_depth_mm must be a non-empty, strictly increasing 1-d sequence (mm)")
        if not cell_size_mm > 0:
            raise ValueError(f"cell_size_mm must be positive, got {cell_size_mm}")
        if not threshold_mev >= 0:
            raise ValueError(f"threshold_mev must be >= 0, got {threshold_mev}")
        self._depth = depth
        self.cell_size_mm = float(cell_size_mm)
        self._threshold = float(threshold_mev)
        self.name = name

    @property
    def n_layers(self) -> int:
        return len(self._depth)

    @property
    def layer_depth_mm(self) -> np.ndarray:
        return self._depth.copy()

    @property
    def threshold_mev(self) -> float:
        return self._threshold

    def get_config(self) -> dict[str, Any]:
        return {
            "layer_depth_mm": self._depth.tolist(),
            "cell_size_mm": self.cell_size_mm,
            "threshold_mev": self._threshold,
            "name": self.name,
        }

    def cell_centre_mm(self, cell_id) -> np.ndarray:
        """``(..., 3)`` cell centres ``(x, y, depth of the layer)`` in mm (the front face at depth 0,
        the grid's origin at ``x = y = 0``); NaN for ``-1``.

        >>> geo = PlanarGeometry([3.0, 9.0], cell_size_mm=5.0)
        >>> hits = geo.project(Showers.from_point_lists([np.array([[1., 1., 1.2, 1.]])], [1.0]))
        >>> geo.cell_centre_mm(hits.cell_id[0]).tolist()
        [[2.5, 2.5, 9.0]]
        """
        key = np.asarray(cell_id, dtype=np.int64)
        valid = key >= 0
        key = np.where(valid, key, 0)
        mask_bits = (1 << _INDEX_BITS) - 1
        layer = np.clip(key >> (2 * _INDEX_BITS), 0, self.n_layers - 1)
        centre = np.stack(
            [
                (((key >> _INDEX_BITS) & mask_bits) - _INDEX_OFFSET + 0.5) * self.cell_size_mm,
                ((key & mask_bits) - _INDEX_OFFSET + 0.5) * self.cell_size_mm,
                self._depth[layer],
            ],
            axis=-1,
        )
        return np.where(valid[..., None], centre, np.nan)

    def project(self, showers: Showers, incident_point_mm=None) -> CellHits:
        """Re-apply the tilt, place at the incident point, sum energies per cell, apply the threshold.

        Only points in layer units are accepted. Points outside ``[0, n_layers)`` in depth have no
        cell: their energy is ``losses.outside_layers_mev`` (with a
        :class:`~calozoo.interfaces.MissingLayersWarning`); cells below the threshold are
        ``losses.below_threshold_mev``. Nothing is dead and the grid is unbounded (up to
        ``2**19`` cells from the origin, beyond which energy is ``losses.outside_mev``), so
        ``dead_mev`` is zero.
        """
        check_training_points(self, showers)
        origin = _incident_points(incident_point_mm, len(showers), self.name)
        points, shower_index = showers.flat()
        x, y, z, e = points.astype(np.float64).T
        layer = np.floor(z).astype(np.int64)
        axis = tilt_xy_mm(showers.direction[shower_index], self._depth[layer_index(z, self.n_layers)])
        x = x + axis[:, 0] + origin[shower_index, 0]
        y = y + axis[:, 1] + origin[shower_index, 1]
        ix = np.floor(x / self.cell_size_mm).astype(np.int64)
        iy = np.floor(y / self.cell_size_mm).astype(np.int64)
        in_layers = (layer >= 0) & (layer < self.n_layers)
        on_grid = (np.abs(ix) < _INDEX_OFFSET) & (np.abs(iy) < _INDEX_OFFSET)
        inside = in_layers & on_grid
        n = len(showers)
        outside_layers_mev = sum_per_shower(shower_index[~in_layers], e[~in_layers], n)
        beyond = in_layers & ~on_grid
        outside_mev = sum_per_shower(shower_index[beyond], e[beyond], n)
        key = (layer << (2 * _INDEX_BITS)) | ((ix + _INDEX_OFFSET) << _INDEX_BITS) | (iy + _INDEX_OFFSET)
        s, key, energy = cell_sums(shower_index[inside], key[inside], e[inside])
        keep = energy >= self._threshold
        below_mev = sum_per_shower(s[~keep], energy[~keep], n)
        s, key, energy = s[keep], key[keep], energy[keep]
        losses = EnergyLosses.zeros(
            n, below_threshold_mev=below_mev, outside_layers_mev=outside_layers_mev, outside_mev=outside_mev
        )

        mask_bits = (1 << _INDEX_BITS) - 1
        xyz = np.column_stack(
            [
                # cell centres on the fixed grid, relative to each shower's incident point
                (((key >> _INDEX_BITS) & mask_bits) - _INDEX_OFFSET + 0.5) * self.cell_size_mm - origin[s, 0],
                ((key & mask_bits) - _INDEX_OFFSET + 0.5) * self.cell_size_mm - origin[s, 1],
                (key >> (2 * _INDEX_BITS)) + 0.5,
            ]
        )
        warn_missing_layers(self, showers, losses)
        return pad_cell_hits(showers, s, key, xyz, energy, losses)
