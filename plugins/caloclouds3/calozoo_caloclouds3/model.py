"""CaloClouds3 (arXiv:2511.01460), top to bottom: what its networks see, its chain, the model.

The parts it is built of are the engine's (:mod:`calozoo_engine`): ShowerFlow, the point network
and its one-step student, the assembly chain, the training stages. What is CaloClouds3's own is
in this file — the recipe (conditioning, flow targets, architectures), the per-layer targets of
the chain with the occupancy factor, and the model with its three calibration factors — plus its
calibrator (:mod:`.calibration`) and its export hooks (:mod:`.export`).

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
re-applies the tilt. Every random number of shower ``i`` comes from its own seed
(:mod:`calozoo.seeding`), so the showers do not depend on the batch size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from calozoo_engine import points as chain
from calozoo_engine.features import PointScaler, ShowerSummaries
from calozoo_engine.flow import ShowerFlow
from calozoo_engine.model import FlowPointModel, per_shower_normal, per_shower_uniform, shower_generators
from calozoo_engine.pointnet import OneStep, PointwiseNet
from calozoo_engine.recipe import Recipe

from calozoo.conditions import Conditions, angles_from_direction
from calozoo.showers import Showers

__all__ = [
    "CaloClouds3",
    "CaloClouds3Recipe",
    "load_pretrained",
    "conditioning",
    "flow_targets",
    "layer_targets",
    "AUTHORS_POINT_SCALER",
    "SHIPPED_WEIGHTS",
    "TRAINING_RANGE",
    "ENERGY_SCALE_GEV",
    "COUNT_SCALE",
    "LAYER_ENERGY_SCALE_GEV",
    "FLOW_UNITS",
    "target_scales",
]

#: The trained and calibrated model inside the installed package.
SHIPPED_WEIGHTS = Path(__file__).parent / "weights" / "caloclouds3"
#: What the model was trained on (the CaloClouds3 preset of ``calozoo simulate``).
TRAINING_RANGE = {"energy_gev": (1.0, 127.0), "theta_deg": (30.0, 150.0), "phi_deg": (80.0, 110.0)}
#: The largest angle from the layer normal it accepts: the training window's widest direction,
#: θ = 30° (or 150°) with φ = 110°, lies arccos(sin 30° sin 110°) = 61.98° from the normal.
MAX_ANGLE_DEG = 62.0
#: Energies accepted with ``extrapolate=True``.
EXTRAPOLATE_RANGE_GEV = (0.1, 500.0)


#: What an energy error adds when the model is not already extrapolating.
def energy_hint(low_gev: float, high_gev: float) -> str:
    """What an energy error adds for a model trained on ``low_gev``-``high_gev``."""
    return (
        f"caloclouds3 was trained on {low_gev:.3g}-{high_gev:.3g} GeV; load it with extrapolate=True, "
        "or `calozoo generate -O extrapolate=true`, to go beyond, at your own risk"
    )


ENERGY_HINT = energy_hint(*TRAINING_RANGE["energy_gev"])

# ---------------------------------------------------------------------------- what the networks see
N_LAYERS = Recipe.n_layers
#: Incident energies enter as ``E / 127 GeV`` (the top of the CaloClouds3 training range).
ENERGY_SCALE_GEV = 127.0
#: One flow unit of a layer count is ``7864 / 30`` points (7864: the largest shower the authors saw;
#: a detector of ``n`` layers: ``7864 / n``).
COUNT_SCALE = 7864 / N_LAYERS
#: One flow unit of a layer energy is ``3.4 / 30`` GeV.
LAYER_ENERGY_SCALE_GEV = 3.4 / N_LAYERS
#: With ``flow_units="per-gev"``: one unit of a layer count is this many points per GeV of
#: incident energy (7864 points at 127 GeV), of a layer energy this many MeV per GeV (the
#: reference MC's ~2.2 % visible fraction), so every target is about 1 at every energy; both
#: shared out over the layers (``/ 30`` here, ``/ n`` for ``n`` layers).
POINTS_PER_GEV = 7864 / 127.0 / N_LAYERS
MEV_PER_GEV = 22.0 / N_LAYERS
#: The flow's target units: ``fixed`` (the paper's: the same scale at every energy) or ``per-gev``
#: (scaled with the incident energy; docs/caloclouds3.md, "Low energies").
FLOW_UNITS = ("fixed", "per-gev")
#: ShowerFlow's sizes (``--recipe flow_size=HxS``): the couplings' MLP width is ``H x D``, the
#: splines' ``S x D`` (D the targets). ``10x4`` is the paper's (5.8 M parameters for 60 targets);
#: the smaller ones are those of the toy study (docs/flow-size-study.md).
FLOW_SIZES = ("10x4", "7x3", "4x2", "2x1", "1x1")
DEFAULT_FLOW_SIZE = "10x4"


def conditioning(energy_gev: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``(B,)`` energies and ``(B, 3)`` unit directions -> the ``(B, 4)`` float32 context ``[E/127, p]``."""
    energy = np.asarray(energy_gev, dtype=np.float64).reshape(-1, 1) / ENERGY_SCALE_GEV
    return np.concatenate([energy, np.asarray(direction, dtype=np.float64).reshape(-1, 3)], 1).astype(
        np.float32
    )


