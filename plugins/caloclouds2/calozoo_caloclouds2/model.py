"""CaloClouds2 (arXiv:2309.05704), top to bottom: what its networks see, its chain, the model.

The parts it is built of are the engine's (:mod:`calozoo_engine`): the same ShowerFlow class with
CaloClouds2's 65 targets and 10 blocks, the same point network (wider, conditioned on energy and
number of points), the same training stages and one-step distillation. What is CaloClouds2's own
is in this file, plus its calibrator (:mod:`.calibration`) and export hooks (:mod:`.export`).

What its networks see (:class:`CaloClouds2Recipe`):

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

Generation of a batch (photons at normal incidence):

1. ShowerFlow samples 65 numbers per shower given ``[E / 100]``: total points, visible energy,
   centre of gravity and the 30 + 30 normalised layer counts and energies.
2. The occupancy correction ``N -> g(N) = poly_fake(poly_real(N))`` (fitted by the calibrator;
   identity when uncalibrated); per-layer counts and energies from the fractions
   (:func:`layer_targets`).
3. The distilled student turns ``80 eps`` into ``N`` normalised points in one step, conditioned
   on ``[E / 100 * 2 - 1, N / 6000 * 2 - 1]``.
4. The engine's assembly (:func:`calozoo_engine.points.assemble_points`): points sorted by their
   generated depth fill the layers in order; each layer rescaled to its energy.
5. ``x, y`` shifted so each shower's energy-weighted centre sits at the flow's centre of gravity
   (:func:`shift_to_cog`).

Every random number of shower ``i`` comes from its own seed (:mod:`calozoo.seeding`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from calozoo_engine import points as engine_chain
from calozoo_engine.features import PointScaler, ShowerSummaries
from calozoo_engine.flow import ShowerFlow
from calozoo_engine.model import FlowPointModel, per_shower_normal, per_shower_uniform, shower_generators
from calozoo_engine.pointnet import OneStep, PointwiseNet
from calozoo_engine.recipe import Recipe

from calozoo.conditions import Conditions
from calozoo.showers import Showers

__all__ = [
    "CaloClouds2",
    "CaloClouds2Recipe",
    "load_pretrained",
    "layer_targets",
    "occupancy_correction",
    "polyval",
    "shift_to_cog",
    "PAPER_ARCHITECTURE",
    "SHIPPED_ARCHITECTURE",
    "SHIPPED_WEIGHTS",
    "TRAINING_RANGE_GEV",
    "IDENTITY",
    "N_FLOW",
    "COUNTS",
    "ENERGIES",
]

#: The trained and calibrated model inside the installed package.
SHIPPED_WEIGHTS = Path(__file__).parent / "weights" / "caloclouds2"
#: What the model was trained on (``calozoo simulate --preset cc2-training``).
TRAINING_RANGE_GEV = (10.0, 90.0)
#: Energies accepted with ``extrapolate=True``.
EXTRAPOLATE_RANGE_GEV = (1.0, 127.0)
#: The identity cubic (highest power first): an uncalibrated occupancy.
IDENTITY = (0.0, 0.0, 1.0, 0.0)
#: What condition errors add.
ENERGY_HINT = (
    "caloclouds2 was trained on 10-90 GeV; load it with extrapolate=True, "
    "or `calozoo generate -O extrapolate=true`, for 1-127 GeV at your own risk"
)
DIRECTION_HINT = (
    "caloclouds2 simulates normal incidence only, direction (0, 0, 1); use caloclouds3 for inclined showers"
)

# ---------------------------------------------------------------------------- what the networks see
N_LAYERS = Recipe.n_layers
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

    def build(self, flow, net, scaler, training) -> CaloClouds2:
        return CaloClouds2(flow, net, scaler, self, training=training)


# ---------------------------------------------------------------------------- the chain
def polyval(coefficients: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``sum_k c_k x^(K-k)`` — highest power first, as :func:`numpy.polyfit` returns them (Horner)."""
    out = torch.zeros_like(x)
    for k in range(coefficients.shape[0]):
        out = out * x + coefficients[k]
    return out


def occupancy_correction(n: torch.Tensor, poly_real: torch.Tensor, poly_fake: torch.Tensor) -> torch.Tensor:
    """``g(N) = poly_fake(poly_real(N))``: points to generate for a shower whose flow says ``N``.

    ``poly_real`` maps a reference shower's points to its hit cells after projection, ``poly_fake``
    maps hit cells to the points the model needs to produce that many (the calibrator fits both).
    """
    return polyval(poly_fake, polyval(poly_real, n)).clamp_min(0.0)


