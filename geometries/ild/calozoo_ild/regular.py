"""``ild-ecal-regular``: the 30 ILD silicon layers at their real depths under one aligned cell grid."""

from __future__ import annotations

from typing import Any

from calozoo.layered import PlanarGeometry

from .facts import Slice, load_facts

__all__ = ["ILDRegular", "ILDEndcapRegular"]


class ILDRegular(PlanarGeometry):
    """The regularised ILD ECAL of the CaloClouds papers: real layer depths, no gaps, no staggering.

    Showers are simulated (or regularised) in this geometry for training and projected into the
    real barrel (:class:`~calozoo_ild.barrel.ILDBarrel`) afterwards. The 30 sensitive layers sit
    at the depths of the ILD barrel's silicon (centres 6.80 mm to 205.77 mm behind the front
    face), every layer is covered by the same 5.08833 mm grid with a cell edge at the incident
    point, and the grid is unbounded, so nothing is dead: with ``threshold_mev=0`` projection
    conserves energy to float precision.

    Args:
        threshold_mev: cells below this energy are dropped (ILD: 0.1 MeV, half a MIP); pass 0
            to keep every cell, e.g. to check energy conservation.
        name: the registered name.

    Attributes:
        material_stack: every slice from the front face to the back as
            ``(material, thickness_mm, layer or None)`` (:class:`~calozoo_ild.facts.Slice`), for
            the reference Monte Carlo: 84 mm of tungsten (24 X0), 223.2 mm in all.
        surroundings: ``(front, back)`` passive slices (layer ``None``) before the front face
            and after the back at normal incidence: the TPC's outer field cage, the SET and the
            gap (35 mm), then the ECAL-HCAL gap and the first HCAL layers
            (:meth:`~calozoo_ild.facts.ILDEcalFacts.surroundings_stack`). Not part of
            ``material_stack``; ``ReferenceMC(physics_version=3, surroundings=True)`` adds them.

        field_direction: the unit vector of the solenoid field in the local shower frame, for the
            reference Monte Carlo: along local ``x`` (the beam) in the barrel.
        field_tesla: its strength, 3.5 T.

    Example:
        >>> geo = ILDRegular(threshold_mev=0)
        >>> geo.n_layers, geo.cell_size_mm, round(float(geo.layer_depth_mm[1] - geo.layer_depth_mm[0]), 3)
        (30, 5.08833, 3.125)
        >>> [s.material for s in geo.material_stack[:5]]
        ['carbon fibre', 'carbon fibre', 'W', 'carbon fibre', 'carbon fibre']
    """

    field_direction: tuple[float, float, float] = (1.0, 0.0, 0.0)

    def __init__(self, threshold_mev: float | None = None, name: str = "ild-ecal-regular"):
        facts = load_facts()
        if threshold_mev is None:
            threshold_mev = facts.threshold_mev
        super().__init__(
            facts.layer_depth_mm(), cell_size_mm=facts.cell_size_mm, threshold_mev=threshold_mev, name=name
        )
        self.material_stack: tuple[Slice, ...] = facts.material_stack()
        # passive material in front of and behind the ECAL (TPC field cage, SET, HCAL); only the
        # reference MC's physics version 3 with ``surroundings=True`` transports it
        self.surroundings: tuple[tuple[Slice, ...], tuple[Slice, ...]] = facts.surroundings_stack()
        self.field_tesla = facts.field_tesla

    def get_config(self) -> dict[str, Any]:
        # The depths and cell size are facts of the package, not settings: only these are saved.
        return {"threshold_mev": self.threshold_mev, "name": self.name}


class ILDEndcapRegular(ILDRegular):
    """The regularised ILD ECAL for showers that enter an endcap: the same layers, stack and cells,
    with the solenoid field along the shower axis (local ``z``) instead of across it.

    In the barrel the 3.5 T field lies in the layer plane (along the beam, local ``x``); in the
    endcap the layers face the beam and the field runs along their normal. The reference Monte
    Carlo takes the field's direction from :attr:`field_direction`, so showers simulated here
    curl about their own axis as they do in the endcap (endcap 0 at ``+z``; in endcap 1 the field
    points against the shower, which mirrors the curl of each charge but leaves a photon shower's
    statistics unchanged). What it leaves out of the regular geometry: the surroundings are the
    barrel's (in front of the endcap lie the TPC's endplate and readout, not its field cage).

    Example:
        >>> ILDEndcapRegular().field_direction, ILDEndcapRegular().name
        ((0.0, 0.0, 1.0), 'ild-ecal-endcap-regular')
    """

    field_direction: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __init__(self, threshold_mev: float | None = None, name: str = "ild-ecal-endcap-regular"):
        super().__init__(threshold_mev, name=name)
