"""Fixed histogram binning: set by the observable, the geometry and the incident energy, never by data.

A divergence depends on its bins, so two models (or two reports) can only be compared if their
histograms share them. Here the bin edges follow from three things only:

- the observable's definition (cell energies in log bins, layers one bin each, ...);
- the geometry: the number of layers, the cell size (radial bins are one cell wide, the centre
  of gravity is binned in fractions of a cell), the threshold (cell-energy bins start a decade
  below it, so the MIP peak at ~1.5 x threshold is resolved);
- for the two observables whose scale grows with the incident energy (visible energy and
  occupancy), the largest incident energy of the energy slice, rounded up to two significant
  digits (10 GeV, 50 GeV, 100 GeV; 99.7 GeV becomes 100 GeV).

The reference and every generated sample share the incident conditions (checked), so the edges
never depend on what either sample deposited. They are written into ``results.json``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..interfaces import Geometry

__all__ = ["BinningSettings", "binning_for", "fixed_edges", "round_up_energy", "flow_index", "ENERGY_SCALED"]

#: The observables whose range grows with the incident energy of the slice.
ENERGY_SCALED = ("visible_energy", "occupancy")


@dataclass(frozen=True)
class BinningSettings:
    """The numbers that, with the geometry and the incident energy, fix every bin edge.

    Args:
        n_bins: bins of the visible-energy and occupancy histograms.
        visible_mev_per_gev: upper edge of the visible energy, MeV per GeV of incident energy
            (a silicon-tungsten ECAL sees ~20 MeV per GeV: twice that leaves room).
        cells_per_gev: upper edge of the occupancy, hit cells per GeV of incident energy (the ILD
            ECAL at 0.1 MeV: ~20 cells per GeV at 10 GeV, fewer at higher energies).
        cell_energy_max_mev: upper edge of the cell energies, MeV.
        cell_energy_bins_per_decade: log bins per factor 10 of cell energy.
        radius_max_mm: radial profiles reach this far from the axis (one bin per cell width).
        cog_half_width_cells: the centre of gravity x, y is binned over ± this many cells.
        cog_bins: bins of the centre of gravity x, y.
        cog_z_bins_per_layer: bins per layer of the centre of gravity z.
        angle_min_deg: lower edge of the (log-binned) angular error, degrees.
        angle_bins_per_decade: log bins per factor 10 of angular error (up to 90 degrees).
        angle_part_max_deg: the θ and φ errors are binned over ± this, degrees.
        angle_part_bins: bins of the θ and φ errors.
    """

    n_bins: int = 100
    visible_mev_per_gev: float = 40.0
    cells_per_gev: float = 40.0
    cell_energy_max_mev: float = 1000.0
    cell_energy_bins_per_decade: int = 20
    radius_max_mm: float = 250.0
    cog_half_width_cells: float = 1.0
    cog_bins: int = 100
    cog_z_bins_per_layer: int = 4
    angle_min_deg: float = 0.01
    angle_bins_per_decade: int = 20
    angle_part_max_deg: float = 15.0
    angle_part_bins: int = 150

    def to_dict(self) -> dict:
        return asdict(self)


def round_up_energy(energy_gev: float) -> float:
    """Round up to two significant digits (99.7 -> 100, 127 -> 130), so edges are reproducible.

    >>> round_up_energy(99.7), round_up_energy(10.0), round_up_energy(127.0)
    (100.0, 10.0, 130.0)
    """
    if not energy_gev > 0:
        raise ValueError(f"incident energy must be positive, got {energy_gev}")
    step = 10.0 ** (math.floor(math.log10(energy_gev)) - 1)
    # The small tolerance keeps 10.000001 (float32 storage of 10) at 10.
    return round(math.ceil(energy_gev / step - 1e-6) * step, 10)


def cell_size_of(geometry: Geometry) -> float:
    """The geometry's cell pitch in mm; 5 mm for geometries without square cells."""
    return float(geometry.cell_size_mm) if geometry.cell_size_mm else 5.0


