"""Per-shower measurements on cell hits: everything the histograms and distances are made of.

A sample is reduced once to :class:`ShowerFeatures`: one number per shower for the shower-level
observables and one small histogram per shower for the profiles. A histogram of any subset of
showers (an energy slice, a bootstrap resample) is then a weighted sum over showers, so slicing
and resampling never touch the cells again.

Positions follow the shower axis: the incident trajectory sits at ``depth_l * (p_x, p_y) / p_z``
at the depth of layer ``l`` (relative to the incident point), so ``x - axis_x`` is the cell's
transverse offset from the axis, whatever the incident angle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..interfaces import CellHits, Geometry
from ..showers import Showers, layer_index, tilt_xy_mm
from .angles import angular_errors, energy_rank, principal_axis, top_energy_mask
from .binning import BinningSettings, fixed_edges, flow_index
from .checks import check_cell_hits, check_layer_column, check_points
from .observables import HIGH_LEVEL_FEATURES, OBSERVABLES

__all__ = [
    "ShowerFeatures",
    "measure_cells",
    "shower_features",
    "measure_file_chunk",
    "measure_on_dask",
    "ANGLE_SCAN_PERCENT",
    "TOP_PERCENT",
]

#: The paper's choice: the PCA of the 4 % most energetic cells points best.
TOP_PERCENT = 4.0
#: Percentages of the most energetic cells scanned for the internal angle.
ANGLE_SCAN_PERCENT = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 100.0)

_PROFILES = tuple(o.name for o in OBSERVABLES if o.kind == "profile")


@dataclass
class ShowerFeatures:
    """Per-shower measurements of one sample of ``N`` showers.

    Attributes:
        incident_energy_gev: ``(N,)`` incident energies, GeV.
        direction: ``(N, 3)`` true unit directions.
        pdg: ``(N,)`` particle ids.
        scalars: name -> ``(N,)``: ``visible_energy`` (MeV), ``occupancy`` (cells), ``cog_x``,
            ``cog_y`` (mm, from the axis), ``cog_z`` (layer units), ``longitudinal_width``
            (layers), ``radial_width`` (mm, energy-weighted rms distance from the axis) and the
            angular errors (degrees; see :mod:`~calozoo.evaluation.angles`); NaN where a shower
            has too few cells.
        profiles: name -> ``(N, B + 2)`` per-shower histogram over the observable's bins with
            the underflow and overflow bins first and last (cells or MeV per bin).
        profile_edges: name -> ``(B + 1,)`` the edges of those histograms.
        angle_scan_deg: ``(N, S)`` angular error using the top ``angle_scan_percent[s]`` % of cells.
        angle_scan_percent: ``(S,)`` the scanned percentages.
        layer_energy_mev: ``(N, L)`` visible energy per layer (also a classifier input).
        layer_occupancy: ``(N, L)`` hit cells per layer.
        cell_grid: ``(N, L, 2k + 1, 2k + 1)`` float32 cell energies (MeV) in a box of cells
            centred on the shower axis in every layer (the low-level classifier's input), or
            ``None`` if it was not asked for (``grid_half_width``).
    """

    incident_energy_gev: np.ndarray
    direction: np.ndarray
    pdg: np.ndarray
    scalars: dict[str, np.ndarray]
    profiles: dict[str, np.ndarray]
    profile_edges: dict[str, np.ndarray]
    angle_scan_deg: np.ndarray
    angle_scan_percent: np.ndarray
    layer_energy_mev: np.ndarray
    layer_occupancy: np.ndarray
    cell_grid: np.ndarray | None = None

    #: The leading columns of :meth:`classifier_inputs` that are incident conditions.
    N_CONDITIONS = 4

    def __len__(self) -> int:
        return len(self.incident_energy_gev)

    def subset(self, index) -> ShowerFeatures:
        """The features of the showers ``index`` (a boolean mask or integer indices)."""
        return ShowerFeatures(
            self.incident_energy_gev[index],
            self.direction[index],
            self.pdg[index],
            {k: v[index] for k, v in self.scalars.items()},
            {k: v[index] for k, v in self.profiles.items()},
            self.profile_edges,
            self.angle_scan_deg[index],
            self.angle_scan_percent,
            self.layer_energy_mev[index],
            self.layer_occupancy[index],
            None if self.cell_grid is None else self.cell_grid[index],
        )

    def high_level(self) -> np.ndarray:
        """``(N, F)`` the :data:`~calozoo.evaluation.observables.HIGH_LEVEL_FEATURES`; NaN set to 0."""
        matrix = np.stack([self.scalars[name] for name, _ in HIGH_LEVEL_FEATURES], axis=1)
        return np.nan_to_num(matrix, nan=0.0)

    def classifier_inputs(self) -> np.ndarray:
        """``(N, 4 + F + 2 L)``: conditions, high-level features, energy and occupancy per layer."""
        return np.concatenate(
            [
                self.incident_energy_gev[:, None],
                self.direction,
                self.high_level(),
                self.layer_energy_mev,
                self.layer_occupancy,
            ],
            axis=1,
        )

    def low_level_inputs(self) -> np.ndarray:
        """``(N, 4 + L (2k + 1)²)``: conditions, then the cell grid over the incident energy (MeV/GeV)."""
        if self.cell_grid is None:
            raise ValueError("no cell grid was measured: measure with grid_half_width (low_level=True)")
        grid = self.cell_grid.reshape(len(self), -1) / self.incident_energy_gev[:, None]
        return np.concatenate([self.incident_energy_gev[:, None], self.direction, grid], axis=1)

    @staticmethod
    def concatenate(parts: Sequence[ShowerFeatures]) -> ShowerFeatures:
        """Join the features of consecutive batches."""
        first = parts[0]
        return ShowerFeatures(
            np.concatenate([p.incident_energy_gev for p in parts]),
            np.concatenate([p.direction for p in parts]),
            np.concatenate([p.pdg for p in parts]),
            {k: np.concatenate([p.scalars[k] for p in parts]) for k in first.scalars},
            {k: np.concatenate([p.profiles[k] for p in parts]) for k in first.profiles},
            first.profile_edges,
            np.concatenate([p.angle_scan_deg for p in parts]),
            first.angle_scan_percent,
            np.concatenate([p.layer_energy_mev for p in parts]),
            np.concatenate([p.layer_occupancy for p in parts]),
            None if first.cell_grid is None else np.concatenate([p.cell_grid for p in parts]),
        )


def _per_shower_histogram(shower_index, values, weights, edges, n_showers) -> np.ndarray:
    """``(N, B + 2)`` histogram of ``values`` per shower, flow bins included."""
    width = len(edges) + 1
    index = shower_index * width + flow_index(edges, values)
    return np.bincount(index, weights, n_showers * width).reshape(n_showers, width)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise ratio, NaN where the denominator is 0 (a shower without hits)."""
    return np.divide(numerator, denominator, out=np.full_like(numerator, np.nan), where=denominator > 0)


def measure_cells(
    cells: Showers,
    geometry: Geometry,
    settings: BinningSettings | None = None,
    angle_scan_percent: Sequence[float] = ANGLE_SCAN_PERCENT,
    grid_half_width: int | None = None,
) -> ShowerFeatures:
    """Measure every observable on cell hits (one point per hit cell, ``z`` = layer + 0.5).

    Args:
        cells: projected showers (e.g. ``geometry.project(points).showers``), ``x, y`` in mm
            relative to the incident point, energies in MeV above the threshold.
        geometry: the geometry they were projected into (layer depths, cell size).
        settings: fix the profile binning (with the geometry).
        angle_scan_percent: percentages of the most energetic cells for the angle scan.
        grid_half_width: also keep the cell energies in a box of ``2k + 1`` by ``2k + 1`` cells
            about the axis in every layer (``k`` = this; the low-level classifier's input).
    """
    n = len(cells)
    n_layers = geometry.n_layers
    edges = {k: v for k, v in fixed_edges(geometry, settings).items() if k in _PROFILES}
    points, shower = cells.flat()
    x, y, z, e = points.astype(np.float64).T
    layer = layer_index(z, n_layers)
    depth = geometry.layer_depth_mm[layer]
    axis = tilt_xy_mm(cells.direction[shower], depth)
    dx = x - axis[:, 0]
    dy = y - axis[:, 1]
    radius = np.hypot(dx, dy)

    visible = np.bincount(shower, e, n)
    occupancy = np.bincount(shower, minlength=n).astype(np.float64)
    cog_z = _ratio(np.bincount(shower, e * z, n), visible)
    scalars = {
        "visible_energy": visible,
        "occupancy": occupancy,
        "cog_x": _ratio(np.bincount(shower, e * dx, n), visible),
        "cog_y": _ratio(np.bincount(shower, e * dy, n), visible),
        "cog_z": cog_z,
        "longitudinal_width": np.sqrt(
            np.maximum(_ratio(np.bincount(shower, e * z * z, n), visible) - cog_z**2, 0.0)
        ),
        "radial_width": np.sqrt(_ratio(np.bincount(shower, e * radius**2, n), visible)),
    }
    ones = np.ones_like(e)
    profiles = {
        "cell_energy": _per_shower_histogram(shower, e, ones, edges["cell_energy"], n),
        "energy_per_layer": _per_shower_histogram(shower, z, e, edges["energy_per_layer"], n),
        "energy_per_radius": _per_shower_histogram(shower, radius, e, edges["energy_per_radius"], n),
        "occupancy_per_layer": _per_shower_histogram(shower, z, ones, edges["occupancy_per_layer"], n),
        "occupancy_per_radius": _per_shower_histogram(shower, radius, ones, edges["occupancy_per_radius"], n),
    }
    layer_energy = np.bincount(shower * n_layers + layer, e, n * n_layers).reshape(n, n_layers)
    layer_occupancy = np.bincount(shower * n_layers + layer, minlength=n * n_layers).reshape(n, n_layers)

    # Internal angle: PCA of the cells at their positions in the local frame (x, y, depth in mm).
    position = np.stack([x, y, depth], axis=1)
    rank = energy_rank(shower, e, n)
    percent = np.asarray(sorted(set(angle_scan_percent) | {TOP_PERCENT, 100.0}), dtype=np.float64)
    errors = {}
    for p in percent:
        keep = top_energy_mask(shower, e, p / 100.0, n, rank=rank)
        axis = principal_axis(shower[keep], position[keep], e[keep], n)
        errors[p] = angular_errors(axis, cells.direction)
    for suffix, p in (("", 100.0), ("_top", TOP_PERCENT)):
        scalars[f"angle_error{suffix}"] = errors[p]["angle"]
        scalars[f"angle_error_theta{suffix}"] = errors[p]["theta"]
        scalars[f"angle_error_phi{suffix}"] = errors[p]["phi"]
    scan_percent = np.asarray(sorted(angle_scan_percent), dtype=np.float64)
    scan = np.stack([errors[p]["angle"] for p in scan_percent], axis=1)
    grid = None
    if grid_half_width is not None:
        k, size = int(grid_half_width), 2 * int(grid_half_width) + 1
        ix = np.rint(dx / geometry.cell_size_mm).astype(np.int64) + k
        iy = np.rint(dy / geometry.cell_size_mm).astype(np.int64) + k
        inside = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
        flat = ((shower * n_layers + layer) * size + ix) * size + iy
        grid = np.bincount(flat[inside], e[inside], n * n_layers * size * size)
        grid = grid.reshape(n, n_layers, size, size).astype(np.float32)
    return ShowerFeatures(
        cells.incident_energy_gev.copy(),
        cells.direction.copy(),
        cells.pdg.copy(),
        scalars,
        profiles,
        edges,
        scan,
        scan_percent,
        layer_energy,
        layer_occupancy.astype(np.float64),
        grid,
    )


def shower_features(
    showers: Showers | CellHits,
    geometry: Geometry,
    *,
    projected: bool = False,
    incident_point_mm=None,
    settings: BinningSettings | None = None,
    angle_scan_percent: Sequence[float] = ANGLE_SCAN_PERCENT,
    batch_size: int = 1000,
    label: str = "showers",
    progress: bool = False,
    grid_half_width: int | None = None,
) -> ShowerFeatures:
    """Project (unless already projected) and measure a sample, batch by batch.

    Args:
        showers: training points (``z`` in layer units, tilt removed), or cell hits of
            ``geometry`` (a :class:`~calozoo.interfaces.CellHits`, or :class:`Showers` with
            ``projected=True``).
        geometry: the detector to project into and measure in.
        projected: ``showers`` already are cell hits.
        incident_point_mm: passed to :meth:`Geometry.project` (shared ``(3,)`` or one per
            shower); ``None`` for the geometry's default.
        batch_size: showers projected and measured at once (bounds the memory of the cells).
        label: names the sample in errors and the progress bar.
        progress: show a tqdm progress bar.
        grid_half_width: also keep a box of cells about the axis (see :func:`measure_cells`).

    Raises:
        EvaluationInputError: raw hits, cells that do not belong to ``geometry``, no showers.
    """
    from tqdm.auto import tqdm

    if isinstance(showers, CellHits):
        showers, projected = showers.showers, True
    if projected:
        check_cell_hits(showers, geometry, label)
    else:
        check_points(showers, label)
        check_layer_column(showers, geometry.n_layers, label)
    point = None if incident_point_mm is None else np.asarray(incident_point_mm, dtype=np.float64)
    per_shower = point is not None and point.ndim == 2
    if per_shower and len(point) != len(showers):
        raise ValueError(f"{label}: {len(point)} incident points for {len(showers)} showers")
    parts = []
    with tqdm(total=len(showers), unit="shower", desc=f"measuring {label}", disable=not progress) as bar:
        for start in range(0, len(showers), batch_size):
            batch = showers[start : start + batch_size]
            if not projected:
                batch_point = point[start : start + batch_size] if per_shower else point
                batch = geometry.project(batch, batch_point).showers
            parts.append(measure_cells(batch, geometry, settings, angle_scan_percent, grid_half_width))
            bar.update(len(batch))
    return ShowerFeatures.concatenate(parts)


def measure_file_chunk(
    path: str, start: int, stop: int, orientation: str | None, geometry: Geometry, options: dict
) -> ShowerFeatures:
    """The features of showers ``start`` to ``stop - 1`` of one file: a task of a distributed
    measurement (``calozoo evaluate --scheduler``). ``options`` are :func:`shower_features`'s."""
    from ..io import read_showers

    showers = read_showers(path, start=start, stop=stop, orientation=orientation)
    return shower_features(showers, geometry, **options)


def measure_on_dask(
    client, files: Sequence[str], geometry: Geometry, options: dict, orientation=None, chunk: int = 5000
) -> ShowerFeatures:
    """Measure the showers of ``files`` (in order) as Dask tasks of ``chunk`` showers each.

    Every shower is measured on its own (projection and observables look at one shower at a
    time), so the features are the same as one process measuring them in one go.
    """
    from ..io import count_showers

    jobs = []
    for path in files:
        total = count_showers(path)
        jobs += [(str(path), a, min(a + chunk, total)) for a in range(0, total, chunk)]
    futures = [
        client.submit(measure_file_chunk, path, a, b, orientation, geometry, options, pure=False)
        for path, a, b in jobs
    ]
    return ShowerFeatures.concatenate(client.gather(futures))
