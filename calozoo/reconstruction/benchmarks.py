"""Reconstruction-level benchmarks: a model against the reference, through the same photon finder.

Three benchmarks, each run on the model, on the reference and on a *twin* (the reference again
with other shower seeds and the same incident conditions: the difference between reference and
twin is the statistical noise a model cannot beat):

- :func:`linearity`: single photons at fixed energies, random points on the barrel's faces; the
  mean and width of the smallest window holding 90 % of the reconstructed energies (μ90, σ90),
  linearity μ90 / E and resolution σ90 / μ90 with a fit ``a / √E ⊕ b``. The energy calibration
  is fitted on the reference sample (so the reference is linear by construction) and applied to
  all three alike.
- :func:`diphoton`: two photons of the same energy at random nearby points of one stave's face
  (the CaloClouds3 paper's Figure 13); the fraction of events with 0, 1, 2 and more photons
  against their distance on the face; the distance at which half the pairs are resolved.
- :func:`angle`: the internal angle: the first PCA axis of the leading photon's hits (all, and
  the top 4 % by energy) against the true direction, in θ (to the beam), φ (about it) and total.

Photons enter at points drawn uniformly on the faces of the barrel's staves (:func:`face_points`)
with directions from the interaction point (``directions="ip"``) or along the stave's normal
(``"normal"``, for models trained at normal incidence only).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .events import Events, ReconstructionError, sample_events
from .finder import PhotonCalibration, PhotonFinder, Photons, default_calibration, global_angles

__all__ = [
    "Setup",
    "face_points",
    "entry_rays",
    "sigma90",
    "fit_resolution",
    "linearity",
    "diphoton",
    "angle",
    "SAMPLES",
    "DIRECTIONS",
]

#: The three samples every benchmark reconstructs.
SAMPLES = ("model", "reference", "twin")
#: Accepted ``directions``.
DIRECTIONS = ("ip", "normal")
#: The benchmarks' default window on a stave's face, mm: across the stave (CaloClouds3's training
#: window of φ 80-110° at 1804.8 mm is ±318 mm) and along the beam.
HALF_ACROSS_MM = 300.0
HALF_ALONG_MM = 2000.0


@dataclass
class Setup:
    """What a benchmark runs: the model, the reference, the geometry, the finder, the seed.

    Args:
        model: the model under test (a :class:`~calozoo.interfaces.ShowerModel`).
        reference: the reference model (the reference MC).
        geometry: the detector (the ILD barrel).
        seed: conditions and showers; the model and reference get the same conditions, the twin
            the reference's conditions with other shower seeds.
        directions: ``"ip"`` (from the interaction point) or ``"normal"`` (along the stave normal).
        finder: finder settings (:class:`~calozoo.reconstruction.PhotonFinder`).
        progress: show progress bars.
    """

    model: Any
    reference: Any
    geometry: Any
    seed: int = 0
    directions: str = "ip"
    finder: dict | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.directions not in DIRECTIONS:
            raise ReconstructionError(f"directions must be one of {DIRECTIONS}, got {self.directions!r}")

    def shower_seed(self, sample: str, part: int) -> int:
        """The shower seed of ``sample`` in benchmark part ``part`` (model and reference share it)."""
        twin = 1 if sample == "twin" else 0
        return int(np.random.SeedSequence([self.seed, part, twin]).generate_state(1)[0])

    def condition_rng(self, part: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, part, 7]))

    def events(self, sample: str, part: int, energy, point, direction, event, n_events=None) -> Events:
        model = self.model if sample == "model" else self.reference
        return sample_events(
            model,
            self.geometry,
            energy,
            point,
            direction,
            event,
            seed=self.shower_seed(sample, part),
            n_events=n_events,
            progress=self.progress,
        )

    def make_finder(self, calibration: PhotonCalibration | None = None) -> PhotonFinder:
        """The finder: seeing showers along their line of sight from the interaction point, or
        along their layers' centroids when they are put along the stave normals instead."""
        view = "pointing" if self.directions == "ip" else "axis"
        return PhotonFinder.for_geometry(self.geometry, calibration, **{"view": view, **(self.finder or {})})


# ---------------------------------------------------------------------------- placement
def _staves(geometry):
    if not (hasattr(geometry, "to_global_mm") and hasattr(geometry, "stave_normal")):
        raise ReconstructionError(
            f"{geometry.name}: the benchmarks place photons on the faces of a barrel's staves "
            "(to_global_mm, stave_normal: the ILD barrel's); this geometry has no staves"
        )
    return len(geometry.stave_normal)


