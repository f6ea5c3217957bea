"""CaloClouds2 versus CaloClouds3 on our data: the CaloClouds3 paper's Table 2 and Figure 14.

Regenerates ``docs/caloclouds2-vs-caloclouds3.md``, its figures under ``docs/images/compare/``
and every number in ``docs/compare-caloclouds.json``::

    calozoo simulate DIR -n 4000 --preset cc2-training --seed 22 --physics-version 2
    python benchmarks/compare_caloclouds.py --reference DIR [--seeds 3] [--models caloclouds2 caloclouds3]

Three parts, all at normal incidence (direction ``(0, 0, 1)``) and on one CPU thread:

1. **Fidelity.** Every model generates showers with the reference's own incident energies
   (``--seeds`` samples, each with its own seed); all samples are projected into
   ``ild-ecal-barrel`` at its default incident point and compared with the reference by the
   evaluation suite (:func:`calozoo.evaluation.shower_features` and
   :func:`calozoo.evaluation.compare_features`, the two halves of
   :func:`calozoo.evaluation.evaluate`, called separately so that only the measured features of
   a sample are kept, never its points): JSDs with the seed-to-seed error and the reference's
   statistical floor, FPD/KPD and the classifier AUC. Means of the high-level features too.
2. **Distributions** of visible energy, occupancy, centre of gravity x, y, z (and the other
   observables of the table), with ratio panels, drawn by :mod:`calozoo.evaluation.plots`.
3. **Speed versus incident energy**: each model at batch 100 without projection and at batch 1
   with projection, and the reference Monte Carlo one shower per call, measured in one run with
   the calls interleaved (the machine's load drifts alike for all of them).

Models are named ``NAME`` or ``LABEL=NAME`` (``calozoo.load(NAME)``); the last model is the one
the others are compared against in the speed-ups. A development run: ``--models
a=caloclouds3 b=caloclouds3 --limit 200 --seeds 2 --timing-calls 5 --docs /tmp/compare``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_caloclouds3 import (  # noqa: E402
    DIRECTION,
    median_and_best,
    plot_style,
    single_thread,
    time_reference_mc,
    time_sampling,
)
from cc3_fidelity import GEOMETRY, TABLE_OBSERVABLES  # noqa: E402
from machine import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGE = "caloclouds2-vs-caloclouds3.md"
JSON_NAME = "compare-caloclouds.json"
#: Figures, relative to the docs folder (the page links them this way).
IMAGES = Path("images") / "compare"
DEFAULT_MODELS = ("caloclouds2", "caloclouds3")
#: CaloClouds2 is trained for 10-90 GeV photons; the reference is cut to this range.
ENERGY_RANGE_GEV = (10.0, 90.0)
TIMING_ENERGIES_GEV = (10.0, 30.0, 50.0, 70.0, 90.0)
#: Edges of the energy windows [GeV] a reference with continuous energies is also compared in.
WINDOW_EDGES_GEV = (10.0, 30.0, 60.0, 90.0)
#: Distributions drawn (the paper's figures), then the rest of the table's observables.
FIGURE_OBSERVABLES = ("visible_energy", "occupancy", "cog_x", "cog_y", "cog_z")
DRAWN_OBSERVABLES = FIGURE_OBSERVABLES + tuple(n for n in TABLE_OBSERVABLES if n not in FIGURE_OBSERVABLES)
#: Seed of sample ``s`` of model ``m`` (0-based): ``SEED_BASE + 100 m + s``; different models
#: get different seeds, so two copies of one model compared with each other are independent.
SEED_BASE = 1000
#: Generation batch for the fidelity samples, and the large batch of the timing.
BATCH_SIZE = 100

#: The CaloClouds3 paper's speed numbers (arXiv:2511.01460; docs: /work/shared/specs).
PAPER = {
    "batch100_python_ms": {"caloclouds3": "1.3-2.5", "caloclouds2": "3.2-5.5"},
    "full_simulation_ms": {"caloclouds3": "16-32", "caloclouds2": "100-160", "GEANT4": "700-6000"},
    "speedup_cc2_cc3_batch100": 2.1,
    "speedup_cc2_cc3_full_simulation": 5.7,
    "speedup_geant4_cc3": 119.0,
}

#: ``(feature, statistic, what, how models are compared with the reference)``.
MEANS = (
    ("visible_energy", "mean", "visible energy [MeV]", "ratio"),
    ("occupancy", "mean", "occupancy [cells]", "ratio"),
    ("radial_width", "mean", "radial width [mm]", "ratio"),
    ("longitudinal_width", "mean", "longitudinal width [layers]", "ratio"),
    ("cog_x", "mean", "centre of gravity x [mm]", "difference"),
    ("cog_y", "mean", "centre of gravity y [mm]", "difference"),
    ("cog_z", "mean", "centre of gravity z [layer]", "ratio"),
    ("cog_x", "std", "spread of the centre of gravity x [mm]", "ratio"),
    ("cog_y", "std", "spread of the centre of gravity y [mm]", "ratio"),
    ("cog_z", "std", "spread of the centre of gravity z [layer]", "ratio"),
)


def _num(value) -> float | None:
    """A JSON-ready float: ``None`` for NaN or infinity."""
    value = float(value)
    return value if math.isfinite(value) else None


def _times(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _fmt(value, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


# ------------------------------------------------------------------------------------ inputs
def parse_models(specs: list[str]) -> dict[str, str]:
    """``{label: registered name}`` from ``NAME`` or ``LABEL=NAME``; repeated labels get ``#2``, ..."""
    models: dict[str, str] = {}
    for spec in specs:
        label, _, name = spec.rpartition("=")
        label = label or name
        unique, k = label, 2
        while unique in models or unique == "reference":
            unique, k = f"{label}#{k}", k + 1
        models[unique] = name
    return models


