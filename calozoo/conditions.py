"""Incident conditions: what a model accepts, and turning user input into checked arrays.

Directions are unit vectors in the local shower frame: ``z`` through the layers (into the
calorimeter), ``x`` in the layer plane along the beam, ``y`` in the layer plane across it.
Angles appear only where an external contract demands them (the CLI, DDML); they follow the
CaloClouds3 / ILD convention for the top barrel stave: ``θ`` is the polar angle to the beam,
``φ`` the azimuth, and ``θ = φ = 90°`` is normal incidence (see :func:`direction_from_angles`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import InvalidConditionError

__all__ = [
    "Conditions",
    "direction_from_angles",
    "angles_from_direction",
    "UNIT_TOLERANCE",
    "SHOWERING_PARTICLES",
    "unknown_particles",
]

#: How far ``|direction|`` may stray from 1 before it is rejected (not silently normalised).
UNIT_TOLERANCE = 1e-4

#: PDG ids of the particles that reach a calorimeter and shower in it, with their names. Any
#: other id in a shower file (a Z boson, 23, say) is a mistake, not a particle to simulate.
SHOWERING_PARTICLES = {
    22: "photon",
    11: "electron",
    -11: "positron",
    13: "muon",
    -13: "antimuon",
    111: "neutral pion",
    211: "positive pion",
    -211: "negative pion",
    130: "K0 long",
    310: "K0 short",
    321: "positive kaon",
    -321: "negative kaon",
    2112: "neutron",
    -2112: "antineutron",
    2212: "proton",
    -2212: "antiproton",
}


def unknown_particles(pdg) -> list[int]:
    """The PDG ids in ``pdg`` that are not :data:`SHOWERING_PARTICLES` (sorted, distinct)."""
    return sorted(set(np.unique(np.asarray(pdg)).tolist()) - set(SHOWERING_PARTICLES))


def direction_from_angles(theta_deg, phi_deg) -> np.ndarray:
    """Local unit direction(s) from global polar and azimuthal angles in degrees.

    For the top barrel stave the local frame is ``x = beam``, ``y = global x``,
    ``z = global y`` (outwards), so ``(sinθ cosφ, sinθ sinφ, cosθ)`` in global coordinates
    becomes ``(cosθ, sinθ cosφ, sinθ sinφ)`` locally.

    >>> direction_from_angles(90, 90).round(6).tolist()
    [0.0, 0.0, 1.0]
    """
    theta = np.radians(np.asarray(theta_deg, dtype=np.float64))
    phi = np.radians(np.asarray(phi_deg, dtype=np.float64))
    theta, phi = np.broadcast_arrays(theta, phi)
    return np.stack([np.cos(theta), np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi)], -1)


def angles_from_direction(direction) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`direction_from_angles`: ``(θ, φ)`` in degrees."""
    d = np.asarray(direction, dtype=np.float64)
    theta = np.degrees(np.arccos(np.clip(d[..., 0], -1.0, 1.0)))
    phi = np.degrees(np.arctan2(d[..., 2], d[..., 1]))
    return theta, phi


