"""Event display of one shower: a map of every layer and a 3D view (``calozoo show``).

::

    from calozoo.display import show_shower

    fig = show_shower("showers.h5", 3)                                  # the points as they are
    fig = show_shower(showers, 3, geometry="ild-ecal-barrel", path="shower.png")  # its cells

The left of the figure is a grid of small panels, one per layer, with the energy of each point
(or, with a geometry, of each cell, drawn as its square) in ``x``-``y`` relative to the
incident axis (dashed); the right is a 3D view (``x``, depth, ``y``) of the same hits, each sized
and coloured by its energy. Panels and 3D view share one logarithmic colour scale and one
window. Figures are drawn with mplhep's CMS style on matplotlib's Agg canvas (no display
needed, no window pops up) and written as PNG atomically, like every calozoo output: an existing
file is replaced only if it is an event display calozoo wrote (its PNG text chunk ``Software``
starts with ``calozoo``).
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import CalozooError, OutputError
from .showers import Showers

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .interfaces import Geometry

__all__ = ["show_shower", "read_one_shower", "is_calozoo_display", "ShowerIndexError", "DISPLAY_KIND"]

#: What :func:`calozoo.serialization.atomic_path` calls the outputs of :func:`show_shower`.
DISPLAY_KIND = "an event display written by calozoo"
_SOFTWARE = "calozoo"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Panels per row of the layer grid (more rows for more layers).
_COLUMNS = 6
#: Depth slices of a raw-hit shower (``z`` in mm), which has no layers of its own.
_MM_SLICES = 30


class ShowerIndexError(CalozooError, IndexError):
    """A shower index outside the file (the message says how many showers it holds)."""


# ---------------------------------------------------------------------------- reading one shower


def _count(path: Path) -> tuple[list[Path], list[int]]:
    """The files holding ``path``'s showers (itself, or its shards in order) and their counts."""
    from .io import _shard_files, count_showers

    files = _shard_files(path) if path.is_dir() else [path]
    return files, [count_showers(f) for f in files]


def read_one_shower(path: str | os.PathLike, index: int) -> Showers:
    """Shower ``index`` of a shower file or a folder of shards, reading only that shower.

    Raises:
        ShowerIndexError: ``index`` is not in ``0 .. N - 1`` for the ``N`` showers there.
        FileFormatError: not a shower file (or a folder of them) calozoo can read.
    """
    from .io import read_showers

    path = Path(path)
    files, counts = _count(path)
    total = sum(counts)
    _check_index(
        index, total, f"{path}{' (a folder of ' + str(len(files)) + ' shards)' if path.is_dir() else ''}"
    )
    for file, count in zip(files, counts):
        if index < count:
            return read_showers(file, start=index, stop=index + 1)
        index -= count
    raise AssertionError("unreachable")  # pragma: no cover


def _check_index(index, total: int, where: str) -> None:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ShowerIndexError(f"the shower index must be an integer, got {index!r}")
    if total == 0:
        raise ShowerIndexError(f"{where} holds no showers")
    if not 0 <= index < total:
        raise ShowerIndexError(
            f"shower {index} is out of range: {where} holds {total} shower{'s' if total != 1 else ''} "
            f"(indices 0 to {total - 1})"
        )


# ---------------------------------------------------------------------------- PNG provenance


def _png_text_chunks(path: Path) -> dict[str, str]:
    """The ``tEXt`` / ``iTXt`` chunks of a PNG file (``{}`` for anything that is not a PNG)."""
    found: dict[str, str] = {}
    try:
        with open(path, "rb") as file:
            if file.read(8) != _PNG_SIGNATURE:
                return {}
            while True:
                head = file.read(8)
                if len(head) < 8:
                    return found
                length, kind = struct.unpack(">I4s", head)
                if kind in (b"tEXt", b"iTXt") and length < 1 << 20:
                    data = file.read(length)
                    key, _, value = data.partition(b"\0")
                    if kind == b"iTXt":  # compression flag, method, language, translated keyword
                        value = value[2:].split(b"\0", 2)[-1]
                    found[key.decode("latin-1")] = value.decode("utf-8", errors="replace")
                    file.seek(4, os.SEEK_CUR)
                elif kind == b"IEND":
                    return found
                else:
                    file.seek(length + 4, os.SEEK_CUR)
    except OSError:
        return {}