def read_reference(path, energy_range, limit: int | None, geometry, progress: bool = True):
    """The reference's features (projected into ``geometry``) and a description of it.

    ``path`` is a file or a folder of ``*.h5`` shards; showers outside ``energy_range`` (GeV) are
    dropped, then ``limit`` of them (if given) are kept, drawn at random (seed 0) so a set sorted
    by energy keeps its energy mix.
    """
    from tqdm.auto import tqdm

    from calozoo.evaluation import ShowerFeatures, shower_features
    from calozoo.io import read_showers

    path = Path(path)
    files = sorted(path.glob("*.h5")) if path.is_dir() else [path]
    if not files:
        raise SystemExit(f"{path} holds no *.h5 shards (make them with `calozoo simulate`)")
    low, high = energy_range
    parts, n_read = [], 0
    for file in files:
        showers = read_showers(file)
        n_read += len(showers)
        inside = (showers.incident_energy_gev >= low) & (showers.incident_energy_gev <= high)
        parts.append(showers[np.flatnonzero(inside)])
    sizes = np.array([len(p) for p in parts])
    if sizes.sum() == 0:
        raise SystemExit(f"{path}: no showers between {low:g} and {high:g} GeV")
    if limit is not None and limit < sizes.sum():
        chosen = np.sort(np.random.default_rng(0).choice(sizes.sum(), limit, replace=False))
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        parts = [
            p[chosen[(chosen >= a) & (chosen < b)] - a] for p, a, b in zip(parts, offsets[:-1], offsets[1:])
        ]
    parts = [p for p in parts if len(p)]
    for p in parts:
        if np.any(np.abs(p.direction[:, 2] - 1) > 1e-6):
            raise SystemExit("the reference must be at normal incidence, direction (0, 0, 1)")
    features = []
    with tqdm(total=sum(len(p) for p in parts), desc="reference", unit="shower", disable=not progress) as bar:
        for p in parts:
            features.append(shower_features(p, geometry))
            bar.update(len(p))
    features = ShowerFeatures.concatenate(features)
    made_by = None
    settings = path / "reference-mc.json" if path.is_dir() else None
    if settings is not None and settings.exists():
        made_by = json.loads(settings.read_text())
    energy = features.incident_energy_gev
    return features, {
        "path": Path(path).name,  # the folder name only: no machine paths in the docs
        "files": len(files),
        "showers_read": n_read,
        "n_showers": len(features),
        "energy_range_gev": [low, high],
        "limit": limit,
        "incident_energy_gev": {"min": float(energy.min()), "max": float(energy.max())},
        "simulate_settings": made_by,
    }


def generate_features(model, label: str, energies, seed: int, geometry, progress: bool = True):
    """One sample of ``model`` at ``energies`` (normal incidence), measured batch by batch.

    Returns the sample's :class:`~calozoo.evaluation.ShowerFeatures` and the seconds it took to
    generate (projection and measurement not included).
    """
    from tqdm.auto import tqdm

    from calozoo.evaluation import ShowerFeatures, shower_features

    parts, seconds = [], 0.0
    batches = model.iter_sample(energies, DIRECTION, seed=seed, batch_size=BATCH_SIZE)
    with tqdm(total=len(energies), desc=f"{label} seed {seed}", unit="shower", disable=not progress) as bar:
        while True:
            start = time.perf_counter()
            batch = next(batches, None)
            seconds += time.perf_counter() - start
            if batch is None:
                break
            parts.append(shower_features(batch, geometry))
            bar.update(len(batch))
    return ShowerFeatures.concatenate(parts), seconds