def layer_targets(
    targets: torch.Tensor,
    poly_real: torch.Tensor,
    poly_fake: torch.Tensor,
    points_scale: float = 5000.0,
    visible_scale_mev: float = 2500.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ShowerFlow's 65 outputs -> points ``(B, 30)`` int64 and energy ``(B, 30)`` MeV per layer.

    ``N = g(5000 s_0)`` points are shared out in proportion to the (clipped) layer-count
    fractions, rounded; the visible energy ``2.5 GeV s_1`` in proportion to the layer-energy
    fractions. A layer without energy gets no points (they would be zero-energy points).
    """
    n_layers = (targets.shape[1] - 5) // 2  # from the width: TorchScript cannot read module globals
    t = targets.clamp_min(0.0)
    n = occupancy_correction(t[:, 0] * points_scale, poly_real, poly_fake)
    count_share = t[:, 5 : 5 + n_layers]
    count_share = count_share / count_share.sum(1, keepdim=True).clamp_min(1e-12)
    energy_share = t[:, 5 + n_layers : 5 + 2 * n_layers]
    energy_share = energy_share / energy_share.sum(1, keepdim=True).clamp_min(1e-12)
    energy = energy_share * (t[:, 1:2] * visible_scale_mev)
    counts = torch.floor(count_share * n[:, None] + 0.5).to(torch.int64)
    counts = torch.where(energy > 0, counts, torch.zeros_like(counts))
    return counts, energy


def shift_to_cog(points: torch.Tensor, owner: torch.Tensor, cog_xy: torch.Tensor) -> torch.Tensor:
    """Shift each shower's ``x, y`` so its energy-weighted centre sits at ``cog_xy`` ``(B, 2)`` mm."""
    n_showers = cog_xy.shape[0]
    e = points[:, 3]
    # scatter_add, not index_add_: the same sums bit for bit, and the ONNX export writes it as a sum
    total = torch.zeros(n_showers, dtype=e.dtype).scatter_add(0, owner, e).clamp_min(1e-30)
    weighted = points[:, :2] * e[:, None]
    index = owner[:, None].expand_as(weighted)
    centre = torch.zeros(n_showers, 2, dtype=e.dtype).scatter_add(0, index, weighted)
    shift = cog_xy - centre / total[:, None]
    out = points.clone()
    out[:, :2] = points[:, :2] + shift[owner]
    return out


# ---------------------------------------------------------------------------- the model
class CaloClouds2(FlowPointModel):
    """The CaloClouds2 shower model (photons, 10-90 GeV, normal incidence only).

    Args:
        flow: the trained 65-output :class:`~calozoo_engine.flow.ShowerFlow`.
        net: the distilled one-step point network (context ``[E, N]``).
        scaler: the point-feature normalisation of the training set.
        recipe: the conditioning and target conventions (with the centre-of-gravity statistics).
        poly_real, poly_fake: the occupancy polynomials (highest power first; identity = uncalibrated).
        calibration: what the polynomials were fitted for.
        extrapolate: accept 1-127 GeV, at the user's risk.
        training: provenance of the weights.
    """

    name: ClassVar[str] = "caloclouds2"
    recipe_type = CaloClouds2Recipe
    shipped = SHIPPED_WEIGHTS

    def __init__(
        self,
        flow: ShowerFlow,
        net: PointwiseNet,
        scaler: PointScaler,
        recipe: CaloClouds2Recipe,
        poly_real=IDENTITY,
        poly_fake=IDENTITY,
        calibration: dict[str, Any] | None = None,
        extrapolate: bool = False,
        training: dict[str, Any] | None = None,
    ):
        self.flow = flow.eval()
        self.net = net.eval()
        self.scaler = scaler
        self.recipe = recipe
        self.poly_real = [float(c) for c in np.asarray(poly_real, dtype=np.float64).reshape(-1)]
        self.poly_fake = [float(c) for c in np.asarray(poly_fake, dtype=np.float64).reshape(-1)]
        if not (np.all(np.isfinite(self.poly_real)) and np.all(np.isfinite(self.poly_fake))):
            raise ValueError(f"occupancy polynomials must be finite, got {self.poly_real}, {self.poly_fake}")
        self.calibration = dict(calibration or {})
        self.extrapolate = bool(extrapolate)
        self.training = dict(training or {})

    # ------------------------------------------------------------------ conditions
    @property
    def conditions(self) -> Conditions:
        low, high = EXTRAPOLATE_RANGE_GEV if self.extrapolate else TRAINING_RANGE_GEV
        return Conditions(
            low,
            high,
            pdg=(22,),
            max_angle_deg=0.0,
            energy_hint="" if self.extrapolate else ENERGY_HINT,
            direction_hint=DIRECTION_HINT,
        )

    # ------------------------------------------------------------------ generation
    # inference mode: no autograd bookkeeping at all (per op cheaper than no_grad, the same numbers)
    @torch.inference_mode()
    def generate(self, energy_gev, direction, pdg, seeds) -> Showers:
        gens = shower_generators(seeds)
        energy_gev = np.asarray(energy_gev, dtype=np.float64)
        targets = self.flow.sample(
            torch.from_numpy(self.recipe.flow_context(energy_gev, direction)), gens, row_block=self.row_block
        )
        counts, layer_energy = layer_targets(
            targets, torch.tensor(self.poly_real), torch.tensor(self.poly_fake)
        )
        owner = engine_chain.point_owner(counts)
        per_shower = counts.sum(1).tolist()
        noise = per_shower_normal(gens, per_shower, 4)
        within = per_shower_uniform(gens, per_shower)
        cond = torch.from_numpy(self.recipe.point_context(energy_gev, direction, counts.sum(1).numpy()))
        features = OneStep(self.net, row_block=self.row_block)(noise, owner, cond)
        mean = torch.tensor(self.scaler.mean, dtype=torch.float32)
        std = torch.tensor(self.scaler.std, dtype=torch.float32)
        points = engine_chain.assemble_points(
            features, owner, counts, layer_energy, within, mean, std, 1.0, 1.0
        )
        cog_xy = targets[:, 2:4] * torch.tensor(self.recipe.cog_std[:2], dtype=torch.float32) + torch.tensor(
            self.recipe.cog_mean[:2], dtype=torch.float32
        )
        points = shift_to_cog(points, owner, cog_xy)
        padded, num = engine_chain.pad_points(points, owner, len(energy_gev))
        return Showers(
            points=padded.numpy(),
            num_points=num.numpy(),
            incident_energy_gev=energy_gev,
            direction=np.asarray(direction, dtype=np.float64),
            pdg=np.asarray(pdg),
            z_units="layer",
        )

    def with_occupancy(self, poly_real, poly_fake, **info: Any) -> CaloClouds2:
        """A copy sharing the networks, with new occupancy polynomials."""
        return self._same_settings(
            CaloClouds2(
                self.flow,
                self.net,
                self.scaler,
                self.recipe,
                poly_real,
                poly_fake,
                info,
                self.extrapolate,
                self.training,
            )
        )

    # ------------------------------------------------------------------ saving
    def calibration_config(self) -> dict[str, Any]:
        return {"poly_real": self.poly_real, "poly_fake": self.poly_fake, "calibration": self.calibration}

    @classmethod
    def from_parts(cls, flow, net, scaler, recipe, config, extrapolate=False) -> CaloClouds2:
        return cls(
            flow,
            net,
            scaler,
            recipe,
            config["poly_real"],
            config["poly_fake"],
            config.get("calibration"),
            extrapolate,
            config.get("training"),
        )

    # ------------------------------------------------------------------ export
    def export(self, path: str | os.PathLike, format: str | None = None, **options) -> Path:
        """TorchScript or ONNX for DDFastShowerML, occupancy and centre of gravity inside (:mod:`.export`).

        ``format``: ``"torchscript"`` or ``"onnx"`` (default: ONNX for a ``.onnx`` name).
        Options: ``geometry`` (name or object; default ``"ild-ecal-barrel"``), ``max_rounds``.
        The exported module refuses any direction but normal incidence (``theta = phi = 90``);
        the ONNX graph returns NaNs there.
        """
        from .export import CaloClouds2DDML

        return CaloClouds2DDML(self, **options).write(path, getattr(self, "calibration", {}), format)


def load_pretrained(
    path: str | os.PathLike | None = None, extrapolate: bool = False, batch_invariant: bool = False
) -> CaloClouds2:
    """Factory registered as ``caloclouds2``: the shipped, calibrated weights or a saved folder."""
    return CaloClouds2.load_pretrained(path, extrapolate, batch_invariant)