def is_calozoo_display(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a PNG that calozoo wrote (text chunk ``Software: calozoo ...``)."""
    return _png_text_chunks(Path(path)).get("Software", "").startswith(_SOFTWARE)


# ---------------------------------------------------------------------------- drawing


def _style():
    """mplhep's CMS style with fonts small enough for a grid of panels."""
    import matplotlib.style
    import mplhep

    style = dict(mplhep.style.CMS)
    style.update(
        {
            "font.size": 10,
            "axes.labelsize": 10,
            "axes.titlesize": 10,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "legend.fontsize": 8,
            "xtick.major.size": 3,
            "ytick.major.size": 3,
            "xtick.minor.size": 1.5,
            "ytick.minor.size": 1.5,
            "xaxis.labellocation": "right",
            "yaxis.labellocation": "top",
        }
    )
    return matplotlib.style.context(style)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return float(values[order][min(np.searchsorted(cumulative, q), len(order) - 1)])


def _window_mm(x: np.ndarray, y: np.ndarray, e: np.ndarray, minimum: float) -> tuple[float, float, float]:
    """``(x centre, y centre, half-width)`` of a square window holding the incident axis and the
    middle 98 % of the energy along ``x`` and along ``y`` (so an inclined shower stays in view)."""
    if len(e) == 0 or e.sum() <= 0:
        return 0.0, 0.0, minimum
    lo_x, hi_x = (_weighted_quantile(x, e, q) for q in (0.01, 0.99))
    lo_y, hi_y = (_weighted_quantile(y, e, q) for q in (0.01, 0.99))
    lo_x, hi_x, lo_y, hi_y = min(lo_x, 0.0), max(hi_x, 0.0), min(lo_y, 0.0), max(hi_y, 0.0)
    half = max(0.55 * max(hi_x - lo_x, hi_y - lo_y) + 0.5 * minimum, minimum)
    step = 5.0 if half < 50 else 10.0 if half < 200 else 50.0
    half = step * math.ceil(half / step)
    return step * round(0.5 * (lo_x + hi_x) / step), step * round(0.5 * (lo_y + hi_y) / step), half


def _angles_text(direction: np.ndarray) -> str:
    from .conditions import angles_from_direction

    theta, phi = angles_from_direction(direction)
    return f"θ = {float(theta):.1f}°, φ = {float(phi):.1f}°"


def show_shower(
    showers_or_file: Showers | str | os.PathLike,
    index: int,
    geometry: Geometry | str | None = None,
    path: str | os.PathLike | None = None,
    *,
    incident_point_mm=None,
    dpi: int = 100,
) -> Figure:
    """Draw shower ``index``: a map of each layer and a 3D view; optionally write it as PNG.

    Args:
        showers_or_file: :class:`~calozoo.showers.Showers`, a shower file, or a folder of
            shards (``calozoo simulate``); from a file only shower ``index`` is read.
        index: which shower, from 0.
        geometry: a :class:`~calozoo.interfaces.Geometry` or its registered name: the training
            points are projected into it first and its cells are shown (the title says so, with
            the energy kept and lost); ``None`` shows the points as they are.
        path: write the figure there as PNG (atomically; it must end in ``.png``).
        incident_point_mm: where the shower enters the geometry (default: the geometry's own).
        dpi: resolution of the PNG.

    Returns:
        the matplotlib :class:`~matplotlib.figure.Figure` (not attached to pyplot: nothing to
        close).

    Raises:
        ShowerIndexError: ``index`` outside the showers (the message says how many there are).
        FileFormatError: a file that is not a shower file calozoo reads.
        ValueError: a geometry for raw hits (``z`` in mm: preprocess them first).
        OutputError: ``path`` does not end in ``.png``, or holds something calozoo did not write.
    """
    if path is not None:
        from .serialization import check_file_replaceable

        if Path(path).suffix.lower() != ".png":
            raise OutputError(f"{path}: an event display is written as PNG; give a file name ending in .png")
        check_file_replaceable(path, DISPLAY_KIND, is_calozoo_display)  # before the work, not after
    if isinstance(showers_or_file, Showers):
        _check_index(index, len(showers_or_file), "the batch")
        shower = showers_or_file[int(index)]
        source = f"shower {index}"
    else:
        shower = read_one_shower(showers_or_file, index)
        source = f"shower {index} of {Path(showers_or_file).name}"

    if isinstance(geometry, str):
        import calozoo

        geometry = calozoo.geometry(geometry)
    cells = None
    if geometry is not None:
        if shower.z_units != "layer":
            raise ValueError(
                f"{source} holds raw hits (z in {shower.z_units}); only training points (z in layer "
                f"units) can be projected into {geometry.name}: run `calozoo preprocess` first, or show "
                f"it without a geometry"
            )
        cells = geometry.project(shower, incident_point_mm)
        hits = cells.showers
    else:
        hits = shower

    with _style():
        figure = _draw(shower, hits, cells, geometry, source)
        if path is not None:
            _write_png(figure, Path(path), source, dpi)
    return figure


def _draw(shower: Showers, hits: Showers, cells, geometry, source: str) -> Figure:
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the 3d projection)

    points = hits.shower(0).astype(np.float64)
    x, y, z, e = points.T
    in_mm = hits.z_units == "mm"
    if in_mm:  # raw hits: equal slices in depth stand in for layers
        deepest = float(z.max()) if len(z) else 1.0
        edges = np.linspace(0.0, max(deepest, 1e-6) * (1 + 1e-9), _MM_SLICES + 1)
        layer = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, _MM_SLICES - 1)
        n_layers = _MM_SLICES
        depth, depth_label = z, "depth [mm]"
    else:
        layer = np.floor(z).astype(np.int64)
        n_layers = (
            geometry.n_layers if geometry is not None else max(int(layer.max()) + 1 if len(z) else 1, 1)
        )
        if geometry is not None:
            depth = geometry.layer_depth_mm[np.clip(layer, 0, geometry.n_layers - 1)]
            depth_label = "depth [mm]"
        else:
            depth, depth_label = z, "depth [layer]"
    pitch = getattr(geometry, "cell_size_mm", None) if cells is not None else None
    cx, cy, half = _window_mm(x, y, e, minimum=3 * pitch if pitch else 15.0)

    positive = e[e > 0]
    top = float(positive.max()) if len(positive) else 1.0
    bottom = max(float(positive.min()) if len(positive) else 0.1, top * 1e-5)
    norm = LogNorm(vmin=min(bottom, top / 10), vmax=top)
    cmap = "viridis"
    order = np.argsort(e)  # the largest energies drawn last, on top
    x, y, z, e, layer, depth = (v[order] for v in (x, y, z, e, layer, depth))

    direction = np.asarray(shower.direction[0], dtype=np.float64)
    slope = direction[:2] / direction[2]
    layer_depth = (
        np.asarray(geometry.layer_depth_mm, dtype=np.float64) if geometry is not None else np.zeros(n_layers)
    )
    columns = min(_COLUMNS, n_layers)
    rows = math.ceil(n_layers / columns)
    figure = Figure(figsize=(4.0 + 1.75 * columns + 6.5, max(5.2, 1.75 * rows + 1.6)))
    outer = figure.add_gridspec(
        1,
        3,
        width_ratios=[1.75 * columns, 6.5, 0.25],
        wspace=0.12,
        left=0.05,
        right=0.95,
        top=0.88,
        bottom=0.08,
    )
    grid = outer[0, 0].subgridspec(rows, columns, wspace=0.06, hspace=0.08)
    mappable = None
    for i in range(n_layers):
        ax = figure.add_subplot(grid[i // columns, i % columns])
        here = layer == i
        if pitch:
            corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * pitch
            verts = np.stack([x[here], y[here]], axis=1)[:, None, :] + corners[None]
            patches = PolyCollection(verts, array=e[here], cmap=cmap, norm=norm, edgecolors="none")
            ax.add_collection(patches)
            mappable = patches
        else:
            mappable = ax.scatter(
                x[here], y[here], c=e[here], s=4, marker="s", cmap=cmap, norm=norm, linewidths=0
            )
        # The incident axis: training points are measured from it (tilt removed); cells from the
        # incident point, the axis then at depth * (p_x, p_y) / p_z in layer i.
        axis_x, axis_y = (
            (0.0, 0.0) if cells is None else (layer_depth[i] * slope[0], layer_depth[i] * slope[1])
        )
        ax.axhline(axis_y, color="0.75", lw=0.5, ls="--", zorder=0)
        ax.axvline(axis_x, color="0.75", lw=0.5, ls="--", zorder=0)
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(cy - half, cy + half)
        ax.set_aspect("equal")
        ax.minorticks_off()  # tens of panels: minor ticks would cost most of the drawing time
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.tick_params(labelsize=6, direction="in")
        if i % columns:
            ax.tick_params(labelleft=False)
        if i + columns < n_layers:
            ax.tick_params(labelbottom=False)
        name = f"{edges[i]:.0f}-{edges[i + 1]:.0f} mm" if in_mm else f"layer {i}"
        ax.text(
            0.04,
            0.95,
            f"{name}\n{e[here].sum():.3g} MeV",
            transform=ax.transAxes,
            fontsize=6,
            va="top",
            ha="left",
        )
        if i == (rows - 1) * columns:
            ax.set_xlabel("x [mm]", fontsize=8)
            ax.set_ylabel("y [mm]", fontsize=8)

    ax3 = figure.add_subplot(outer[0, 1], projection="3d")
    crowd = min(1.0, math.sqrt(500.0 / max(len(e), 1)))  # smaller markers for many hits
    size = (1.0 + 50.0 * np.sqrt(e / top)) * crowd if len(e) else e
    shown = (np.abs(x - cx) <= half) & (np.abs(y - cy) <= half)  # 3D axes do not clip: keep to the window
    ax3.scatter(
        x[shown],
        depth[shown],
        y[shown],
        c=e[shown],
        s=size[shown],
        cmap=cmap,
        norm=norm,
        linewidths=0,
        depthshade=False,
        alpha=0.85,
    )
    if not shown.all():
        ax3.set_title(
            f"{np.count_nonzero(~shown)} hits ({e[~shown].sum():.3g} MeV) outside the window not shown",
            fontsize=8,
        )
    ax3.set_xlim(cx - half, cx + half)
    ax3.set_zlim(cy - half, cy + half)
    if len(depth):
        ax3.set_ylim(min(0.0, float(depth.min())), float(depth.max()) * 1.02 + 1e-9)
    ax3.set_xlabel("x [mm]", fontsize=9, labelpad=6)
    ax3.set_ylabel(depth_label, fontsize=9, labelpad=6)
    ax3.set_zlabel("y [mm]", fontsize=9, labelpad=6)
    ax3.tick_params(labelsize=7)
    ax3.view_init(elev=18, azim=-58)
    ax3.set_box_aspect((1.0, 1.5, 1.0), zoom=0.95)

    cax = figure.add_subplot(outer[0, 2])
    if mappable is None:
        mappable = ax3.collections[0]
    bar = figure.colorbar(mappable, cax=cax)
    bar.set_label(f"energy per {'cell' if cells is not None else 'point'} [MeV]", fontsize=9)
    bar.ax.tick_params(labelsize=7)

    energy = float(shower.incident_energy_gev[0])
    head = (
        f"{source}: {energy:.4g} GeV, pdg {int(shower.pdg[0])}, direction "
        f"({', '.join(f'{v:.3f}' for v in shower.direction[0])}) [{_angles_text(shower.direction[0])}]"
    )
    total = float(shower.visible_energy_mev[0])
    if cells is not None:
        kept = float(hits.visible_energy_mev[0])
        lost = cells.losses.summary(total) if cells.losses is not None else "not reported"
        body = (
            f"projected into {geometry.name}: {int(hits.num_points[0])} cells "
            f"(threshold {geometry.threshold_mev:g} MeV) hold {kept:.4g} MeV of the points' {total:.4g} MeV; "
            f"lost {lost}"
        )
    else:
        kind = "raw hits" if in_mm else "training points (tilt removed)"
        body = f"{kind} as they are: {int(hits.num_points[0])} points, {total:.4g} MeV"
    figure.suptitle(f"{head}\n{body}", fontsize=11, x=0.05, y=0.97, ha="left")
    return figure


def _write_png(figure: Figure, path: Path, source: str, dpi: int) -> None:
    from . import __version__
    from .serialization import atomic_path

    metadata = {
        "Software": f"{_SOFTWARE} {__version__}",
        "Title": "calozoo event display",
        "Description": source,
    }
    with atomic_path(path, kind=DISPLAY_KIND, recognise=is_calozoo_display) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, metadata=metadata)
