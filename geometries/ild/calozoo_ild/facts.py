"""The ILD ECAL facts (``ild_ecal.json``) as a frozen dataclass, and the layer stack built from them.

Every number lives in the JSON file beside this module; this module only reads it and derives
what follows from it by addition: the full material stack from the front face to the back, the
depth of each silicon layer, the depth of each slab's back face (which sets where the slab ends,
and with it the staggering of the cell grid across the stave).

Example:
    >>> facts = load_facts()
    >>> stack = facts.material_stack()
    >>> round(sum(s.thickness_mm for s in stack), 6), sum(s.layer is not None for s in stack)
    (223.2, 30)
    >>> round(float(facts.layer_depth_mm()[0]), 4)      # centre of layer 0 behind the front face
    6.8025
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Slice", "ILDEcalFacts", "EndcapFacts", "load_facts", "MATERIALS", "SURROUNDING_MATERIALS"]

#: Material names used in the stack (the reference Monte Carlo maps them to its own tables).
MATERIALS = ("W", "Si", "Cu", "Al", "air", "polystyrene", "carbon fibre", "ground/HV mix")
#: Further materials of the passive surroundings (:meth:`ILDEcalFacts.surroundings_stack`).
SURROUNDING_MATERIALS = ("steel", "glass")

#: The thickness placeholder in the JSON for "this slab's tungsten plate".
_ABSORBER = "absorber"


class Slice(NamedTuple):
    """One material slab of the stack, front to back.

    Attributes:
        material: one of :data:`MATERIALS`.
        thickness_mm: thickness along the layer normal, mm.
        layer: the sensitive layer index (0-29) if this is a silicon sensor, else ``None``.
    """

    material: str
    thickness_mm: float
    layer: int | None


@dataclass(frozen=True)
class EndcapFacts:
    """The endcap's numbers (``ild_ecal.json``, ``"endcap"``; its ``about`` text says what is assumed).

    Lengths in mm. The layer stack and cells are the barrel's (:class:`ILDEcalFacts`).
    """

    z_min_mm: float
    z_max_mm: float
    outer_radius_mm: float
    hole_half_width_mm: float
    n_quadrants: int
    modules_per_quadrant: int
    towers_per_module: int
    wafers_per_tower: int
    ring_cell_size_mm: float
    ring_inner_radius_mm: float
    ring_outer_radius_mm: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndcapFacts:
        return cls(**{k: v for k, v in data.items() if k != "about"})


@dataclass(frozen=True)
class ILDEcalFacts:
    """The numbers of ``ild_ecal.json``, typed; see that file and ``docs/geometry.md``.

    Lengths in mm. Stack rows are ``(material, thickness_mm or "absorber", part)``.
    """

    # barrel
    inner_radius_mm: float
    n_staves: int
    depth_mm: float
    half_length_mm: float
    pinwheel_shift_mm: float
    field_tesla: float
    threshold_mev: float
    # cells and their dead borders
    cell_size_mm: float
    cells_per_wafer: int
    guard_ring_mm: float
    wafer_pitch_mm: float
    wafers_per_tower: int
    n_towers: int
    tower_pitch_mm: float
    tower_margin_mm: float
    n_modules: int
    module_length_mm: float
    module_margin_mm: float
    beam_origin_mm: float
    # layer stack
    n_slabs: int
    n_thin_slabs: int
    absorber_thin_mm: float
    absorber_thick_mm: float
    front: tuple[tuple[str, Any, str], ...]
    slab: tuple[tuple[str, Any, str], ...]
    between_slabs: tuple[tuple[str, Any, str], ...]
    back: tuple[tuple[str, Any, str], ...]
    silicon_layer_bottoms_mm: tuple[float, ...]
    # passive surroundings at normal incidence (the JSON's "surroundings"; see surroundings_stack)
    surroundings_front: tuple[tuple[str, Any, str], ...] = ()
    surroundings_back: tuple[tuple[str, Any, str], ...] = ()
    hcal_layer: tuple[tuple[str, Any, str], ...] = ()
    hcal_layers_kept: int = 0
    endcap: EndcapFacts | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ILDEcalFacts:
        stack = data["stack"]
        sur = data.get("surroundings", {})
        return cls(
            **data["barrel"],
            **data["cells"],
            n_slabs=stack["n_slabs"],
            n_thin_slabs=stack["n_thin_slabs"],
            absorber_thin_mm=stack["absorber_mm"]["thin"],
            absorber_thick_mm=stack["absorber_mm"]["thick"],
            **{part: tuple(map(tuple, stack[part])) for part in ("front", "slab", "between_slabs", "back")},
            silicon_layer_bottoms_mm=tuple(data["silicon_layer_bottoms_mm"]),
            surroundings_front=tuple(map(tuple, sur.get("front", ()))),
            surroundings_back=tuple(map(tuple, sur.get("back", ()))),
            hcal_layer=tuple(map(tuple, sur.get("hcal_layer", ()))),
            hcal_layers_kept=int(sur.get("hcal_layers_kept", 0)),
            endcap=EndcapFacts.from_dict(data["endcap"]) if "endcap" in data else None,
        )

    @property
    def n_layers(self) -> int:
        """Two silicon layers per slab (one on each side of its tungsten plate)."""
        return 2 * self.n_slabs

    def material_stack(self) -> tuple[Slice, ...]:
        """Every slice from the front face to the back, with the sensitive layer index of each sensor.

        Front plate, then slab 0, and for each further slab the structure plate between slabs
        followed by the slab. Slabs ``k >= n_thin_slabs`` and the plates in front of them carry
        the thick tungsten, so layers 0-19 follow 2.1 mm plates and layers 20-29 follow 4.2 mm.
        """
        stack: list[Slice] = []
        layer = 0

        def add(rows, absorber_mm: float) -> None:
            nonlocal layer
            for material, thickness, _part in rows:
                thickness = absorber_mm if thickness == _ABSORBER else float(thickness)
                sensitive = material == "Si"
                stack.append(Slice(material, thickness, layer if sensitive else None))
                layer += sensitive

        add(self.front, self.absorber_thin_mm)
        for k in range(self.n_slabs):
            absorber = self.absorber_thin_mm if k < self.n_thin_slabs else self.absorber_thick_mm
            if k > 0:
                add(self.between_slabs, absorber)
            add(self.slab, absorber)
        add(self.back, self.absorber_thin_mm)
        return tuple(stack)

    def surroundings_stack(
        self, hcal_layers: int | None = None
    ) -> tuple[tuple[Slice, ...], tuple[Slice, ...]]:
        """The passive material in front of the ECAL's front face and behind its back, at normal incidence.

        ``(front, back)``, each front to back (``front`` ends at the ECAL's inner face, ``back``
        starts at its back face), no slice sensitive (``layer`` is ``None``, the SET's silicon
        included). In front: the TPC's outer field cage and the 35 mm gap with the SET's two
        sensors; behind: the 30 mm ECAL-HCAL gap and the first ``hcal_layers`` (default
        ``hcal_layers_kept``) layers of the HCAL barrel, 20 mm steel and a 6.5 mm chamber each.
        Sources and assumptions: the ``surroundings.about`` text of ``ild_ecal.json``.
        """
        n = self.hcal_layers_kept if hcal_layers is None else int(hcal_layers)
        if n < 0:
            raise ValueError(f"hcal_layers must be >= 0, got {n}")
        front = tuple(Slice(m, float(t), None) for m, t, _ in self.surroundings_front)
        back = [Slice(m, float(t), None) for m, t, _ in self.surroundings_back]
        back += [Slice(m, float(t), None) for _ in range(n) for m, t, _ in self.hcal_layer]
        return front, tuple(back)

    def _slice_starts(self) -> tuple[tuple[Slice, ...], np.ndarray]:
        stack = self.material_stack()
        thickness = np.array([s.thickness_mm for s in stack])
        return stack, np.concatenate([[0.0], np.cumsum(thickness)])

    def layer_bottom_mm(self) -> np.ndarray:
        """``(30,)`` depth of each silicon layer's front surface behind the front face, mm."""
        stack, starts = self._slice_starts()
        return np.array([starts[i] for i, s in enumerate(stack) if s.layer is not None])

    def layer_depth_mm(self) -> np.ndarray:
        """``(30,)`` depth of each silicon layer's centre behind the front face, mm.

        This is the depth the tilt is re-applied with: the shower axis crosses layer ``i`` at
        ``layer_depth_mm[i] * (p_x / p_z, p_y / p_z)`` from the incident point.
        """
        stack, starts = self._slice_starts()
        return np.array([starts[i] + s.thickness_mm / 2 for i, s in enumerate(stack) if s.layer is not None])

    def slab_back_depth_mm(self) -> np.ndarray:
        """``(15,)`` depth of each slab's back (outer) face behind the front face, mm.

        The barrel's module ends are cut at 45 degrees, so a slab whose back face lies at depth
        ``d`` is ``2 d`` shorter than the module's inner face and starts ``d`` further along the
        stave: successive slabs shift by the slab pitch (12.47 mm thin, 16.67 mm thick).
        """
        stack, starts = self._slice_starts()
        ends = starts[1:]
        # The second sensor of slab k is layer 2k + 1; the slab ends after its remaining readout
        # (polystyrene, air, Cu, Al), i.e. where the slab rows that follow the sensor end.
        tail = len(self.slab) - 1 - max(i for i, row in enumerate(self.slab) if row[0] == "Si")
        second = [i for i, s in enumerate(stack) if s.layer is not None and s.layer % 2 == 1]
        return np.array([ends[i + tail] for i in second])


@cache
def load_facts() -> ILDEcalFacts:
    """The facts shipped with this package (read once)."""
    text = resources.files(__package__).joinpath("ild_ecal.json").read_text()
    return ILDEcalFacts.from_dict(json.loads(text))
