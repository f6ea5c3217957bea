"""What the networks of a point-cloud model see: per-shower summaries and normalised point features.

- :class:`ShowerSummaries`: points and visible energy per layer and the energy-weighted centre of
  gravity of each training shower (what a :class:`~.recipe.Recipe` makes its flow targets of);
- :class:`PointScaler`: point features ``x' = (x - mu_x) / (2 sigma_x)`` (same for ``y``, ``z``) and
  ``e' = (ln(e / GeV + 1e-12) - mu_e) / (2 sigma_e)``, with the statistics of the training set
  (stored with the model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calozoo.errors import FileFormatError
from calozoo.showers import Showers

__all__ = ["ShowerSummaries", "PointScaler", "LOG_EPS"]

#: Added to point energies (GeV) before the log, as the CaloClouds authors do.
LOG_EPS = 1e-12


@dataclass
class ShowerSummaries:
    """Per-shower numbers of a training set that flow targets are made of.

    Attributes:
        counts: ``(N, L)`` points per layer.
        energy_mev: ``(N, L)`` visible energy per layer.
        cog: ``(N, 3)`` energy-weighted centre of gravity (x, y mm; z layer units).
        incident_energy_gev: ``(N,)`` the showers' incident energies (for targets scaled with
            them), or ``None`` where unknown.
    """

    counts: np.ndarray
    energy_mev: np.ndarray
    cog: np.ndarray
    incident_energy_gev: np.ndarray | None = None

    @classmethod
    def of(cls, showers: Showers, n_layers: int) -> ShowerSummaries:
        deepest = float((showers.points[..., 2] * showers.padding_mask).max(initial=0.0))
        if deepest >= n_layers:
            raise FileFormatError(
                "training showers",
                None,
                f"have points in layer {int(deepest)}, the model has {n_layers} layers (0-{n_layers - 1}): "
                "train it for their detector (calozoo train --geometry NAME)",
            )
        counts, energy = showers.layer_sums(n_layers)
        e = showers.points[..., 3] * showers.padding_mask
        total = np.maximum(e.sum(1), 1e-30)[:, None]
        cog = (showers.points[..., :3] * e[..., None]).sum(1) / total
        return cls(counts, energy, cog, showers.incident_energy_gev.copy())

    @classmethod
    def concatenate(cls, parts: list[ShowerSummaries]) -> ShowerSummaries:
        fields = [np.concatenate([getattr(p, f) for p in parts]) for f in ("counts", "energy_mev", "cog")]
        known = all(p.incident_energy_gev is not None for p in parts)
        energy = np.concatenate([p.incident_energy_gev for p in parts]) if known else None
        return cls(*fields, energy)

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, index) -> ShowerSummaries:
        energy = None if self.incident_energy_gev is None else self.incident_energy_gev[index]
        return ShowerSummaries(self.counts[index], self.energy_mev[index], self.cog[index], energy)


@dataclass
class PointScaler:
    """Normalisation of the point features ``(x, y, z, ln e)``: ``(v - mean) / (2 std)``.

    ``mean`` and ``std`` are ``(4,)``: for ``x, y`` in mm, ``z`` in layer units and ``ln(e/GeV)``.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64).reshape(4)
        self.std = np.asarray(self.std, dtype=np.float64).reshape(4)
        if not np.all(np.isfinite(self.mean)) or not np.all(self.std > 0):
            raise ValueError(
                f"point scaler needs finite means and positive widths, got {self.mean}, {self.std}"
            )

    @classmethod
    def fit(cls, points: np.ndarray) -> PointScaler:
        """Statistics of ``(M, 4)`` real points (x, y mm; z layer units; e MeV)."""
        v = _log_energy(np.asarray(points, dtype=np.float64))
        return cls(v.mean(0), v.std(0))

    def normalise(self, points: np.ndarray) -> np.ndarray:
        """``(..., 4)`` points (e in MeV) -> normalised features (float32)."""
        return ((_log_energy(np.asarray(points, dtype=np.float64)) - self.mean) / (2 * self.std)).astype(
            np.float32
        )

    def denormalise(self, features: np.ndarray) -> np.ndarray:
        """Normalised features -> points with ``e`` in MeV (float32)."""
        v = np.asarray(features, dtype=np.float64) * (2 * self.std) + self.mean
        v[..., 3] = np.exp(v[..., 3]) * 1000.0
        return v.astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def _log_energy(points: np.ndarray) -> np.ndarray:
    v = points.copy()
    v[..., 3] = np.log(points[..., 3] / 1000.0 + LOG_EPS)
    return v
