"""TorchScript export of CaloClouds2 for DDFastShowerML (key4hep DDML).

The engine's contract and file (:mod:`calozoo_engine.export`, whose
:class:`~calozoo_engine.export.DDMLBase` does the shared work): ``forward(energy, theta,
phi)`` with three ``(1, 1)`` tensors (GeV, degrees in the local frame) returns 35,000 float32
values: 30 per-layer counts, then ``(x mm, y mm, layer index, e MeV)`` per point, zero padded;
at most 8,742 points (a shower with more has its counts scaled down before the points are drawn,
keeping each layer's energy). Randomness comes from torch's global generator.

What CaloClouds2 does differently (the chain of :meth:`.model.CaloClouds2.generate`):

- ShowerFlow is conditioned on ``[E / 100]`` and gives 65 numbers; the rejection rule looks at
  its 30 layer energies (columns 35-64);
- per-layer counts and energies come from the fractions (:func:`.model.layer_targets`) with the
  model's occupancy polynomials ``poly_real`` / ``poly_fake`` baked in;
- the point network is conditioned on ``[E / 100 * 2 - 1, N / 6000 * 2 - 1]``, ``N`` the points
  it draws (after the occupancy correction and the cap);
- no widening, no energy factor; the points' energy-weighted centre is then moved to the flow's
  centre of gravity (:func:`.model.shift_to_cog`).

Normal incidence only: the module raises ``"CaloClouds2 is normal incidence only (theta = phi =
90)"`` (a ``torch.jit.Error`` from TorchScript, a ``RuntimeError`` from C++) unless both angles
are within :data:`NORMAL_TOLERANCE_DEG` of 90 degrees (NaN is refused; other spellings of the
same direction, such as ``phi = 450``, are refused too). Inside the tolerance the tilt of the
shared chain is applied as for CaloClouds3 (at most a few micrometres).

Export with ``calozoo export caloclouds2 -o caloclouds2.pt``, ``model.export(path)`` or
:func:`export_torchscript`; read the output with :func:`~calozoo_engine.export.unpack_output`.
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
    unpack_output,
)
from torch import Tensor, nn

from .model import (
    FLOW_ENERGY_SCALE_GEV,
    N_FLOW,
    POINT_COUNT_SCALE,
    POINT_ENERGY_SCALE_GEV,
    layer_targets,
    shift_to_cog,
)

__all__ = [
    "CaloClouds2DDML",
    "export_torchscript",
    "unpack_output",
    "NORMAL_TOLERANCE_DEG",
    "OUTPUT_LENGTH",
    "MAX_POINTS",
    "DEFAULT_GEOMETRY",
]

#: How far from 90 degrees ``theta`` and ``phi`` may be (float32 inputs, rounding in the caller).
NORMAL_TOLERANCE_DEG = 0.01


class CaloClouds2DDML(DDMLBase):
    """CaloClouds2 for one shower under the DDML contract (see the module docstring), eager.

    :meth:`to_torchscript` gives the exportable version.

    Args:
        model: a :class:`~.model.CaloClouds2` (its occupancy polynomials are baked in).
        geometry: a registered geometry name or a geometry object with 30 ``layer_depth_mm``.
        max_rounds: redraws of a shower with more than seven negative layer energies.
    """

    def __init__(self, model: Any, geometry: Any = DEFAULT_GEOMETRY, max_rounds: int = DEFAULT_MAX_ROUNDS):
        super().__init__(model, geometry, max_rounds, widening=1.0, energy_factor=1.0)
        # float32, as the Python model hands them to the chain
        self.register_buffer("poly_real", torch.tensor(model.poly_real, dtype=torch.float32))
        self.register_buffer("poly_fake", torch.tensor(model.poly_fake, dtype=torch.float32))
        self.register_buffer("cog_mean", torch.tensor(model.recipe.cog_mean[:2], dtype=torch.float32))
        self.register_buffer("cog_std", torch.tensor(model.recipe.cog_std[:2], dtype=torch.float32))
        self.flow_energy_scale_gev = float(FLOW_ENERGY_SCALE_GEV)
        self.point_energy_scale_gev = float(POINT_ENERGY_SCALE_GEV)
        self.point_count_scale = float(POINT_COUNT_SCALE)
        self.normal_tolerance_deg = float(NORMAL_TOLERANCE_DEG)

    def check_flow(self, flow: nn.Module) -> None:
        if int(flow.features) != N_FLOW or int(flow.context_features) != 1:
            raise ValueError(
                f"the flow must have {N_FLOW} features and 1 context feature, "
                f"got {int(flow.features)} and {int(flow.context_features)}"
            )

    def export_info(self) -> dict[str, Any]:
        return {
            "model": "caloclouds2",
            "poly_real": self.poly_real.tolist(),
            "poly_fake": self.poly_fake.tolist(),
            "cog_mean_mm": self.cog_mean.tolist(),
            "cog_std_mm": self.cog_std.tolist(),
            "normal_incidence_tolerance_deg": self.normal_tolerance_deg,
        }

    def example_conditions(self) -> list[tuple[float, float, float]]:
        return [(50.0, 90.0, 90.0), (10.0, 90.0, 90.0), (90.0, 90.0, 90.0)]

    @torch.jit.export
    def accepts(self, energy: Tensor, theta: Tensor, phi: Tensor) -> Tensor:
        """The layer normal only: ``theta = phi = 90`` within the tolerance (NaN refused)."""
        ok_theta = torch.abs(theta.to(torch.float64) - 90.0) <= self.normal_tolerance_deg
        ok_phi = torch.abs(phi.to(torch.float64) - 90.0) <= self.normal_tolerance_deg
        return (ok_theta & ok_phi).all().reshape(1)

    @torch.jit.export
    def check_inputs(self, energy: Tensor, theta: Tensor, phi: Tensor) -> None:
        """Refuse any direction but the layer normal (:meth:`accepts`)."""
        if not bool(self.accepts(energy, theta, phi).all()):
            raise RuntimeError("CaloClouds2 is normal incidence only (theta = phi = 90)")

    @torch.jit.export
    def flow_context(self, energy: Tensor, direction: Tensor) -> Tensor:
        """``[E / 100]``, float32 (:meth:`.recipe.CaloClouds2Recipe.flow_context`)."""
        return (energy / self.flow_energy_scale_gev).to(torch.float32)

    @torch.jit.export
    def point_context(self, cond: Tensor, energy: Tensor, counts: Tensor) -> Tensor:
        """``[E / 100 * 2 - 1, N / 6000 * 2 - 1]``, float32, ``N`` the points drawn."""
        e = energy.reshape(1, 1).to(torch.float64) / self.point_energy_scale_gev * 2 - 1
        n = counts.sum(1, keepdim=True).to(torch.float64) / self.point_count_scale * 2 - 1
        return torch.cat([e, n], 1).to(torch.float32)

    @torch.jit.export
    def raw_layer_counts(self, targets: Tensor, energy: Tensor) -> tuple[Tensor, Tensor]:
        """Counts ``g(N)`` shared out by the count fractions, energies by the energy fractions."""
        return layer_targets(targets, self.poly_real, self.poly_fake)

    @torch.jit.export
    def post_process(self, points: Tensor, owner: Tensor, targets: Tensor) -> Tensor:
        """Move the energy-weighted centre to the flow's centre of gravity (mm)."""
        cog_xy = targets[:, 2:4] * self.cog_std + self.cog_mean
        return shift_to_cog(points, owner, cog_xy)


def export_torchscript(
    model: Any, path: str | os.PathLike, geometry: Any = DEFAULT_GEOMETRY, **options
) -> Path:
    """CaloClouds2 as a DDFastShowerML TorchScript file (see CaloClouds3's ``export_torchscript``).

    ``calozoo.json`` inside also records the occupancy polynomials. Options: ``max_rounds``.
    """
    return CaloClouds2DDML(model, geometry, **options).save(path, getattr(model, "calibration", {}))