# ---------------------------------------------------------------------------------- fidelity
def feature_means(reference, samples: dict[str, list]) -> list[dict]:
    """The :data:`MEANS` rows: the reference's value and error, each model's over its seeds."""
    rows = []
    for feature, statistic, what, compare in MEANS:
        ref = reference.scalars[feature]
        ref = ref[np.isfinite(ref)]
        if statistic == "mean":
            ref_value, ref_error = np.mean(ref), np.std(ref, ddof=1) / np.sqrt(len(ref))
        else:
            ref_value = np.std(ref, ddof=1)
            ref_error = ref_value / np.sqrt(2 * (len(ref) - 1))
        row = {
            "feature": feature,
            "statistic": statistic,
            "what": what,
            "compare": compare,
            "reference": {"value": _num(ref_value), "error": _num(ref_error)},
            "models": {},
        }
        for label, features in samples.items():
            values = []
            for f in features:
                v = f.scalars[feature]
                v = v[np.isfinite(v)]
                values.append(np.mean(v) if statistic == "mean" else np.std(v, ddof=1))
            value = float(np.mean(values))
            versus = value / ref_value if compare == "ratio" else value - ref_value
            row["models"][label] = {
                "value": _num(value),
                "error": _num(np.std(values, ddof=1)) if len(values) > 1 else None,
                "per_sample": [_num(v) for v in values],
                compare: _num(versus),
            }
        rows.append(row)
    return rows


def energy_windows(incident_energy_gev, edges) -> list:
    """The evaluation's slices: all energies, each fixed energy of the reference, or else windows.

    A reference with continuous energies is cut into the windows between consecutive ``edges``
    (GeV), each binned like a fixed energy at its upper edge.
    """
    from calozoo.evaluation.slices import EnergySlice, energy_slices, fixed_energies

    slices = energy_slices(incident_energy_gev)
    if fixed_energies(incident_energy_gev) is not None:
        return slices
    for low, high in zip(edges[:-1], edges[1:]):
        centre = (low + high) / 2
        slices.append(
            EnergySlice(
                f"{low:g}-{high:g}GeV", f"{low:g}-{high:g} GeV", centre, (high - low) / (2 * centre), high
            )
        )
    return slices


def fidelity(
    models: dict, reference, geometry, seeds: int, classifier: bool, windows=(), progress: bool = True
):
    """Generate ``seeds`` samples per model at the reference's energies and compare them.

    Returns the :class:`~calozoo.evaluation.EvaluationResult` (slices: see :func:`energy_windows`),
    the means and the generation times.
    """
    from calozoo.evaluation import compare_features
    from calozoo.evaluation.checks import check_same_conditions

    samples, seconds = {}, {}
    for m, (label, model) in enumerate(models.items()):
        samples[label], seconds[label] = [], []
        for s in range(seeds):
            seed = SEED_BASE + 100 * m + s
            features, took = generate_features(model, label, reference.incident_energy_gev, seed, geometry)
            check_same_conditions(reference, features, f"{label} seed {seed}")
            samples[label].append(features)
            seconds[label].append(took)
    slices = energy_windows(reference.incident_energy_gev, windows)
    result = compare_features(
        reference, samples, geometry, slices=slices, classifier=classifier, seed=0, progress=progress
    )
    return result, feature_means(reference, samples), seconds


