"""``ild-ecal-barrel``: the ILD ECAL barrel as built: 8 staves, dead gaps, staggered slabs, threshold.

Frames (all lengths in mm; see ``docs/geometry.md`` for pictures):

- **global**: ``z`` along the beam, the barrel's axis through the origin. Stave ``s`` (0-7) has
  its outward normal at azimuth ``φ_s = s · 45°``: stave 0 points along ``+x``, stave 2 is the
  top stave (``+y``), numbered counter-clockwise seen from ``+z``. (DD4hep numbers the same
  staves 1-8.)
- **stave frame** of stave ``s``: ``z`` along its outward normal ``n_s`` (depth, 0 on the inner
  face at 1804.8 mm from the beam), ``x`` along the beam (global ``z``), ``y = z × x`` across
  the stave (right-handed; for the top stave ``y`` is global ``x``), ``y = 0`` at the foot of
  the normal from the beam (the middle of the octagon's side).
- **local shower frame**: the stave frame moved to the incident point on the inner face. This is
  the frame of :class:`~calozoo.showers.Showers` directions and of the projected cell hits, and
  the frame of :func:`calozoo.conditions.direction_from_angles` for the top stave.

Cells, read from the spec (``shared/specs/geometry.md``):

- **along the beam** every layer has the same grid: the centre of cell ``c`` of wafer ``w`` of
  tower ``t`` of module ``m`` is ``−2350 + 940 m + 1.6 + 187.36 t + 1.09 + 92.59 w + 0.5 +
  5.08833 (c + ½)``. Between the cells of neighbouring wafers, towers and modules lie dead
  strips of about 1.0, 3.18 and 6.38 mm (guard rings, tower walls, module walls).
- **across the stave** each slab (layers ``2k`` and ``2k + 1``, which share its grid) is laid
  with 92.59 mm wafers (0.5 mm guard ring on each edge, 18 cells) starting at its ``−y`` end;
  the far ``+y`` end holds one partial wafer with as many whole cells as fit (none for some
  slabs). The module's ends are cut at 45°, so a slab whose back face lies at depth ``d`` spans
  ``y`` from ``−h + d`` to ``h + 2 · 147.6 − d`` (``h = 1804.8 tan 22.5°`` = 747.57, half the
  octagon side): each slab's grid is shifted by the slab pitch, 12.47 mm per thin slab and
  16.67 mm per thick one (2.293 / 1.405 mm modulo the cell pitch) - the staggering.
- **pinwheel**: each stave's inner face runs from the octagon corner on its ``−y`` side to
  ``2 · 147.6`` mm past the corner on its ``+y`` side, where it tucks behind stave ``s − 1``
  (whose 45° end lies on the plane of stave ``s``'s inner face).

Energy that lands between cells is *dead*; energy beyond the slab's ends (in the neighbouring
stave, not simulated here) or beyond the barrel's ends (``|z| > 2350``) is *outside*; energy in
front of layer 0 or behind layer 29 is *outside the layers* (with a
:class:`~calozoo.interfaces.MissingLayersWarning`); cells below 0.1 MeV are dropped *below
threshold*. :class:`BarrelCellHits` reports all four per shower
(:class:`~calozoo.interfaces.EnergyLosses`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from calozoo.cellid import CellIdLayout
from calozoo.interfaces import CellHits, EnergyLosses, warn_missing_layers
from calozoo.layered import pad_cell_hits
from calozoo.showers import Showers

from .asbuilt import AsBuilt
from .cells import Ladder, slab_wafers

__all__ = [
    "ILDBarrel",
    "BarrelCellHits",
    "EnergyLosses",
    "StaveLocation",
    "CELL_ID_FIELDS",
    "CELL_ID_LAYOUT",
    "encode_cell_id",
    "decode_cell_id",
]

#: How far (mm) an incident point may lie from a stave's inner face and still count as on it.
FACE_TOLERANCE_MM = 1.0

# ---------------------------------------------------------------------------- cell ids

#: Fields of a barrel cell id, most significant first, 8 bits each, so that ``hex(cell_id)``
#: reads ``0xSSMMTTWXCXWYCYLL``: stave, module, tower, wafer and cell along the beam, wafer and
#: cell across the stave (wafer counted from the slab's ``−y`` end), layer.
CELL_ID_FIELDS = ("stave", "module", "tower", "wafer_x", "cell_x", "wafer_y", "cell_y", "layer")
#: The barrel's :class:`~calozoo.cellid.CellIdLayout`.
CELL_ID_LAYOUT = CellIdLayout([(name, 8) for name in CELL_ID_FIELDS])


def encode_cell_id(stave, module, tower, wafer_x, cell_x, wafer_y, cell_y, layer) -> np.ndarray:
    """Pack cell indices (broadcastable integer arrays, each 0-255) into int64 cell ids.

    >>> hex(int(encode_cell_id(2, 1, 4, 0, 17, 7, 3, 29)))
    '0x20104001107031d'
    """
    return CELL_ID_LAYOUT.encode(stave, module, tower, wafer_x, cell_x, wafer_y, cell_y, layer)


def decode_cell_id(cell_id) -> dict[str, np.ndarray]:
    """Unpack cell ids into ``{field: int64 array}`` (fields of :data:`CELL_ID_FIELDS`); ``-1``
    (padding) decodes to ``-1`` in every field.

    >>> {k: int(v) for k, v in decode_cell_id(0x20104001107031D).items()}
    {'stave': 2, 'module': 1, 'tower': 4, 'wafer_x': 0, 'cell_x': 17, 'wafer_y': 7, 'cell_y': 3, 'layer': 29}
    """
    return CELL_ID_LAYOUT.decode(cell_id)


# ---------------------------------------------------------------------------- results


@dataclass
class BarrelCellHits(CellHits):
    """:class:`~calozoo.interfaces.CellHits` plus the stave each shower hit.

    Attributes:
        stave: ``(N,)`` the stave each shower entered (0-7).
        losses: per-shower energy in dead regions (``dead_mev``), beyond the slab's or the
            barrel's ends (``outside_mev``), in front of layer 0 or behind layer 29
            (``outside_layers_mev``) and below threshold (``below_threshold_mev``).
    """

    stave: np.ndarray = field(kw_only=True)


class StaveLocation(NamedTuple):
    """Where a global incident point and direction land on the barrel (see :meth:`ILDBarrel.locate`).

    Attributes:
        stave: stave index 0-7 (``(N,)`` for ``N`` points, an int for one).
        point_mm: ``(x, y)`` on the stave's inner face in the stave frame: ``x`` along the beam
            (global ``z``), ``y`` across the stave from the middle of the octagon side; ``(N, 2)``
            or ``(2,)``.
        direction: the unit direction in the local frame of that stave (``p_z > 0``: into the
            calorimeter); ``(N, 3)``, ``(3,)``, or ``None`` if no direction was given.
    """

    stave: Any
    point_mm: np.ndarray
    direction: np.ndarray | None


# ---------------------------------------------------------------------------- the geometry


class ILDBarrel(AsBuilt):
    """The ILD silicon-tungsten ECAL barrel with its real cells, dead regions and staggering.

    Projects training points (tilt removed, ``z`` in layer units, directions in the local frame of
    the stave they enter) into the cells of the stave that holds the incident point: re-applies
    the tilt with each layer's depth, places the shower at the incident point, sums energies per
    cell (:func:`calozoo.layered.cell_sums`), drops what lands in dead regions or outside the
    stave and cells below 0.1 MeV. Frames, cell layout and what is simplified: see the module
    docstring and ``docs/geometry.md``.

    Args:
        threshold_mev: cells below this energy (MeV) are dropped; default 0.1 (half a MIP).
        name: the registered name.

    Attributes:
        facts: the :class:`~calozoo_ild.facts.ILDEcalFacts` it is built from.
        stave_normal: ``(8, 3)`` global outward unit normal of each stave (local ``z``).
        stave_across: ``(8, 3)`` global unit vector across each stave (local ``y``).
        half_side_mm: half the octagon's side at the inner face, ``1804.8 tan 22.5°`` (747.57).

    Example:
        >>> geo = ILDBarrel()
        >>> s = Showers.from_point_lists([np.array([[0.0, 0.0, 0.5, 1.0], [30.0, 0.0, 0.5, 2.0]])], [10.0])
        >>> hits = geo.project(s)          # aimed at the default point, a wafer centre of stave 2
        >>> hits.showers.shower(0)[:, 3].tolist(), hits.stave.tolist()
        ([1.0, 2.0], [2])
        >>> geo.locate([0.0, 1804.8, 100.0], [0.0, 1.0, 0.0])
        StaveLocation(stave=2, point_mm=array([100.,   0.]), direction=array([0., 0., 1.]))
    """

    name = "ild-ecal-barrel"
    #: Layers with the same tungsten (20 behind 2.1 mm plates, 10 behind 4.2 mm): the photon
    #: finder's calibration has one weight per group (:mod:`calozoo.reconstruction`).
    calibration_layer_groups = ((0, 20), (20, 30))
    normal_name = "stave's outward normal"
    towards = "towards the beam"

    def __init__(self, threshold_mev: float | None = None, name: str = "ild-ecal-barrel"):
        super().__init__(threshold_mev, name)
        f = self.facts

        # Staves: outward normal n_s at azimuth s * 360° / n; across-stave axis y_s = n_s × z.
        phi = 2 * np.pi * np.arange(f.n_staves) / f.n_staves
        cos, sin = (np.where(np.abs(v) < 1e-12, 0.0, v) for v in (np.cos(phi), np.sin(phi)))  # exact zeros
        self.stave_normal = np.stack([cos, sin, np.zeros_like(phi)], axis=1)
        self.stave_across = np.stack([sin, -cos, np.zeros_like(phi)], axis=1)
        self.half_side_mm = f.inner_radius_mm * math.tan(math.pi / f.n_staves)

        # Pinwheel: the inner face runs from the corner at -h to 2 * shift past the corner at +h.
        # The module ends are cut at the octagon angle (45°), so a slab whose back face lies at
        # depth d is shorter by d / tan(45°) at each end: the grid of slab k starts there.
        end_cut = f.slab_back_depth_mm() / math.tan(2 * math.pi / f.n_staves)
        self._slab_start = -self.half_side_mm + end_cut
        self._slab_end = self.half_side_mm + 2 * f.pinwheel_shift_mm - end_cut
        self._full_wafers, self._partial_cells = slab_wafers(self._slab_end - self._slab_start, f)
        #: cells along the beam: 5 modules of 5 towers of 2 wafers from the barrel's -z end
        self._beam = Ladder(
            f.beam_origin_mm,
            f.n_modules,
            f.module_length_mm,
            f.module_margin_mm,
            f.n_towers,
            f.tower_pitch_mm,
            f.tower_margin_mm,
            f.wafers_per_tower,
            f.wafer_pitch_mm,
            f.guard_ring_mm,
            f.cells_per_wafer,
            f.cell_size_mm,
        )

        # Sizes of the cell-id fields after the stave: the mixed radix of project()'s sort key.
        radices = (
            f.n_modules,
            f.n_towers,
            f.wafers_per_tower,
            f.cells_per_wafer,
            int(self._full_wafers.max()) + 1,
            f.cells_per_wafer,
            f.n_layers,
        )
        # What the compiled projection reads (kernels.project_points): numbers and arrays.
        b = self._beam
        self._kernel_tables = (
            tuple(
                float(v)
                for v in (
                    b.origin_mm,
                    b.module_pitch_mm,
                    b.module_margin_mm,
                    b.tower_pitch_mm,
                    b.tower_margin_mm,
                    b.wafer_pitch_mm,
                    b.guard_ring_mm,
                    b.cell_size_mm,
                )
            ),
            tuple(int(v) for v in (b.n_modules, b.n_towers, b.n_wafers, b.cells_per_wafer)),
            np.ascontiguousarray(np.stack([self._slab_start, self._slab_end], axis=1), dtype=np.float64),
            self._full_wafers.astype(np.int64),
            self._partial_cells.astype(np.int64),
            np.array(radices, dtype=np.int64),
        )
        self._default_point = self._make_default_point()

    # ------------------------------------------------------------------ cells
    def beam_cell_centre_mm(self, module, tower, wafer, cell) -> np.ndarray:
        """Centre along the beam (global ``z``, mm) of a cell, the spec's formula term by term."""
        return self._beam.centre_mm(module, tower, wafer, cell)

    def across_cell_centre_mm(self, layer, wafer, cell) -> np.ndarray:
        """Centre across the stave (stave-frame ``y``, mm) of cell ``cell`` of wafer ``wafer`` in a layer."""
        f = self.facts
        start = self._slab_start[np.asarray(layer) // 2]
        return (
            start
            + f.wafer_pitch_mm * np.asarray(wafer)
            + f.guard_ring_mm
            + f.cell_size_mm * (np.asarray(cell) + 0.5)
        )

    def across_cell_centres_mm(self, layer: int) -> np.ndarray:
        """All cell centres across the stave in ``layer`` (stave-frame ``y``, mm), from the ``−y`` end.

        Layers ``2k`` and ``2k + 1`` (slab ``k``) give the same array; slab ``k + 1``'s is slab
        ``k``'s shifted by the slab pitch (up to the partial wafer at the far end).
        """
        slab = int(layer) // 2
        cells = self.facts.cells_per_wafer
        wafer = np.repeat(np.arange(self._full_wafers[slab] + 1), cells)
        cell = np.tile(np.arange(cells), self._full_wafers[slab] + 1)
        keep = (wafer < self._full_wafers[slab]) | (cell < self._partial_cells[slab])
        return self.across_cell_centre_mm(int(layer), wafer[keep], cell[keep])

    def slab_extent_mm(self, layer: int) -> tuple[float, float]:
        """``(y_min, y_max)`` of the slab holding ``layer`` across the stave (stave frame, mm)."""
        slab = int(layer) // 2
        return float(self._slab_start[slab]), float(self._slab_end[slab])

    def cell_position_mm(self, cell_id) -> np.ndarray:
        """``(..., 3)`` cell centres in the stave frame: (along the beam, across, depth of the layer).

        Padding ids (``-1``) give NaN.
        """
        d = decode_cell_id(cell_id)
        valid = np.asarray(cell_id) >= 0
        layer = np.where(valid, d["layer"], 0)
        position = np.stack(
            [
                self.beam_cell_centre_mm(d["module"], d["tower"], d["wafer_x"], d["cell_x"]),
                self.across_cell_centre_mm(layer, d["wafer_y"], d["cell_y"]),
                self._depth[layer],
            ],
            axis=-1,
        )
        return np.where(valid[..., None], position, np.nan)

    @property
    def photon_calibration(self):
        """The photon finder's default energy calibration in this barrel
        (:class:`calozoo.reconstruction.PhotonCalibration`), fitted on reference-MC photons by
        ``geometries/ild/scripts/fit_photon_calibration.py`` (``photon_calibration.json``)."""
        from importlib import resources

        from calozoo.reconstruction import PhotonCalibration

        text = resources.files("calozoo_ild").joinpath("photon_calibration.json").read_text()
        data = json.loads(text)
        return PhotonCalibration(data["groups"], data["weights"])

    def cell_centre_mm(self, cell_id) -> np.ndarray:
        """``(..., 3)`` global ``(x, y, z)`` cell centres in mm (the beam along ``z``); NaN for ``-1``.

        >>> geo = ILDBarrel()
        >>> hits = geo.project(Showers.from_point_lists([np.array([[0.0, 0.0, 0.5, 1.0]])], [10.0]))
        >>> geo.cell_centre_mm(hits.cell_id[0]).round(2).tolist()
        [[-37.91, 1811.6, -43.75]]
        """
        ids = np.asarray(cell_id, dtype=np.int64)
        stave = np.where(ids >= 0, decode_cell_id(ids)["stave"], 0)
        return self.to_global_mm(stave, self.cell_position_mm(ids))

    def to_global_mm(self, stave, position_mm) -> np.ndarray:
        """Global ``(x, y, z)`` of stave-frame points ``(along the beam, across, depth)``, ``(..., 3)``."""
        s = np.asarray(stave)
        p = np.asarray(position_mm, dtype=np.float64)
        radial = (self.facts.inner_radius_mm + p[..., 2:3]) * self.stave_normal[s]
        return radial + p[..., 1:2] * self.stave_across[s] + p[..., 0:1] * np.array([0.0, 0.0, 1.0])

    @property
    def default_incident_point_mm(self) -> np.ndarray:
        """``(3,)`` global point used when :meth:`project` gets no incident point.

        On the top stave (normal ``+y``), at the centre of a wafer in layers 0-1: along the beam
        wafer 0 of the middle tower of the middle module, across the stave the wafer of slab 0
        nearest the middle of the octagon side. About ``(−40.45, 1804.8, −46.29)`` mm.
        """
        return self._default_point.copy()

    def _make_default_point(self) -> np.ndarray:
        f = self.facts
        half = f.cells_per_wafer / 2 - 0.5  # cell "index" of a wafer's centre
        beam = self.beam_cell_centre_mm(f.n_modules // 2, f.n_towers // 2, 0, half)
        centres = self.across_cell_centre_mm(0, np.arange(self._full_wafers[0]), half)
        across = centres[np.argmin(np.abs(centres))]
        top = f.n_staves // 4
        return self.to_global_mm(top, [beam, across, 0.0])

    # ------------------------------------------------------------------ incident points
    def _on_face(self, point) -> tuple[np.ndarray, np.ndarray]:
        """``(stave (N,), stave-frame (x, y) (N, 2))`` of ``(N, 3)`` global points on the inner face."""
        from . import kernels

        f = self.facts
        p = np.asarray(point, dtype=np.float64)
        if p.ndim == 2 and p.shape[1] == 3:
            # compiled: the same arithmetic in one pass; where it finds a point off the face, the
            # checks below say why
            stave, face, ok = kernels.on_face(
                np.ascontiguousarray(p),
                self.stave_normal,
                self.stave_across,
                f.inner_radius_mm,
                FACE_TOLERANCE_MM,
                f.half_length_mm,
            )
            if ok:
                return stave, face
        if p.ndim != 2 or p.shape[1] != 3:
            raise ValueError(f"{self.name}: incident points must be (3,) or (N, 3) global (x, y, z) in mm")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{self.name}: incident point contains NaN or infinite values")
        # The inner face is the octagon: a point on it lies on the plane of the stave whose normal
        # it is most aligned with, at the apothem.
        height = p @ self.stave_normal.T  # (N, n_staves) distance along each stave's normal
        stave = np.argmax(height, axis=1)
        off = height[np.arange(len(p)), stave] - f.inner_radius_mm
        bad = np.abs(off) > FACE_TOLERANCE_MM
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{self.name}: incident point {p[i].tolist()} mm is not on the barrel's inner face: it lies "
                f"{off[i]:+.2f} mm from the face of stave {stave[i]} (the inner face is the octagon at "
                f"{f.inner_radius_mm} mm from the beam; tolerance {FACE_TOLERANCE_MM} mm)"
            )
        beyond = np.abs(p[:, 2]) > f.half_length_mm
        if np.any(beyond):
            i = int(np.flatnonzero(beyond)[0])
            raise ValueError(
                f"{self.name}: incident point {p[i].tolist()} mm is beyond the barrel's end: |z| must be "
                f"<= {f.half_length_mm} mm (the endcap is a separate geometry)"
            )
        across = np.einsum("ij,ij->i", p, self.stave_across[stave])
        return stave, np.stack([p[:, 2], across], axis=1)

    def locate(self, global_point, global_direction=None) -> StaveLocation:
        """Find the stave a global incident point lies on, and the local frame there.

        Args:
            global_point: ``(3,)`` or ``(N, 3)`` global ``(x, y, z)`` in mm on the barrel's inner
                face (within 1 mm of a stave's plane, ``|z| <= 2350``).
            global_direction: optional ``(3,)`` or ``(N, 3)`` global unit direction of the
                incident particle.

        Returns:
            :class:`StaveLocation`: stave, point on the inner face in the stave frame, direction in
            the local frame (the input to a model's ``sample``).

        Raises:
            ValueError: the point is off the inner face or beyond the barrel's end; NaN; the
                direction is not a unit vector or points out of the calorimeter.
        """
        point = np.asarray(global_point, dtype=np.float64)
        single = point.ndim == 1
        stave, on_face = self._on_face(np.atleast_2d(point))
        local = None
        if global_direction is not None:
            d = self._directions(global_direction, len(stave))
            local = np.stack(
                [
                    d[:, 2],
                    np.einsum("ij,ij->i", d, self.stave_across[stave]),
                    np.einsum("ij,ij->i", d, self.stave_normal[stave]),
                ],
                axis=1,
            )
            self._check_local_direction(local, "direction")
        if single:
            return StaveLocation(int(stave[0]), on_face[0], None if local is None else local[0])
        return StaveLocation(stave, on_face, local)

    # ------------------------------------------------------------------ projection
    def project(self, showers: Showers, incident_point_mm=None) -> BarrelCellHits:
        """Project training points into the barrel's cells.

        Args:
            showers: training points: ``x, y`` in mm relative to the incident trajectory (tilt
                removed), ``z`` in layer units, ``e`` in MeV, directions in the local frame of
                the stave they enter (``p_z > 0``).
            incident_point_mm: global ``(x, y, z)`` on the inner face where each shower enters,
                ``(3,)`` shared or ``(N, 3)``; default :attr:`default_incident_point_mm`.

        Returns:
            :class:`BarrelCellHits`: one point per cell at its centre, ``x`` (along the beam) and
            ``y`` (across the stave) relative to the incident point, ``z`` = layer + 0.5, ``e``
            in MeV; cell ids (:data:`CELL_ID_FIELDS`); the stave; the energy lost per shower and
            cause (:class:`~calozoo.interfaces.EnergyLosses`; energy behind layer 29 or in front
            of layer 0 also raises a :class:`~calozoo.interfaces.MissingLayersWarning`).

        Raises:
            ValueError: points not in layer units or NaN, incident points off the inner face or NaN,
                directions that are not unit vectors or point out of the calorimeter.
        """
        from . import kernels  # numba: imported with the first projection, not with the geometry

        point = self._incident_points(showers, incident_point_mm)
        stave, origin = self._on_face(point)
        self._check_local_direction(showers.direction, "shower direction")
        # One compiled pass: each point's layer, tilt, cell along the beam and across its slab, or
        # why it has none; then each shower's cells summed, cut at the threshold, placed.
        shower, cell_id, xyz, energy, lost, finite = kernels.project_points(
            showers.points,
            showers.num_points,
            np.ascontiguousarray(showers.direction, dtype=np.float64),
            np.ascontiguousarray(origin),
            stave.astype(np.int64),
            self._depth,
            self._threshold,
            *self._kernel_tables,
        )
        if not finite:
            raise self._non_finite_points()
        losses = EnergyLosses(
            below_threshold_mev=lost[:, kernels.BELOW_THRESHOLD],
            outside_layers_mev=lost[:, kernels.OUTSIDE_LAYERS],
            outside_mev=lost[:, kernels.OUTSIDE],
            dead_mev=lost[:, kernels.DEAD],
        )
        warn_missing_layers(self, showers, losses)
        hits = pad_cell_hits(showers, shower, cell_id, xyz, energy, losses)
        return BarrelCellHits(hits.showers, hits.cell_id, hits.losses, stave=stave)

    def describe(self) -> str:
        f = self.facts
        return (
            f"{self.name}: ILD ECAL barrel, {f.n_staves} staves at {f.inner_radius_mm} mm, "
            f"{f.n_modules} modules x {f.n_towers} towers x {f.wafers_per_tower} wafers along the beam, "
            f"{self.n_layers} layers, {f.cell_size_mm} mm cells, threshold {self.threshold_mev:g} MeV"
        )
