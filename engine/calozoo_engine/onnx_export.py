"""ONNX export for DDFastShowerML beside the TorchScript one: the same contract, one graph.

DDFastShowerML runs ONNX models through ONNX Runtime as well as TorchScript ones through libtorch.
:func:`save_onnx` writes a model's whole generation chain as one ONNX graph with the contract of
:mod:`.export`, unchanged:

- inputs ``energy``, ``theta``, ``phi``: ``(1, 1)`` float32, GeV and degrees in the local frame;
- output ``out``: ``(35000,)`` float32, the ``L`` per-layer counts, then ``(x mm, y mm, layer,
  e MeV)`` per point, zero padded; at most ``(35000 - L) / 4`` points (the same cap).

The graph is the TorchScript module's eager code traced with the number of points as a dynamic
dimension: the flow (normflows' modules), the variant's hooks (:class:`.export.DDMLBase`), the
one-step point network (:meth:`.pointnet.OneStep.forward_one`), the shared assembly
(:func:`.points.assemble_points`), the tilt and the packing. Two things differ, because an ONNX
graph has no exceptions and its loops are not worth their cost here:

- **the redraw rule**: ShowerFlow is evaluated on :data:`CANDIDATES` latent draws at once and
  the first with at most seven negative layer energies is kept (the TorchScript module draws one
  at a time, up to 100 times). Showers are refused at most ~1 % of the time, so all four
  candidates are refused with a probability of order ``1e-8``; then the last is kept with its
  negatives clipped, as the TorchScript module does after its last round;
- **refused conditions** (a variant's :meth:`~.export.DDMLBase.accepts`, e.g. CaloClouds2 off
  normal incidence): the TorchScript module raises; the ONNX graph returns 35,000 NaNs.

Randomness: the graph's ``RandomNormal`` nodes carry no seed, so ONNX Runtime draws from its
global generator: ``onnxruntime.set_seed(s)`` before creating the session makes a session's
showers reproducible. :func:`save_onnx` also checks the graph against the eager module on fixed
draws (:func:`onnx_parity`: flow targets, point features and layer energies to 1e-4, counts
exactly) and refuses to keep a file that differs.

The file's metadata (``metadata_props``, key ``calozoo``) carries the same ``calozoo.json`` as
the TorchScript file, plus ``format: onnx`` and the candidate count.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import points as chain
from .export import DDMLBase, ddml_inputs, file_info

__all__ = [
    "CANDIDATES",
    "OnnxShower",
    "save_onnx",
    "onnx_parity",
    "onnx_feed",
    "Parity",
    "INPUT_NAMES",
    "is_calozoo_onnx",
    "ONNX_OPSET",
]

#: The graph's inputs, in order (each ``(1, 1)`` float32).
INPUT_NAMES = ("energy", "theta", "phi")
#: Latent draws ShowerFlow is evaluated on at once (the redraw rule, see the module docstring).
CANDIDATES = 4
#: The ONNX operator set the graph is written for (ONNX Runtime 1.15 and newer run it).
ONNX_OPSET = 17
#: What an existing file must be for an ONNX export to replace it.
ONNX_KIND = "an ONNX file exported by calozoo (its metadata holding 'calozoo')"
#: Agreement the export requires of ONNX Runtime against eager on fixed draws (relative).
PARITY_TOLERANCE = 1e-4
#: The fraction of points allowed to differ: neighbours in the depth sort that swap on rounding.
MAX_SWAPPED_ROWS = 0.01


def is_calozoo_onnx(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ONNX file calozoo exported (its metadata has the key ``calozoo``)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return False
    return any(prop.key == "calozoo" for prop in model.metadata_props)


class OnnxShower(nn.Module):
    """One shower under the DDML contract in tensor operations only (the traced form).

    With ``draws="internal"`` (what is exported) the latents and the point noise are drawn inside
    (``torch.randn``: ONNX ``RandomNormal`` nodes); with ``draws="inputs"`` they come in as two
    more inputs, ``latent`` ``(CANDIDATES, D)`` and ``noise`` ``(max_points, 4)`` of which the first
    ``n`` rows are used, and the flow's chosen targets ``(1, D)`` and the point network's features
    ``(n, 4)`` (in noise order) come out beside ``out``: the form the parity check traces and compares.

    Args:
        ddml: the variant's eager :class:`~.export.DDMLBase` (its networks, factors and hooks).
        candidates: the latent draws evaluated at once.
        draws: ``"internal"`` or ``"inputs"``.
    """

    def __init__(self, ddml: DDMLBase, candidates: int = CANDIDATES, draws: str = "internal"):
        super().__init__()
        if draws not in ("internal", "inputs"):
            raise ValueError(f"draws must be 'internal' or 'inputs', got {draws!r}")
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates}")
        self.ddml = ddml
        self.candidates = int(candidates)
        self.draws = draws

    def forward(
        self,
        energy: Tensor,
        theta: Tensor,
        phi: Tensor,
        latent: Tensor | None = None,
        noise: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        d = self.ddml
        cond, direction = d.condition_unchecked(energy, theta, phi)
        if latent is None:
            latent = torch.randn(self.candidates, d.n_features)
        outs = d.flow(latent, cond.expand(self.candidates, cond.shape[1]))
        negative = (outs[:, d.energy_start : d.energy_stop] < 0).sum(1)
        ok = (negative <= d.max_negative_layers).to(torch.int64)
        first = torch.argmax(ok, 0, keepdim=True)  # the first acceptable (ties: the first index)
        pick = torch.where(ok.sum(0, keepdim=True) > 0, first, torch.full_like(first, self.candidates - 1))
        targets = outs.index_select(0, pick)

        counts, layer_energy = d.raw_layer_counts(targets, energy)
        total = counts.sum()
        capped = torch.div(counts * d.max_points, total.clamp_min(1), rounding_mode="floor")
        counts = torch.where(total > d.max_points, capped, counts)
        # the points as a dynamic dimension: positions 0 .. n-1 of the (static) cap
        positions = torch.nonzero(torch.arange(d.max_points) < counts.sum())[:, 0]
        if noise is None:
            eps = torch.randn_like(positions.to(torch.float32)[:, None].expand(positions.shape[0], 4))
        else:
            eps = noise.index_select(0, positions)
        features = d.denoise.forward_one(eps, d.point_context(cond, energy, counts))
        owner = torch.zeros_like(positions)
        # one shower: the points by z (ONNX TopK breaks ties by the lower index, a stable sort)
        order = torch.topk(features[:, 2], features.shape[0], largest=False, sorted=True).indices
        points = chain.assemble_points(
            features,
            owner,
            counts,
            layer_energy,
            None,
            d.mean,
            d.std,
            d.widening,
            d.energy_factor,
            d.energy_spread,
            order,
        )
        points = d.post_process(points, owner, targets)
        layer = points[:, 2].to(torch.int64)
        shift = chain.tilt_shift(d.layer_depth_mm, direction)[0]
        xy = (points[:, :2].to(torch.float64) + shift.index_select(0, layer)).to(torch.float32)
        flat = torch.cat([xy, points[:, 2:]], 1).reshape(-1)
        out = torch.cat([counts[0].to(torch.float32), flat, torch.zeros(d.output_length)])[: d.output_length]
        accepted = d.accepts(energy, theta, phi).reshape(1)
        out = torch.where(accepted, out, torch.full_like(out, float("nan")))
        return out if noise is None else (out, targets, features)


def save_onnx(
    ddml: DDMLBase,
    path: str | os.PathLike,
    calibration: dict[str, Any] | None = None,
    candidates: int = CANDIDATES,
) -> Path:
    """Trace ``ddml`` into one ONNX graph, check it, write it atomically; return the path.

    An existing ``path`` is replaced only if it is an earlier calozoo ONNX export (or empty);
    anything else raises :class:`~calozoo.errors.OutputError`, leaving it untouched. The written
    graph is checked with ONNX Runtime against the eager module on fixed draws at three
    conditions (:func:`onnx_parity`); a difference beyond what it allows raises ``RuntimeError``
    and nothing is written.
    """
    import onnx

    from calozoo.serialization import atomic_path, check_file_replaceable

    check_file_replaceable(path, ONNX_KIND, is_calozoo_onnx)
    info = {
        **file_info(ddml, calibration),
        "format": "onnx",
        "opset": ONNX_OPSET,
        "candidates": int(candidates),
    }
    path = Path(path)
    with atomic_path(path, kind=ONNX_KIND, recognise=is_calozoo_onnx) as tmp:
        _export(OnnxShower(ddml, candidates, "internal"), ddml, tmp, list(INPUT_NAMES))
        model = onnx.load(str(tmp))
        onnx.helper.set_model_props(model, {"calozoo": json.dumps(info, default=str)})
        onnx.save(model, str(tmp))
        problems = onnx_parity(ddml, candidates).problems()
        if problems:
            raise RuntimeError(
                f"the ONNX graph differs from the eager module ({'; '.join(problems)}); refusing to export"
            )
    return path


@dataclass
class Parity:
    """How ONNX Runtime's showers compare with the eager module's on the same draws.

    ``targets``, ``features``: the largest difference of the flow's chosen targets and of the
    point network's outputs, relative to each tensor's largest value; ``layer_energy``: of the
    energy in each layer, relative to the shower's; ``counts_equal``: the per-layer counts, exactly;
    ``rows_differing``: the fraction of output points not equal to 1e-4 (two points whose
    generated depths agree to rounding can swap places in the depth sort, so a few swap rows).
    """

    targets: float
    features: float
    layer_energy: float
    counts_equal: bool
    rows_differing: float

    def problems(self) -> list[str]:
        """What is outside :data:`PARITY_TOLERANCE` (and the 1 % of swapped rows); empty if none."""
        out = [] if self.counts_equal else ["the per-layer counts differ"]
        for name in ("targets", "features", "layer_energy"):
            if not getattr(self, name) <= PARITY_TOLERANCE:
                out.append(f"{name} differ by {getattr(self, name):.3g} (allowed {PARITY_TOLERANCE})")
        if not self.rows_differing <= MAX_SWAPPED_ROWS:
            out.append(f"{self.rows_differing:.1%} of the points differ (allowed {MAX_SWAPPED_ROWS:.0%})")
        return out


def onnx_parity(
    ddml: DDMLBase,
    candidates: int = CANDIDATES,
    conditions: tuple[tuple[float, float, float], ...] | None = None,
    seed: int = 0,
) -> Parity:
    """ONNX Runtime against the eager module on the same draws, the worst over ``conditions``.

    The ``draws="inputs"`` form is exported to a temporary file and both run on latents and noise
    drawn from ``seed``, at ``conditions`` ``(energy GeV, theta, phi)`` (default: the variant's
    :meth:`~.export.DDMLBase.example_conditions`).
    """
    import tempfile

    import onnxruntime as ort

    form = OnnxShower(ddml, candidates, "inputs")
    conditions = conditions or tuple(ddml.example_conditions())
    gen = torch.Generator().manual_seed(seed)
    worst = Parity(0.0, 0.0, 0.0, True, 0.0)
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "parity.onnx"
        _export(form, ddml, file, [*INPUT_NAMES, "latent", "noise"])
        session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
        for energy, theta, phi in conditions:
            inputs = ddml_inputs(energy, theta, phi)
            latent = torch.randn(candidates, ddml.n_features, generator=gen)
            noise = torch.randn(ddml.max_points, 4, generator=gen)
            with torch.no_grad():
                expected = [t.numpy() for t in form(*inputs, latent, noise)]
            feed = {**onnx_feed(energy, theta, phi), "latent": latent.numpy(), "noise": noise.numpy()}
            got = session.run(None, feed)
            one = _compare(expected, got, ddml.n_layers)
            worst = Parity(
                max(worst.targets, one.targets),
                max(worst.features, one.features),
                max(worst.layer_energy, one.layer_energy),
                worst.counts_equal and one.counts_equal,
                max(worst.rows_differing, one.rows_differing),
            )
    return worst


# ---------------------------------------------------------------------------------------- helpers
def onnx_feed(energy: float, theta: float, phi: float) -> dict[str, np.ndarray]:
    """ONNX Runtime's input feed of an exported file: GeV, and degrees in the local frame."""
    return {name: t.numpy() for name, t in zip(INPUT_NAMES, ddml_inputs(energy, theta, phi))}


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.abs(a - b).max() / max(float(np.abs(a).max()), 1e-12))