def face_points(
    geometry, n: int, rng: np.random.Generator, half_across=HALF_ACROSS_MM, half_along=HALF_ALONG_MM
):
    """``(n,)`` staves and ``(n, 2)`` points ``(along, across)`` uniform on the staves' faces.

    Along the beam within ``±half_along``, across the stave within ``±half_across`` of the
    middle of its face; the stave is drawn uniformly.
    """
    stave = rng.integers(0, _staves(geometry), n)
    along = rng.uniform(-half_along, half_along, n)
    across = rng.uniform(-half_across, half_across, n)
    return stave, np.stack([along, across], axis=1)


def entry_rays(geometry, stave, face_xy, directions: str):
    """Global entry points ``(n, 3)`` of face points ``(along, across)`` of ``stave`` and their
    directions: from the interaction point (``"ip"``) or along the stave normal (``"normal"``)."""
    point = geometry.to_global_mm(stave, np.column_stack([face_xy, np.zeros(len(stave))]))
    if directions == "ip":
        direction = point / np.linalg.norm(point, axis=1, keepdims=True)
    else:
        direction = np.asarray(geometry.stave_normal)[stave]
    return point, direction


# ---------------------------------------------------------------------------- statistics
def sigma90(values) -> tuple[float, float]:
    """``(μ90, σ90)``: mean and standard deviation of the narrowest window holding 90 % of ``values``.

    >>> mu, sigma = sigma90(np.r_[np.linspace(-1, 1, 90), [50.0] * 10])
    >>> abs(round(mu, 6)), round(sigma, 3)
    (0.0, 0.584)
    """
    v = np.sort(np.asarray(values, dtype=np.float64))
    if len(v) < 10:
        return math.nan, math.nan
    k = int(math.ceil(0.9 * len(v)))
    width = v[k - 1 :] - v[: len(v) - k + 1]
    start = int(np.argmin(width))
    window = v[start : start + k]
    return float(window.mean()), float(window.std())


def _bootstrap(values, function, n: int, rng) -> np.ndarray:
    values = np.asarray(values)
    return np.array([function(values[rng.integers(0, len(values), len(values))]) for _ in range(n)])


def fit_resolution(energy, resolution, error) -> dict[str, float]:
    """Fit ``σ/E = a / √E ⊕ b`` (weighted least squares in ``(σ/E)² = a² / E + b²``).

    Returns ``{"stochastic": a, "constant": b}`` (as fractions, ``a`` in √GeV) and their errors.
    """
    e, r, s = (np.asarray(x, dtype=np.float64) for x in (energy, resolution, error))
    ok = np.isfinite(r) & np.isfinite(s) & (s > 0)
    e, r, s = e[ok], r[ok], s[ok]
    if len(e) < 3:
        return {
            "stochastic": math.nan,
            "constant": math.nan,
            "stochastic_err": math.nan,
            "constant_err": math.nan,
        }
    y, sy = r**2, 2 * r * s
    design = np.stack([1 / e, np.ones_like(e)], axis=1) / sy[:, None]
    (a2, b2), *_ = np.linalg.lstsq(design, y / sy, rcond=None)
    covariance = np.linalg.pinv(design.T @ design)
    a, b = math.sqrt(max(a2, 0.0)), math.sqrt(max(b2, 0.0))
    a_err = math.sqrt(covariance[0, 0]) / (2 * a) if a > 0 else math.nan
    b_err = math.sqrt(covariance[1, 1]) / (2 * b) if b > 0 else math.nan
    return {"stochastic": a, "constant": b, "stochastic_err": a_err, "constant_err": b_err}


def _leading(photons: Photons) -> tuple[np.ndarray, np.ndarray]:
    """Each event's leading photon row (``-1`` none) and whether it has one."""
    lead = photons.leading()
    return lead, lead >= 0


