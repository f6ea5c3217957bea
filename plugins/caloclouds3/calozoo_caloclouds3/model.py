"""CaloClouds3: ShowerFlow + a one-step point model + the calibration chain.

Generation of a batch (the paper's section on generation, step by step):

1. ShowerFlow samples 60 numbers per shower given ``c = [E / 127, p_x, p_y, p_z]``
   (unphysical draws redrawn); negatives clip to 0: points and visible energy per layer.
2. Counts become ``floor(n_l x f_occ)`` (occupancy factor, fitted by the calibrator).
3. The distilled student turns ``80 eps`` into ``N = sum n_l`` normalised points in one step.
4. Each shower's points are sorted by their generated ``z`` and handed out to the layers in
   order; ``z`` becomes the layer index plus a uniform offset inside the layer.
5. ``x, y`` are de-normalised and widened (``widening``), energies de-normalised.
6. Each layer's energies are rescaled to the flow's layer energy, then multiplied by ``f_E``.

The output is training points (tilt removed, calozoo's convention); a geometry's ``project``
re-applies the tilt. Steps 2-6 live in :mod:`.chain`, shared with the TorchScript export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from calozoo.conditions import Conditions
from calozoo.errors import InvalidConditionError, ModelFolderError
from calozoo.interfaces import ShowerModel
from calozoo.showers import Showers

from . import chain
from .features import ENERGY_SCALE_GEV, PointScaler, conditioning
from .pointnet import OneStep, PointwiseNet
from .showerflow import ShowerFlow

__all__ = [
    "CaloClouds3",
    "CaloCloudsParts",
    "load_pretrained",
    "load_module_state",
    "SHIPPED_WEIGHTS",
    "TRAINING_RANGE",
]

#: The trained and calibrated model inside the installed package.
SHIPPED_WEIGHTS = Path(__file__).parent / "weights" / "caloclouds3"

#: What the model was trained on (the CaloClouds3 preset of ``calozoo simulate``).
TRAINING_RANGE = {"energy_gev": (1.0, 127.0), "theta_deg": (30.0, 150.0), "phi_deg": (80.0, 110.0)}
#: Energies accepted with ``extrapolate=True``.
EXTRAPOLATE_RANGE_GEV = (0.1, 500.0)


class CaloCloudsParts:
    """What every CaloClouds variant's model shares: a ``flow`` and a point network ``net``, saved
    as ``flow.*`` and ``net.*`` tensors beside a config; loading a folder; the shipped weights.

    A variant mixes it in before :class:`~calozoo.interfaces.ShowerModel`, puts
    :meth:`parts_config` into its ``get_config`` and provides ``from_parts``: the model from the
    rebuilt networks, the scaler and the rest of its config.
    """

    flow: ShowerFlow
    net: PointwiseNet
    scaler: PointScaler
    extrapolate: bool
    #: What a condition error gets added, by a phrase of its message: ``(phrase, hint)`` pairs.
    #: The ``"energy out of range"`` hint (how to extrapolate) is left out when already extrapolating.
    CONDITION_HINTS: ClassVar[tuple[tuple[str, str], ...]] = ()

    def iter_sample(self, energy, direction=None, *, pdg=None, **kwargs):
        """As :meth:`calozoo.ShowerModel.iter_sample`; condition errors say what the variant accepts."""
        try:
            self.conditions.validate(energy, direction, pdg)
        except InvalidConditionError as err:
            for phrase, hint in self.CONDITION_HINTS:
                if phrase in str(err) and not (phrase == "energy out of range" and self.extrapolate):
                    raise InvalidConditionError(f"{err} ({hint})") from None
            raise
        return super().iter_sample(energy, direction, pdg=pdg, **kwargs)

    def parts_config(self) -> dict[str, Any]:
        """The config of the shared parts: flow settings, network widths, point scaler."""
        return {
            "flow": self.flow.settings,
            "net": {"widths": list(self.net.widths), "context_features": self.net.context_features},
            "scaler": self.scaler.to_dict(),
        }

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, np.ndarray], extrapolate: bool = False):
        try:
            flow = ShowerFlow(**config["flow"])
            net = PointwiseNet(tuple(config["net"]["widths"]), config["net"]["context_features"])
            load_module_state(flow, "flow", tensors)
            load_module_state(net, "net", tensors)
            scaler = PointScaler(config["scaler"]["mean"], config["scaler"]["std"])
            return cls.from_parts(flow, net, scaler, config, extrapolate)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelFolderError(
                f"saved {cls.name} does not fit this version's architecture: {err}"
            ) from err

    def get_tensors(self) -> dict[str, Any]:
        tensors = {f"flow.{k}": v for k, v in self.flow.state_dict().items()}
        tensors.update({f"net.{k}": v for k, v in self.net.state_dict().items()})
        return tensors

    @classmethod
    def load(cls, path: str | os.PathLike, extrapolate: bool = False):
        from calozoo.serialization import load_folder

        config, tensors = load_folder(path, expected=cls)
        return cls.from_saved(config, tensors, extrapolate=extrapolate)

    @classmethod
    def load_shipped(cls, shipped: Path, path: str | os.PathLike | None = None, extrapolate: bool = False):
        """The weights in ``path``, or those shipped in the package (``shipped``) when ``None``."""
        folder = shipped if path is None else Path(path)
        if path is None and not (folder / "config.json").exists():
            raise ModelFolderError(
                f"the shipped {cls.name} weights are missing from {str(folder)!r}; "
                f"reinstall calozoo-{cls.name}"
            )
        return cls.load(folder, extrapolate=extrapolate)


class CaloClouds3(CaloCloudsParts, ShowerModel):
    """The CaloClouds3 shower model (photons; 1-127 GeV; θ 30-150°, φ 80-110° in the local frame).

    Args:
        flow: the trained :class:`~.showerflow.ShowerFlow`.
        net: the distilled one-step :class:`~.pointnet.PointwiseNet`.
        scaler: the point-feature normalisation of the training set.
        occupancy_factor, widening, energy_factor: the calibration (1, 1, 1 = uncalibrated).
        calibration: what the factors were fitted for (geometry, reference, figures).
        extrapolate: accept energies outside 1-127 GeV (0.1-500 GeV), at the user's risk.
        training: provenance of the weights (data, steps, losses).
    """

    CONDITION_HINTS = (
        (
            "energy out of range",
            "caloclouds3 was trained on 1-127 GeV; load it with extrapolate=True, "
            "or `calozoo generate -O extrapolate=true`, to go beyond, at your own risk",
        ),
    )

    name: ClassVar[str] = "caloclouds3"

    def __init__(
        self,
        flow: ShowerFlow,
        net: PointwiseNet,
        scaler: PointScaler,
        occupancy_factor: float = 1.0,
        widening: float = 1.0,
        energy_factor: float = 1.0,
        calibration: dict[str, Any] | None = None,
        extrapolate: bool = False,
        training: dict[str, Any] | None = None,
    ):
        self.flow = flow.eval()
        self.net = net.eval()
        self.scaler = scaler
        self.occupancy_factor = float(occupancy_factor)
        self.widening = float(widening)
        self.energy_factor = float(energy_factor)
        self.calibration = dict(calibration or {})
        self.extrapolate = bool(extrapolate)
        self.training = dict(training or {})
        for label, value in [
            ("occupancy_factor", occupancy_factor),
            ("widening", widening),
            ("energy_factor", energy_factor),
        ]:
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive number, got {value!r}")

    # ------------------------------------------------------------------ conditions
    @property
    def conditions(self) -> Conditions:
        low, high = EXTRAPOLATE_RANGE_GEV if self.extrapolate else TRAINING_RANGE["energy_gev"]
        return Conditions(
            low,
            high,
            pdg=(22,),
            max_angle_deg=61.5,
            theta_deg=TRAINING_RANGE["theta_deg"],
            phi_deg=TRAINING_RANGE["phi_deg"],
        )

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, energy_gev, direction, pdg, rng: np.random.Generator) -> Showers:
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
        cond = torch.from_numpy(conditioning(energy_gev, direction))
        targets = self.flow.sample(cond, gen)
        counts, layer_energy = chain.layer_targets(targets, self.occupancy_factor)
        owner = chain.point_context(counts)
        noise = torch.randn(len(owner), 4, generator=gen)
        within = torch.rand(len(owner), generator=gen)
        points = self._points(cond, counts, layer_energy, owner, noise, within)
        padded, num = chain.pad_points(points, owner, len(cond))
        return Showers(
            points=padded.numpy(),
            num_points=num.numpy(),
            incident_energy_gev=np.asarray(energy_gev, dtype=np.float64),
            direction=np.asarray(direction, dtype=np.float64),
            pdg=np.asarray(pdg),
            z_units="layer",
        )

    def _points(self, cond, counts, layer_energy, owner, noise, within) -> torch.Tensor:
        """Steps 3-6 for given noise: flat ``(M, 4)`` points, shower-major."""
        features = OneStep(self.net)(noise, owner, cond)
        mean = torch.tensor(self.scaler.mean, dtype=torch.float32)
        std = torch.tensor(self.scaler.std, dtype=torch.float32)
        return chain.assemble_points(
            features, owner, counts, layer_energy, within, mean, std, self.widening, self.energy_factor
        )

    def with_calibration(
        self, occupancy_factor: float, widening: float, energy_factor: float, **info: Any
    ) -> CaloClouds3:
        """A copy sharing the networks, with new calibration factors."""
        return CaloClouds3(
            self.flow,
            self.net,
            self.scaler,
            occupancy_factor,
            widening,
            energy_factor,
            info,
            self.extrapolate,
            self.training,
        )

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        return {
            **self.parts_config(),
            "occupancy_factor": self.occupancy_factor,
            "widening": self.widening,
            "energy_factor": self.energy_factor,
            "calibration": self.calibration,
            "energy_scale_gev": ENERGY_SCALE_GEV,
            "training": self.training,
        }

    @classmethod
    def from_parts(cls, flow, net, scaler, config: dict[str, Any], extrapolate: bool = False) -> CaloClouds3:
        return cls(
            flow,
            net,
            scaler,
            config["occupancy_factor"],
            config["widening"],
            config["energy_factor"],
            config.get("calibration"),
            extrapolate,
            config.get("training"),
        )

    def export(self, path: str | os.PathLike, **options) -> Path:
        """TorchScript for DDFastShowerML, calibration and tilt inside (:func:`.export.export_torchscript`).

        Options: ``geometry`` (name or object; default ``"ild-ecal-barrel"``), ``max_rounds``.
        """
        from .export import export_torchscript

        return export_torchscript(self, path, **options)


def load_module_state(module: torch.nn.Module, prefix: str, tensors: dict[str, np.ndarray]) -> None:
    state = {
        k[len(prefix) + 1 :]: torch.as_tensor(np.asarray(v))
        for k, v in tensors.items()
        if k.startswith(prefix + ".")
    }
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{prefix} weights: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )


def load_pretrained(path: str | os.PathLike | None = None, extrapolate: bool = False) -> CaloClouds3:
    """Factory registered as ``caloclouds3``: the shipped, calibrated weights or a saved folder."""
    return CaloClouds3.load_shipped(SHIPPED_WEIGHTS, path, extrapolate)
