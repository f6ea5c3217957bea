"""The catalogue of observables compared between reference and generated showers.

Two kinds, both ending as one histogram per sample:

- ``"shower"``: one number per shower (total visible energy, occupancy, centre of gravity,
  internal-angle errors); the histogram counts showers.
- ``"profile"``: a small histogram per shower (its cell energies, its energy per layer, ...);
  the sample's histogram is the sum over its showers, so it counts cells or MeV.

Everything is measured on cell hits (after projection and threshold), in the local shower
frame: ``x, y`` relative to the shower axis at each layer's depth (the incident trajectory,
tilt included), ``z`` in layer units (layer ``i`` spans ``[i, i + 1)``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Observable", "OBSERVABLES", "HIGH_LEVEL_FEATURES", "observable"]


@dataclass(frozen=True)
class Observable:
    """One compared quantity.

    Args:
        name: key in results and file names (``"energy_per_layer"``).
        title: what a physicist calls it (``"energy per layer"``).
        axis_label: x-axis label with unit.
        kind: ``"shower"`` (one value per shower) or ``"profile"`` (a per-shower histogram,
            summed over showers).
        counts: what the histogram's content is: ``"showers"``, ``"cells"`` or ``"MeV"``.
        log_x: draw the x axis logarithmically.
        log_y: draw the y axis logarithmically.
    """

    name: str
    title: str
    axis_label: str
    kind: str
    counts: str
    log_x: bool = False
    log_y: bool = False


#: In the paper's order (Tables 2 and 3, Figures 4-9), then the internal angle (section 4.3).
OBSERVABLES: tuple[Observable, ...] = (
    Observable("visible_energy", "total visible energy", "visible energy [MeV]", "shower", "showers"),
    Observable("cell_energy", "cell energy", "cell energy [MeV]", "profile", "cells", log_x=True, log_y=True),
    Observable("energy_per_layer", "energy per layer", "layer", "profile", "MeV", log_y=True),
    Observable("energy_per_radius", "energy per radius", "radius [mm]", "profile", "MeV", log_y=True),
    Observable("occupancy", "total occupancy", "number of hit cells", "shower", "showers"),
    Observable("occupancy_per_layer", "occupancy per layer", "layer", "profile", "cells"),
    Observable("occupancy_per_radius", "occupancy per radius", "radius [mm]", "profile", "cells", log_y=True),
    Observable("cog_x", "centre of gravity x", "centre of gravity x [mm]", "shower", "showers"),
    Observable("cog_y", "centre of gravity y", "centre of gravity y [mm]", "shower", "showers"),
    Observable("cog_z", "centre of gravity z", "centre of gravity z [layer]", "shower", "showers"),
    Observable(
        "angle_error",
        "angular error, all hits",
        "angle to true direction [deg]",
        "shower",
        "showers",
        log_x=True,
    ),
    Observable("angle_error_theta", "θ error, all hits", "θ(PCA) − θ(true) [deg]", "shower", "showers"),
    Observable("angle_error_phi", "φ error, all hits", "φ(PCA) − φ(true) [deg]", "shower", "showers"),
    Observable(
        "angle_error_top",
        "angular error, top 4 % of hits",
        "angle to true direction [deg]",
        "shower",
        "showers",
        log_x=True,
    ),
    Observable(
        "angle_error_theta_top", "θ error, top 4 % of hits", "θ(PCA) − θ(true) [deg]", "shower", "showers"
    ),
    Observable(
        "angle_error_phi_top", "φ error, top 4 % of hits", "φ(PCA) − φ(true) [deg]", "shower", "showers"
    ),
)

_BY_NAME = {o.name: o for o in OBSERVABLES}

#: Per-shower features for the Fréchet and kernel physics distances and the classifier, with
#: their units: the shower-level observables plus the widths that summarise the profiles.
HIGH_LEVEL_FEATURES: tuple[tuple[str, str], ...] = (
    ("visible_energy", "MeV"),
    ("occupancy", "cells"),
    ("cog_x", "mm"),
    ("cog_y", "mm"),
    ("cog_z", "layer"),
    ("longitudinal_width", "layer"),
    ("radial_width", "mm"),
)


def observable(name: str) -> Observable:
    """The observable called ``name``; a ``KeyError`` lists the known names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown observable {name!r}; known: {', '.join(_BY_NAME)}") from None
