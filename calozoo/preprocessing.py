"""Preprocessing: raw hits (mm, tilted) → training points (layer units, tilt removed, sub-cell binned).

This is the one code path that prepares training data, for the reference Monte Carlo and for a
user's GEANT4 hits alike. It follows the CaloClouds3 recipe (``specs/caloclouds.md``, "Training
data convention"), shower by shower:

1. **Layers.** Each raw hit belongs to the sensitive layer whose centre
   (``geometry.layer_depth_mm``) is nearest to its depth ``z``; the boundaries lie midway
   between consecutive centres, and the outer boundaries half a layer pitch before the first and
   after the last centre. Hits outside are dropped and counted (full-simulation hits sit in the
   thin silicon, so losing any means the hits are not in the local frame).
2. **Tilt removal.** Every hit of layer ``l`` is shifted back by the incident trajectory's
   position at that layer's centre, ``depth_l * (p_x / p_z, p_y / p_z)``: an inclined shower
   comes out straight, centred on ``x = y = 0`` in every layer. The layer's depth, not the hit's
   own ``z``, so the shift is the same for all hits of a layer (as in :meth:`Geometry.project`).
3. **Trimming** of hits to ``|x|, |y| <= trim_mm`` (250 mm, ~27 Molière radii of tungsten: only
   stray low-energy particles get that far). Hits, not points, are trimmed: every point then
   lies inside the box and the trimmed energy is exactly that of the hits outside it.
4. **Sub-cell binning.** Each detector cell is split into ``sub_cells × sub_cells`` sub-cells;
   all hits of one (layer, sub-cell) become one point carrying their summed energy at the
   position of the most energetic of them. This reduces ~10⁴–10⁵ GEANT4 steps to a few
   thousand points while keeping the resolution far below a cell. The sub-cell grid is shifted
   per shower by a uniform random offset in ``[-cell/2, cell/2)`` along ``x`` and ``y`` so that
   no fixed grid is imprinted on the training data (at projection time the detector's cells
   sit wherever the shower lands).
5. Optionally keep only the ``max_points`` most energetic points per shower (CaloClouds caps at
   6000 in training).
6. **Depth.** ``z`` becomes the layer index plus a uniform number in ``[0, 1)``: the model sees
   a continuous depth, and ``floor(z)`` gives the layer back.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .interfaces import Geometry
from .seeding import root_sequence, sequence_rngs, shower_rngs
from .showers import Showers, concatenate, tilt_xy_mm

__all__ = ["preprocess", "PreprocessingReport", "trajectory_xy_mm", "layer_boundaries_mm"]

# Warn when more than this fraction of all hit energy is lost outside the layers or the box:
# for hits in the local frame both are ~0, so a larger loss means the frame is wrong.
_LOSS_WARNING_FRACTION = 0.01
#: ``preprocess``'s ``seed`` when not given (``None`` is a valid seed: fresh entropy).
_NO_SEED = object()


@dataclass
class PreprocessingReport:
    """Per-shower bookkeeping of :func:`preprocess`; every array has shape ``(N,)``.

    Energies in MeV, summed in float64:
    ``energy_in = energy_out + energy_outside_layers + energy_trimmed + energy_capped``.

    Attributes:
        energy_in_mev: summed energy of all raw hits.
        energy_outside_layers_mev: energy of hits too far before the first or behind the last layer.
        energy_trimmed_mev: energy of hits outside the ``±trim_mm`` box (after tilt removal).
        energy_capped_mev: energy of the points dropped by ``max_points``.
        energy_out_mev: summed energy of the training points.
        hits_in: number of raw hits (the shower's ``num_points``).
        hits_outside_layers: hits dropped for lying outside the layers.
        hits_trimmed: hits dropped by the trim.
        points_out: number of training points.
    """

    energy_in_mev: np.ndarray
    energy_outside_layers_mev: np.ndarray
    energy_trimmed_mev: np.ndarray
    energy_capped_mev: np.ndarray
    energy_out_mev: np.ndarray
    hits_in: np.ndarray
    hits_outside_layers: np.ndarray
    hits_trimmed: np.ndarray
    points_out: np.ndarray

    def describe(self) -> str:
        """One line of totals over all showers."""
        total = float(self.energy_in_mev.sum()) or 1.0
        return (
            f"{len(self.hits_in)} showers: {int(self.hits_in.sum())} hits -> {int(self.points_out.sum())} "
            f"points; energy kept {self.energy_out_mev.sum() / total:.4%}, outside layers "
            f"{self.energy_outside_layers_mev.sum() / total:.4%} ({int(self.hits_outside_layers.sum())} "
            f"hits), trimmed {self.energy_trimmed_mev.sum() / total:.4%}, capped "
            f"{self.energy_capped_mev.sum() / total:.4%}"
        )


def trajectory_xy_mm(direction, depth_mm) -> np.ndarray:
    """Transverse position of the incident trajectory at a depth behind the front face.

    The particle enters at the origin of the local frame; at depth ``d`` it has moved
    ``d * (p_x / p_z, p_y / p_z)``. This is the tilt that :func:`preprocess` removes and
    :meth:`Geometry.project` re-applies.

    Args:
        direction: ``(..., 3)`` direction in the local frame, ``p_z > 0`` (need not be unit).
        depth_mm: depth(s) in mm, broadcast against the leading dimensions of ``direction``.

    Returns:
        ``(..., 2)`` float64 ``(x, y)`` in mm.

    Example:
        >>> trajectory_xy_mm([0.6, 0.0, 0.8], [0.0, 8.0]).round(9).tolist()
        [[0.0, 0.0], [6.0, 0.0]]
    """
    direction = np.asarray(direction, dtype=np.float64)
    if direction.shape[-1:] != (3,):
        raise ValueError(f"direction must have shape (..., 3), got {direction.shape}")
    _check_directions(direction.reshape(-1, 3))
    return tilt_xy_mm(direction, depth_mm)


def layer_boundaries_mm(geometry: Geometry) -> np.ndarray:
    """``(n_layers + 1,)`` depths (mm) that separate the layers for raw-hit assignment.

    Midway between consecutive layer centres; the outer ones half a pitch beyond the first and
    last centre. Layer ``l`` takes hits with ``boundaries[l] <= z < boundaries[l + 1]``. A
    single-layer geometry takes every hit (``-inf``, ``inf``).
    """
    depth = np.asarray(geometry.layer_depth_mm, dtype=np.float64)
    if len(depth) == 1:
        return np.array([-np.inf, np.inf])
    middle = 0.5 * (depth[1:] + depth[:-1])
    return np.concatenate(
        [[depth[0] - 0.5 * (depth[1] - depth[0])], middle, [depth[-1] + 0.5 * (depth[-1] - depth[-2])]]
    )


def preprocess(
    raw_hits: Showers,
    geometry: Geometry,
    *,
    seed: int | None = _NO_SEED,
    seeds: np.ndarray | None = None,
    sub_cells: int = 5,
    trim_mm: float = 250.0,
    max_points: int | None = None,
    batch_size: int = 1000,
    progress: bool = False,
    return_report: bool = False,
) -> Showers | tuple[Showers, PreprocessingReport]:
    """Turn raw hits into CaloClouds training points (see the module docstring for the recipe).

    Args:
        raw_hits: raw hits, ``z_units="mm"``: ``x, y, z`` in mm in the local frame with the
            origin at the incident point on the front face, ``z`` the depth; ``e`` in MeV.
        geometry: gives the layer depths and the cell pitch ``cell_size_mm``.
        seed: the randomness (grid offsets, depths inside the layers), calozoo's one convention
            (:mod:`calozoo.seeding`): shower ``i`` always draws from child ``i`` of
            ``numpy.random.SeedSequence(seed)`` (:func:`calozoo.seeding.sequence_rngs`), so the
            output depends on neither ``batch_size`` nor which other showers are processed
            with it; the same seed gives the same points. That stream gives first the grid
            offset ``(x, y)``, then one depth fraction per output point in output order.
            ``None`` draws fresh entropy.
        seeds: instead of ``seed``, ``(N,)`` per-shower seeds: shower ``i`` draws from
            ``numpy.random.default_rng(seeds[i])`` (:func:`calozoo.seeding.shower_rngs`), e.g.
            a model preprocessing its own showers with seeds derived from its per-shower seeds.
            Give exactly one of ``seed`` and ``seeds``.
        sub_cells: sub-cells per cell along ``x`` and along ``y`` (CaloClouds: 5).
        trim_mm: half-width of the transverse box kept around the trajectory, mm.
        max_points: keep at most this many points per shower, the most energetic ones
            (CaloClouds3 trains with 6000); ``None`` keeps all.
        batch_size: showers processed together (memory ~ 80 bytes per raw hit of a batch).
        progress: show a tqdm progress bar.
        return_report: also return a :class:`PreprocessingReport`.

    Returns:
        training points ``(N, P, 4)``, ``z_units="layer"``: ``x, y`` in mm relative to the
        trajectory, ``z`` in ``[l, l + 1)`` for layer ``l``, ``e`` in MeV; points ordered by
        layer, then sub-cell. Incident energies, directions and pdg are those of ``raw_hits``.
        With ``return_report=True`` a tuple ``(points, report)``.

    Hits with zero energy are ignored (on disk a zero energy marks padding). Warns when more
    than 1 % of all energy falls outside the layers or the box, the sign of hits that are not in
    the local frame.

    Example:
        >>> from calozoo.layered import PlanarGeometry
        >>> geo = PlanarGeometry([5.0, 15.0], cell_size_mm=5.0)
        >>> hits = Showers.from_point_lists(
        ...     [np.array([[0.25, 0.5, 4.0, 1.0], [0.5, 0.25, 5.5, 2.0], [3.0, 0.0, 16.0, 4.0]])],
        ...     [10.0], z_units="mm")
        >>> points = preprocess(hits, geo, seed=1, sub_cells=1)
        >>> points.shower(0)[:, [0, 1, 3]].tolist()  # two hits share a cell: 3 MeV at the larger
        [[0.5, 0.25, 3.0], [3.0, 0.0, 4.0]]
        >>> np.floor(points.shower(0)[:, 2]).tolist()
        [0.0, 1.0]
    """
    if not isinstance(raw_hits, Showers):
        raise TypeError(f"raw_hits must be calozoo.showers.Showers, got {type(raw_hits).__name__}")
    if (seed is _NO_SEED) == (seeds is None):
        raise TypeError(
            "preprocess() needs exactly one of seed= (an integer or None) and seeds= (one per shower)"
        )
    if seeds is not None:
        seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
        if len(seeds) != len(raw_hits):
            raise ValueError(f"seeds must hold one seed per shower ({len(raw_hits)}), got {len(seeds)}")
    if raw_hits.z_units != "mm":
        raise ValueError(
            f"preprocess() needs raw hits with z in mm (depth behind the front face), got z in "
            f"{raw_hits.z_units!r} units: these look like training points already"
        )
    cell = getattr(geometry, "cell_size_mm", None)
    if cell is None or not cell > 0:
        raise ValueError(
            f"geometry {getattr(geometry, 'name', geometry)!r} has no square cell pitch "
            f"(cell_size_mm = {cell}); sub-cell binning needs one"
        )
    if not isinstance(sub_cells, (int, np.integer)) or sub_cells < 1:
        raise ValueError(f"sub_cells must be a positive integer, got {sub_cells!r}")
    if not trim_mm > 0:
        raise ValueError(f"trim_mm must be positive, got {trim_mm}")
    if max_points is not None and (not isinstance(max_points, (int, np.integer)) or max_points < 1):
        raise ValueError(f"max_points must be a positive integer or None, got {max_points!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    _check_hits(raw_hits)
    _check_directions(raw_hits.direction)

    from tqdm.auto import tqdm

    settings = _Settings(
        boundaries=layer_boundaries_mm(geometry),
        depth=np.asarray(geometry.layer_depth_mm, dtype=np.float64),
        cell=float(cell),
        pitch=float(cell) / int(sub_cells),
        trim=float(trim_mm),
        max_points=None if max_points is None else int(max_points),
    )
    # One stream per shower, addressed by its index in the input (calozoo.seeding): batch-size independent.
    root = None if seeds is not None else root_sequence(seed)
    parts, reports = [], []
    with tqdm(total=len(raw_hits), unit="shower", disable=not progress, desc="preprocess") as bar:
        for start in range(0, len(raw_hits), int(batch_size)):
            batch = raw_hits[start : start + int(batch_size)]
            if seeds is not None:
                rngs = shower_rngs(seeds[start : start + len(batch)])
            else:
                rngs = sequence_rngs(root, len(batch), start=start)
            points, report = _preprocess_batch(batch, settings, rngs)
            parts.append(points)
            reports.append(report)
            bar.update(len(batch))

    if parts:
        points = concatenate(parts)
        report = PreprocessingReport(
            *(
                np.concatenate([getattr(r, f) for r in reports])
                for f in PreprocessingReport.__dataclass_fields__
            )
        )
    else:
        points = Showers.empty("layer")
        report = PreprocessingReport(*(np.zeros(0) for _ in PreprocessingReport.__dataclass_fields__))

    lost = report.energy_outside_layers_mev.sum() + report.energy_trimmed_mev.sum()
    if lost > _LOSS_WARNING_FRACTION * report.energy_in_mev.sum():
        warnings.warn(
            f"preprocess dropped {lost / report.energy_in_mev.sum():.1%} of the hit energy outside the "
            f"layers or the ±{trim_mm:g} mm box; are the hits in the local frame (origin at the "
            f"incident point, z = depth behind the front face in mm)? {report.describe()}",
            stacklevel=2,
        )
    return (points, report) if return_report else points


# ---------------------------------------------------------------------------------------- internals
@dataclass(frozen=True)
class _Settings:
    boundaries: np.ndarray  # (L + 1,) layer boundaries in depth, mm
    depth: np.ndarray  # (L,) layer centres, mm
    cell: float  # cell pitch, mm
    pitch: float  # sub-cell pitch, mm
    trim: float  # half-width of the kept box, mm
    max_points: int | None


def _check_hits(raw_hits: Showers) -> None:
    mask = raw_hits.padding_mask
    finite = np.isfinite(raw_hits.points).all(axis=2)
    bad = mask & ~finite
    if bad.any():
        showers = np.unique(np.nonzero(bad)[0])
        raise ValueError(
            f"raw hits contain NaN or infinite values ({int(bad.sum())} hits in showers "
            f"{showers[:5].tolist()}{' ...' if len(showers) > 5 else ''})"
        )
    negative = mask & (raw_hits.points[..., 3] < 0)
    if negative.any():
        showers = np.unique(np.nonzero(negative)[0])
        raise ValueError(
            f"raw hit energies must be non-negative (MeV): {int(negative.sum())} negative hits in "
            f"showers {showers[:5].tolist()}{' ...' if len(showers) > 5 else ''}"
        )


def _check_directions(direction: np.ndarray) -> None:
    if not np.all(np.isfinite(direction)):
        raise ValueError("direction contains NaN or infinite values")
    backward = direction[:, 2] <= 0
    if np.any(backward):
        raise ValueError(
            "direction must point into the calorimeter (p_z > 0 in the local frame) to remove the "
            f"tilt, got {direction[backward][:3].tolist()}"
        )


def _preprocess_batch(
    batch: Showers, s: _Settings, rngs: list[np.random.Generator]
) -> tuple[Showers, PreprocessingReport]:
    """Preprocess one batch; ``rngs[i]`` is shower ``i``'s own generator."""
    n_showers, n_layers = len(batch), len(s.depth)
    # Grid offsets are drawn first, depths later: each shower's stream is used in a fixed order.
    offset = np.array([rng.uniform(-0.5 * s.cell, 0.5 * s.cell, size=2) for rng in rngs]).reshape(-1, 2)

    real = batch.padding_mask & (batch.points[..., 3] > 0)
    shower = np.nonzero(real)[0]
    x, y, z = (batch.points[..., c][real] for c in range(3))  # float32, mm
    energy = batch.points[..., 3][real].astype(np.float64)
    energy_in = np.bincount(shower, energy, minlength=n_showers)

    def drop(outside: np.ndarray, *columns: np.ndarray):
        """Per-shower energy and count of the hits in ``outside``, and the columns without them."""
        lost = np.bincount(shower[outside], energy[outside], minlength=n_showers)
        count = np.bincount(shower[outside], minlength=n_showers)
        return lost, count, tuple(c[~outside] for c in columns) if outside.any() else columns

    # 1. layer of each hit: nearest layer centre
    layer = np.searchsorted(s.boundaries, z, side="right") - 1
    energy_outside, hits_outside, (shower, layer, energy, x, y) = drop(
        (layer < 0) | (layer >= n_layers), shower, layer, energy, x, y
    )

    # 2. tilt removal at the layer centre's depth
    axis = tilt_xy_mm(batch.direction[shower], s.depth[layer])
    x = x - axis[:, 0]
    y = y - axis[:, 1]

    # 3. trim hits (see the module docstring for why hits, not points)
    energy_trimmed, hits_trimmed, (shower, layer, energy, x, y) = drop(
        (np.abs(x) > s.trim) | (np.abs(y) > s.trim), shower, layer, energy, x, y
    )

    # 4. sub-cell binning: one int64 key per (shower, layer, ix, iy), sorted once.
    ix = np.floor((x - offset[shower, 0]) / s.pitch).astype(np.int64)
    iy = np.floor((y - offset[shower, 1]) / s.pitch).astype(np.int64)
    if len(ix):
        ix -= ix.min()
        iy -= iy.min()
    nx, ny = (int(i.max()) + 1 if len(i) else 1 for i in (ix, iy))
    if n_showers * n_layers * nx * ny >= 2**63:
        raise ValueError(
            f"{nx} x {ny} sub-cells per layer are too many to index; lower trim_mm or batch_size"
        )
    key = ((shower * n_layers + layer) * nx + ix) * ny + iy
    order = np.argsort(key)
    key = key[order]
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(new)
    sorted_energy = energy[order]
    point_energy = np.add.reduceat(sorted_energy, starts)
    # The most energetic hit of each sub-cell; among equal energies the first in the input, so
    # the choice depends neither on the sort nor on the other showers of the batch.
    sizes = np.diff(np.append(starts, len(key)))
    candidates = np.flatnonzero(sorted_energy == np.repeat(np.maximum.reduceat(sorted_energy, starts), sizes))
    leader = np.minimum.reduceat(order[candidates], np.searchsorted(candidates, starts))
    point_shower, point_layer = shower[leader], layer[leader]
    point_x, point_y = x[leader], y[leader]

    # 5. optional cap: keep the most energetic max_points of each shower (ties: sub-cell order)
    keep = np.ones(len(leader), dtype=bool)
    if s.max_points is not None and len(leader):
        by_energy = np.lexsort((-point_energy, point_shower))
        counts = np.bincount(point_shower, minlength=n_showers)
        rank = np.arange(len(by_energy)) - np.repeat(np.cumsum(counts) - counts, counts)
        keep[by_energy[rank >= s.max_points]] = False
    energy_capped = np.bincount(point_shower[~keep], point_energy[~keep], minlength=n_showers)
    point_shower, point_layer = point_shower[keep], point_layer[keep]
    point_x, point_y, point_energy = point_x[keep], point_y[keep], point_energy[keep]

    # 6. depth inside the layer, from each shower's own stream in output order
    counts = np.bincount(point_shower, minlength=n_showers)
    inside_layer = np.concatenate([rng.random(n) for rng, n in zip(rngs, counts)] or [np.zeros(0)])
    z = (point_layer + inside_layer).astype(np.float32)
    # float32 rounds l + 0.9999999 up to l + 1: keep the point inside its layer.
    z = np.minimum(z, np.nextafter((point_layer + 1).astype(np.float32), np.float32(0)))

    width = int(counts.max()) if n_showers else 0
    slot = np.arange(len(point_shower)) - np.repeat(np.cumsum(counts) - counts, counts)
    points = np.zeros((n_showers, width, 4), dtype=np.float32)
    points[point_shower, slot] = np.stack([point_x, point_y, z, point_energy], axis=1)
    out = Showers(points, counts, batch.incident_energy_gev, batch.direction, batch.pdg, "layer")
    report = PreprocessingReport(
        energy_in_mev=energy_in,
        energy_outside_layers_mev=energy_outside,
        energy_trimmed_mev=energy_trimmed,
        energy_capped_mev=energy_capped,
        energy_out_mev=np.bincount(point_shower, point_energy, minlength=n_showers),
        hits_in=batch.num_points.copy(),
        hits_outside_layers=hits_outside,
        hits_trimmed=hits_trimmed,
        points_out=counts,
    )
    return out, report