# ------------------------------------------------------------------------------------- speed
def measure_speed(
    models: dict, geometry, energies, calls: int, batches: int, batch_size: int, progress: bool = True
) -> dict:
    """Median ms per shower versus energy on one thread, with the calls of all models interleaved.

    Per energy: ``batches`` calls of ``batch_size`` showers without projection and ``calls``
    single-shower calls with projection into ``geometry`` per model, and ``calls`` showers of the
    reference MC (training points, and points + projection). Round ``i`` makes call ``i`` of every
    model, then shower ``i`` of the reference MC, so the load of a busy machine affects all alike.
    """
    from tqdm.auto import tqdm

    import calozoo

    start_load = os.getloadavg()
    reference_mc = calozoo.load("reference-mc")
    # Warm-up: lazy initialisation, allocator, numba JIT (or its cache), projection tables.
    for model in models.values():
        for batch in (1, batch_size):
            time_sampling(model, geometry, energies[0], batch, 2, True, seed=10**6)
    time_reference_mc(reference_mc, geometry, energies[0], 2, seed=10**6)

    rows = []
    for energy in tqdm(energies, desc="timing", unit="energy", disable=not progress):
        seed = int(energy) * 1000
        times = {label: {"batch": [], "single_projected": []} for label in models}
        points = {label: [] for label in models}
        mc_points, mc_projected, mc_size = [], [], []
        for i in range(max(calls, batches)):
            for label, model in models.items():
                if i < batches:
                    t, n = time_sampling(model, geometry, energy, batch_size, 1, False, seed + i)
                    times[label]["batch"] += t
                    points[label].append(n)
                if i < calls:
                    t, _ = time_sampling(model, geometry, energy, 1, 1, True, seed + i)
                    times[label]["single_projected"] += t
            if i < calls:
                p, q, n = time_reference_mc(reference_mc, geometry, energy, 1, seed + i)
                mc_points += p
                mc_projected += q
                mc_size.append(n)
        row = {"energy_gev": energy, "models": {}}
        for label in models:
            b_median, b_best = median_and_best(times[label]["batch"])
            s_median, s_best = median_and_best(times[label]["single_projected"])
            row["models"][label] = {
                "batch_ms_median": b_median,
                "batch_ms_min": b_best,
                "single_projected_ms_median": s_median,
                "single_projected_ms_min": s_best,
                "mean_points": float(np.mean(points[label])),
            }
        p_median, p_best = median_and_best(mc_points)
        q_median, q_best = median_and_best(mc_projected)
        row["reference_mc"] = {
            "points_ms_median": p_median,
            "points_ms_min": p_best,
            "projected_ms_median": q_median,
            "projected_ms_min": q_best,
            "mean_points": float(np.mean(mc_size)),
        }
        rows.append(row)
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": 1,
        "load_average_before": list(start_load),
        "load_average_after": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": _torch_version(),
        "geometry": geometry.name,
        "batch_size": batch_size,
        "batch_calls": batches,
        "single_calls": calls,
        "reference_mc_showers": calls,
        "rows": rows,
        "speedups": speedups(list(models), rows),
    }


def _torch_version() -> str:
    import torch

    return torch.__version__


def speedups(labels: list[str], rows: list[dict]) -> list[dict]:
    """Per-energy and mean (over the energies) ratios of times: each model against the last one.

    ``batch``: model / last model at batch 100 without projection; ``single_projected``: the same
    at batch 1 with projection; ``reference_mc``: reference MC + projection / model at batch 1
    with projection (as a full simulation would use it), and reference MC training points /
    model batch 100 (``reference_mc_points``).
    """
    out = []
    last = labels[-1]
    pairs = [(label, last) for label in labels[:-1]]
    for slow, fast in pairs:
        for kind, key in (("batch", "batch_ms_median"), ("single_projected", "single_projected_ms_median")):
            ratios = [r["models"][slow][key] / r["models"][fast][key] for r in rows]
            out.append({"numerator": slow, "denominator": fast, "kind": kind, "per_energy": ratios})
    for label in labels:
        for kind, mc_key, key in (
            ("reference_mc", "projected_ms_median", "single_projected_ms_median"),
            ("reference_mc_points", "points_ms_median", "batch_ms_median"),
        ):
            ratios = [r["reference_mc"][mc_key] / r["models"][label][key] for r in rows]
            out.append(
                {"numerator": "reference MC", "denominator": label, "kind": kind, "per_energy": ratios}
            )
    for entry in out:
        entry["mean"] = float(np.mean(entry["per_energy"]))
    return out


