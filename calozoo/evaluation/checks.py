"""Checks before anything is compared: the right kind of points, and the same incident conditions.

A divergence between two samples generated for different energies or angles measures the
conditions, not the model, so a mismatch is an error, not a footnote.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from ..errors import CalozooError, InvalidConditionError
from ..interfaces import Geometry
from ..showers import Showers

__all__ = [
    "EvaluationInputError",
    "ConditionMismatchError",
    "check_points",
    "check_layer_column",
    "check_cell_hits",
    "check_same_conditions",
    "check_twin",
    "CONDITION_P_VALUE",
]

#: Two samples whose incident energies or directions differ with a Kolmogorov-Smirnov p-value
#: below this are rejected: for same-distribution samples a false alarm is a 1-in-10^4 event.
CONDITION_P_VALUE = 1e-4


class EvaluationInputError(CalozooError, ValueError):
    """Showers that cannot be evaluated as given (raw hits, cells of another geometry, no showers)."""


class ConditionMismatchError(InvalidConditionError):
    """Generated and reference showers were made for different incident conditions."""


def check_points(showers: Showers, label: str) -> None:
    """Training points (``z`` in layer units) to be projected; warn if they look already projected."""
    if not isinstance(showers, Showers):
        raise EvaluationInputError(f"{label}: expected calozoo.Showers, got {type(showers).__name__}")
    if len(showers) == 0:
        raise EvaluationInputError(f"{label}: holds no showers")
    if showers.z_units != "layer":
        raise EvaluationInputError(
            f"{label}: holds raw hits (z in {showers.z_units}); evaluation needs training points "
            "(z in layer units: run `calozoo preprocess` first) or projected cell hits (projected=True)"
        )
    z = showers.points[..., 2][showers.padding_mask]
    if len(z) and np.all(np.abs(z - np.floor(z) - 0.5) < 1e-4):
        warnings.warn(
            f"{label}: every point sits at a layer centre (z = layer + 0.5): these look like projected "
            "cell hits; pass projected=True (--projected) so they are not projected twice",
            stacklevel=3,
        )


def check_layer_column(showers: Showers, n_layers: int, label: str) -> None:
    """Refuse training points whose layer column (``z``) lies outside ``[0, n_layers)``.

    More than 1 % of the points more than one layer outside the stack is refused.

    A file read with its axes permuted (the CaloClouds II-era data sets store the layer axis as
    y) has millimetres in the layer column: projecting it would keep a fraction of the energy and
    every number after it would be wrong without a warning.
    """
    z = showers.points[..., 2][showers.padding_mask]
    # A model may put a stray point a little beyond the stack (projection drops it); a permuted
    # file puts most of them there.
    outside = (z < -1.0) | (z > n_layers + 1.0)
    if len(z) and outside.mean() > 0.01:
        raise EvaluationInputError(
            f"{label}: the layer column (z) runs from {z.min():.4g} to {z.max():.4g}, outside the "
            f"{n_layers} layers [0, {n_layers}): are the axes of the file permuted? Read it with its "
            "orientation (--orientation hdf5:xyz==local:yzx for the CaloClouds II-era data sets; "
            "read_showers(..., orientation=...))"
        )


def check_cell_hits(showers: Showers, geometry: Geometry, label: str) -> None:
    """Cell hits of ``geometry``: ``z`` = layer + 0.5 inside its layers, no cell below its threshold."""
    if not isinstance(showers, Showers):
        raise EvaluationInputError(f"{label}: expected calozoo.Showers, got {type(showers).__name__}")
    if len(showers) == 0:
        raise EvaluationInputError(f"{label}: holds no showers")
    mask = showers.padding_mask
    z, e = showers.points[..., 2][mask], showers.points[..., 3][mask]
    if showers.z_units != "layer" or (len(z) and not np.all(np.abs(z - np.floor(z) - 0.5) < 1e-3)):
        raise EvaluationInputError(
            f"{label}: these are not projected cell hits (z must be layer + 0.5 at the cell centres); "
            "pass training points without projected=True (--projected) to have them projected"
        )
    if len(z) and (z.min() < 0 or z.max() > geometry.n_layers):
        raise EvaluationInputError(
            f"{label}: cell hits in layers {int(z.min())}..{int(z.max())}, but {geometry.name} has "
            f"{geometry.n_layers} layers: projected into another geometry?"
        )
    # float32 storage rounds the threshold itself; a real mismatch is far larger.
    if len(e) and e.min() < geometry.threshold_mev * (1 - 1e-5):
        raise EvaluationInputError(
            f"{label}: has cells of {e.min():.3g} MeV, below the {geometry.threshold_mev:g} MeV threshold "
            f"of {geometry.name}: projected with another geometry or threshold?"
        )


def _differs(first: np.ndarray, second: np.ndarray) -> float | None:
    """KS p-value if the two samples of a condition differ significantly, else ``None``.

    Values are compared to 1e-9: ``cos(90 deg)`` written as ``6.1e-17`` is the same direction as 0.
    """
    first, second = np.round(first, 9) + 0.0, np.round(second, 9) + 0.0
    if np.array_equal(np.sort(first), np.sort(second)):
        return None
    p_value = float(stats.ks_2samp(first, second).pvalue)
    return p_value if p_value < CONDITION_P_VALUE else None


def check_same_conditions(
    reference: Showers, generated: Showers, label: str, slice_energies_gev=None, tolerance: float = 1e-3
) -> None:
    """Raise :class:`ConditionMismatchError` unless both samples share their incident conditions.

    Checks: the same particles; if the reference comes in fixed energies, every generated shower
    at one of them (within ``tolerance``, relative) and every one of them generated; incident
    energies and directions drawn from the same distribution (two-sample Kolmogorov-Smirnov
    test on the energy and on each direction component, p-value >= :data:`CONDITION_P_VALUE`).
    """
    problems = []
    ref_pdg, gen_pdg = set(np.unique(reference.pdg).tolist()), set(np.unique(generated.pdg).tolist())
    if ref_pdg != gen_pdg:
        problems.append(f"particles {sorted(gen_pdg)} but the reference has {sorted(ref_pdg)}")
    if slice_energies_gev is not None and len(slice_energies_gev):
        centres = np.asarray(slice_energies_gev, dtype=np.float64)
        nearest = np.abs(generated.incident_energy_gev[:, None] - centres[None, :]).argmin(axis=1)
        off = np.abs(generated.incident_energy_gev - centres[nearest]) > tolerance * centres[nearest]
        if np.any(off):
            stray = np.unique(generated.incident_energy_gev[off])[:5]
            problems.append(
                f"{int(off.sum())} showers at energies {np.round(stray, 3).tolist()} GeV that the "
                f"reference does not have (it has {np.round(centres, 3).tolist()} GeV)"
            )
        missing = sorted(set(range(len(centres))) - set(nearest[~off].tolist()))
        if missing:
            problems.append(
                f"no showers at {np.round(centres[missing], 3).tolist()} GeV, which the reference has"
            )
    if not problems:
        for name, ref_values, gen_values in (
            ("incident energies", reference.incident_energy_gev, generated.incident_energy_gev),
            ("direction p_x", reference.direction[:, 0], generated.direction[:, 0]),
            ("direction p_y", reference.direction[:, 1], generated.direction[:, 1]),
            ("direction p_z", reference.direction[:, 2], generated.direction[:, 2]),
        ):
            p_value = _differs(ref_values, gen_values)
            if p_value is not None:
                problems.append(
                    f"{name} distributed differently from the reference (KS p-value {p_value:.2g}; "
                    f"generated {gen_values.min():.4g}..{gen_values.max():.4g}, "
                    f"reference {ref_values.min():.4g}..{ref_values.max():.4g})"
                )
    if problems:
        raise ConditionMismatchError(
            f"{label}: incident conditions do not match the reference: "
            + "; ".join(problems)
            + ". Generate with the reference's conditions (energies, directions, particle)."
        )


def check_twin(reference: Showers, twin: Showers) -> None:
    """Raise :class:`ConditionMismatchError` unless ``twin`` has the reference's conditions shower by shower.

    A twin is an independent sample simulated with exactly the reference's per-shower incident
    energies, directions and particles, in the same order (``calozoo simulate OUT --like REF``).
    Values are compared at float32 precision (relative ``1e-6``), what the files store.
    """
    hint = " Make a twin with `calozoo simulate OUT --like REF --seed S` (another seed than the reference's)."
    if len(twin) != len(reference):
        raise ConditionMismatchError(
            f"twin: {len(twin)} showers, but the reference has {len(reference)}; a twin has the "
            "reference's conditions shower by shower." + hint
        )
    for name, ref_values, twin_values in (
        ("incident energy", reference.incident_energy_gev, twin.incident_energy_gev),
        ("direction", reference.direction, twin.direction),
        ("particle", reference.pdg, twin.pdg),
    ):
        ref_values = np.asarray(ref_values, dtype=np.float64)
        twin_values = np.asarray(twin_values, dtype=np.float64)
        off = ~np.isclose(twin_values, ref_values, rtol=1e-6, atol=1e-6)
        if off.ndim > 1:
            off = off.any(axis=1)
        if np.any(off):
            first = int(np.flatnonzero(off)[0])
            raise ConditionMismatchError(
                f"twin: {int(off.sum())} showers have another {name} than the reference's shower at the "
                f"same position (first: shower {first}, {np.round(twin_values[first], 6).tolist()} against "
                f"{np.round(ref_values[first], 6).tolist()})." + hint
            )
