"""TorchScript export of CaloClouds3 for DDFastShowerML (key4hep DDML).

The contract and the shared work are the engine's (:mod:`calozoo_engine.export`): ``forward(energy,
theta, phi)`` with three ``(1, 1)`` tensors (GeV, degrees in the local frame) returns 35,000
float32 values — 30 per-layer counts, then ``(x mm, y mm, layer index, e MeV)`` per point, zero
padded, at most 8,742 points, randomness from torch's global generator. CaloClouds3's own hooks:
the conditioning ``c = [E / 127, p_x, p_y, p_z]`` (:func:`.model.conditioning`) and the counts
``floor(n_l f_occ)`` with the layer energies (:func:`.model.layer_targets`); the widening and
``f_E`` go to the shared assembly. CaloClouds3 showers of up to 127 GeV stay below the cap
(7,864 points at most in training).

Export with ``model.export("caloclouds3.pt")`` (or :func:`export_torchscript`); read the output
with :func:`unpack_output`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from calozoo_engine.export import (
    DEFAULT_GEOMETRY,
    DEFAULT_MAX_ROUNDS,
    MAX_POINTS,
    OUTPUT_LENGTH,
    DDMLBase,
    is_calozoo_export,
    unpack_output,
)
from torch import Tensor, nn

from .model import ENERGY_SCALE_GEV, layer_targets

__all__ = [
    "DDMLModule",
    "export_torchscript",
    "to_torchscript",
    "unpack_output",
    "is_calozoo_export",
    "OUTPUT_LENGTH",
    "MAX_POINTS",
    "DEFAULT_GEOMETRY",
]


class DDMLModule(DDMLBase):
    """CaloClouds3 for one shower under the DDML contract (see the module docstring), eager.

    :meth:`to_torchscript` (or :func:`to_torchscript`) gives the exportable version.

    Args:
        model: a :class:`~.model.CaloClouds3` (its calibration factors are baked in).
        geometry: a registered geometry name or a geometry object with 30 ``layer_depth_mm``.
        max_rounds: redraws of a shower with more than seven negative layer energies.
    """

    def __init__(self, model: Any, geometry: Any = DEFAULT_GEOMETRY, max_rounds: int = DEFAULT_MAX_ROUNDS):
        super().__init__(
            model,
            geometry,
            max_rounds,
            float(model.widening),
            float(model.energy_factor),
            float(model.energy_spread),
        )
        self.occupancy_factor = float(model.occupancy_factor)
        self.register_buffer("occupancy", model.occupancy.clone())
        self.energy_scale_gev = float(ENERGY_SCALE_GEV)
        self.per_gev = model.recipe.flow_units == "per-gev"
        # points and MeV per flow unit at 1 GeV: per GeV (per-gev units) or at any energy (fixed)
        count_scale, energy_scale = model.recipe.scales([1.0])
        self.count_scale = float(count_scale)
        self.energy_scale_mev = float(energy_scale)

    def check_flow(self, flow: nn.Module) -> None:
        if int(flow.features) != 2 * self.n_layers:
            raise ValueError(f"the flow must have {2 * self.n_layers} features, got {int(flow.features)}")

    def example_flow_context(self, gen: torch.Generator) -> Tensor:
        direction = torch.randn(1, 3, generator=gen)
        direction = direction / direction.norm(dim=1, keepdim=True)
        return torch.cat([torch.rand(1, 1, generator=gen), direction], 1)

    def example_conditions(self) -> list[tuple[float, float, float]]:
        return [(50.0, 90.0, 90.0), (10.0, 60.0, 95.0), (100.0, 125.0, 85.0)]

    def export_info(self) -> dict[str, Any]:
        return {
            "occupancy_factor": self.occupancy_factor,
            "occupancy_per_layer": [float(f) for f in self.occupancy[0]],
            "widening": self.widening,
            "energy_factor": self.energy_factor,
            "energy_spread": self.energy_spread,
            "flow_units": "per-gev" if self.per_gev else "fixed",
        }

    @torch.jit.export
    def flow_context(self, energy: Tensor, direction: Tensor) -> Tensor:
        """``[E / 127, p_x, p_y, p_z]`` (:func:`.model.conditioning`), float32."""
        return torch.cat([energy / self.energy_scale_gev, direction], 1).to(torch.float32)

    @torch.jit.export
    def raw_layer_counts(self, targets: Tensor, energy: Tensor) -> tuple[Tensor, Tensor]:
        """``floor(n_l f_occ)`` and the layer energies (:func:`.model.layer_targets`)."""
        scale = energy.reshape(1, 1).to(torch.float32) if self.per_gev else torch.ones(1, 1)
        return layer_targets(targets, self.occupancy, scale * self.count_scale, scale * self.energy_scale_mev)


def to_torchscript(
    model: Any, geometry: Any = DEFAULT_GEOMETRY, max_rounds: int = DEFAULT_MAX_ROUNDS
) -> torch.jit.ScriptModule:
    """The scripted :class:`DDMLModule` of ``model`` (not saved)."""
    return DDMLModule(model, geometry, max_rounds).to_torchscript()


def export_torchscript(
    model: Any,
    path: str | os.PathLike,
    geometry: Any = DEFAULT_GEOMETRY,
    *,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> Path:
    """Write ``model`` as a TorchScript file for DDFastShowerML (atomically) and return its path.

    The file also carries ``calozoo.json`` (``torch.jit.load(path, _extra_files=...)``): the
    contract, the geometry and the calibration it was exported with.
    """
    return DDMLModule(model, geometry, max_rounds).save(path, getattr(model, "calibration", {}))
