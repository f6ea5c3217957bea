"""TorchScript export for DDFastShowerML (key4hep DDML): the base every point-cloud model's export uses.

The exported file is a self-contained TorchScript module: it runs with libtorch alone (no
Python, calozoo or normflows) and does a model's whole generation chain for one shower, the
calibration and the tilt included (DDML has no calibration step of its own).

The contract (CPU, float32, batch 1)
------------------------------------
``forward(energy, theta, phi) -> out``

- ``energy``: ``(1, 1)`` kinetic energy of the photon in GeV;
- ``theta``, ``phi``: ``(1, 1)`` angles in degrees in the local frame of the calorimeter
  module, the direction being ``(cos θ, sin θ cos φ, sin θ sin φ)`` exactly as
  :func:`calozoo.conditions.direction_from_angles` (normal incidence: ``θ = φ = 90``);
- ``out``: one flat float32 tensor of exactly :data:`OUTPUT_LENGTH` = 35,000 values:

  - ``out[0:L]``: the number of points in each of the ``L`` layers (after the model's
    calibration and the cap below), as floats;
  - then 4 values per point, layer by layer: ``x`` mm, ``y`` mm, the layer index (as a float)
    and ``e`` MeV;
  - zeros up to 35,000 values.

``x, y`` are the model's training points *plus* the tilt of an inclined shower: at the depth
``d`` of layer ``l`` (``layer_depth_mm`` of the geometry chosen at export, ``ild-ecal-barrel`` by
default, stored in the file) the trajectory sits at ``d (p_x / p_z, p_y / p_z)``, relative to
where the particle enters the front face. The chain is the model's own (:mod:`.points` and the
model's ``layer_targets``), so the export and the Python model cannot drift apart.

The cap: DDML copies a fixed 35,000 floats, room for ``(35000 - L) / 4`` points
(:data:`MAX_POINTS` = 8,742 for 30 layers). A shower whose counts add up to more has its counts
scaled down *before* the points are drawn, ``n_l -> floor(n_l x MAX_POINTS / total)``, keeping
each layer's energy; the counts written are the ones used.

Randomness: the flow's latent draws and the point noise come from torch's global generator
(``torch.randn``): ``torch.manual_seed(s)`` (``torch::manual_seed`` in C++) before a call
makes it reproducible. A shower whose layer energies have more than seven negative values is
drawn again, at most ``max_rounds`` times (then negatives clip to zero), as
:meth:`.flow.ShowerFlow.sample` does. The within-layer position is not drawn: the third value of
a point is its layer index.

What is compiled how: the glue (conditioning, rejection loop, calibration chain, cap, tilt,
packing) is scripted (:func:`torch.jit.script`), so its branches and loops are real. The flow's
forward pass (latent -> targets; normflows' modules are not scriptable) is traced for batch 1
and checked against eager at export time on inputs that leave the spline's ``[-3, 3]``
interval; the one-step point model (:class:`.pointnet.OneStep`) is scripted.

A model's export is a small subclass of :class:`DDMLBase` that fills in its hooks (conditioning,
per-layer targets, post-processing, input checks).

Using it from DDML
------------------
Export with ``model.export("model.pt")``; point DDML's TorchScript inference at the file as its
model path, hand it the energy in GeV and ``θ, φ`` in degrees of the local frame as three
``(1, 1)`` tensors, and read back 35,000 floats: ``L`` counts, then ``(x, y, layer, e)`` per point.
Python users can check a file with ``torch.jit.load(path)(E, theta, phi)`` and
:func:`unpack_output`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import points as chain
from .flow import MAX_NEGATIVE_LAYERS, ShowerFlow
from .pointnet import OneStep

__all__ = [
    "DDMLBase",
    "torch_kernels",
    "file_info",
    "export_format",
    "EXPORT_FORMATS",
    "ddml_inputs",
    "unpack_output",
    "OUTPUT_LENGTH",
    "MAX_POINTS",
    "DEFAULT_GEOMETRY",
    "is_calozoo_export",
]

#: The number of floats DDML copies out of the model's output.
OUTPUT_LENGTH = 35_000
#: The most points that fit in :data:`OUTPUT_LENGTH` after the counts of 30 layers.
MAX_POINTS = (OUTPUT_LENGTH - 30) // 4
#: The geometry whose layer depths tilt the points unless another is asked for.
DEFAULT_GEOMETRY = "ild-ecal-barrel"
#: Redraws of an unphysical ShowerFlow sample before clipping (as :meth:`.ShowerFlow.sample`).
DEFAULT_MAX_ROUNDS = 100
#: The file formats an export writes (DDFastShowerML runs both).
EXPORT_FORMATS = ("torchscript", "onnx")
#: What an existing file must be for an export to replace it.
EXPORT_KIND = "a TorchScript file exported by calozoo (holding calozoo.json)"


def is_calozoo_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a TorchScript file calozoo exported: a zip archive holding ``calozoo.json``."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/extra/calozoo.json") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


class DDMLBase(nn.Module):
    """One shower under the DDML contract (see the module docstring), eager; shared by the variants.

    Does what every variant does the same way: the angles -> direction, ShowerFlow's rejection
    loop, the 8,742-point cap, the one-step point model, :func:`.chain.assemble_points`, the tilt,
    the packing, and the export (flow traced and checked, the rest scripted). A variant overrides
    the hooks, all of them TorchScript-compatible:

    - :meth:`flow_context`: ``(1, C)`` float32 ShowerFlow conditioning from energy and direction;
    - :meth:`point_context`: the point model's conditioning, given the (capped) counts;
    - :meth:`raw_layer_counts`: flow targets -> per-layer counts and energies before the cap;
    - :meth:`post_process`: the points after assembly (before the tilt);
    - :meth:`check_inputs`: refuse conditions the variant cannot simulate (raise);

    and, in Python only, :meth:`check_flow` (the flow's shape), :meth:`example_flow_context` (the
    trace's example conditioning) and :meth:`export_info` (what the file's ``calozoo.json`` adds).

    Holds its own copies of the networks (gradients off), so later changes to ``model`` do not
    leak in. :meth:`to_torchscript` gives the exportable version.

    Args:
        model: a model with ``flow`` (a ShowerFlow), ``net`` (a point network), ``scaler`` and
            ``n_layers``.
        geometry: a registered geometry name or a geometry object with the model's ``n_layers``
            ``layer_depth_mm``.
        max_rounds: redraws of a shower with more than seven negative layer energies.
        widening, energy_factor, energy_spread: the factors :func:`.chain.assemble_points` applies.
    """

    def __init__(
        self,
        model: Any,
        geometry: Any = DEFAULT_GEOMETRY,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        widening: float = 1.0,
        energy_factor: float = 1.0,
        energy_spread: float = 1.0,
    ):
        super().__init__()
        depth, geometry_name = _layer_depths(geometry, int(model.n_layers))
        self.flow = copy.deepcopy(model.flow).eval().requires_grad_(False)
        self.denoise = OneStep(copy.deepcopy(model.net).eval().requires_grad_(False))
        self.register_buffer("mean", torch.tensor(model.scaler.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(model.scaler.std, dtype=torch.float32))
        self.register_buffer("layer_depth_mm", torch.tensor(depth, dtype=torch.float64))
        self.geometry_name: str = geometry_name
        self.widening = float(widening)
        self.energy_factor = float(energy_factor)
        self.energy_spread = float(energy_spread)
        self.n_layers = int(model.n_layers)
        self.n_features = int(model.flow.features)
        self.energy_start = int(model.flow.energy_columns[0])
        self.energy_stop = int(model.flow.energy_columns[1])
        self.max_negative_layers = int(MAX_NEGATIVE_LAYERS)
        self.max_rounds = int(max_rounds)
        self.max_points = int((OUTPUT_LENGTH - self.n_layers) // 4)
        self.output_length = int(OUTPUT_LENGTH)
        if self.max_rounds < 0:
            raise ValueError(f"max_rounds must be >= 0, got {max_rounds}")
        self.check_flow(model.flow)

    # ------------------------------------------------------------------ the variant's hooks
    def check_flow(self, flow: nn.Module) -> None:
        """Python only: raise ``ValueError`` if ``flow`` does not have the variant's shape."""

    def example_flow_context(self, gen: torch.Generator) -> Tensor:
        """Python only: a random ``(1, C)`` conditioning for tracing and checking the flow."""
        return torch.rand(1, int(self.flow.context_features), generator=gen)

    def export_info(self) -> dict[str, Any]:
        """Python only: the variant's entries of the exported file's ``calozoo.json``."""
        return {}

    def example_conditions(self) -> list[tuple[float, float, float]]:
        """Python only: ``(GeV, theta, phi)`` conditions the variant simulates, for export checks."""
        return [(50.0, 90.0, 90.0), (10.0, 90.0, 90.0), (100.0, 90.0, 90.0)]

    @torch.jit.export
    def accepts(self, energy: Tensor, theta: Tensor, phi: Tensor) -> Tensor:
        """A bool tensor: whether the variant simulates these conditions (all, here). The ONNX
        export returns NaNs where it is false (:mod:`.onnx_export`)."""
        return torch.ones(1, dtype=torch.bool)

    @torch.jit.export
    def check_inputs(self, energy: Tensor, theta: Tensor, phi: Tensor) -> None:
        """Raise for conditions the variant cannot simulate (all accepted here)."""
        return None

    @torch.jit.export
    def flow_context(self, energy: Tensor, direction: Tensor) -> Tensor:
        """``(1, C)`` float32 ShowerFlow conditioning from ``(1, 1)`` GeV, ``(1, 3)`` direction (float64)."""
        raise RuntimeError("a DDML export must define flow_context")

    @torch.jit.export
    def point_context(self, cond: Tensor, energy: Tensor, counts: Tensor) -> Tensor:
        """The point model's ``(1, C')`` conditioning: here the flow's ``cond``."""
        return cond

    @torch.jit.export
    def raw_layer_counts(self, targets: Tensor, energy: Tensor) -> tuple[Tensor, Tensor]:
        """``(1, L)`` int64 counts (before the cap) and ``(1, L)`` layer energies, MeV, of a
        shower of ``(1, 1)`` ``energy`` GeV."""
        raise RuntimeError("a DDML export must define raw_layer_counts")

    @torch.jit.export
    def post_process(self, points: Tensor, owner: Tensor, targets: Tensor) -> Tensor:
        """The assembled ``(n, 4)`` points before the tilt: unchanged here."""
        return points

    # ------------------------------------------------------------------ shared
    @torch.jit.export
    def condition(self, energy: Tensor, theta: Tensor, phi: Tensor) -> tuple[Tensor, Tensor]:
        """ShowerFlow's float32 conditioning and the ``(1, 3)`` float64 direction, from GeV and degrees."""
        self.check_inputs(energy, theta, phi)
        return self.condition_unchecked(energy, theta, phi)

    @torch.jit.export
    def condition_unchecked(self, energy: Tensor, theta: Tensor, phi: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`condition` without :meth:`check_inputs`."""
        e = energy.reshape(1, 1).to(torch.float64)
        # x (pi / 180), bit for bit torch.deg2rad (which ONNX lacks)
        th = theta.reshape(1, 1).to(torch.float64) * (math.pi / 180.0)
        ph = phi.reshape(1, 1).to(torch.float64) * (math.pi / 180.0)
        direction = torch.cat(
            [torch.cos(th), torch.sin(th) * torch.cos(ph), torch.sin(th) * torch.sin(ph)], 1
        )
        return self.flow_context(e, direction), direction

    @torch.jit.export
    def sample_targets(self, cond: Tensor) -> Tensor:
        """ShowerFlow's ``(1, D)`` targets, redrawn while more than 7 layer energies are negative."""
        out = self.flow(torch.randn(1, self.n_features), cond)
        for _ in range(self.max_rounds):
            if int((out[:, self.energy_start : self.energy_stop] < 0).sum()) <= self.max_negative_layers:
                break
            out = self.flow(torch.randn(1, self.n_features), cond)
        return out

    @torch.jit.export
    def layer_counts(self, targets: Tensor, energy: Tensor) -> tuple[Tensor, Tensor]:
        """``(1, L)`` int64 counts (the model's, then the cap) and ``(1, L)`` layer energies, MeV."""
        counts, layer_energy = self.raw_layer_counts(targets, energy)
        total = int(counts.sum())
        if total > self.max_points:
            counts = torch.div(counts * self.max_points, total, rounding_mode="floor")
        return counts, layer_energy

    @torch.jit.export
    def sample_with(
        self, energy: Tensor, theta: Tensor, phi: Tensor, targets: Tensor, noise: Tensor
    ) -> Tensor:
        """The flat output for given flow ``targets`` ``(1, D)`` and point ``noise`` ``(n, 4)``.

        ``n`` must be the total of :meth:`layer_counts` (the counts after the cap).
        """
        cond, direction = self.condition(energy, theta, phi)
        counts, layer_energy = self.layer_counts(targets, energy)
        n = int(counts.sum())
        if noise.dim() != 2 or noise.shape[0] != n or noise.shape[1] != 4:
            raise RuntimeError("noise must have shape (n, 4), n the total of layer_counts(targets)")
        owner = chain.point_owner(counts)
        features = self.denoise(noise, owner, self.point_context(cond, energy, counts))
        within = torch.zeros(n, dtype=features.dtype)
        points = chain.assemble_points(
            features,
            owner,
            counts,
            layer_energy,
            within,
            self.mean,
            self.std,
            self.widening,
            self.energy_factor,
            self.energy_spread,
        )
        points = self.post_process(points, owner, targets)
        layer = points[:, 2].to(torch.int64)
        shift = chain.tilt_shift(self.layer_depth_mm, direction)[0]
        xy = (points[:, :2].to(torch.float64) + shift[layer]).to(torch.float32)
        out = torch.zeros(self.output_length, dtype=torch.float32)
        out[: self.n_layers] = counts[0].to(torch.float32)
        out[self.n_layers : self.n_layers + 4 * n] = torch.cat([xy, points[:, 2:]], 1).reshape(-1)
        return out

    def forward(self, energy: Tensor, theta: Tensor, phi: Tensor) -> Tensor:
        cond, _ = self.condition(energy, theta, phi)
        targets = self.sample_targets(cond)
        counts, _ = self.layer_counts(targets, energy)
        noise = torch.randn(int(counts.sum()), 4)
        return self.sample_with(energy, theta, phi, targets, noise)

    def to_torchscript(self) -> torch.jit.ScriptModule:
        """The scripted module: the glue and the point model scripted, the flow traced (and checked)."""
        module = copy.deepcopy(self)
        with torch.no_grad(), _quiet_jit():
            module.flow = _trace_flow(module.flow, module.example_flow_context)
            return torch.jit.script(module)

    def write(
        self, path: str | os.PathLike, calibration: dict[str, Any] | None = None, format: str | None = None
    ) -> Path:
        """Write the export as TorchScript (:meth:`save`) or ONNX (:func:`.onnx_export.save_onnx`).

        ``format``: ``"torchscript"`` or ``"onnx"``; by default ONNX for a ``.onnx`` file name,
        TorchScript otherwise.
        """
        if export_format(path, format) == "onnx":
            from .onnx_export import save_onnx

            return save_onnx(self, path, calibration)
        return self.save(path, calibration)

    def save(self, path: str | os.PathLike, calibration: dict[str, Any] | None = None) -> Path:
        """Script this module and write it (atomically) with its ``calozoo.json``; return the path.

        An existing ``path`` is replaced only if it is an earlier calozoo export (or empty);
        anything else raises :class:`~calozoo.errors.OutputError`, leaving it untouched.
        """
        from calozoo.serialization import atomic_path, check_file_replaceable

        check_file_replaceable(path, EXPORT_KIND, is_calozoo_export)  # refused before the scripting
        scripted = self.to_torchscript()
        info = file_info(self, calibration)
        path = Path(path)
        with atomic_path(path, kind=EXPORT_KIND, recognise=is_calozoo_export) as tmp, _quiet_jit():
            torch.jit.save(scripted, str(tmp), _extra_files={"calozoo.json": json.dumps(info, default=str)})
        return path


def export_format(path: str | os.PathLike, format: str | None = None) -> str:
    """``"torchscript"`` or ``"onnx"``: ``format`` checked, or by default from the file name."""
    if format is None:
        return "onnx" if Path(path).suffix.lower() == ".onnx" else "torchscript"
    name = str(format).lower()
    if name not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    return name


def file_info(ddml: DDMLBase, calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an exported file says of itself (its ``calozoo.json``): contract, geometry, factors."""
    return {
        "contract": f"DDFastShowerML flat output: {ddml.n_layers} counts, "
        "then (x mm, y mm, layer, e MeV) per point",
        "inputs": ["energy GeV (1, 1)", "theta deg (1, 1)", "phi deg (1, 1)"],
        "output_length": OUTPUT_LENGTH,
        "max_points": ddml.max_points,
        "geometry": ddml.geometry_name,
        "layer_depth_mm": ddml.layer_depth_mm.tolist(),
        **ddml.export_info(),
        "max_rounds": ddml.max_rounds,
        "calibration": calibration if calibration is not None else {},
    }


def ddml_inputs(energy: float, theta: float, phi: float) -> tuple[Tensor, Tensor, Tensor]:
    """The three ``(1, 1)`` float32 inputs of an exported module: GeV, and degrees in the local frame."""
    return tuple(torch.tensor([[float(v)]], dtype=torch.float32) for v in (energy, theta, phi))


def unpack_output(flat: Any, n_layers: int = 30) -> tuple[Tensor, Tensor]:
    """The exported module's flat output -> ``(n_layers,)`` int64 counts and ``(n, 4)`` points.

    Points are ``(x mm, y mm, layer index, e MeV)``, layer by layer; ``n`` is the counts' total.
    """
    flat = torch.as_tensor(flat).reshape(-1)
    if flat.numel() < n_layers:
        raise ValueError(f"an exported output has at least {n_layers} values, got {flat.numel()}")
    raw = flat[:n_layers].to(torch.float64)
    counts = raw.to(torch.int64)
    if bool((raw < 0).any()) or not torch.equal(counts.to(torch.float64), raw):
        raise ValueError(
            f"the first {n_layers} values must be non-negative integer counts, got {raw.tolist()}"
        )
    n = int(counts.sum())
    if n_layers + 4 * n > flat.numel():
        raise ValueError(f"counts add up to {n} points, more than the {flat.numel()} values hold")
    return counts, flat[n_layers : n_layers + 4 * n].reshape(n, 4)


@contextlib.contextmanager
def torch_kernels() -> Iterator[None]:
    """The Python models at batch 1 with the exported files' arithmetic: ShowerFlow's compiled
    one-row pass and the point network's compiled folds off (the bit-identical trace and torch's
    folds instead), for comparisons bit for bit with an exported file. Not thread-safe (it sets
    module switches for its duration)."""
    from . import flow, pointnet

    before = flow.FUSE_ONE_ROW, pointnet.FUSE_MODULATIONS
    flow.FUSE_ONE_ROW, pointnet.FUSE_MODULATIONS = False, False
    try:
        yield
    finally:
        flow.FUSE_ONE_ROW, pointnet.FUSE_MODULATIONS = before


# ---------------------------------------------------------------------------------------- helpers
def _layer_depths(geometry: Any, n_layers: int) -> tuple[np.ndarray, str]:
    if isinstance(geometry, str):
        import calozoo

        geometry = calozoo.geometry(geometry)
    depth = np.asarray(geometry.layer_depth_mm, dtype=np.float64)
    name = str(getattr(geometry, "name", "unnamed"))
    if depth.shape != (n_layers,) or not np.all(np.isfinite(depth)):
        raise ValueError(
            f"geometry {name!r} must have {n_layers} finite layer depths, got shape {depth.shape}"
        )
    return depth, name


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """Silence torch's deprecation notices for ``torch.jit`` (DDML needs TorchScript) and tracer notes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def _check(traced: Any, eager: Callable[..., Tensor], inputs: list[tuple[Tensor, ...]], what: str) -> None:
    for args in inputs:
        expected, got = eager(*args), traced(*args)
        if expected.shape != got.shape or not torch.allclose(got, expected, rtol=1e-5, atol=1e-5):
            raise RuntimeError(f"the traced {what} differs from the eager one; refusing to export")


def _trace_flow(
    flow: nn.Module, example_context: Callable[[torch.Generator], Tensor]
) -> torch.jit.ScriptModule:
    """Trace ShowerFlow's forward (latent ``(1, D)``, context ``(1, C)`` -> targets) for batch 1.

    ``example_context(generator)`` draws one conditioning row for the trace and its checks.
    """
    gen = torch.Generator().manual_seed(0)
    features = int(flow.features)

    def example(scale: float) -> tuple[Tensor, Tensor]:
        z = torch.randn(1, features, generator=gen) * scale
        return z, example_context(gen)

    traced = torch.jit.trace(flow, example(1.0), check_trace=False)
    # Against the eager pass the trace records (a ShowerFlow's own one-row calls run its compiled
    # pass, equal to rounding only). Large latents push spline inputs outside [-3, 3] (the
    # identity tails), small ones keep them in.
    eager = flow.flow.forward if isinstance(flow, ShowerFlow) else flow
    _check(traced, eager, [example(s) for s in (1.0, 0.1, 3.0, 6.0, 10.0)], "flow")
    return traced