def _compare(expected: list[np.ndarray], got: list[np.ndarray], n_layers: int) -> Parity:
    """One condition's :class:`Parity` from the parity form's ``(out, targets, features)``."""
    out_a, out_b = expected[0], got[0]
    targets, features = _relative(expected[1], got[1]), _relative(expected[2], got[2])
    if np.isnan(out_a).all() and np.isnan(out_b).all():  # a refused condition: NaNs in both
        return Parity(targets, features, 0.0, True, 0.0)
    counts = out_a[:n_layers]
    if out_a.shape != out_b.shape or not np.array_equal(counts, out_b[:n_layers]):
        return Parity(targets, features, float("inf"), False, 1.0)
    n = int(counts.sum())
    a = out_a[n_layers : n_layers + 4 * n].reshape(n, 4).astype(np.float64)
    b = out_b[n_layers : n_layers + 4 * n].reshape(n, 4).astype(np.float64)
    if n == 0:
        return Parity(targets, features, 0.0, True, 0.0)
    layer = a[:, 2].astype(np.int64)
    sums_a = np.bincount(layer, a[:, 3], n_layers)
    sums_b = np.bincount(layer, b[:, 3], n_layers)
    layer_energy = float(np.abs(sums_a - sums_b).max() / max(float(sums_a.sum()), 1e-12))
    scale = np.maximum(np.abs(a).max(0), 1e-12)
    differing = float(((np.abs(a - b) / scale).max(1) > 1e-4).mean())
    return Parity(targets, features, layer_energy, True, differing)


def _export(form: OnnxShower, ddml: DDMLBase, file: Path, names: list[str]) -> None:
    """Trace ``form`` and write it to ``file`` with the points (and the noise rows) dynamic."""
    example: list[Tensor] = list(ddml_inputs(*ddml.example_conditions()[0]))
    if form.draws == "inputs":
        example += [torch.zeros(form.candidates, ddml.n_features), torch.zeros(ddml.max_points, 4)]
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            form,
            tuple(example),
            str(file),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=names,
            output_names=["out"],
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the tracer's notes (its Python-level conversions are the variant's constants)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        yield
