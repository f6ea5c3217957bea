"""Energy slices: all energies combined, and each fixed incident energy of the reference.

The paper shows every observable for all energies together and at fixed energies (10, 50,
100 GeV), and summarises 10-100 GeV in steps of 10 as a curve of distance versus energy. A
reference generated at fixed energies is sliced at each of them; a reference with continuous
energies only when the user names the slice energies (with a tolerance wide enough to hold
showers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EnergySlice", "fixed_energies", "energy_slices", "MAX_FIXED_ENERGIES"]

#: A reference with at most this many distinct incident energies counts as "fixed energies".
MAX_FIXED_ENERGIES = 30


@dataclass(frozen=True)
class EnergySlice:
    """A selection of showers by incident energy.

    Args:
        key: identifier in results and file names (``"all"``, ``"50GeV"``).
        label: for people (``"all energies"``, ``"50 GeV"``).
        energy_gev: the slice's centre; ``None`` for all energies.
        tolerance: showers within ``tolerance * energy_gev`` of the centre belong to it.
        energy_max_gev: sets the energy-scaled bins: the largest incident energy for all
            energies, the nominal energy for a fixed-energy slice.
    """

    key: str
    label: str
    energy_gev: float | None
    tolerance: float
    energy_max_gev: float

    def mask(self, incident_energy_gev: np.ndarray) -> np.ndarray:
        """``(N,)`` True for the showers in this slice."""
        energy = np.asarray(incident_energy_gev)
        if self.energy_gev is None:
            return np.ones(len(energy), dtype=bool)
        return np.abs(energy - self.energy_gev) <= self.tolerance * self.energy_gev

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "energy_gev": self.energy_gev,
            "tolerance": self.tolerance,
            "energy_max_gev": self.energy_max_gev,
        }


def fixed_energies(incident_energy_gev: np.ndarray, tolerance: float = 1e-3) -> np.ndarray | None:
    """The distinct incident energies (GeV) if there are at most :data:`MAX_FIXED_ENERGIES`, else ``None``.

    Energies within ``tolerance`` (relative) of each other count as one (float32 storage).

    >>> fixed_energies(np.array([10.0, 50.0, 10.000001, 50.0])).tolist()
    [10.0, 50.0]
    """
    values = np.sort(np.asarray(incident_energy_gev, dtype=np.float64))
    if len(values) == 0:
        return None
    new = np.ones(len(values), dtype=bool)
    new[1:] = np.diff(values) > tolerance * values[1:]
    if new.sum() > MAX_FIXED_ENERGIES:
        return None
    groups = np.cumsum(new) - 1
    # Each group's centre is its median, rounded to the precision float32 files keep.
    centres = [float(np.median(values[groups == g])) for g in range(int(new.sum()))]
    return np.array([float(np.format_float_positional(c, precision=6, unique=True)) for c in centres])


def _key(energy: float) -> str:
    return f"{energy:g}GeV".replace(".", "p")


def energy_slices(
    reference_energy_gev: np.ndarray, energies_gev=None, tolerance: float = 1e-3
) -> list[EnergySlice]:
    """The all-energies slice, then one slice per fixed energy.

    Args:
        reference_energy_gev: ``(N,)`` the reference's incident energies.
        energies_gev: slice centres; ``None`` takes the reference's fixed energies (none if it
            has continuous energies).
        tolerance: relative half-width of a slice (``1e-3``: exact match up to storage
            rounding; e.g. ``0.05`` to slice a continuous reference at ±5 %).

    Raises:
        EvaluationInputError: a named energy without reference showers.
    """
    energy = np.asarray(reference_energy_gev, dtype=np.float64)
    slices = [EnergySlice("all", "all energies", None, tolerance, float(energy.max()))]
    centres = fixed_energies(energy, tolerance) if energies_gev is None else np.asarray(energies_gev, float)
    if centres is None or (energies_gev is None and len(centres) < 2):
        return slices
    for centre in np.sort(centres):
        centre = float(centre)
        if not np.any(np.abs(energy - centre) <= tolerance * centre):
            from .checks import EvaluationInputError

            raise EvaluationInputError(
                f"no reference showers within ±{tolerance:g} (relative) of {centre:g} GeV; "
                "name energies the reference has, or widen the tolerance (--energy-tolerance)"
            )
        # The nominal energy sets the bins: they have headroom, and 10 GeV stays 10 GeV.
        slices.append(EnergySlice(_key(centre), f"{centre:g} GeV", centre, tolerance, centre))
    return slices
