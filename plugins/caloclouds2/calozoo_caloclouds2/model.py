"""CaloClouds2: the 65-output ShowerFlow, a one-step point model conditioned on (E, N), and its chain.

Generation of a batch (photons at normal incidence):

1. ShowerFlow samples 65 numbers per shower given ``[E / 100]``: total points, visible energy,
   centre of gravity and the 30 + 30 normalised layer counts and energies.
2. The occupancy correction ``N -> g(N) = poly_fake(poly_real(N))`` (fitted by the calibrator;
   identity when uncalibrated); per-layer counts and energies from the fractions
   (:func:`.chain.layer_targets`).
3. The distilled student turns ``80 eps`` into ``N`` normalised points in one step, conditioned
   on ``[E / 100 * 2 - 1, N / 6000 * 2 - 1]``.
4. As in CaloClouds3 (:func:`calozoo_caloclouds3.chain.assemble_points`): points sorted by their
   generated depth fill the layers in order; each layer rescaled to its energy.
5. ``x, y`` shifted so each shower's energy-weighted centre sits at the flow's centre of gravity.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from calozoo_caloclouds3 import chain as cc3_chain
from calozoo_caloclouds3.features import PointScaler
from calozoo_caloclouds3.model import CaloCloudsParts
from calozoo_caloclouds3.pointnet import OneStep, PointwiseNet
from calozoo_caloclouds3.showerflow import ShowerFlow

from calozoo.conditions import Conditions
from calozoo.interfaces import ShowerModel
from calozoo.showers import Showers

from . import chain
from .recipe import CaloClouds2Recipe

__all__ = ["CaloClouds2", "load_pretrained", "SHIPPED_WEIGHTS", "TRAINING_RANGE_GEV", "IDENTITY"]

#: The trained and calibrated model inside the installed package.
SHIPPED_WEIGHTS = Path(__file__).parent / "weights" / "caloclouds2"
#: What the model was trained on (``calozoo simulate --preset cc2-training``).
TRAINING_RANGE_GEV = (10.0, 90.0)
#: Energies accepted with ``extrapolate=True``.
EXTRAPOLATE_RANGE_GEV = (1.0, 127.0)
#: The identity cubic (highest power first): an uncalibrated occupancy.
IDENTITY = (0.0, 0.0, 1.0, 0.0)


class CaloClouds2(CaloCloudsParts, ShowerModel):
    """The CaloClouds2 shower model (photons, 10-90 GeV, normal incidence only).

    Args:
        flow: the trained 65-output :class:`~calozoo_caloclouds3.showerflow.ShowerFlow`.
        net: the distilled one-step point network (context ``[E, N]``).
        scaler: the point-feature normalisation of the training set.
        recipe: the conditioning and target conventions (with the centre-of-gravity statistics).
        poly_real, poly_fake: the occupancy polynomials (highest power first; identity = uncalibrated).
        calibration: what the polynomials were fitted for.
        extrapolate: accept 1-127 GeV, at the user's risk.
        training: provenance of the weights.
    """

    CONDITION_HINTS = (
        (
            "energy out of range",
            "caloclouds2 was trained on 10-90 GeV; load it with extrapolate=True, "
            "or `calozoo generate -O extrapolate=true`, for 1-127 GeV at your own risk",
        ),
        (
            "from the layer normal",
            "caloclouds2 simulates normal incidence only, direction (0, 0, 1); "
            "use caloclouds3 for inclined showers",
        ),
    )

    name: ClassVar[str] = "caloclouds2"

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
        return Conditions(low, high, pdg=(22,), max_angle_deg=0.0)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, energy_gev, direction, pdg, rng: np.random.Generator) -> Showers:
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
        energy_gev = np.asarray(energy_gev, dtype=np.float64)
        targets = self.flow.sample(torch.from_numpy(self.recipe.flow_context(energy_gev, direction)), gen)
        counts, layer_energy = chain.layer_targets(
            targets, torch.tensor(self.poly_real), torch.tensor(self.poly_fake)
        )
        owner = cc3_chain.point_context(counts)
        noise = torch.randn(len(owner), 4, generator=gen)
        within = torch.rand(len(owner), generator=gen)
        cond = torch.from_numpy(self.recipe.point_context(energy_gev, direction, counts.sum(1).numpy()))
        features = OneStep(self.net)(noise, owner, cond)
        mean = torch.tensor(self.scaler.mean, dtype=torch.float32)
        std = torch.tensor(self.scaler.std, dtype=torch.float32)
        points = cc3_chain.assemble_points(features, owner, counts, layer_energy, within, mean, std, 1.0, 1.0)
        cog_xy = targets[:, 2:4] * torch.tensor(self.recipe.cog_std[:2], dtype=torch.float32) + torch.tensor(
            self.recipe.cog_mean[:2], dtype=torch.float32
        )
        points = chain.shift_to_cog(points, owner, cog_xy)
        padded, num = cc3_chain.pad_points(points, owner, len(energy_gev))
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
        return CaloClouds2(
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

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        return {
            **self.parts_config(),
            "recipe": self.recipe.to_dict(),
            "poly_real": self.poly_real,
            "poly_fake": self.poly_fake,
            "calibration": self.calibration,
            "training": self.training,
        }

    @classmethod
    def from_parts(cls, flow, net, scaler, config: dict[str, Any], extrapolate: bool = False) -> CaloClouds2:
        return cls(
            flow,
            net,
            scaler,
            CaloClouds2Recipe.from_dict(config["recipe"]),
            config["poly_real"],
            config["poly_fake"],
            config.get("calibration"),
            extrapolate,
            config.get("training"),
        )

    # ------------------------------------------------------------------ export
    def export(self, path: str | os.PathLike, **options) -> Path:
        """TorchScript for DDFastShowerML, occupancy and centre of gravity inside (:mod:`.export`).

        Options: ``geometry`` (name or object; default ``"ild-ecal-barrel"``), ``max_rounds``.
        The exported module refuses any direction but normal incidence (``theta = phi = 90``).
        """
        from .export import export_torchscript

        return export_torchscript(self, path, **options)


def build(recipe, flow, net, scaler, training) -> CaloClouds2:
    """The uncalibrated model from trained parts (what ``--stage assemble`` writes)."""
    return CaloClouds2(flow, net, scaler, recipe, training=training)


def load_pretrained(path: str | os.PathLike | None = None, extrapolate: bool = False) -> CaloClouds2:
    """Factory registered as ``caloclouds2``: the shipped, calibrated weights or a saved folder."""
    return CaloClouds2.load_shipped(SHIPPED_WEIGHTS, path, extrapolate)