def plot_speed(speed: dict, labels: list[str], path) -> None:
    """Time per shower versus energy (log y) on top, the speed-ups against the last model below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from calozoo.serialization import atomic_path

    rows, b = speed["rows"], speed["batch_size"]
    energies = [r["energy_gev"] for r in rows]
    with plt.style.context(plot_style()):
        fig, (ax, rax) = plt.subplots(
            2, 1, figsize=(6.4, 6.6), sharex=True, gridspec_kw={"height_ratios": (2.2, 1), "hspace": 0.08}
        )
        for i, label in enumerate(labels):
            for key, fmt, what in (
                ("batch_ms_median", "o-", f"batch {b}"),
                ("single_projected_ms_median", "s--", "batch 1 + projection"),
            ):
                ax.plot(
                    energies,
                    [r["models"][label][key] for r in rows],
                    fmt,
                    color=f"C{i}",
                    markersize=4,
                    label=f"{label}, {what}",
                )
        for key, fmt, what in (
            ("points_ms_median", "^-", "reference MC (training points)"),
            ("projected_ms_median", "^--", "reference MC + projection"),
        ):
            ax.plot(
                energies, [r["reference_mc"][key] for r in rows], fmt, color="0.3", markersize=4, label=what
            )
        ax.set_yscale("log")
        ax.set_ylabel("time per shower [ms] (median)")
        ax.set_title(f"one CPU thread, {speed['cpu']}", fontsize=9, loc="left")
        top = max(r["reference_mc"]["projected_ms_median"] for r in rows)
        ax.set_ylim(top=top * 30)  # room for the legend above the curves
        ax.legend(loc="upper left", frameon=False, ncol=2, fontsize=7)

        styles = {"batch": "o-", "single_projected": "s--", "reference_mc": "^--"}
        for entry in speed["speedups"]:
            if entry["kind"] not in styles:
                continue
            colour = "0.3" if entry["kind"] == "reference_mc" else f"C{labels.index(entry['numerator'])}"
            if entry["kind"] == "reference_mc" and entry["denominator"] != labels[-1]:
                continue
            what = {"batch": f"batch {b}", "single_projected": "batch 1 + proj.", "reference_mc": "+ proj."}
            rax.plot(
                energies,
                entry["per_energy"],
                styles[entry["kind"]],
                color=colour,
                markersize=3,
                label=f"{entry['numerator']} / {entry['denominator']}, {what[entry['kind']]}",
            )
        for value, text in (
            (PAPER["speedup_cc2_cc3_batch100"], "paper CC2/CC3, batch 100"),
            (PAPER["speedup_cc2_cc3_full_simulation"], "paper CC2/CC3, full sim."),
            (PAPER["speedup_geant4_cc3"], "paper GEANT4/CC3"),
        ):
            rax.axhline(value, color="0.6", linewidth=0.8, linestyle=":")
            rax.text(energies[-1], value, text, fontsize=6, ha="right", va="bottom", color="0.4")
        rax.set_yscale("log")
        rax.set_ylim(0.3, 400)
        rax.set_ylabel("speed-up")
        rax.set_xlabel("incident energy [GeV]")
        rax.legend(loc="upper left", frameon=False, fontsize=6, ncol=2)
        fig.subplots_adjust(left=0.13, right=0.97, top=0.95, bottom=0.09)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
        plt.close(fig)


# ---------------------------------------------------------------------------------- the page
def _jsd_cell(d: dict, best: bool) -> str:
    jsd = d["jsd"]
    text = f"{_fmt(_num(jsd['mean']), '.2e')} ± {_fmt(_num(jsd['error']), '.1e')}"
    ratio = _num(jsd.get("ratio_to_floor", float("nan")))
    if ratio is not None:
        text += f" ({ratio:.1f}×)"
    return f"**{text}**" if best else text


def fidelity_lines(result, means: list[dict], labels: list[str], images: Path) -> list[str]:
    """The fidelity sections: Table 2 per energy slice, the means, the distributions."""
    lines = []
    for energy_slice in result.slices:
        key = energy_slice.key
        if len(result.slices) > 1:
            lines += ["", f"**{energy_slice.label}**"]
        lines += [
            "",
            "| observable | statistical floor | " + " | ".join(labels) + " |",
            "|---|---|" + "---|" * len(labels),
        ]
        for name in TABLE_OBSERVABLES:
            per_model = result.distances[key][name]
            means_ = {label: per_model[label]["jsd"]["mean"] for label in labels}
            finite = [v for v in means_.values() if np.isfinite(v)]
            best = min(finite) if len(finite) > 1 else None
            floor = _num(per_model[labels[-1]]["jsd"]["floor"])
            cells = [_jsd_cell(per_model[label], means_[label] == best) for label in labels]
            lines.append(f"| {name} | {_fmt(floor, '.1e')} | " + " | ".join(cells) + " |")
        for metric, spec in (("fpd", ".3g"), ("kpd", ".3g")):
            cells = []
            for label in labels:
                d = result.physics_distances[key][label][metric]
                cells.append(f"{_fmt(_num(d['mean']), spec)} ± {_fmt(_num(d['error']), '.1g')}")
            lines.append(f"| {metric.upper()} | – | " + " | ".join(cells) + " |")
        if key == "all" and result.classifier:
            cells = []
            for label in labels:
                auc = result.classifier[label]["auc"]
                cells.append(f"{auc['mean']:.3f} ± {auc['error']:.3f}")
            lines.append("| classifier AUC | 0.5 | " + " | ".join(cells) + " |")

    lines += [
        "",
        "## Means after projection",
        "",
        "All energies. Mean over the showers (reference: ± its statistical error; models: the mean over the "
        "seeds ± their spread), and the model against the reference: a ratio, or a difference for "
        "the transverse centres of gravity (which sit at 0). The spread of a centre of gravity is "
        "its standard deviation over showers.",
        "",
        "| quantity | reference | " + " | ".join(f"{label} | {label} vs ref." for label in labels) + " |",
        "|---|---|" + "---|---|" * len(labels),
    ]
    for row in means:
        ref = row["reference"]
        cells = [f"{_fmt(ref['value'], '.4g')} ± {_fmt(ref['error'], '.2g')}"]
        for label in labels:
            m = row["models"][label]
            value = _fmt(m["value"], ".4g") + ("" if m["error"] is None else f" ± {m['error']:.2g}")
            if row["compare"] == "ratio":
                versus = _fmt(m["ratio"], ".3f")
            else:
                versus = "n/a" if m["difference"] is None else f"{m['difference']:+.3f}"
            cells += [value, versus]
        lines.append(f"| {row['what']} | " + " | ".join(cells) + " |")

    lines += [
        "",
        "## Distributions",
        "",
        "Reference in grey, models as lines with the spread over the seeds as a band; below, the "
        "ratio model / reference (grey band: the reference's statistical error). The legend "
        "quotes the JSD over all energies. Drawn by `calozoo.evaluation.plots.plot_observable`.",
        "",
    ]
    for name in DRAWN_OBSERVABLES:
        lines += [f"![{name}]({(images / f'{name}.png').as_posix()})", ""]
    return lines[:-1]


def speed_lines(speed: dict, labels: list[str], images: Path) -> list[str]:
    """The speed section: the table per energy, the mean speed-ups next to the paper's."""
    b = speed["batch_size"]
    load = speed["load_average_before"], speed["load_average_after"]
    lines = [
        "",
        f"Machine: {speed['cpu']}, {speed['cores']} cores (load average "
        f"{load[0][0]:.2f} before, {load[1][0]:.2f} after the timing), Python {speed['python']}, "
        f"torch {speed['torch']}. One thread: torch, numba and the BLAS/OpenMP pools limited to one. "
        f"Median (best) ms per shower: each model over {_times(speed['batch_calls'], 'call')} of {b} showers "
        f"without projection, and over {_times(speed['single_calls'], 'single-shower call')} followed by "
        f"`{speed['geometry']}.project` (timed together); the reference MC (`reference-mc`, "
        f"transport in `ild-ecal-regular` and preprocessing into training points, then the same "
        f"projection) over {_times(speed['reference_mc_showers'], 'shower')}, one per call. The calls of all "
        "of them are interleaved, after a warm-up.",
        "",
        "| energy [GeV] | "
        + " | ".join(f"{label} batch {b} | {label} batch 1 + proj." for label in labels)
        + " | reference MC | reference MC + proj. | points / shower ("
        + ", ".join(labels)
        + ", ref.) |",
        "|---|" + "---|---|" * len(labels) + "---|---|---|",
    ]
    for r in speed["rows"]:
        cells = []
        for label in labels:
            m = r["models"][label]
            cells += [
                f"{m['batch_ms_median']:.2f} ({m['batch_ms_min']:.2f})",
                f"{m['single_projected_ms_median']:.2f} ({m['single_projected_ms_min']:.2f})",
            ]
        mc = r["reference_mc"]
        cells += [
            f"{mc['points_ms_median']:.1f} ({mc['points_ms_min']:.1f})",
            f"{mc['projected_ms_median']:.1f} ({mc['projected_ms_min']:.1f})",
            " / ".join(f"{r['models'][label]['mean_points']:.0f}" for label in labels)
            + f" / {mc['mean_points']:.0f}",
        ]
        lines.append(f"| {r['energy_gev']:g} | " + " | ".join(cells) + " |")

    what = {
        "batch": (f"batch {b}, no projection", "speedup_cc2_cc3_batch100"),
        "single_projected": ("batch 1 + projection (as in a simulation)", "speedup_cc2_cc3_full_simulation"),
        "reference_mc": ("reference MC + projection / model batch 1 + projection", "speedup_geant4_cc3"),
        "reference_mc_points": (f"reference MC training points / model batch {b}", None),
    }
    lines += [
        "",
        "Speed-ups: ratio of the median times, averaged over the energies (per energy in brackets). "
        "The paper's numbers are CaloClouds2 / CaloClouds3 and GEANT4 / CaloClouds3; its "
        "'full simulation' is the models inside the ILD simulation (DDFastShowerML) with "
        "projection, against GEANT4. Our reference MC is no GEANT4: it is much faster (see "
        "[caloclouds3.md](caloclouds3.md#speed)), so its speed-ups are far smaller.",
        "",
        "| speed-up | what | ours: mean (per energy) | paper |",
        "|---|---|---|---|",
    ]
    for entry in speed["speedups"]:
        text, paper_key = what[entry["kind"]]
        pair = (entry["numerator"], entry["denominator"])
        is_paper_pair = pair == ("caloclouds2", "caloclouds3") or (
            entry["numerator"] == "reference MC" and entry["denominator"] == "caloclouds3"
        )
        paper = f"≈ {PAPER[paper_key]:g}" if paper_key and is_paper_pair else "–"
        per_energy = ", ".join(f"{v:.1f}" for v in entry["per_energy"])
        lines.append(
            f"| {entry['numerator']} / {entry['denominator']} | {text} | "
            f"**{entry['mean']:.2f}×** ({per_energy}) | {paper} |"
        )
    lines += [
        "",
        "The paper's absolute times (ms per shower, one thread): batch 100 in Python "
        + ", ".join(f"{k} {v}" for k, v in PAPER["batch100_python_ms"].items())
        + "; full simulation "
        + ", ".join(f"{k} {v}" for k, v in PAPER["full_simulation_ms"].items())
        + ".",
        "",
        f"![time per shower versus energy]({(images / 'time_per_shower.png').as_posix()})",
    ]
    return lines


