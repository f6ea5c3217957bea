"""``ild-ecal-endcap``: the two ILD ECAL endcaps as built: quadrants, gaps, the hole and its ring.

Frames (all lengths in mm; pictures in ``docs/geometry.md``):

- **global**: ``z`` along the beam, as for the barrel. Endcap 0 has its front face at
  ``z = +2411.8`` and looks along ``+z``; endcap 1 is its mirror at ``z = −2411.8``.
- **face frame** ``(a, b)`` of an endcap, in the plane of its front face: endcap 0 has
  ``a = x, b = y``; endcap 1 has ``a = x, b = −y``, so that ``(a, b, outward normal)`` is
  right-handed in both.
- **local shower frame**: ``x = a``, ``y = b``, ``z`` along the endcap's outward normal (depth,
  0 on the front face), moved to the incident point. Shower directions, training points and
  cell hits live here. Unlike the barrel's, this frame has the 3.5 T solenoid field nearly
  *along* the shower axis: along local ``+z`` in endcap 0 and ``−z`` in endcap 1
  (:meth:`ILDEndcap.field_direction`).

Layout (``ild_ecal.json``, ``"endcap"``; its ``about`` text says what is assumed):

- the outline is the barrel's octagon with apothem 2095.84 mm; the central 800 x 800 mm hole
  holds the **ring**: 5 mm cells on a grid with an edge at the beam, a cell existing where its
  centre lies 250-390 mm from the beam;
- four **quadrants** in a pinwheel around the hole: quadrant 0 covers ``a ∈ [−400, R]``,
  ``b ∈ [400, R]``; quadrant ``q`` is quadrant 0 turned by ``q · 90°`` about the beam. In the
  quadrant's own frame ``(u, v)`` (``u`` along its long side from its edge, ``v`` from the
  hole outwards) the cells lie
  - along ``v`` like the barrel's along the beam: 3 modules of 3 towers of 2 wafers (1.6, 1.09
    and 0.5 mm margins), 1695.84 mm, the quadrant's short side exactly;
  - along ``u`` like the barrel's across a stave: each tower's slab holds whole 92.59 mm wafers
    from ``u = 0`` and one partial wafer where the octagon's diagonal (``u + v ≤ R√2``) or its
    side (``u ≤ R + 400``) ends it;
- every layer has the same grid (no staggering: the endcap's slabs are not cut with depth).

Energy between cells (guard rings, tower and module gaps, the steps where the slabs end, between
the ring and the quadrants) is *dead*; beyond the octagon or down the beam hole (ring cells
centred under 250 mm) *outside*; in front of layer 0 or behind layer 29 *outside the layers*
(with a :class:`~calozoo.interfaces.MissingLayersWarning`); cells below 0.1 MeV are dropped
*below threshold* (:class:`~calozoo.interfaces.EnergyLosses`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from calozoo.cellid import CellIdLayout
from calozoo.interfaces import CellHits
from calozoo.showers import Showers

from .asbuilt import AsBuilt
from .cells import Ladder, slab_cells, slab_wafers

__all__ = ["ILDEndcap", "EndcapCellHits", "EndcapLocation", "CELL_ID_LAYOUT", "RING"]

#: How far (mm) an incident point may lie from an endcap's front face and still count as on it.
FACE_TOLERANCE_MM = 1.0
#: The ``quadrant`` field of a ring cell.
RING = 4
#: An endcap cell id: endcap (0: +z, 1: −z), quadrant (0-3, or :data:`RING`), module, tower,
#: wafer and cell along the quadrant's long side ``u``, wafer and cell along ``v`` (from the
#: hole), layer, so that ``hex(cell_id)`` reads ``0xEQMTWWCCWVCCLL``. Ring cells keep module,
#: tower and wafers 0 and hold their grid indices ``floor(a / 5) + 128``, ``floor(b / 5) + 128``
#: in ``cell_u`` and ``cell_v``.
CELL_ID_LAYOUT = CellIdLayout(
    [
        ("endcap", 4),
        ("quadrant", 4),
        ("module", 4),
        ("tower", 4),
        ("wafer_u", 8),
        ("cell_u", 8),
        ("wafer_v", 4),
        ("cell_v", 8),
        ("layer", 8),
    ]
)
_RING_OFFSET = 128


@dataclass
class EndcapCellHits(CellHits):
    """:class:`~calozoo.interfaces.CellHits` plus where each shower entered.

    Attributes:
        endcap: ``(N,)`` 0 (+z) or 1 (−z).
        part: ``(N,)`` the quadrant (0-3) or :data:`RING` holding the incident point.
    """

    endcap: np.ndarray = field(kw_only=True)
    part: np.ndarray = field(kw_only=True)


class EndcapLocation(NamedTuple):
    """Where a global incident point and direction land on an endcap (:meth:`ILDEndcap.locate`).

    Attributes:
        endcap: 0 (+z) or 1 (−z) (``(N,)`` for ``N`` points, an int for one).
        part: the quadrant 0-3 or :data:`RING` the point lies on.
        point_mm: ``(a, b)`` in the endcap's face frame, ``(N, 2)`` or ``(2,)``.
        direction: the unit direction in the local frame (``p_z > 0``: into the calorimeter),
            or ``None`` if no direction was given.
    """

    endcap: Any
    part: Any
    point_mm: np.ndarray
    direction: np.ndarray | None


class ILDEndcap(AsBuilt):
    """The ILD silicon-tungsten ECAL endcaps with their quadrants, gaps, hole and ring.

    Projects training points (tilt removed, ``z`` in layer units, directions in the local frame
    of the endcap they enter) into the cells of that endcap: re-applies the tilt with each
    layer's depth, places the shower at the incident point, sums energies per cell, drops what
    lands in dead regions, beyond the octagon or down the beam hole, and cells below 0.1 MeV.
    Frames and layout: the module docstring and ``docs/geometry.md``.

    Args:
        threshold_mev: cells below this energy (MeV) are dropped; default 0.1 (half a MIP).
        name: the registered name.

    Attributes:
        facts: the barrel's :class:`~calozoo_ild.facts.ILDEcalFacts` (stack and cells).
        endcap_facts: the endcap's :class:`~calozoo_ild.facts.EndcapFacts`.

    Example:
        >>> geo = ILDEndcap()
        >>> s = Showers.from_point_lists([np.array([[0.0, 0.0, 0.5, 1.0], [30.0, 0.0, 0.5, 2.0]])], [10.0])
        >>> hits = geo.project(s)          # at the default point: a wafer centre of quadrant 0
        >>> hits.showers.shower(0)[:, 3].tolist(), hits.part.tolist()
        ([1.0, 2.0], [0])
        >>> where = geo.locate([0.0, 1000.0, -2411.8], [0.0, 0.0, -1.0])
        >>> int(where.endcap), int(where.part), where.point_mm.tolist(), where.direction.tolist()
        (1, 2, [0.0, -1000.0], [0.0, 0.0, 1.0])
    """

    name = "ild-ecal-endcap"
    calibration_layer_groups = ((0, 20), (20, 30))
    normal_name = "endcap's outward normal"
    towards = "back towards the interaction point"

    def __init__(self, threshold_mev: float | None = None, name: str = "ild-ecal-endcap"):
        super().__init__(threshold_mev, name)
        f = self.facts
        e = self.endcap_facts = f.endcap
        self._h = e.hole_half_width_mm
        self._apothem = e.outer_radius_mm
        # from the hole outwards: modules of towers of wafers, the barrel's margins and pitches
        tower_pitch = 2 * f.tower_margin_mm + e.wafers_per_tower * f.wafer_pitch_mm
        module_pitch = 2 * f.module_margin_mm + e.towers_per_module * tower_pitch
        self._ladder = Ladder(
            0.0,
            e.modules_per_quadrant,
            module_pitch,
            f.module_margin_mm,
            e.towers_per_module,
            tower_pitch,
            f.tower_margin_mm,
            e.wafers_per_tower,
            f.wafer_pitch_mm,
            f.guard_ring_mm,
            f.cells_per_wafer,
            f.cell_size_mm,
        )
        # along the long side: each tower's slab ends at the octagon's side or at its diagonal,
        # whichever comes first at the tower's outer edge
        towers = np.arange(e.modules_per_quadrant * e.towers_per_module)
        module, tower = np.divmod(towers, e.towers_per_module)
        outer_v = module * module_pitch + f.module_margin_mm + (tower + 1) * tower_pitch
        length = np.minimum(self._apothem + self._h, self._apothem * math.sqrt(2.0) - outer_v)
        self._full_wafers, self._partial_cells = slab_wafers(length, f)
        self.slab_length_mm = length

    @staticmethod
    def field_direction(endcap: int) -> tuple[float, float, float]:
        """The unit vector of the solenoid field in the local frame of ``endcap`` (0: +z, 1: −z).

        Along the shower axis in endcap 0 and against it in endcap 1: the field is along global
        ``+z`` and each endcap's local ``z`` is its outward normal.
        """
        if endcap not in (0, 1):
            raise ValueError(f"endcap must be 0 (+z) or 1 (-z), got {endcap!r}")
        return (0.0, 0.0, 1.0) if endcap == 0 else (0.0, 0.0, -1.0)

    # ------------------------------------------------------------------ frames
    @staticmethod
    def _to_quadrant(a: np.ndarray, b: np.ndarray, q: np.ndarray | int):
        """``(a, b)`` turned by ``−q · 90°``: quadrant ``q``'s points land where quadrant 0's lie."""
        q = np.asarray(q) % 4
        return (
            np.select([q == 0, q == 1, q == 2], [a, b, -a], -b),
            np.select([q == 0, q == 1, q == 2], [b, -a, -b], a),
        )

    @staticmethod
    def _from_quadrant(a: np.ndarray, b: np.ndarray, q: np.ndarray | int):
        """The inverse of :meth:`_to_quadrant`: turn by ``+q · 90°``."""
        q = np.asarray(q) % 4
        return (
            np.select([q == 0, q == 1, q == 2], [a, -b, -a], b),
            np.select([q == 0, q == 1, q == 2], [b, a, -b], -a),
        )

    def _quadrant(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The quadrant (0-3) of face points outside the hole, :data:`RING` inside it."""
        h = self._h
        part = np.full(np.shape(a), RING, dtype=np.int64)
        for q in range(3, -1, -1):  # the boundaries are measure zero; the lowest q wins
            aq, bq = self._to_quadrant(a, b, q)
            part = np.where((aq >= -h) & (bq >= h), q, part)
        return part

    def inside_outline(self, a, b) -> np.ndarray:
        """Whether face points ``(a, b)`` lie within the octagon (apothem 2095.84 mm)."""
        a, b = np.abs(np.asarray(a, dtype=np.float64)), np.abs(np.asarray(b, dtype=np.float64))
        return (a <= self._apothem) & (b <= self._apothem) & (a + b <= self._apothem * math.sqrt(2.0))

    def _ring_cells(self, a: np.ndarray, b: np.ndarray):
        """``(ix, iy, alive, hole)`` of face points in the hole: ``hole`` means down the beam pipe."""
        e = self.endcap_facts
        size = e.ring_cell_size_mm
        ix, iy = np.floor(a / size), np.floor(b / size)
        radius = np.hypot((ix + 0.5) * size, (iy + 0.5) * size)
        hole = radius < e.ring_inner_radius_mm
        alive = ~hole & (radius < e.ring_outer_radius_mm)
        return ix, iy, alive, hole

    def _classify(self, a: np.ndarray, b: np.ndarray):
        """Cell fields of face points and two masks.

        ``(part, module, tower, wafer_u, cell_u, wafer_v, cell_v, alive, outside)``.
        """
        f = self.facts
        h = self._h
        part = self._quadrant(a, b)
        aq, bq = self._to_quadrant(a, b, part)
        u, v = aq + h, bq - h
        module, tower, wafer_v, cell_v, alive_v, _ = self._ladder.cells(v)
        slab = np.clip(module * self._ladder.n_towers + tower, 0, len(self._full_wafers) - 1).astype(np.int64)
        wafer_u, cell_u, alive_u = slab_cells(
            u,
            self._full_wafers[slab],
            self._partial_cells[slab],
            f,
        )
        in_ring = part == RING
        ix, iy, ring_alive, hole = self._ring_cells(a, b)
        alive = np.where(in_ring, ring_alive, alive_v & alive_u)
        outside = np.where(in_ring, hole, ~self.inside_outline(a, b))
        alive &= ~outside
        zero = np.zeros_like(a)
        fields = [
            part,
            np.where(in_ring, zero, module),
            np.where(in_ring, zero, tower),
            np.where(in_ring, zero, wafer_u),
            np.where(in_ring, ix + _RING_OFFSET, cell_u),
            np.where(in_ring, zero, wafer_v),
            np.where(in_ring, iy + _RING_OFFSET, cell_v),
        ]
        return (*fields, alive, outside)

    # ------------------------------------------------------------------ cells
    def cell_position_mm(self, cell_id) -> np.ndarray:
        """``(..., 3)`` cell centres in the face frame: ``(a, b, depth of the layer)``; NaN for ``-1``."""
        ids = np.asarray(cell_id, dtype=np.int64)
        valid = ids >= 0
        d = {k: np.where(valid, v, 0) for k, v in CELL_ID_LAYOUT.decode(ids).items()}
        f = self.facts
        u = f.wafer_pitch_mm * d["wafer_u"] + f.guard_ring_mm + f.cell_size_mm * (d["cell_u"] + 0.5)
        v = self._ladder.centre_mm(d["module"], d["tower"], d["wafer_v"], d["cell_v"])
        a, b = self._from_quadrant(u - self._h, v + self._h, d["quadrant"])
        size = self.endcap_facts.ring_cell_size_mm
        ring = d["quadrant"] == RING
        a = np.where(ring, (d["cell_u"] - _RING_OFFSET + 0.5) * size, a)
        b = np.where(ring, (d["cell_v"] - _RING_OFFSET + 0.5) * size, b)
        position = np.stack([a, b, self._depth[np.clip(d["layer"], 0, self.n_layers - 1)]], axis=-1)
        return np.where(valid[..., None], position, np.nan)

    def to_global_mm(self, endcap, position_mm) -> np.ndarray:
        """Global ``(x, y, z)`` of face-frame points ``(a, b, depth)`` of ``endcap``, ``(..., 3)``."""
        sign = np.where(np.asarray(endcap) == 0, 1.0, -1.0)[..., None]
        p = np.asarray(position_mm, dtype=np.float64)
        z = self.endcap_facts.z_min_mm + p[..., 2:3]
        return np.concatenate([p[..., 0:1], sign * p[..., 1:2], sign * z], axis=-1)

    def cell_centre_mm(self, cell_id) -> np.ndarray:
        """``(..., 3)`` global ``(x, y, z)`` cell centres in mm; NaN for ``-1``."""
        ids = np.asarray(cell_id, dtype=np.int64)
        endcap = np.where(ids >= 0, CELL_ID_LAYOUT.field(ids, "endcap"), 0)
        return self.to_global_mm(endcap, self.cell_position_mm(ids))

    @property
    def default_incident_point_mm(self) -> np.ndarray:
        """``(3,)`` global point used when :meth:`project` gets no incident point.

        On endcap 0's front face in quadrant 0, at the centre of a wafer: along ``v`` the first
        wafer of the middle tower of the middle module, along ``u`` the wafer whose centre is
        nearest ``a = 0``. About ``(16.66, 1201.63, 2411.8)`` mm, 26.5° from the beam seen from
        the interaction point.
        """
        f, e = self.facts, self.endcap_facts
        half = f.cells_per_wafer / 2 - 0.5
        v = self._ladder.centre_mm(e.modules_per_quadrant // 2, e.towers_per_module // 2, 0, half)
        centres_u = f.wafer_pitch_mm * np.arange(self._full_wafers.min()) + f.guard_ring_mm
        centres_u = centres_u + f.cell_size_mm * (half + 0.5)
        u = centres_u[np.argmin(np.abs(centres_u - self._h))]
        return self.to_global_mm(0, [u - self._h, v + self._h, 0.0])

    # ------------------------------------------------------------------ incident points
    def _on_face(self, point) -> tuple[np.ndarray, np.ndarray]:
        """``(endcap (N,), face (a, b) (N, 2))`` of ``(N, 3)`` global points on a front face."""
        e = self.endcap_facts
        p = np.asarray(point, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise ValueError(f"{self.name}: incident points must be (3,) or (N, 3) global (x, y, z) in mm")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{self.name}: incident point contains NaN or infinite values")
        off = np.abs(p[:, 2]) - e.z_min_mm
        bad = np.abs(off) > FACE_TOLERANCE_MM
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{self.name}: incident point {p[i].tolist()} mm is not on an endcap's front face: "
                f"it lies {off[i]:+.2f} mm from the face (the faces are at z = ±{e.z_min_mm} mm; "
                f"tolerance {FACE_TOLERANCE_MM} mm; the barrel is a separate geometry)"
            )
        endcap = (p[:, 2] < 0).astype(np.int64)
        a, b = p[:, 0], np.where(endcap == 0, p[:, 1], -p[:, 1])
        radius = np.hypot(a, b)
        problems = [
            (
                ~self.inside_outline(a, b),
                f"is beyond the endcap's outline (the octagon of apothem {self._apothem} mm)",
            ),
            (
                radius < e.ring_inner_radius_mm,
                f"is in the beam hole (less than {e.ring_inner_radius_mm} mm from the beam, inside the ring)",
            ),
        ]
        for mask, what in problems:
            if np.any(mask):
                i = int(np.flatnonzero(mask)[0])
                raise ValueError(f"{self.name}: incident point {p[i].tolist()} mm {what}")
        return endcap, np.stack([a, b], axis=1)

    def _local_direction(self, endcap: np.ndarray, direction: np.ndarray) -> np.ndarray:
        sign = np.where(endcap == 0, 1.0, -1.0)
        return (
            np.stack([direction[:, 0], sign * direction[:, 1], sign * direction[:, 2]], axis=1) + 0.0
        )  # no -0.0

    def locate(self, global_point, global_direction=None) -> EndcapLocation:
        """Find the endcap and part a global incident point lies on, and the local frame there.

        Args:
            global_point: ``(3,)`` or ``(N, 3)`` global ``(x, y, z)`` in mm on a front face
                (``|z|`` within 1 mm of 2411.8, inside the octagon, at least 250 mm from the beam).
            global_direction: optional ``(3,)`` or ``(N, 3)`` global unit direction.

        Returns:
            :class:`EndcapLocation`: endcap, quadrant or ring, the point in the face frame, the
            direction in the local frame (the input to a model's ``sample``).

        Raises:
            ValueError: the point is off the faces, beyond the outline or in the beam hole; NaN;
                the direction is not a unit vector or points out of the calorimeter.
        """
        point = np.asarray(global_point, dtype=np.float64)
        single = point.ndim == 1
        endcap, face = self._on_face(np.atleast_2d(point))
        part = self._quadrant(face[:, 0], face[:, 1])
        local = None
        if global_direction is not None:
            d = self._directions(global_direction, len(endcap))
            local = self._local_direction(endcap, d)
            self._check_local_direction(local, "direction")
        if single:
            return EndcapLocation(int(endcap[0]), int(part[0]), face[0], None if local is None else local[0])
        return EndcapLocation(endcap, part, face, local)

    # ------------------------------------------------------------------ projection
    def project(self, showers: Showers, incident_point_mm=None) -> EndcapCellHits:
        """Project training points into the endcap's cells.

        Args:
            showers: training points: ``x, y`` in mm relative to the incident trajectory (tilt
                removed), ``z`` in layer units, ``e`` in MeV, directions in the local frame of
                the endcap they enter (``p_z > 0``).
            incident_point_mm: global ``(x, y, z)`` on a front face where each shower enters,
                ``(3,)`` shared or ``(N, 3)``; default :attr:`default_incident_point_mm`.

        Returns:
            :class:`EndcapCellHits`: one point per cell at its centre, ``x, y`` (the face frame's
            ``a, b``) relative to the incident point, ``z`` = layer + 0.5, ``e`` in MeV; cell ids
            (:data:`CELL_ID_LAYOUT`); the endcap and part entered; the energy lost per shower and
            cause.

        Raises:
            ValueError: points not in layer units or NaN, incident points off the faces, beyond
                the outline or in the beam hole, directions not unit or pointing outwards.
        """
        point = self._incident_points(showers, incident_point_mm)
        endcap, origin = self._on_face(point)
        p = self._place(showers, origin)
        *fields, alive, outside = self._classify(p.u, p.v)
        alive &= p.in_layers
        key = CELL_ID_LAYOUT.encode(
            endcap[p.shower][alive], *(v[alive].astype(np.int64) for v in fields), p.layer[alive]
        )
        hits = self._sum_cells(
            showers,
            p,
            origin,
            key,
            alive,
            p.in_layers & outside,
            lambda key: key,
            lambda ids: CELL_ID_LAYOUT.field(ids, "layer"),
        )
        part = self._quadrant(origin[:, 0], origin[:, 1])
        return EndcapCellHits(hits.showers, hits.cell_id, hits.losses, endcap=endcap, part=part)

    def describe(self) -> str:
        e = self.endcap_facts
        return (
            f"{self.name}: ILD ECAL endcaps at |z| = {e.z_min_mm}-{e.z_max_mm} mm, octagon of apothem "
            f"{e.outer_radius_mm} mm, {e.n_quadrants} quadrants of {e.modules_per_quadrant} modules x "
            f"{e.towers_per_module} towers around an {2 * e.hole_half_width_mm:g} mm hole with its ring "
            f"({e.ring_cell_size_mm:g} mm cells, {e.ring_inner_radius_mm:g}-{e.ring_outer_radius_mm:g} mm), "
            f"{self.n_layers} layers, {self.cell_size_mm} mm cells, threshold {self.threshold_mev:g} MeV"
        )
