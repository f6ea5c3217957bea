"""What CaloClouds2's networks see (its :class:`~calozoo_caloclouds3.recipe.Recipe`).

- ShowerFlow conditioning: ``[E / 100 GeV]`` (normal incidence only, no direction).
- ShowerFlow's 65 targets: total points ``/ 5000``, visible energy in GeV ``/ 2.5``, the
  energy-weighted centre of gravity ``x, y, z`` standardised with the training set's statistics
  (stored with the model), then the 30 per-layer counts and the 30 per-layer energies, each
  divided by the shower's largest layer value.
- Point network conditioning: ``[E / 100 * 2 - 1, N / 6000 * 2 - 1]`` (``N`` the shower's points),
  widths ``4 -> 128 -> 256 -> 512 -> 256 -> 128 -> 4``.
- Flow architecture: 10 blocks of ``A P A P A P P S A P A P A P``. The paper's couplings are
  ``10 D`` wide and its splines ``4 D`` (about 34 M parameters); :data:`SHIPPED_ARCHITECTURE` is
  narrower (``2 D`` and ``1 D``, 2.8 M parameters): our training set is 40x smaller than the
  authors' and the weights ship inside the package. :data:`PAPER_ARCHITECTURE` is the full size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from calozoo_caloclouds3.features import N_LAYERS, ShowerSummaries
from calozoo_caloclouds3.recipe import Recipe, register_recipe

__all__ = [
    "CaloClouds2Recipe",
    "PAPER_ARCHITECTURE",
    "SHIPPED_ARCHITECTURE",
    "POINTS_SCALE",
    "VISIBLE_SCALE_GEV",
    "FLOW_ENERGY_SCALE_GEV",
    "POINT_ENERGY_SCALE_GEV",
    "POINT_COUNT_SCALE",
    "N_FLOW",
    "COUNTS",
    "ENERGIES",
]

#: Flow target units: total points / 5000, visible energy GeV / 2.5.
POINTS_SCALE = 5000.0
VISIBLE_SCALE_GEV = 2.5
#: Conditioning: E / 100 for the flow; E / 100 * 2 - 1 and N / 6000 * 2 - 1 for the point network.
FLOW_ENERGY_SCALE_GEV = 100.0
POINT_ENERGY_SCALE_GEV = 100.0
POINT_COUNT_SCALE = 6000.0
#: Number of flow targets and where the parts sit.
N_FLOW = 5 + 2 * N_LAYERS
COUNTS = slice(5, 5 + N_LAYERS)
ENERGIES = slice(5 + N_LAYERS, 5 + 2 * N_LAYERS)

_BLOCK = "APAPAPPSAPAPAP"
#: The paper's flow: 10 blocks, couplings 10 D wide, splines 4 D wide (about 34 M parameters).
PAPER_ARCHITECTURE = {"blocks": 10, "pattern": _BLOCK, "hidden_factor": 10, "spline_factor": 4}
#: What ships: the same blocks, narrower MLPs (2.8 M parameters).
SHIPPED_ARCHITECTURE = {"blocks": 10, "pattern": _BLOCK, "hidden_factor": 2, "spline_factor": 1}


@register_recipe
class CaloClouds2Recipe(Recipe):
    """CaloClouds2's conditioning and targets; ``cog_mean`` / ``cog_std`` come from :meth:`fit`.

    Args:
        cog_mean, cog_std: ``(3,)`` statistics of the centre of gravity (x, y mm; z layer units).
        architecture: the flow's blocks and widths (default :data:`SHIPPED_ARCHITECTURE`).
    """

    name = "caloclouds2"
    flow_features = N_FLOW
    flow_context_features = 1
    point_widths = (4, 128, 256, 512, 256, 128, 4)
    point_context_features = 2

    def __init__(self, cog_mean=(0.0, 0.0, 0.0), cog_std=(1.0, 1.0, 1.0), architecture=None):
        self.cog_mean = np.asarray(cog_mean, dtype=np.float64).reshape(3)
        self.cog_std = np.asarray(cog_std, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(self.cog_mean)) or not np.all(self.cog_std > 0):
            raise ValueError(
                f"centre-of-gravity statistics must be finite with positive widths, got {cog_std}"
            )
        self.flow_architecture = {
            **dict(architecture or SHIPPED_ARCHITECTURE),
            "energy_columns": [ENERGIES.start, ENERGIES.stop],
        }

    def fit(self, summaries: ShowerSummaries) -> CaloClouds2Recipe:
        cog = np.asarray(summaries.cog, dtype=np.float64)
        self.cog_mean, self.cog_std = cog.mean(0), np.maximum(cog.std(0), 1e-6)
        return self

    def flow_context(self, energy_gev, direction):
        return (np.asarray(energy_gev, dtype=np.float64).reshape(-1, 1) / FLOW_ENERGY_SCALE_GEV).astype(
            np.float32
        )

    def point_context(self, energy_gev, direction, num_points):
        energy = np.asarray(energy_gev, dtype=np.float64).reshape(-1) / POINT_ENERGY_SCALE_GEV * 2 - 1
        count = np.asarray(num_points, dtype=np.float64).reshape(-1) / POINT_COUNT_SCALE * 2 - 1
        return np.stack([energy, count], 1).astype(np.float32)

    def flow_targets(self, summaries):
        counts = np.asarray(summaries.counts, dtype=np.float64)
        energy = np.asarray(summaries.energy_mev, dtype=np.float64)
        total = counts.sum(1, keepdims=True)
        visible = energy.sum(1, keepdims=True) / 1000.0
        cog = (np.asarray(summaries.cog) - self.cog_mean) / self.cog_std
        return np.concatenate(
            [
                total / POINTS_SCALE,
                visible / VISIBLE_SCALE_GEV,
                cog,
                counts / np.maximum(counts.max(1, keepdims=True), 1),
                energy / np.maximum(energy.max(1, keepdims=True), 1e-30),
            ],
            1,
        ).astype(np.float32)

    def dequantisation(self, summaries):
        # integer counts: one point's width in each unit; energies: 0.1 % of the largest layer
        # (empty layers are exact zeros, the largest layer an exact one)
        counts = np.asarray(summaries.counts, dtype=np.float64)
        width = np.zeros((len(counts), N_FLOW), np.float32)
        width[:, 0] = 1 / POINTS_SCALE
        width[:, COUNTS] = 1 / np.maximum(counts.max(1, keepdims=True), 1)
        width[:, ENERGIES] = 1e-3
        return width

    def to_dict(self) -> dict[str, Any]:
        architecture = {k: v for k, v in self.flow_architecture.items() if k != "energy_columns"}
        return {
            "name": self.name,
            "cog_mean": self.cog_mean.tolist(),
            "cog_std": self.cog_std.tolist(),
            "architecture": architecture,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaloClouds2Recipe:
        return cls(data["cog_mean"], data["cog_std"], data.get("architecture"))