@dataclass(frozen=True)
class Conditions:
    """The incident conditions a model was trained for and accepts.

    Args:
        energy_min_gev: lowest incident energy in GeV (inclusive).
        energy_max_gev: highest incident energy in GeV (inclusive).
        pdg: PDG ids of the incident particles the model simulates (22 = photon).
        max_angle_deg: the largest angle between the direction and the layer normal ``+z``;
            ``0`` means normal incidence only (CaloClouds2), ``90`` any forward direction.
        theta_deg, phi_deg: optional ``(low, high)`` ranges of the local polar and azimuthal
            angles (:func:`angles_from_direction`; normal incidence is θ = φ = 90°), for models
            trained on a window of directions (CaloClouds3: θ 30-150°, φ 80-110°).
        energy_hint, direction_hint: what an error about an energy, or a direction, adds
            (how to go beyond the range, which model to use instead); not part of the range.
    """

    energy_min_gev: float
    energy_max_gev: float
    pdg: tuple[int, ...] = (22,)
    max_angle_deg: float = 90.0
    theta_deg: tuple[float, float] | None = None
    phi_deg: tuple[float, float] | None = None
    energy_hint: str = field(default="", compare=False)
    direction_hint: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["energy_hint"], out["direction_hint"]
        return out

    def _refuse(self, message: str, hint: str = "") -> InvalidConditionError:
        return InvalidConditionError(f"{message} ({hint})" if hint else message)

    def describe(self) -> str:
        angle = (
            "normal incidence only"
            if self.max_angle_deg == 0
            else (f"directions within {self.max_angle_deg:g} deg of the layer normal")
        )
        text = f"E = {self.energy_min_gev:g}-{self.energy_max_gev:g} GeV, pdg {list(self.pdg)}, {angle}"
        for label, window in (("theta", self.theta_deg), ("phi", self.phi_deg)):
            if window is not None:
                text += f", {label} {window[0]:g}-{window[1]:g} deg"
        return text

    def validate(self, energy, direction=None, pdg=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Check and broadcast user input to ``(N,)`` energies, ``(N, 3)`` directions, ``(N,)`` pdg.

        Accepts a scalar or ``(N,)`` energy in GeV; ``direction`` as ``(3,)`` (shared) or
        ``(N, 3)``, default ``(0, 0, 1)``; ``pdg`` as an int or ``(N,)``, default the first
        accepted particle. Raises :class:`InvalidConditionError` saying what was wrong and what is
        accepted.
        """
        if np.asarray(energy).dtype.kind not in "iuf":
            raise InvalidConditionError(
                f"energy must be numbers of GeV, got {np.asarray(energy).dtype.name} values "
                f"({np.asarray(energy).reshape(-1)[:3].tolist()}); True is not 1 GeV"
            )
        energy = np.asarray(energy, dtype=np.float64)
        if energy.ndim == 0:
            energy = energy.reshape(1)
        if energy.ndim != 1 or energy.size == 0:
            raise InvalidConditionError(
                f"energy must be a number or a 1-d sequence of incident energies in GeV, "
                f"got an array of shape {energy.shape}"
            )
        n = energy.shape[0]
        if not np.all(np.isfinite(energy)):
            raise InvalidConditionError(
                f"energy contains NaN or infinite values: {energy[~np.isfinite(energy)][:5]}"
            )
        out_of_range = (energy < self.energy_min_gev) | (energy > self.energy_max_gev)
        if np.any(out_of_range):
            bad = np.unique(energy[out_of_range])
            raise self._refuse(
                f"energy out of range: {bad[:5].tolist()} GeV; this model accepts "
                f"{self.energy_min_gev:g} to {self.energy_max_gev:g} GeV",
                self.energy_hint,
            )

        if direction is None:
            direction = np.array([0.0, 0.0, 1.0])
        direction = np.asarray(direction, dtype=np.float64)
        if direction.shape == (3,):
            direction = np.broadcast_to(direction, (n, 3))
        if direction.shape != (n, 3):
            raise InvalidConditionError(
                f"direction must have shape (3,) or (N, 3) = ({n}, 3) to match the energies, "
                f"got {direction.shape}"
            )
        if not np.all(np.isfinite(direction)):
            raise InvalidConditionError("direction contains NaN or infinite values")
        norm = np.linalg.norm(direction, axis=1)
        if np.any(np.abs(norm - 1.0) > UNIT_TOLERANCE):
            bad = np.unique(norm[np.abs(norm - 1.0) > UNIT_TOLERANCE])
            raise InvalidConditionError(
                f"direction must be a unit vector (|d| = 1 within {UNIT_TOLERANCE}), got |d| = "
                f"{bad[:5].round(6).tolist()}; normalise it first"
            )
        if np.any(direction[:, 2] <= 0):
            raise InvalidConditionError(
                "direction must point into the calorimeter (p_z > 0 in the local frame), got "
                f"{direction[direction[:, 2] <= 0][:3].tolist()}"
            )
        angle = np.degrees(np.arccos(np.clip(direction[:, 2], -1.0, 1.0)))
        # 0.01 deg of slack so that normal incidence written as floats still counts as normal.
        if np.any(angle > self.max_angle_deg + 1e-2):
            raise self._refuse(
                f"direction at {angle.max():.3g} deg from the layer normal; this model accepts "
                + (
                    "normal incidence (0, 0, 1) only"
                    if self.max_angle_deg == 0
                    else f"at most {self.max_angle_deg:g} deg"
                ),
                self.direction_hint,
            )

        self._check_window(direction)
        if pdg is None:
            pdg = self.pdg[0]
        pdg = np.asarray(pdg, dtype=np.int64)
        pdg = np.broadcast_to(pdg, (n,)) if pdg.ndim == 0 else pdg
        if pdg.shape != (n,):
            raise InvalidConditionError(f"pdg must be an int or have shape ({n},), got {pdg.shape}")
        unknown = sorted(set(pdg.tolist()) - set(self.pdg))
        if unknown:
            raise InvalidConditionError(
                f"particle(s) {unknown} not simulated; this model accepts pdg {list(self.pdg)}"
            )
        return energy.copy(), np.array(direction), pdg.astype(np.int32)

    def _check_window(self, direction: np.ndarray) -> None:
        """Refuse directions outside :attr:`theta_deg` / :attr:`phi_deg` (with 0.01° of slack)."""
        if self.theta_deg is None and self.phi_deg is None:
            return
        theta, phi = angles_from_direction(direction)
        for label, values, window in (("theta", theta, self.theta_deg), ("phi", phi, self.phi_deg)):
            if window is None:
                continue
            bad = (values < window[0] - 1e-2) | (values > window[1] + 1e-2)
            if np.any(bad):
                raise self._refuse(
                    f"direction outside the trained window: local {label} = "
                    f"{np.unique(values[bad])[:3].round(2).tolist()} deg; this model accepts {label} "
                    f"{window[0]:g}-{window[1]:g} deg (direction = (cos theta, sin theta cos phi, "
                    "sin theta sin phi); normal incidence is theta = phi = 90)",
                    self.direction_hint,
                )