def cell_energy_edges(geometry: Geometry, settings: BinningSettings) -> np.ndarray:
    """Log bins from a decade below the threshold (0.01 MeV without threshold) upwards, MeV."""
    low = geometry.threshold_mev / 10.0 if geometry.threshold_mev > 0 else 0.01
    # Snap to whole bins of the per-decade grid, so that geometries with the same threshold
    # (and thresholds that differ by whole bins) share edges.
    per_decade = settings.cell_energy_bins_per_decade
    start = math.floor(math.log10(low) * per_decade + 1e-9)
    stop = math.ceil(math.log10(settings.cell_energy_max_mev) * per_decade - 1e-9)
    return 10.0 ** (np.arange(start, stop + 1) / per_decade)


def fixed_edges(geometry: Geometry, settings: BinningSettings | None = None) -> dict[str, np.ndarray]:
    """Edges of every observable whose binning does not scale with the incident energy."""
    settings = settings or BinningSettings()
    n_layers = geometry.n_layers
    cell = cell_size_of(geometry)
    radial = np.arange(math.ceil(settings.radius_max_mm / cell - 1e-9) + 1) * cell
    cog = settings.cog_half_width_cells * cell
    layers = np.arange(n_layers + 1, dtype=np.float64)
    # Angular errors span from 0.1 degree (100 GeV, top hits) to tens of degrees (10 GeV, 1 % of
    # the hits): log bins keep both resolved.
    per_decade = settings.angle_bins_per_decade
    low = math.floor(math.log10(settings.angle_min_deg) * per_decade + 1e-9)
    high = math.ceil(math.log10(90.0) * per_decade - 1e-9)
    unsigned = 10.0 ** (np.arange(low, high + 1) / per_decade)
    part = settings.angle_part_max_deg
    signed = np.linspace(-part, part, settings.angle_part_bins + 1)
    return {
        "cell_energy": cell_energy_edges(geometry, settings),
        "energy_per_layer": layers,
        "energy_per_radius": radial,
        "occupancy_per_layer": layers,
        "occupancy_per_radius": radial,
        "cog_x": np.linspace(-cog, cog, settings.cog_bins + 1),
        "cog_y": np.linspace(-cog, cog, settings.cog_bins + 1),
        "cog_z": np.linspace(0.0, n_layers, n_layers * settings.cog_z_bins_per_layer + 1),
        "angle_error": unsigned,
        "angle_error_theta": signed,
        "angle_error_phi": signed,
        "angle_error_top": unsigned,
        "angle_error_theta_top": signed,
        "angle_error_phi_top": signed,
    }


def binning_for(
    geometry: Geometry, energy_max_gev: float, settings: BinningSettings | None = None
) -> dict[str, np.ndarray]:
    """Bin edges of every observable, for showers of incident energy up to ``energy_max_gev``.

    Returns:
        observable name -> ``(B + 1,)`` increasing edges in the observable's unit (see
        :data:`~calozoo.evaluation.observables.OBSERVABLES`). Bins are ``[low, high)``; values
        outside go to an underflow or overflow bin, which the divergences include.
    """
    settings = settings or BinningSettings()
    energy = round_up_energy(energy_max_gev)
    n = settings.n_bins
    # Occupancy is an integer: bins of a whole number of cells, centred on integers.
    occupancy_width = max(1, math.ceil(settings.cells_per_gev * energy / n - 1e-9))
    edges = fixed_edges(geometry, settings)
    edges["visible_energy"] = np.linspace(0.0, settings.visible_mev_per_gev * energy, n + 1)
    edges["occupancy"] = np.arange(n + 1) * float(occupancy_width) - 0.5
    return edges


def flow_index(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Bin of each value counting the flow bins: 0 underflow, ``1..B`` the bins, ``B + 1`` overflow.

    Bins are ``[low, high)``; NaN (a shower without hits has no centre of gravity) counts as
    overflow, so it is never silently dropped.

    >>> flow_index(np.array([0.0, 1.0, 2.0]), np.array([-1.0, 0.0, 1.5, 2.0, np.nan])).tolist()
    [0, 1, 2, 3, 3]
    """
    return np.searchsorted(edges, values, side="right")