def target_scales(
    energy_gev, flow_units: str = "fixed", n_layers: int = N_LAYERS
) -> tuple[np.ndarray, np.ndarray]:
    """Points and MeV per flow unit, ``(B, 1)`` float64 each, for showers of ``energy_gev``.

    ``fixed``: ``7864 / 30`` points and ``3400 / 30`` MeV at every energy (the paper's);
    ``per-gev``: :data:`POINTS_PER_GEV` points and :data:`MEV_PER_GEV` MeV per GeV of incident energy;
    for ``n_layers`` layers the totals are shared out over ``n_layers`` instead of 30.
    """
    energy = np.asarray(energy_gev, dtype=np.float64).reshape(-1, 1)
    share = N_LAYERS / n_layers
    if flow_units == "per-gev":
        return energy * (POINTS_PER_GEV * share), energy * (MEV_PER_GEV * share)
    if flow_units == "fixed":
        one = np.ones_like(energy)
        return one * (COUNT_SCALE * share), one * (LAYER_ENERGY_SCALE_GEV * 1000.0 * share)
    raise ValueError(f"flow_units must be one of {', '.join(FLOW_UNITS)}, got {flow_units!r}")


def flow_targets(
    counts: np.ndarray, energy_mev: np.ndarray, energy_gev=None, flow_units: str = "fixed"
) -> np.ndarray:
    """Per-layer counts and energies (MeV) -> the ``(N, 60)`` ShowerFlow targets (the paper's 60 outputs:
    points per layer ``x 30 / 7864``, then visible energy per layer in GeV ``x 30 / 3.4``; with
    ``flow_units="per-gev"`` both per GeV of ``energy_gev``, see :func:`target_scales`)."""
    counts = np.asarray(counts, dtype=np.float64)
    energy = np.ones(len(counts)) if energy_gev is None else energy_gev
    if energy_gev is None and flow_units != "fixed":
        raise ValueError("flow targets per GeV need the incident energies")
    count_scale, energy_scale = target_scales(energy, flow_units, counts.shape[1])
    return np.concatenate([counts / count_scale, np.asarray(energy_mev) / energy_scale], 1).astype(np.float32)


#: The authors' normalisation of their own CaloClouds3 training data (for imported checkpoints):
#: ``mu = (-0.00743, -0.21206, 12.35925)``, ``sigma = (21.60847, 22.74844, 5.30508)``,
#: ``mu_e = -1.5300317``, ``sigma_e = 1.2500798`` (ln of the energy in GeV).
AUTHORS_POINT_SCALER = PointScaler(
    mean=[-0.00743, -0.21206, 12.35925, -1.5300317],
    std=[21.60847, 22.74844, 5.30508, 1.2500798],
)


