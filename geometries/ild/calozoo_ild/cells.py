"""The two ways the ILD ECAL lays its cells along a direction, shared by the barrel and the endcap.

- A **ladder**: modules of towers of wafers of cells, each level with its own margins (the
  barrel along the beam; the endcap from the hole outwards). A coordinate is alive when it falls
  inside a cell of a wafer of a tower of a module; everything between is a dead strip.
- A **slab**: whole wafers laid from the slab's start and one partial wafer at its far end with
  as many whole cells as fit (the barrel across the stave; the endcap along a quadrant's long
  side).

Both work on float64 arrays of coordinates in mm and return the integer indices of the cell
each coordinate falls in, with masks saying whether it is a live cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Ladder", "slab_wafers", "slab_cells"]


@dataclass(frozen=True)
class Ladder:
    """Modules of towers of wafers of square cells along one direction, from ``origin_mm``.

    Each module is ``module_pitch_mm`` long with ``module_margin_mm`` dead at its start; each
    tower ``tower_pitch_mm`` with ``tower_margin_mm``; each wafer ``wafer_pitch_mm`` with a
    ``guard_ring_mm`` guard ring, then ``cells_per_wafer`` cells of ``cell_size_mm``.
    """

    origin_mm: float
    n_modules: int
    module_pitch_mm: float
    module_margin_mm: float
    n_towers: int
    tower_pitch_mm: float
    tower_margin_mm: float
    n_wafers: int
    wafer_pitch_mm: float
    guard_ring_mm: float
    cells_per_wafer: int
    cell_size_mm: float

    def cells(self, x: np.ndarray):
        """``(module, tower, wafer, cell, alive, inside)`` of coordinates ``x``.

        ``inside``: within the ladder's modules; ``alive``: in a cell. Indices are float arrays
        (meaningful where ``alive``).
        """
        r = x - self.origin_mm
        module = np.floor(r / self.module_pitch_mm)
        r = r - self.module_pitch_mm * module - self.module_margin_mm
        tower = np.floor(r / self.tower_pitch_mm)
        r = r - self.tower_pitch_mm * tower - self.tower_margin_mm
        wafer = np.floor(r / self.wafer_pitch_mm)
        r = r - self.wafer_pitch_mm * wafer - self.guard_ring_mm
        cell = np.floor(r / self.cell_size_mm)
        inside = (module >= 0) & (module < self.n_modules)
        alive = (
            inside
            & (tower >= 0)
            & (tower < self.n_towers)
            & (wafer >= 0)
            & (wafer < self.n_wafers)
            & (cell >= 0)
            & (cell < self.cells_per_wafer)
        )
        return module, tower, wafer, cell, alive, inside

    def centre_mm(self, module, tower, wafer, cell) -> np.ndarray:
        """Centre of a cell along the ladder, mm: the margins and pitches added term by term."""
        return (
            self.origin_mm
            + self.module_pitch_mm * np.asarray(module)
            + self.module_margin_mm
            + self.tower_pitch_mm * np.asarray(tower)
            + self.tower_margin_mm
            + self.wafer_pitch_mm * np.asarray(wafer)
            + self.guard_ring_mm
            + self.cell_size_mm * (np.asarray(cell) + 0.5)
        )


def slab_wafers(length_mm, facts):
    """``(full_wafers, partial_cells)`` int64 arrays: how a slab of ``length_mm`` is filled.

    Whole wafers from its start, then one partial wafer with as many whole cells as fit inside
    its guard rings (0 to ``cells_per_wafer``); pitches from ``facts``
    (:class:`~calozoo_ild.facts.ILDEcalFacts`).
    """
    length = np.asarray(length_mm, dtype=np.float64)
    full = np.floor(length / facts.wafer_pitch_mm).astype(np.int64)
    rest = length - full * facts.wafer_pitch_mm
    partial = np.floor((rest - 2 * facts.guard_ring_mm) / facts.cell_size_mm).astype(np.int64)
    return full, np.clip(partial, 0, facts.cells_per_wafer)


def slab_cells(v, full_wafers, partial_cells, facts):
    """``(wafer, cell, alive)`` of coordinates ``v`` measured from a slab's start.

    ``full_wafers`` and ``partial_cells`` (from :func:`slab_wafers`) broadcast against ``v``;
    ``alive`` is false before the start, in guard rings and beyond the partial wafer's cells.
    """
    pitch = facts.wafer_pitch_mm
    wafer = np.floor(v / pitch)
    cell = np.floor((v - pitch * wafer - facts.guard_ring_mm) / facts.cell_size_mm)
    n_cells = np.where(
        wafer < full_wafers, facts.cells_per_wafer, np.where(wafer == full_wafers, partial_cells, 0)
    )
    alive = (v >= 0) & (cell >= 0) & (cell < n_cells)
    return wafer, cell, alive