def page(out: dict, result, labels: list[str]) -> list[str]:
    """The whole Markdown page."""
    ref = out["reference"]
    settings = ref["simulate_settings"]
    made = "an unknown command (no `reference-mc.json` beside the shards)"
    if settings:
        energies = settings.get("energy_gev")
        energies = energies if isinstance(energies, list) else [] if energies is None else [energies]
        made = (
            f"`calozoo simulate DIR -n {settings.get('n_showers')} "
            f"--preset {settings.get('preset') or 'none'}"
            + "".join(
                f" --energy {e:g}" if isinstance(e, float | int) else f" --energy {e}" for e in energies
            )
            + f" --seed {settings.get('seed')}`"
        )
    lines = [
        "# CaloClouds2 versus CaloClouds3 on our data",
        "",
        "The CaloClouds3 paper's comparison of CaloClouds2 with CaloClouds3 (its Table 2 and "
        "Figure 14), reproduced with our models and our reference Monte Carlo. Regenerate this "
        "page, its figures and `compare-caloclouds.json` (every number) with one command:",
        "",
        "```bash",
        "calozoo simulate DIR -n 4000 --preset cc2-training --seed 22 --physics-version 2   "
        "# the reference, once",
        "python benchmarks/compare_caloclouds.py --reference DIR [--seeds 3] "
        "[--models caloclouds2 caloclouds3]",
        "```",
        "",
    ]
    if out["development"]:
        lines += [f"**Development run ({out['development']}): these numbers are no result.**", ""]
    lines += [
        f"This run ({out['date']}, calozoo {out['calozoo_version']}, {out['wall_s']:.0f} s): "
        f"reference `{ref['path']}` made by {made}; {ref['n_showers']} photons at normal incidence "
        f"between {ref['incident_energy_gev']['min']:.1f} and {ref['incident_energy_gev']['max']:.1f} GeV "
        f"(of {ref['showers_read']} read; cut to {ref['energy_range_gev'][0]:g}-"
        f"{ref['energy_range_gev'][1]:g} GeV"
        + (f", {ref['limit']} drawn at random" if ref["limit"] else "")
        + ").",
        "",
        "| model | registered as | what it accepts | seeds | generation, ms per shower |",
        "|---|---|---|---|---|",
    ]
    for label in labels:
        m = out["models"][label]
        per_shower = (
            1e3 * np.mean(m["generation_s"]) / max(ref["n_showers"], 1) if m["generation_s"] else None
        )
        lines.append(
            f"| {label} | `{m['name']}` | {m['describe']} | {', '.join(map(str, m['seeds']))} | "
            f"{_fmt(per_shower, '.2f')} |"
        )
    if result is not None:
        lines += [
            "",
            "## Fidelity (the paper's Table 2)",
            "",
            f"Every model generates {len(out['models'][labels[0]]['seeds'])} samples with the "
            f"reference's own incident energies (batch {BATCH_SIZE}); all showers are projected into "
            f"`{GEOMETRY}` at its default incident point and compared with the reference by the "
            "evaluation suite ([evaluation.md](evaluation.md)). JSD in nats, mean over the seeds "
            "± their standard deviation, in brackets the multiple of the statistical floor (the "
            "JSD two samples of the reference of these sizes give, from bootstrap resamples); the "
            "smaller JSD in bold. FPD and KPD on the seven standardised high-level features; the "
            "classifier (gradient-boosted trees on high-level features and the energy and "
            "occupancy of every layer) AUC on held-out showers: 0.5 is indistinguishable.",
        ]
        lines += fidelity_lines(result, out["means"], labels, IMAGES)
    lines += ["", "## Speed versus incident energy (the paper's Figure 14)"]
    if out["speed"] is None:
        lines += ["", "Not measured in this run (`--no-timing`)."]
    else:
        lines += speed_lines(out["speed"], labels, IMAGES)
    return lines