class CaloClouds3Recipe(Recipe):
    """CaloClouds3: ``c = [E/127, p_x, p_y, p_z]`` for both networks; 60 per-layer flow targets.

    Args:
        flow_units: the targets' units (:data:`FLOW_UNITS`, :func:`target_scales`): ``per-gev``
            for new training runs, ``fixed`` the paper's (and of models saved before the option).
        n_layers: the detector's layers (30, ILD's; ``calozoo train --geometry`` sets another's):
            the flow has ``2 n_layers`` targets, a count and an energy per layer.
        flow_size: ShowerFlow's size, one of :data:`FLOW_SIZES` (the paper's ``10x4`` by default).
    """

    name = "caloclouds3"
    flow_context_features = 4
    point_widths = (4, 32, 64, 128, 64, 32, 4)
    point_context_features = 4
    options = {"flow_units": FLOW_UNITS, "flow_size": FLOW_SIZES}

    def __init__(
        self, flow_units: str = "per-gev", n_layers: int = N_LAYERS, flow_size: str = DEFAULT_FLOW_SIZE
    ):
        if flow_units not in FLOW_UNITS:
            raise ValueError(f"flow_units must be one of {', '.join(FLOW_UNITS)}, got {flow_units!r}")
        if int(n_layers) < 1:
            raise ValueError(f"n_layers must be a positive number of layers, got {n_layers!r}")
        if flow_size not in FLOW_SIZES:
            raise ValueError(f"flow_size must be one of {', '.join(FLOW_SIZES)}, got {flow_size!r}")
        self.flow_units = flow_units
        self.n_layers = int(n_layers)
        self.flow_size = flow_size

    @property
    def flow_features(self) -> int:
        return 2 * self.n_layers

    @property
    def flow_architecture(self) -> dict:
        hidden, spline = (int(v) for v in self.flow_size.split("x"))
        return {"blocks": 2, "pattern": "APAPAPSPAPAPAP", "hidden_factor": hidden, "spline_factor": spline}

    def for_geometry(self, geometry) -> CaloClouds3Recipe:
        return CaloClouds3Recipe(self.flow_units, int(geometry.n_layers), self.flow_size)

    def to_dict(self):
        out = {"name": self.name, "flow_units": self.flow_units}
        if self.n_layers != N_LAYERS:
            out["n_layers"] = self.n_layers
        if self.flow_size != DEFAULT_FLOW_SIZE:
            out["flow_size"] = self.flow_size
        return out

    @classmethod
    def from_dict(cls, data):
        return cls(
            data.get("flow_units", "fixed"),
            data.get("n_layers", N_LAYERS),
            data.get("flow_size", DEFAULT_FLOW_SIZE),
        )

    def unrecorded(self):
        return CaloClouds3Recipe("fixed")  # files from before the option have the paper's units

    def scales(self, energy_gev) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`target_scales` as ``(B, 1)`` float32 tensors (what :func:`layer_targets` takes)."""
        count_scale, energy_scale = target_scales(energy_gev, self.flow_units, self.n_layers)
        return torch.from_numpy(count_scale).float(), torch.from_numpy(energy_scale).float()

    def flow_context(self, energy_gev, direction):
        return conditioning(energy_gev, direction)

    def point_context(self, energy_gev, direction, num_points):
        return conditioning(energy_gev, direction)

    def flow_targets(self, summaries: ShowerSummaries):
        return flow_targets(
            summaries.counts, summaries.energy_mev, summaries.incident_energy_gev, self.flow_units
        )

    def dequantisation(self, summaries: ShowerSummaries):
        # one point's width for the counts; 0.05 MeV for layer energies (empty layers are exact 0)
        energy = summaries.incident_energy_gev
        count_scale, energy_scale = target_scales(energy, self.flow_units, self.n_layers)
        one = np.ones((1, self.n_layers))
        return np.concatenate([one / count_scale, 0.05 * one / energy_scale], 1).astype(np.float32)

    def build(self, flow, net, scaler, training):
        return CaloClouds3(flow, net, scaler, training=training, recipe=self)


# ---------------------------------------------------------------------------- the chain's own step
def layer_targets(
    targets: torch.Tensor, occupancy: torch.Tensor, count_scale: torch.Tensor, energy_scale_mev: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """ShowerFlow output ``(B, 60)`` -> points ``(B, 30)`` int64 and energy ``(B, 30)`` MeV per layer.

    Negative outputs are clipped to zero; counts are ``floor(n x f_occ)`` (step 1 and 2 of the chain).
    A layer the flow gives no energy gets no points either (its points would carry zero energy,
    which point-cloud files read as padding). ``occupancy`` is ``f_occ``, a scalar tensor or one
    per layer ``(1, 30)``; ``count_scale`` and ``energy_scale_mev`` are the points and MeV per flow
    unit, ``(B, 1)`` (:meth:`CaloClouds3Recipe.scales`). Shared with the export.
    """
    n_layers = targets.shape[1] // 2
    t = targets.clamp_min(0.0)
    energy = t[:, n_layers:] * energy_scale_mev
    counts = torch.floor(t[:, :n_layers] * count_scale * occupancy).to(torch.int64)
    counts = torch.where(energy > 0, counts, torch.zeros_like(counts))
    return counts, energy


def _widened(theta_deg, phi_deg, max_angle_deg: float, margin_deg: float) -> dict[str, Any]:
    """A direction window: θ and φ ranges and the largest angle from the normal, widened by a margin."""
    return {
        "theta_deg": [float(theta_deg[0] - margin_deg), float(theta_deg[1] + margin_deg)],
        "phi_deg": [float(phi_deg[0] - margin_deg), float(phi_deg[1] + margin_deg)],
        "max_angle_deg": float(min(max_angle_deg + margin_deg, 89.0)),
    }


# ---------------------------------------------------------------------------- the model
class CaloClouds3(FlowPointModel):
    """The CaloClouds3 shower model (photons; 1-127 GeV; θ 30-150°, φ 80-110° in the local frame).

    Args:
        flow: the trained :class:`~calozoo_engine.flow.ShowerFlow`.
        net: the distilled one-step :class:`~calozoo_engine.pointnet.PointwiseNet`.
        scaler: the point-feature normalisation of the training set.
        occupancy_factor, widening, energy_factor: the calibration (1, 1, 1 = uncalibrated).
        layer_occupancy: 30 multipliers of ``occupancy_factor``, one per layer (``None``: all 1,
            the paper's single factor; :class:`.calibration.CaloClouds3Calibrator` ``per_layer``).
        energy_spread: the logarithms of the point energies are multiplied by it before each
            layer's rescaling (1: the network's own spread, the paper's; the calibrator's
            ``cell_energy`` fits it).
        calibration: what the factors were fitted for (geometry, reference, figures).
        extrapolate: accept energies outside 1-127 GeV (0.1-500 GeV), at the user's risk.
        training: provenance of the weights (data, steps, losses).
        recipe: the recipe the flow was trained with (its target units); the paper's by default.
    """

    name: ClassVar[str] = "caloclouds3"
    recipe_type = CaloClouds3Recipe
    shipped = SHIPPED_WEIGHTS
    default_variant: ClassVar[str] = "barrel"
    variants: ClassVar[dict[str, Path]] = {"endcap": SHIPPED_WEIGHTS.parent / "caloclouds3-endcap"}

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
        recipe: CaloClouds3Recipe | None = None,
        layer_occupancy=None,
        energy_spread: float = 1.0,
    ):
        self.flow = flow.eval()
        self.net = net.eval()
        self.scaler = scaler
        self.recipe = CaloClouds3Recipe("fixed") if recipe is None else recipe
        self.occupancy_factor = float(occupancy_factor)
        self.widening = float(widening)
        self.energy_factor = float(energy_factor)
        self.energy_spread = float(energy_spread)
        self.calibration = dict(calibration or {})
        self.extrapolate = bool(extrapolate)
        self.training = dict(training or {})
        for label, value in [
            ("occupancy_factor", occupancy_factor),
            ("widening", widening),
            ("energy_factor", energy_factor),
            ("energy_spread", energy_spread),
        ]:
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive number, got {value!r}")
        self.layer_occupancy = None
        if layer_occupancy is not None:
            m = np.asarray(layer_occupancy, dtype=np.float64)
            if m.shape != (self.n_layers,) or not (np.isfinite(m).all() and (m > 0).all()):
                raise ValueError(
                    f"layer_occupancy must be {self.n_layers} positive numbers, got {layer_occupancy!r}"
                )
            self.layer_occupancy = m

    @property
    def n_layers(self) -> int:
        """The detector layers the model's ``z`` spans: its recipe's (30 for ILD)."""
        return self.recipe.n_layers

    @property
    def occupancy(self) -> torch.Tensor:
        """``f_occ`` per layer, ``(1, 30)`` float32: the occupancy factor times ``layer_occupancy``."""
        m = np.ones(self.n_layers) if self.layer_occupancy is None else self.layer_occupancy
        return torch.tensor(self.occupancy_factor * m, dtype=torch.float32)[None]

    @property
    def direction_window(self) -> dict[str, Any]:
        """The directions the model accepts: ``theta_deg`` and ``phi_deg`` ranges and the largest
        angle from the normal. Those of :meth:`with_direction_window` (``training["direction_window"]``),
        else those its flow was trained on widened by 1° (``training["window"]``, recorded by the
        flow stage), else the barrel training set's."""
        window = {
            "theta_deg": TRAINING_RANGE["theta_deg"],
            "phi_deg": TRAINING_RANGE["phi_deg"],
            "max_angle_deg": MAX_ANGLE_DEG,
        }
        trained = self.training.get("window")
        if trained is not None:
            window = _widened(trained["theta_deg"], trained["phi_deg"], trained["max_angle_deg"], 1.0)
        return {**window, **self.training.get("direction_window", {})}

    @property
    def energy_range_gev(self) -> tuple[float, float]:
        """The incident energies accepted without ``extrapolate``: those the flow was trained on
        (``training["window"]``, 1 % margin), else the barrel training set's 1-127 GeV."""
        trained = self.training.get("window")
        if trained is None:
            return TRAINING_RANGE["energy_gev"]
        low, high = trained["energy_gev"]
        return (float(low) * 0.99, float(high) * 1.01)

    def with_direction_window(self, directions, margin_deg: float = 1.0) -> CaloClouds3:
        """A copy that accepts the directions spanned by ``directions`` (``(N, 3)`` local unit
        vectors, e.g. a sample of its training set's), widened by ``margin_deg``: for a model
        trained on other directions than the barrel's (the endcap variant)."""
        unit = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        theta, phi = angles_from_direction(unit)
        normal = np.degrees(np.arccos(np.clip(unit[:, 2], -1.0, 1.0)))
        window = _widened([theta.min(), theta.max()], [phi.min(), phi.max()], normal.max(), margin_deg)
        other = self.with_calibration(
            self.occupancy_factor,
            self.widening,
            self.energy_factor,
            self.layer_occupancy,
            self.energy_spread,
            **self.calibration,
        )
        other.training = {**self.training, "direction_window": window}
        return other

    @property
    def conditions(self) -> Conditions:
        trained = self.energy_range_gev
        low, high = EXTRAPOLATE_RANGE_GEV if self.extrapolate else trained
        window = self.direction_window
        return Conditions(
            low,
            high,
            pdg=tuple(self.training.get("window", {}).get("pdg", (22,))),
            max_angle_deg=window["max_angle_deg"],
            theta_deg=tuple(window["theta_deg"]),
            phi_deg=tuple(window["phi_deg"]),
            energy_hint="" if self.extrapolate else energy_hint(*trained),
        )

    # inference mode: no autograd bookkeeping at all (per op cheaper than no_grad, the same numbers)
    @torch.inference_mode()
    def generate(self, energy_gev, direction, pdg, seeds) -> Showers:
        gens = shower_generators(seeds)
        cond = torch.from_numpy(conditioning(energy_gev, direction))
        targets = self.flow.sample(cond, gens, row_block=self.row_block)
        counts, layer_energy = layer_targets(targets, self.occupancy, *self.recipe.scales(energy_gev))
        owner = chain.point_owner(counts)
        per_shower = counts.sum(1).tolist()
        noise = per_shower_normal(gens, per_shower, 4)
        within = per_shower_uniform(gens, per_shower)
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
        features = OneStep(self.net, row_block=self.row_block)(noise, owner, cond)
        mean = torch.tensor(self.scaler.mean, dtype=torch.float32)
        std = torch.tensor(self.scaler.std, dtype=torch.float32)
        return chain.assemble_points(
            features,
            owner,
            counts,
            layer_energy,
            within,
            mean,
            std,
            self.widening,
            self.energy_factor,
            self.energy_spread,
        )

    def with_calibration(
        self,
        occupancy_factor: float,
        widening: float,
        energy_factor: float,
        layer_occupancy=None,
        energy_spread: float = 1.0,
        **info: Any,
    ) -> CaloClouds3:
        """A copy sharing the networks, with new calibration factors (``layer_occupancy``: ``None``
        is one factor for all layers; ``energy_spread`` 1 the network's own point energies)."""
        return self._same_settings(
            CaloClouds3(
                self.flow,
                self.net,
                self.scaler,
                occupancy_factor,
                widening,
                energy_factor,
                info,
                self.extrapolate,
                self.training,
                self.recipe,
                layer_occupancy,
                energy_spread,
            )
        )

    def calibration_config(self) -> dict[str, Any]:
        return {
            "occupancy_factor": self.occupancy_factor,
            "widening": self.widening,
            "energy_factor": self.energy_factor,
            "layer_occupancy": None if self.layer_occupancy is None else self.layer_occupancy.tolist(),
            "energy_spread": self.energy_spread,
            "calibration": self.calibration,
            "energy_scale_gev": ENERGY_SCALE_GEV,
        }

    @classmethod
    def from_parts(cls, flow, net, scaler, recipe, config, extrapolate=False) -> CaloClouds3:
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
            recipe,
            config.get("layer_occupancy"),
            config.get("energy_spread", 1.0),
        )

    def export(self, path: str | os.PathLike, format: str | None = None, **options) -> Path:
        """TorchScript or ONNX for DDFastShowerML, calibration and tilt inside (:mod:`.export`).

        ``format``: ``"torchscript"`` or ``"onnx"`` (default: ONNX for a ``.onnx`` name).
        Options: ``geometry`` (name or object; default ``"ild-ecal-barrel"``), ``max_rounds``.
        """
        from .export import DDMLModule

        return DDMLModule(self, **options).write(path, getattr(self, "calibration", {}), format)


def load_pretrained(
    path: str | os.PathLike | None = None,
    extrapolate: bool = False,
    batch_invariant: bool = False,
    variant: str | None = None,
) -> CaloClouds3:
    """Factory registered as ``caloclouds3``: the shipped, calibrated weights (``variant``
    ``"barrel"``, the default, or ``"endcap"``, for ild-ecal-endcap) or a saved folder."""
    return CaloClouds3.load_pretrained(path, extrapolate, batch_invariant, variant)
