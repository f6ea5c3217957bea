"""What the networks see: the conditioning, ShowerFlow's 60 targets, the normalised point features.

- Conditioning (flow and diffusion alike): ``c = [E / 127 GeV, p_x, p_y, p_z]``.
- ShowerFlow targets: points per layer ``x 30 / 7864``, then visible energy per layer in GeV
  ``x 30 / 3.4`` (the paper's 60 outputs; the scales make a typical layer of order one).
- Point features: ``x' = (x - mu_x) / (2 sigma_x)`` (same for ``y``, ``z``) and
  ``e' = (ln(e / GeV + 1e-12) - mu_e) / (2 sigma_e)``, with the statistics of *our* training set
  (:class:`PointScaler`, stored with the model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calozoo.showers import Showers

__all__ = [
    "N_LAYERS",
    "ENERGY_SCALE_GEV",
    "COUNT_SCALE",
    "LAYER_ENERGY_SCALE_GEV",
    "conditioning",
    "layer_summaries",
    "ShowerSummaries",
    "flow_targets",
    "PointScaler",
    "AUTHORS_POINT_SCALER",
]

N_LAYERS = 30
#: Incident energies enter as ``E / 127 GeV`` (the top of the CaloClouds3 training range).
ENERGY_SCALE_GEV = 127.0
#: One flow unit of a layer count is ``7864 / 30`` points (7864: the largest shower the authors saw).
COUNT_SCALE = 7864 / N_LAYERS
#: One flow unit of a layer energy is ``3.4 / 30`` GeV.
LAYER_ENERGY_SCALE_GEV = 3.4 / N_LAYERS
#: Added to point energies (GeV) before the log, as the authors do.
LOG_EPS = 1e-12


def conditioning(energy_gev: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``(B,)`` energies and ``(B, 3)`` unit directions -> the ``(B, 4)`` float32 context."""
    energy = np.asarray(energy_gev, dtype=np.float64).reshape(-1, 1) / ENERGY_SCALE_GEV
    return np.concatenate([energy, np.asarray(direction, dtype=np.float64).reshape(-1, 3)], 1).astype(
        np.float32
    )


def layer_summaries(showers: Showers) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 30)`` points per layer and ``(N, 30)`` visible energy per layer in MeV.

    Layer ``i`` holds the points with ``i <= z < i + 1`` (training points, ``z`` in layer units).
    """
    if showers.z_units != "layer":
        raise ValueError(f"expected training points with z in layer units, got z_units={showers.z_units!r}")
    mask = showers.padding_mask
    layer = np.clip(np.floor(showers.points[..., 2]), 0, N_LAYERS - 1).astype(np.int64)
    row = np.broadcast_to(np.arange(len(showers))[:, None], layer.shape)
    counts = np.zeros((len(showers), N_LAYERS), np.int64)
    energy = np.zeros((len(showers), N_LAYERS), np.float64)
    np.add.at(counts, (row[mask], layer[mask]), 1)
    np.add.at(energy, (row[mask], layer[mask]), showers.points[..., 3][mask])
    return counts, energy


@dataclass
class ShowerSummaries:
    """Per-shower numbers of a training set that flow targets are made of.

    Attributes:
        counts: ``(N, 30)`` points per layer.
        energy_mev: ``(N, 30)`` visible energy per layer.
        cog: ``(N, 3)`` energy-weighted centre of gravity (x, y mm; z layer units).
    """

    counts: np.ndarray
    energy_mev: np.ndarray
    cog: np.ndarray

    @classmethod
    def of(cls, showers: Showers) -> ShowerSummaries:
        counts, energy = layer_summaries(showers)
        e = showers.points[..., 3] * showers.padding_mask
        total = np.maximum(e.sum(1), 1e-30)[:, None]
        cog = (showers.points[..., :3] * e[..., None]).sum(1) / total
        return cls(counts, energy, cog)

    @classmethod
    def concatenate(cls, parts: list[ShowerSummaries]) -> ShowerSummaries:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("counts", "energy_mev", "cog")))

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, index) -> ShowerSummaries:
        return ShowerSummaries(self.counts[index], self.energy_mev[index], self.cog[index])


def flow_targets(counts: np.ndarray, energy_mev: np.ndarray) -> np.ndarray:
    """Per-layer counts and energies (MeV) -> the ``(N, 60)`` ShowerFlow targets."""
    return np.concatenate([counts / COUNT_SCALE, energy_mev / 1000.0 / LAYER_ENERGY_SCALE_GEV], 1).astype(
        np.float32
    )


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


#: The authors' normalisation of their own CaloClouds3 training data (for imported checkpoints):
#: ``mu = (-0.00743, -0.21206, 12.35925)``, ``sigma = (21.60847, 22.74844, 5.30508)``,
#: ``mu_e = -1.5300317``, ``sigma_e = 1.2500798`` (ln of the energy in GeV).
AUTHORS_POINT_SCALER = PointScaler(
    mean=[-0.00743, -0.21206, 12.35925, -1.5300317],
    std=[21.60847, 22.74844, 5.30508, 1.2500798],
)
