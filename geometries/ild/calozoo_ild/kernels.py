"""The barrel's projection compiled (numba): one pass over the points, one sort and one pass over
the cells.

Written with numpy, :meth:`ILDBarrel.project <calozoo_ild.barrel.ILDBarrel.project>` took about
a hundred array operations, each a Python call and a pass over memory: a single shower's
projection was bound by the calls, not by its few thousand points. Here each point is read once:
its layer, the tilt re-applied, its cell along the beam (as :meth:`calozoo_ild.cells.Ladder.cells`)
and across its slab (as :func:`calozoo_ild.cells.slab_cells`), whether it is alive, dead or
outside, and the energy lost per shower and cause. The live points of each shower are sorted by
cell (a stable sort, so a cell's energy is summed in point order), summed, cut at the threshold
and placed at their cells' centres.

The floating-point operations are those of the numpy functions, in the same order (no fast-math),
so every cell and every loss is the one they give; the tests compare both on random points. The
first call in a fresh environment compiles this module (a few seconds); numba caches it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["project_points", "on_face", "DEAD", "OUTSIDE", "OUTSIDE_LAYERS", "BELOW_THRESHOLD"]

#: Columns of the per-shower losses :func:`project_points` returns.
DEAD, OUTSIDE, OUTSIDE_LAYERS, BELOW_THRESHOLD = 0, 1, 2, 3


@njit(cache=True)
def _stable_order(keys, bits):
    """The stable argsort of non-negative int64 ``keys`` below ``2**bits``: a radix sort, a byte a
    pass (a few passes over a few thousand keys, where a comparison sort needs ``log2 n``)."""
    n = keys.shape[0]
    order = np.arange(n)
    spare = np.empty(n, dtype=np.int64)
    count = np.empty(257, dtype=np.int64)
    for shift in range(0, bits, 8):
        count[:] = 0
        for i in range(n):
            count[((keys[order[i]] >> shift) & 255) + 1] += 1
        for d in range(256):
            count[d + 1] += count[d]
        for i in range(n):
            d = (keys[order[i]] >> shift) & 255
            spare[count[d]] = order[i]
            count[d] += 1
        order, spare = spare, order
    return order


@njit(cache=True)
def project_points(
    points,
    num_points,
    direction,
    origin,
    stave,
    depth,
    threshold,
    beam,
    beam_counts,
    slab,
    full_wafers,
    partial_cells,
    radices,
):
    """The cells a batch of showers hits in the barrel, with the energy lost per shower and cause.

    Args:
        points: ``(N, P, 4)`` float32 padded training points ``(x, y, z in layers, e)``.
        num_points: ``(N,)`` int64 real points of each shower (its first rows).
        direction: ``(N, 3)`` float64 local directions (checked by the caller: unit, ``p_z > 0``).
        origin: ``(N, 2)`` float64 incident points in the stave frame.
        stave: ``(N,)`` int64 stave of each shower.
        depth: ``(L,)`` float64 depth of each layer's centre, mm.
        threshold: cells below this energy (MeV) are dropped.
        beam: 8 floats, the ladder along the beam: origin, module pitch and margin, tower pitch
            and margin, wafer pitch, guard ring, cell size (the slabs across use the same wafer
            pitch, guard ring and cell size).
        beam_counts: 4 ints: modules, towers, wafers per tower, cells per wafer.
        slab: ``(S, 2)`` float64 start and end of each slab across the stave.
        full_wafers, partial_cells: ``(S,)`` int64 filling of each slab
            (:func:`calozoo_ild.cells.slab_wafers`).
        radices: ``(7,)`` int64 sizes of the fields after the stave (module, tower, wafer and
            cell along, wafer and cell across, layer): the mixed radix of the sort key.

    Returns:
        ``(shower, cell_id, xyz, energy, losses, finite)``: per hit cell, sorted by shower and
        then cell, its shower, cell id (8 bits a field, stave first), centre ``(x, y)``
        relative to the shower's incident point with ``z`` = layer + 0.5, and energy (float64);
        ``(N, 4)`` float64 energy per shower dead, outside, outside the layers and below the
        threshold (columns :data:`DEAD`, :data:`OUTSIDE`, :data:`OUTSIDE_LAYERS`,
        :data:`BELOW_THRESHOLD`); ``False`` if a point is NaN or infinite (nothing else is then
        meaningful).
    """
    n_showers = num_points.shape[0]
    n_layers = depth.shape[0]
    origin_mm, module_pitch, module_margin, tower_pitch, tower_margin, wafer_pitch, guard, cell = beam
    n_modules, n_towers, n_wafers, cells_per_wafer = beam_counts

    m = 0
    for s in range(n_showers):
        m += num_points[s]
    live_key = np.empty(m, dtype=np.int64)
    live_id = np.empty(m, dtype=np.int64)
    live_e = np.empty(m, dtype=np.float64)
    first = np.zeros(n_showers + 1, dtype=np.int64)  # the live points of shower s: first[s]:first[s+1]
    losses = np.zeros((n_showers, 4), dtype=np.float64)
    k = 0
    for s in range(n_showers):
        first[s] = k
        tilt_x = direction[s, 0] / direction[s, 2]
        tilt_y = direction[s, 1] / direction[s, 2]
        for i in range(num_points[s]):
            x = np.float64(points[s, i, 0])
            y = np.float64(points[s, i, 1])
            z = np.float64(points[s, i, 2])
            e = np.float64(points[s, i, 3])
            if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z) and math.isfinite(e)):
                return first[:0], first[:0], np.empty((0, 3)), live_e[:0], losses, False
            zf = math.floor(z)
            if not (zf >= 0 and zf < n_layers):
                losses[s, OUTSIDE_LAYERS] += e
                continue
            layer = np.int64(zf)
            u = x + depth[layer] * tilt_x + origin[s, 0]
            v = y + depth[layer] * tilt_y + origin[s, 1]

            # along the beam: modules of towers of wafers of cells
            r = u - origin_mm
            module = math.floor(r / module_pitch)
            r = r - module_pitch * module - module_margin
            tower = math.floor(r / tower_pitch)
            r = r - tower_pitch * tower - tower_margin
            wafer_x = math.floor(r / wafer_pitch)
            r = r - wafer_pitch * wafer_x - guard
            cell_x = math.floor(r / cell)
            # across the stave: the slab of this layer, whole wafers and a partial one at the end
            k_slab = layer // 2
            start = slab[k_slab, 0]
            if not (module >= 0 and module < n_modules and v >= start and v < slab[k_slab, 1]):
                losses[s, OUTSIDE] += e
                continue
            w = v - start
            wafer_y = math.floor(w / wafer_pitch)
            cell_y = math.floor((w - wafer_pitch * wafer_y - guard) / cell)
            full = full_wafers[k_slab]
            n_cells = cells_per_wafer if wafer_y < full else (partial_cells[k_slab] if wafer_y == full else 0)
            if not (
                tower >= 0
                and tower < n_towers
                and wafer_x >= 0
                and wafer_x < n_wafers
                and cell_x >= 0
                and cell_x < cells_per_wafer
                and w >= 0
                and cell_y >= 0
                and cell_y < n_cells
            ):
                losses[s, DEAD] += e
                continue
            fields = (
                np.int64(module),
                np.int64(tower),
                np.int64(wafer_x),
                np.int64(cell_x),
                np.int64(wafer_y),
                np.int64(cell_y),
                layer,
            )
            key = np.int64(0)
            packed = stave[s]
            for j in range(7):
                key = key * radices[j] + fields[j]
                packed = (packed << 8) | fields[j]
            live_key[k] = key
            live_id[k] = packed
            live_e[k] = e
            k += 1
    first[n_showers] = k

    # Per shower: its live points by cell (stable), each cell's energy summed in point order.
    key_bits = 0
    n_keys = np.int64(1)
    for j in range(7):
        n_keys *= radices[j]
    while (np.int64(1) << key_bits) < n_keys:
        key_bits += 1
    order = np.empty(k, dtype=np.int64)
    for s in range(n_showers):
        a, b = first[s], first[s + 1]
        order[a:b] = a + _stable_order(live_key[a:b], key_bits)
    hit_shower = np.empty(k, dtype=np.int64)
    hit_id = np.empty(k, dtype=np.int64)
    hit_xyz = np.empty((k, 3), dtype=np.float64)
    hit_e = np.empty(k, dtype=np.float64)
    h = 0
    for s in range(n_showers):
        j = first[s]
        while j < first[s + 1]:
            p = order[j]
            total = live_e[p]
            j += 1
            while j < first[s + 1] and live_key[order[j]] == live_key[p]:
                total += live_e[order[j]]
                j += 1
            if not total >= threshold:
                losses[s, BELOW_THRESHOLD] += total
                continue
            packed = live_id[p]
            layer = packed & 255
            cell_y = (packed >> 8) & 255
            wafer_y = (packed >> 16) & 255
            cell_x = (packed >> 24) & 255
            wafer_x = (packed >> 32) & 255
            tower = (packed >> 40) & 255
            module = (packed >> 48) & 255
            # the centres term by term, as Ladder.centre_mm and ILDBarrel.across_cell_centre_mm
            along = (
                origin_mm
                + module_pitch * module
                + module_margin
                + tower_pitch * tower
                + tower_margin
                + wafer_pitch * wafer_x
                + guard
                + cell * (cell_x + 0.5)
            )
            across = slab[layer // 2, 0] + wafer_pitch * wafer_y + guard + cell * (cell_y + 0.5)
            hit_shower[h] = s
            hit_id[h] = packed
            hit_xyz[h, 0] = along - origin[s, 0]
            hit_xyz[h, 1] = across - origin[s, 1]
            hit_xyz[h, 2] = layer + 0.5
            hit_e[h] = total
            h += 1
    return hit_shower[:h], hit_id[:h], hit_xyz[:h], hit_e[:h], losses, True


@njit(cache=True)
def on_face(points, normal, across, inner_radius, tolerance, half_length):
    """``(stave, stave-frame (x, y), ok)`` of ``(N, 3)`` global points on the barrel's inner face.

    A point lies on the stave whose outward ``normal`` it is most aligned with (the first of
    equals), within ``tolerance`` of the plane at ``inner_radius`` and at ``|z| <=
    half_length``; its stave-frame ``x`` is its global ``z`` and ``y`` its component along
    ``across``. ``ok`` is ``False`` if a point is not finite or off the face: the caller's checks
    then say which and why.
    """
    n = points.shape[0]
    stave = np.empty(n, dtype=np.int64)
    face = np.empty((n, 2), dtype=np.float64)
    for i in range(n):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
            return stave, face, False
        best = 0
        height = x * normal[0, 0] + y * normal[0, 1] + z * normal[0, 2]
        for s in range(1, normal.shape[0]):
            h = x * normal[s, 0] + y * normal[s, 1] + z * normal[s, 2]
            if h > height:
                best, height = s, h
        if abs(height - inner_radius) > tolerance or abs(z) > half_length:
            return stave, face, False
        stave[i] = best
        face[i, 0] = z
        face[i, 1] = x * across[best, 0] + y * across[best, 1] + z * across[best, 2]
    return stave, face, True