# ---------------------------------------------------------------------------- linearity
def linearity(
    setup: Setup, energies=(1, 2, 5, 10, 20, 50, 100, 127), n_per_energy: int = 200, bootstrap: int = 20
):
    """Energy linearity and resolution of single photons (module docstring).

    Returns a JSON-ready dict: per sample and energy μ90/E, σ90/μ90 (with bootstrap errors), the
    mean E_reco / E, the photon-finding efficiency; the resolution fit per sample; the
    calibration fitted on the reference.
    """
    energies = [float(e) for e in energies]
    rng = setup.condition_rng(1)
    energy = np.repeat(energies, n_per_energy)
    stave, face = face_points(setup.geometry, len(energy), rng)
    point, direction = entry_rays(setup.geometry, stave, face, setup.directions)
    events = np.arange(len(energy))
    plain = setup.make_finder(default_calibration(setup.geometry))
    found = {s: plain.find(setup.events(s, 1, energy, point, direction, events)) for s in SAMPLES}

    # The calibration, fitted on the reference's leading photons; all samples re-reconstructed with it.
    lead, ok = _leading(found["reference"])
    groups = plain.calibration.groups
    calibration = PhotonCalibration.fit(found["reference"].layer_energy_mev[lead[ok]], energy[ok], groups)
    result: dict[str, Any] = {
        "energies_gev": energies,
        "calibration": json.loads(calibration.to_json()),
        "samples": {},
    }
    boot = np.random.default_rng(np.random.SeedSequence([setup.seed, 99]))
    for sample, photons in found.items():
        lead, ok = _leading(photons)
        reco = np.zeros(len(energy))
        reco[ok] = calibration.energy_gev(photons.layer_energy_mev[lead[ok]])
        rows = []
        for e in energies:
            sel = (energy == e) & ok
            values = reco[sel]
            mu, sigma = sigma90(values)
            stats = (
                _bootstrap(values, lambda v: np.array(sigma90(v)), bootstrap, boot)
                if len(values) >= 10
                else None
            )
            lin_err = float(np.std(stats[:, 0]) / e) if stats is not None else math.nan
            res_err = float(np.std(stats[:, 1] / stats[:, 0])) if stats is not None else math.nan
            rows.append(
                {
                    "energy_gev": e,
                    "mu90_over_e": mu / e,
                    "mu90_over_e_err": lin_err,
                    "resolution": sigma / mu if mu else math.nan,
                    "resolution_err": res_err,
                    "mean_ratio": float(np.mean(values) / e) if len(values) else math.nan,
                    "efficiency": float(np.mean(ok[energy == e])),
                    "n": int(np.count_nonzero(energy == e)),
                }
            )
        fit = fit_resolution(
            [r["energy_gev"] for r in rows],
            [r["resolution"] for r in rows],
            [r["resolution_err"] for r in rows],
        )
        slope = np.polyfit(energies, [r["mu90_over_e"] * r["energy_gev"] for r in rows], 1)
        result["samples"][sample] = {
            "per_energy": rows,
            "fit": fit,
            "linearity_slope": float(slope[0]),
            "linearity_offset_gev": float(slope[1]),
            "max_nonlinearity": float(np.nanmax(np.abs(np.array([r["mu90_over_e"] for r in rows]) - 1))),
        }
    result["finder"] = plain.settings()
    return result


