"""Remake the pictures of ``docs/geometry.md``: the barrel octagon, one shower in both ILD geometries.

Usage (from the repository root, with matplotlib and mplhep installed)::

    python geometries/ild/scripts/make_geometry_figures.py [--out docs/images/geometry] [--seed 7]

Writes ``octagon.png`` (the 8 staves in the pinwheel, the frames), ``regular_layers.png`` and
``barrel_layers.png`` (the same toy-gamma 50 GeV shower as layer-by-layer cell maps in
``ild-ecal-regular`` and in ``ild-ecal-barrel``, aimed near a module boundary and a wafer boundary
so that the gaps and the staggering show) and ``barrel_scan.png`` (energy kept vs incident point
along the beam across one module).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

__all__ = ["main"]

LAYERS = (0, 2, 4, 6, 8, 10, 14, 20)  # one layer of each of several slabs: the staggering shows
WINDOW_MM = 45.0  # half-width of each cell map around the incident point
ENERGY_GEV = 50.0


def _setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.ROOT)
    plt.rcParams.update({"font.size": 11, "axes.titlesize": 11, "figure.dpi": 110})
    return plt


def _rectangles(x, y, size, shrink=0.12):
    from matplotlib.patches import Rectangle

    side = size - 2 * shrink
    return [Rectangle((a - side / 2, b - side / 2), side, side) for a, b in zip(x, y)]


def _cell_map(ax, grid_x, grid_y, hits, size, norm, cmap, title, axis_xy=None):
    """Grey: every cell of the geometry in the window (white strips between them are dead);
    colour: the hit cells of one layer."""
    from matplotlib.collections import PatchCollection

    gx, gy = np.meshgrid(grid_x, grid_y)
    ax.add_collection(PatchCollection(_rectangles(gx.ravel(), gy.ravel(), size), facecolor="0.88", lw=0))
    cells = PatchCollection(_rectangles(hits[:, 0], hits[:, 1], size, shrink=0.0), cmap=cmap, norm=norm, lw=0)
    cells.set_array(hits[:, 3])
    ax.add_collection(cells)
    if axis_xy is not None:
        ax.plot(*axis_xy, marker="+", color="k", ms=9, mew=1.2)
    ax.set_xlim(-WINDOW_MM, WINDOW_MM)
    ax.set_ylim(-WINDOW_MM, WINDOW_MM)
    ax.set_aspect("equal")
    ax.set_title(title)
    return cells


def _layer_grid(plt, geometry, hits, grids, title, path):
    from matplotlib.colors import LogNorm

    cmap = plt.get_cmap("viridis")
    points = hits.showers.shower(0)
    norm = LogNorm(vmin=geometry.threshold_mev, vmax=float(points[:, 3].max()))
    fig, axes = plt.subplots(2, 4, figsize=(15, 8.2), sharex=True, sharey=True, constrained_layout=True)
    for ax, layer in zip(axes.ravel(), LAYERS):
        in_layer = points[np.floor(points[:, 2]) == layer]
        grid_x, grid_y = grids(layer)
        energy = in_layer[:, 3].sum()
        cells = _cell_map(
            ax,
            grid_x,
            grid_y,
            in_layer,
            geometry.cell_size_mm,
            norm,
            cmap,
            f"layer {layer}: {energy:.1f} MeV",
            (0, 0),
        )
    for ax in axes[1]:
        ax.set_xlabel("x along the beam [mm]")
    for ax in axes[:, 0]:
        ax.set_ylabel("y across [mm]")
    fig.colorbar(cells, ax=axes, label="cell energy [MeV]", shrink=0.8)
    fig.suptitle(title)
    fig.savefig(path)
    plt.close(fig)


def make_octagon(plt, barrel, path):
    f = barrel.facts
    h, shift, depth = barrel.half_side_mm, f.pinwheel_shift_mm, f.depth_mm
    fig, ax = plt.subplots(figsize=(7.5, 7.5), constrained_layout=True)
    outline = np.array(
        [[-h, 0], [h + 2 * shift, 0], [h + 2 * shift - depth, depth], [-h + depth, depth], [-h, 0]]
    )
    for s in range(f.n_staves):
        xy = barrel.to_global_mm(s, np.c_[np.zeros(len(outline)), outline])[:, :2]
        ax.fill(xy[:, 0], xy[:, 1], color="tab:blue" if s == 2 else "0.75", alpha=0.5, lw=1, ec="k")
        label = barrel.to_global_mm(s, [0.0, shift, depth / 2])
        ax.text(label[0], label[1], str(s), ha="center", va="center", fontsize=13, weight="bold")
    # the slabs' back faces in the top stave: each slab is shorter by twice its depth (45° ends)
    for d in f.slab_back_depth_mm():
        line = barrel.to_global_mm(2, [[0, -h + d, d], [0, h + 2 * shift - d, d]])
        ax.plot(line[:, 0], line[:, 1], color="tab:blue", lw=0.4)
    # the local frame of the top stave at the default incident point, and the ray that gets there
    start = barrel.default_incident_point_mm
    ax.plot([0, start[0]], [0, start[1]], color="tab:red", lw=1, ls="--")
    arrow = {"arrowstyle": "->", "lw": 1.5}
    ax.annotate("", xy=(start[0] + 350, start[1]), xytext=start[:2], arrowprops=arrow)
    ax.annotate("", xy=(start[0], start[1] + 350), xytext=start[:2], arrowprops=arrow)
    ax.text(start[0] + 360, start[1] - 30, "local y", va="top", fontsize=9)
    ax.text(start[0] - 30, start[1] + 360, "local z", ha="right", va="top", fontsize=9)
    ax.text(start[0] + 30, start[1] - 120, "local x: along the beam\n(out of the page)", va="top", fontsize=8)
    ax.plot(0, 0, marker="o", color="tab:red")
    ax.text(40, -40, "beam (global z, out of the page)", va="top", fontsize=9)
    ax.set_xlabel("global x [mm]")
    ax.set_ylabel("global y [mm]")
    ax.set_aspect("equal")
    ax.set_xlim(-2300, 2300)
    ax.set_ylim(-2300, 2300)
    ax.set_title("ILD ECAL barrel: stave s has its normal at s x 45 deg (pinwheel)")
    fig.savefig(path)
    plt.close(fig)


def make_scan(plt, barrel, showers, path):
    """Fraction of the visible energy kept (and lost in dead strips) vs incident point along the beam."""
    f = barrel.facts
    across = barrel.default_incident_point_mm[0]
    beams = np.arange(-2350 + 940 - 30, -2350 + 2 * 940 + 30, 1.0)
    kept, dead = [], []
    for beam in beams:
        hits = barrel.project(showers, [across, f.inner_radius_mm, beam])
        total = showers.visible_energy_mev
        kept.append(np.mean(hits.showers.visible_energy_mev / total))
        dead.append(np.mean(hits.losses.dead_mev / total))
    fig, ax = plt.subplots(figsize=(11, 4.2), constrained_layout=True)
    ax.plot(beams, kept, label="kept in cells", lw=1.2)
    ax.plot(beams, dead, label="lost in dead strips", lw=1.2)
    for m in (1, 2):
        ax.axvline(-2350 + 940 * m, color="0.5", lw=0.6, ls=":")
    ax.set_xlabel("incident point along the beam (global z) [mm]")
    ax.set_ylabel("fraction of visible energy")
    ax.set_title(
        f"{len(showers)} toy-gamma {ENERGY_GEV:g} GeV showers at normal incidence, scanned across module 1"
    )
    ax.legend(loc="center right")
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images/geometry", help="folder for the PNG files")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import calozoo

    plt = _setup()
    regular = calozoo.geometry("ild-ecal-regular")
    barrel = calozoo.geometry("ild-ecal-barrel")
    showers = calozoo.load("toy-gamma").sample(ENERGY_GEV, [0.0, 0.0, 1.0], seed=args.seed)
    f = barrel.facts
    p = f.cell_size_mm

    make_octagon(plt, barrel, out / "octagon.png")

    # Regular: the grid has a cell edge at the incident point in every layer.
    edges = np.arange(-math.ceil(WINDOW_MM / p) - 1, math.ceil(WINDOW_MM / p) + 1) * p
    _layer_grid(
        plt,
        regular,
        regular.project(showers),
        lambda layer: (edges + p / 2, edges + p / 2),
        f"ild-ecal-regular: one toy-gamma {ENERGY_GEV:g} GeV shower, normal incidence (+: incident axis)",
        out / "regular_layers.png",
    )

    # Barrel: 4 mm past the boundary between modules 0 and 1 along the beam, 10 mm past the start
    # of a wafer of slab 0 across the stave (the wafer gap moves by 12.47 mm per slab).
    beam0 = -2350 + 940 + 4.0
    across0 = barrel.slab_extent_mm(0)[0] + 8 * f.wafer_pitch_mm + 10.0
    start = [across0, f.inner_radius_mm, beam0]
    m, t, w, c = np.meshgrid(range(f.n_modules), range(f.n_towers), range(2), range(18), indexing="ij")
    beam_centres = barrel.beam_cell_centre_mm(m, t, w, c).ravel() - beam0

    def barrel_grids(layer):
        across = barrel.across_cell_centres_mm(layer) - across0
        near = lambda v: v[np.abs(v) < WINDOW_MM + p]  # noqa: E731
        return near(beam_centres), near(across)

    hits = barrel.project(showers, start)
    lost = hits.losses
    _layer_grid(
        plt,
        barrel,
        hits,
        barrel_grids,
        f"ild-ecal-barrel: the same shower at z = {beam0:g} mm (4 mm past a module boundary), stave 2; "
        f"dead {lost.dead_mev[0]:.0f} MeV of {showers.visible_energy_mev[0]:.0f} MeV",
        out / "barrel_layers.png",
    )

    scan_showers = calozoo.load("toy-gamma").sample(np.full(8, ENERGY_GEV), [0.0, 0.0, 1.0], seed=args.seed)
    make_scan(plt, barrel, scan_showers, out / "barrel_scan.png")
    print(f"wrote {sorted(x.name for x in out.glob('*.png'))} to {out}")


if __name__ == "__main__":
    main()
