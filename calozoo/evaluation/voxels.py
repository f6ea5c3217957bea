"""Evaluation in voxel space, as the CaloChallenge does it (Krause et al., arXiv:2410.21611).

For detectors read out as voxels around the particle's axis (the CaloChallenge datasets 2 and 3:
``calochallenge-ds2``, ``calochallenge-ds3``), showers are compared as the challenge's
``evaluate.py`` compares them, on :class:`~calozoo.io.VoxelShowers`:

- the high-level observables: ``E_dep / E_inc``; per layer the energy, the centres of energy
  and the widths along ``x = r cos α`` and ``y = r sin α`` (the voxel centres' coordinates),
  the sparsity (the fraction of the layer's voxels above zero); the voxel energy spectrum;
- each compared by the separation power of its histograms (per layer, then the mean over the
  layers), with the twin-sample floor when a twin is given;
- the classifier tests: the high-level one (gradient boosting on those features) and the
  low-level one (the challenge's network on the voxel energies divided by the incident energy).

Everything depends only on the voxel layout (:class:`VoxelLayout`): any geometry that has
``n_layers``, ``n_alpha``, ``n_r`` and ``radial_edges_mm`` works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..io import VoxelShowers
from .distances import separation_power

__all__ = [
    "VoxelLayout",
    "voxel_features",
    "compare_voxels",
    "read_voxels",
    "evaluate_voxel_files",
    "PER_LAYER",
    "PER_SHOWER",
]

#: The per-layer high-level observables, ``(N, L)`` each.
PER_LAYER = ("energy", "centre_x", "centre_y", "width_x", "width_y", "sparsity")
#: The per-shower ones, ``(N,)``.
PER_SHOWER = ("e_ratio",)


@dataclass(frozen=True)
class VoxelLayout:
    """Voxels ordered radial fastest, then angle, then layer (the CaloChallenge's order).

    Args:
        n_layers, n_alpha, n_r: layers, angular bins (uniform on ``[−π, π)``), radial bins.
        radial_edges_mm: ``(n_r + 1,)`` radial bin edges.
    """

    n_layers: int
    n_alpha: int
    n_r: int
    radial_edges_mm: tuple[float, ...]

    @classmethod
    def of(cls, geometry) -> VoxelLayout:
        """The layout of a voxel geometry (e.g. ``calozoo.geometry("calochallenge-ds2")``)."""
        missing = [a for a in ("n_layers", "n_alpha", "n_r", "radial_edges_mm") if not hasattr(geometry, a)]
        if missing:
            raise ValueError(
                f"{getattr(geometry, 'name', geometry)!r} is not a voxel readout (it has no "
                f"{', '.join(missing)}): voxel evaluation needs e.g. calochallenge-ds2 or calochallenge-ds3"
            )
        edges = tuple(float(e) for e in np.asarray(geometry.radial_edges_mm))
        return cls(int(geometry.n_layers), int(geometry.n_alpha), int(geometry.n_r), edges)

    @property
    def n_voxels(self) -> int:
        return self.n_layers * self.n_alpha * self.n_r

    def centres_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """``(n_alpha * n_r,)`` x and y of one layer's voxel centres (radial fastest), mm."""
        edges = np.asarray(self.radial_edges_mm)
        radius = 0.5 * (edges[1:] + edges[:-1])
        angle = -np.pi + (np.arange(self.n_alpha) + 0.5) * (2 * np.pi / self.n_alpha)
        r, a = np.meshgrid(radius, angle)  # (n_alpha, n_r): radial fastest when flattened
        return (r * np.cos(a)).ravel(), (r * np.sin(a)).ravel()


def voxel_features(voxels: VoxelShowers, layout: VoxelLayout) -> dict[str, np.ndarray]:
    """The high-level observables of voxel showers: :data:`PER_LAYER` ``(N, L)``, :data:`PER_SHOWER` ``(N,)``.

    Centres and widths are energy-weighted over the layer's voxels (NaN for an empty layer);
    ``e_ratio`` is the stored energy over the incident energy (both MeV).

    Raises:
        ValueError: the showers have another number of voxels than the layout.
    """
    if voxels.num_voxels != layout.n_voxels:
        raise ValueError(
            f"the showers have {voxels.num_voxels} voxels but the layout has {layout.n_voxels} "
            f"({layout.n_layers} layers x {layout.n_alpha} angles x {layout.n_r} radii)"
        )
    e = voxels.energies_mev.astype(np.float64).reshape(len(voxels), layout.n_layers, -1)
    x, y = layout.centres_xy()
    energy = e.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (e * x).sum(axis=2) / energy
        cy = (e * y).sum(axis=2) / energy
        wx = np.sqrt(np.maximum((e * x**2).sum(axis=2) / energy - cx**2, 0.0))
        wy = np.sqrt(np.maximum((e * y**2).sum(axis=2) / energy - cy**2, 0.0))
    return {
        "energy": energy,
        "centre_x": cx,
        "centre_y": cy,
        "width_x": wx,
        "width_y": wy,
        "sparsity": (e > 0).mean(axis=2),
        "e_ratio": energy.sum(axis=1) / (1000.0 * voxels.incident_energy_gev),
    }


def _edges(values: np.ndarray, n_bins: int, log: bool) -> np.ndarray:
    """Bins over the reference's 0.5-99.5 % range (log-spaced for positive, wide ranges)."""
    finite = values[np.isfinite(values)]
    if log:
        finite = finite[finite > 0]
    if finite.size == 0:
        return np.array([0.0, 1.0])
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.geomspace(lo, hi, n_bins + 1) if log else np.linspace(lo, hi, n_bins + 1)


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts with the values beyond the edges in the first and last bins (nothing dropped but NaN)."""
    v = values[np.isfinite(values)]
    return np.histogram(np.clip(v, edges[0], edges[-1]), edges)[0]


def _separation(reference: np.ndarray, other: np.ndarray, n_bins: int, log: bool = False) -> float:
    edges = _edges(reference, n_bins, log)
    return float(separation_power(_histogram(reference, edges), _histogram(other, edges)))


def _compare(ref: dict, gen: dict, ref_voxels: np.ndarray, gen_voxels: np.ndarray, n_bins: int) -> dict:
    """Separation powers of every observable: per layer, their mean, and the voxel spectrum."""
    out: dict[str, Any] = {}
    for name in PER_LAYER:
        per_layer = [
            _separation(ref[name][:, layer], gen[name][:, layer], n_bins, log=name == "energy")
            for layer in range(ref[name].shape[1])
        ]
        out[name] = {"mean": float(np.mean(per_layer)), "per_layer": per_layer}
    out["e_ratio"] = {"mean": _separation(ref["e_ratio"], gen["e_ratio"], n_bins)}
    spectrum_ref, spectrum_gen = ref_voxels[ref_voxels > 0], gen_voxels[gen_voxels > 0]
    out["voxel_energy"] = {"mean": _separation(spectrum_ref, spectrum_gen, n_bins, log=True)}
    return out


def _classifier_inputs(voxels: VoxelShowers, features: dict) -> tuple[np.ndarray, np.ndarray]:
    """High-level inputs (log E_inc, then the features, NaN as 0) and low-level ones (voxels / E_inc)."""
    log_e = np.log(voxels.incident_energy_gev)[:, None]
    high = np.concatenate(
        [log_e, np.log1p(features["energy"])]
        + [np.nan_to_num(features[n]) for n in PER_LAYER[1:]]
        + [features["e_ratio"][:, None]],
        axis=1,
    )
    low = np.concatenate(
        [log_e, voxels.energies_mev / (1000.0 * voxels.incident_energy_gev[:, None])], axis=1
    )
    return high, low


def compare_voxels(
    reference: VoxelShowers,
    generated: VoxelShowers,
    geometry,
    *,
    twin: VoxelShowers | None = None,
    n_bins: int = 50,
    classifiers: tuple[str, ...] = ("high",),
    seed: int = 0,
) -> dict[str, Any]:
    """Compare voxel showers with a reference as the CaloChallenge does.

    Args:
        reference: reference voxel showers.
        generated: the model's voxel showers (same incident energies, or at least the same
            distribution of them).
        geometry: the voxel readout (or a :class:`VoxelLayout`).
        twin: an independent reference sample with the same conditions: gives every separation
            power's floor (what two samples of the reference differ by).
        n_bins: bins per histogram (over the reference's 0.5-99.5 % range).
        classifiers: ``"high"`` (gradient boosting on the high-level features) and/or ``"low"``
            (the CaloChallenge's network on the voxel energies; needs torch).
        seed: fixes the classifiers' splits and training.

    Returns:
        ``{"separation": {observable: {"mean", "per_layer"?}}, "floor": ... (with a twin),
        "classifier": {"high": {...}, "low": {...}}, "n_reference", "n_generated"}``; the
        classifier entries are those of :func:`~calozoo.evaluation.classifier.classifier_test`.
    """
    from .classifier import classifier_test

    layout = geometry if isinstance(geometry, VoxelLayout) else VoxelLayout.of(geometry)
    unknown = set(classifiers) - {"high", "low"}
    if unknown:
        raise ValueError(f"unknown classifiers {sorted(unknown)}: choose from 'high' and 'low'")
    ref, gen = voxel_features(reference, layout), voxel_features(generated, layout)
    result: dict[str, Any] = {
        "n_reference": len(reference),
        "n_generated": len(generated),
        "layout": {"n_layers": layout.n_layers, "n_alpha": layout.n_alpha, "n_r": layout.n_r},
        "separation": _compare(ref, gen, reference.energies_mev, generated.energies_mev, n_bins),
    }
    if twin is not None:
        result["floor"] = _compare(
            ref, voxel_features(twin, layout), reference.energies_mev, twin.energies_mev, n_bins
        )
    inputs_ref, inputs_gen = _classifier_inputs(reference, ref), _classifier_inputs(generated, gen)
    result["classifier"] = {}
    for kind, column in (("high", 0), ("low", 1)):
        if kind in classifiers:
            result["classifier"][kind] = classifier_test(
                inputs_ref[column],
                inputs_gen[column],
                reference_energy_gev=reference.incident_energy_gev,
                generated_energy_gev=generated.incident_energy_gev,
                n_conditions=1,
                seed=seed,
                kind="boosting" if kind == "high" else "dnn",
            )
    return result


def read_voxels(path, geometry, batch_size: int = 1000) -> VoxelShowers:
    """Voxel showers from a CaloChallenge file, or from a calozoo point file projected into
    ``geometry`` (a voxel readout with ``project`` and ``to_voxels``) ``batch_size`` at a time;
    a folder of shards (``calozoo simulate``'s output) is read shard by shard, in order."""
    from pathlib import Path

    from ..io import _shard_files, detect_format, read_calochallenge, read_showers
    from .checks import EvaluationInputError

    if Path(path).is_dir():
        return _concat([read_voxels(file, geometry, batch_size) for file in _shard_files(path)])
    if detect_format(path) == "calochallenge":
        voxels = read_calochallenge(path)
        if voxels.energies_mev.shape[1] != geometry.n_voxels:
            raise EvaluationInputError(
                f"{path}: {voxels.energies_mev.shape[1]} voxels per shower, but {geometry.name} has "
                f"{geometry.n_voxels}: evaluate it with the geometry of its dataset"
            )
        return voxels
    showers = read_showers(path)
    return _concat(
        [
            geometry.to_voxels(geometry.project(showers[i : i + batch_size]))
            for i in range(0, len(showers), batch_size)
        ]
    )


def _concat(parts: list[VoxelShowers]) -> VoxelShowers:
    return VoxelShowers(
        energies_mev=np.concatenate([p.energies_mev for p in parts]),
        incident_energy_gev=np.concatenate([p.incident_energy_gev for p in parts]),
    )


def summary_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """A terminal table: per observable the mean separation power of each model (and the floor),
    then each model's classifier AUCs."""
    names = list(results)
    first = results[names[0]]
    rows = [("separation power", *names, *(["floor (twin)"] if "floor" in first else []))]
    for obs in first["separation"]:
        cells = [obs, *[f"{results[m]['separation'][obs]['mean']:.2e}" for m in names]]
        if "floor" in first:
            cells.append(f"{first['floor'][obs]['mean']:.2e}")
        rows.append(tuple(cells))
    kinds = sorted({k for m in names for k in results[m]["classifier"]})
    if kinds:
        rows += [("", *[""] * (len(rows[0]) - 1))]
        for kind in kinds:
            cells = [f"classifier AUC ({kind}-level)"]
            for m in names:
                c = results[m]["classifier"].get(kind, {})
                cells.append("skipped" if "skipped" in c or "auc" not in c else f"{float(c['auc']):.3f}")
            rows.append(tuple(cells + [""] * (len(rows[0]) - len(cells))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]


def evaluate_voxel_files(
    models: dict[str, list], reference, geometry, report, *, twin=None, classifiers=("high",), seed: int = 0
) -> dict[str, dict[str, Any]]:
    """What ``calozoo evaluate --geometry calochallenge-ds2`` does: :func:`compare_voxels` of each
    model's file(s) (concatenated) against the reference, written to ``report/results.json`` and
    ``report/summary.txt`` (an atomic folder)."""
    import json

    from ..serialization import REPORT_KIND, atomic_folder
    from .comparison import _json_ready

    ref = read_voxels(reference, geometry)
    twin_voxels = None if twin is None else read_voxels(twin, geometry)
    results = {}
    for label, files in models.items():
        generated = _concat([read_voxels(f, geometry) for f in files])
        results[label] = compare_voxels(
            ref, generated, geometry, twin=twin_voxels, classifiers=classifiers, seed=seed
        )
    lines = summary_lines(results)
    settings = {
        "geometry": geometry.name,
        "reference": str(reference),
        "twin": None if twin is None else str(twin),
        "inputs": {label: [str(f) for f in files] for label, files in models.items()},
        "classifiers": list(classifiers),
        "seed": seed,
    }
    with atomic_folder(report, kind=REPORT_KIND) as tmp:
        (tmp / "results.json").write_text(
            json.dumps(_json_ready({"settings": settings, "models": results}), indent=1)
        )
        (tmp / "summary.txt").write_text("\n".join(lines) + "\n")
    return results