# ---------------------------------------------------------------------------------- the run
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference", required=True, help="reference shards (folder of *.h5, or one file)")
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        metavar="[LABEL=]NAME",
        help="registered models, the one the others are compared against last (default: %(default)s)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="generated samples per model (default 3)")
    parser.add_argument("--limit", type=int, help="use at most this many reference showers (development)")
    parser.add_argument(
        "--energy-range",
        nargs=2,
        type=float,
        default=list(ENERGY_RANGE_GEV),
        metavar=("LOW", "HIGH"),
        help="reference showers outside this range [GeV] are dropped (default: 10 90)",
    )
    parser.add_argument("--no-classifier", action="store_true", help="skip the classifier test")
    parser.add_argument("--no-timing", action="store_true", help="skip the speed measurement")
    parser.add_argument(
        "--timing-calls",
        type=int,
        default=30,
        help="single-shower calls per model and energy, and reference MC showers (default 30)",
    )
    parser.add_argument(
        "--timing-batches", type=int, default=5, help="calls of batch 100 per model and energy (default 5)"
    )
    parser.add_argument(
        "--timing-energies",
        nargs="+",
        type=float,
        default=list(TIMING_ENERGIES_GEV),
        help="incident energies of the timing [GeV] (default: 10 30 50 70 90)",
    )
    parser.add_argument(
        "--windows",
        nargs="*",
        type=float,
        default=list(WINDOW_EDGES_GEV),
        metavar="EDGE",
        help="a reference with continuous energies is also compared in the energy windows between "
        "these edges [GeV] (default: 10 30 60 90; none: all energies only)",
    )
    parser.add_argument(
        "--docs", type=Path, default=DOCS, help="where the page, its images and the JSON go (default: docs/)"
    )
    parser.add_argument(
        "--report", type=Path, help="also write the evaluation suite's full report folder here"
    )
    args = parser.parse_args(argv)
    if args.seeds < 1 or (args.limit is not None and args.limit < 10):
        parser.error("--seeds must be at least 1 and --limit at least 10")
    run(args)