# ---------------------------------------------------------------------------- di-photon
def diphoton(
    setup: Setup,
    energies=(5, 20, 100),
    n_events: int = 400,
    max_distance_mm: float = 40.0,
    bins: int = 16,
    bootstrap: int = 50,
):
    """Di-photon separation: photon multiplicity against the distance of two equal photons.

    The first photon enters at a random point of a stave's face (:func:`face_points`, ±200 mm
    across the stave so that its partner stays in the window), the second at a distance ``d``
    uniform in ``[0, max_distance_mm]`` in a random direction on the same face.
    """
    rng = setup.condition_rng(2)
    edges = np.linspace(0.0, max_distance_mm, bins + 1)
    result: dict[str, Any] = {
        "energies_gev": [float(e) for e in energies],
        "distance_edges_mm": edges.tolist(),
    }
    finder = setup.make_finder()
    boot = np.random.default_rng(np.random.SeedSequence([setup.seed, 98]))
    per_energy = {}
    for part, e in enumerate(energies, start=10):
        stave, first = face_points(
            setup.geometry, n_events, rng, half_across=HALF_ACROSS_MM - max_distance_mm
        )
        distance = rng.uniform(0.0, max_distance_mm, n_events)
        turn = rng.uniform(0.0, 2 * math.pi, n_events)
        second = first + distance[:, None] * np.stack([np.cos(turn), np.sin(turn)], axis=1)
        face = np.stack([first, second], axis=1).reshape(-1, 2)
        staves = np.repeat(stave, 2)
        point, direction = entry_rays(setup.geometry, staves, face, setup.directions)
        event = np.repeat(np.arange(n_events), 2)
        energy = np.full(2 * n_events, float(e))
        which = np.clip(np.digitize(distance, edges) - 1, 0, bins - 1)
        samples = {}
        for sample in SAMPLES:
            photons = finder.find(setup.events(sample, part, energy, point, direction, event, n_events))
            count = np.minimum(photons.count, 3)
            fractions = np.zeros((4, bins))
            errors = np.zeros((4, bins))
            for b in range(bins):
                c = count[which == b]
                if len(c):
                    fractions[:, b] = np.bincount(c, minlength=4)[:4] / len(c)
                    errors[:, b] = np.sqrt(fractions[:, b] * (1 - fractions[:, b]) / len(c))
            half = _half_resolved(distance, count, edges)
            spread = _bootstrap(
                np.arange(n_events),
                lambda i, d=distance, c=count: _half_resolved(d[i], c[i], edges),
                bootstrap,
                boot,
            )
            samples[sample] = {
                "fraction": {str(k) if k < 3 else "3+": fractions[k].tolist() for k in range(4)},
                "fraction_err": {str(k) if k < 3 else "3+": errors[k].tolist() for k in range(4)},
                "d50_mm": half,
                "d50_err_mm": float(np.nanstd(spread)),
                "n_events": int(n_events),
            }
        per_energy[str(float(e))] = samples
    result["per_energy"] = per_energy
    result["finder"] = finder.settings()
    return result


def _half_resolved(distance, count, edges) -> float:
    """The distance at which the fraction of events with two or more photons first reaches 50 %
    (linear between bin centres); NaN if it never does."""
    which = np.clip(np.digitize(distance, edges) - 1, 0, len(edges) - 2)
    n = np.bincount(which, minlength=len(edges) - 1)
    two = np.bincount(which, count >= 2, minlength=len(edges) - 1)
    fraction = np.where(n > 0, two / np.maximum(n, 1), np.nan)
    centre = 0.5 * (edges[1:] + edges[:-1])
    for b in range(len(fraction)):
        if fraction[b] >= 0.5:
            if b == 0 or not np.isfinite(fraction[b - 1]):
                return float(centre[b])
            f0, f1 = fraction[b - 1], fraction[b]
            return float(centre[b - 1] + (0.5 - f0) / (f1 - f0) * (centre[b] - centre[b - 1]))
    return math.nan


# ---------------------------------------------------------------------------- internal angle
def angle(setup: Setup, energies=(10, 50, 100), n_per_energy: int = 300):
    """Internal angle of reconstructed single photons against the true direction (module docstring)."""
    rng = setup.condition_rng(3)
    energy = np.repeat([float(e) for e in energies], n_per_energy)
    stave, face = face_points(setup.geometry, len(energy), rng)
    point, direction = entry_rays(setup.geometry, stave, face, setup.directions)
    finder = setup.make_finder()
    theta_true, phi_true = global_angles(direction)
    result: dict[str, Any] = {"energies_gev": [float(e) for e in energies], "samples": {}}
    for sample in SAMPLES:
        photons = finder.find(setup.events(sample, 3, energy, point, direction, np.arange(len(energy))))
        lead, ok = _leading(photons)
        out = {}
        for which, column in (("all", photons.direction), ("top4", photons.direction_core)):
            axis = np.full((len(energy), 3), np.nan)
            axis[ok] = column[lead[ok]]
            theta, phi = global_angles(axis)
            total = np.degrees(np.arccos(np.clip(np.sum(axis * direction, axis=1), -1.0, 1.0)))
            errors = {
                "theta": theta - theta_true,
                "phi": (phi - phi_true + 180.0) % 360.0 - 180.0,
                "angle": total,
            }
            out[which] = {
                "values": {k: np.round(v, 4).tolist() for k, v in errors.items()},
                "per_energy": [
                    {
                        "energy_gev": float(e),
                        **{
                            f"{k}_{stat}": float(f(v[(energy == e) & np.isfinite(v)]))
                            for k, v in errors.items()
                            for stat, f in (("mean", np.mean), ("std", np.std), ("median", np.median))
                        },
                    }
                    for e in energies
                ],
            }
        result["samples"][sample] = out
    result["energy_gev"] = energy.tolist()
    result["finder"] = finder.settings()
    return result