def run(args) -> dict:
    """Everything :func:`main` promises; returns the dictionary written to the JSON file."""
    import torch

    import calozoo
    from calozoo.serialization import atomic_path

    started = time.perf_counter()
    names = parse_models(args.models)
    labels = list(names)
    development = []
    if args.limit is not None:
        development.append(f"--limit {args.limit}")
    if tuple(names.values()) != DEFAULT_MODELS:
        development.append("models " + ", ".join(f"{k}={v}" for k, v in names.items()))
    if not args.no_timing and args.timing_calls < 10:
        development.append(f"--timing-calls {args.timing_calls}")
    images = args.docs / IMAGES
    torch.set_num_threads(1)
    with single_thread():
        geometry = calozoo.geometry(GEOMETRY)
        models = {label: calozoo.load(name) for label, name in names.items()}
        reference, reference_info = read_reference(args.reference, args.energy_range, args.limit, geometry)
        result, means, seconds = fidelity(
            models, reference, geometry, args.seeds, not args.no_classifier, args.windows
        )
        speed = None
        if not args.no_timing:
            speed = measure_speed(
                models, geometry, args.timing_energies, args.timing_calls, args.timing_batches, BATCH_SIZE
            )

    from calozoo.evaluation.plots import plot_observable

    images.mkdir(parents=True, exist_ok=True)
    for name in DRAWN_OBSERVABLES:
        # Drawn beside the figure (matplotlib needs the .png suffix), then moved onto it.
        tmp = images / f".{name}.partial.png"
        plot_observable(result, name, tmp)
        os.replace(tmp, images / f"{name}.png")
    if speed is not None:
        plot_speed(speed, labels, images / "time_per_shower.png")
    if args.report is not None:
        from calozoo.evaluation import write_report

        write_report(result, args.report)

    out = {
        "settings": {k: v.name if isinstance(v, Path) else v for k, v in vars(args).items()},  # names only
        "date": datetime.date.today().isoformat(),
        "calozoo_version": calozoo.__version__,
        "development": "; ".join(development),
        "geometry": GEOMETRY,
        "direction": list(DIRECTION),
        "reference": reference_info,
        "models": {
            label: {
                "name": names[label],
                "describe": models[label].describe(),
                "seeds": [SEED_BASE + 100 * m + s for s in range(args.seeds)],
                "generation_s": seconds[label],
            }
            for m, label in enumerate(labels)
        },
        "means": means,
        "evaluation": result.to_dict(histograms=False),
        "speed": speed,
        "paper": PAPER,
    }
    out["wall_s"] = time.perf_counter() - started
    lines = page(out, result, labels)
    with atomic_path(args.docs / JSON_NAME) as tmp:
        tmp.write_text(json.dumps(out, indent=1, allow_nan=False) + "\n")
    with atomic_path(args.docs / PAGE) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\n(written: {args.docs / PAGE}, {args.docs / JSON_NAME}, figures in {images})")
    return out


if __name__ == "__main__":
    main()
