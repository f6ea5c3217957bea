"""Floors that mean what they say: CaloClouds3 against a random-angle reference with a twin.

Makes the numbers of the "Matched-condition floors" section of docs/evaluation.md::

    calozoo simulate ref -n 1800 --preset cc3-training --energy 10 --energy 50 --energy 100 --seed 31 \
        --physics-version 2
    calozoo simulate twin --like ref --seed 32 --physics-version 2
    python benchmarks/eval_matched_floors.py --reference ref --twin twin [--seeds 3]

The reference holds photons at 10, 50 and 100 GeV with the directions of the CaloClouds3
training preset (random angles); the twin has the same per-shower conditions and another seed.
The shipped CaloClouds3 generates one shower per reference shower with the same conditions
(``--seeds`` generator seeds). Everything is projected into ``ild-ecal-barrel`` at its default
incident point and compared three times, once per floor (twin, matched halves, bootstrap); the
classifier runs once. Also measured: the classifier for the reference against itself (first
1,000 showers) and against the twin, and the time a cached reference saves.

Writes the block between the ``matched-floors`` markers in docs/evaluation.md and every number
to docs/evaluation-matched-floors.json.

Candidates side by side (twin floor and classifier only; nothing in docs/ is written)::

    python benchmarks/eval_matched_floors.py --reference ref --twin twin \
        --compare shipped= --compare new=run/model [--json candidates.json]

``LABEL=FOLDER`` (an empty folder: the shipped weights) prints each observable's JSD over the
twin floor per energy slice (± the JSD's standard deviation over the generator seeds, in the
same units) and each candidate's classifier AUC.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "evaluation.md"
JSON_OUT = ROOT / "docs" / "evaluation-matched-floors.json"
START, END = "<!-- matched-floors:start -->", "<!-- matched-floors:end -->"
GEOMETRY = "ild-ecal-barrel"
TABLE = (
    "visible_energy",
    "cell_energy",
    "energy_per_layer",
    "energy_per_radius",
    "occupancy",
    "occupancy_per_layer",
    "occupancy_per_radius",
    "cog_x",
    "cog_y",
    "cog_z",
)


def compare(reference_path: Path, twin_path: Path, candidates: dict[str, str], n_seeds: int) -> dict:
    """JSD / twin floor per observable and slice, and the classifier AUC, for each candidate."""
    import calozoo
    from calozoo.evaluation import compare_features, shower_features
    from calozoo.evaluation.cli import read_sample

    geometry = calozoo.geometry(GEOMETRY)
    reference = read_sample(reference_path)
    ref_features = shower_features(reference, geometry, progress=True, label="reference")
    twin_features = shower_features(read_sample(twin_path), geometry, progress=True, label="twin")
    samples = {}
    for label, folder in candidates.items():
        model = calozoo.load("caloclouds3", path=folder or None)
        samples[label] = [
            shower_features(
                model.sample(
                    reference.incident_energy_gev, reference.direction, pdg=reference.pdg, seed=seed
                ),
                geometry,
                label=f"{label} #{seed}",
            )
            for seed in range(1, n_seeds + 1)
        ]
    result = compare_features(
        ref_features,
        samples,
        geometry,
        twin=twin_features,
        floor="twin",
        classifier=True,
        seed=0,
        progress=True,
    )
    out = {"candidates": candidates, "n_seeds": n_seeds, "ratio": {}, "ratio_error": {}, "auc": {}}
    for label in candidates:
        out["auc"][label] = result.classifier[label]["auc"]
        for key, field in (("ratio", "mean"), ("ratio_error", "error")):
            out[key][label] = {
                s.key: {
                    name: result.distances[s.key][name][label]["jsd"][field]
                    / max(result.distances[s.key][name][label]["jsd"]["floor"], 1e-12)
                    for name in TABLE
                }
                for s in result.slices
            }
    return out


def compare_markdown(data: dict) -> str:
    labels = list(data["candidates"])
    slices = list(data["ratio"][labels[0]])
    lines = ["| observable | slice | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for name in TABLE:
        for key in slices:
            cells = [
                f"{data['ratio'][label][key][name]:.1f} ± {data['ratio_error'][label][key][name]:.1f}×"
                for label in labels
            ]
            lines.append(f"| {name} | {key} | " + " | ".join(cells) + " |")
    auc = [f"{a['mean']:.3f} ± {a['error']:.3f}" for a in (data["auc"][label] for label in labels)]
    lines.append("| classifier AUC | all | " + " | ".join(auc) + " |")
    return "\n".join(lines)


def run(reference_path: Path, twin_path: Path, n_seeds: int) -> dict:
    import calozoo
    from calozoo.evaluation import compare_features, shower_features
    from calozoo.evaluation.cache import cache_key, load_features, save_features
    from calozoo.evaluation.cli import read_sample, sample_files
    from calozoo.evaluation.comparison import classify_features

    geometry = calozoo.geometry(GEOMETRY)
    # what `calozoo evaluate` does for the reference without a cache (read, project, measure) and
    # with one (hash the files, load the entry)
    started = time.perf_counter()
    reference = read_sample(reference_path)
    ref_features = shower_features(reference, geometry, progress=True, label="reference")
    measure_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        entry = save_features(Path(folder) / "reference.npz", ref_features)
        started = time.perf_counter()
        cache_key(sample_files(reference_path), {"geometry": GEOMETRY})
        load_features(entry)
        cached_s = time.perf_counter() - started
    twin = read_sample(twin_path)
    twin_features = shower_features(twin, geometry, progress=True, label="twin")

    model = calozoo.load("caloclouds3")
    samples = []
    for seed in range(1, n_seeds + 1):
        showers = model.sample(
            reference.incident_energy_gev, reference.direction, pdg=reference.pdg, seed=seed, progress=True
        )
        samples.append(shower_features(showers, geometry, progress=True, label=f"caloclouds3 #{seed}"))

    results = {}
    for floor in ("twin", "matched-halves", "bootstrap"):
        results[floor] = compare_features(
            ref_features,
            {"caloclouds3": samples},
            geometry,
            twin=twin_features,
            floor=floor,
            classifier=floor == "twin",
            seed=0,
            progress=True,
        )

    first_1000 = ref_features.subset(np.arange(min(1000, len(ref_features))))
    self_auc = [classify_features(first_1000, first_1000, seed=seed)["auc"] for seed in range(3)]
    twin_auc = [classify_features(ref_features, twin_features, seed=seed) for seed in range(3)]
    main = results["twin"]
    out = {
        "date": date.today().isoformat(),
        "n_reference": len(ref_features),
        "energies_gev": sorted({s.energy_gev for s in main.slices if s.energy_gev is not None}),
        "n_seeds": n_seeds,
        "measure_reference_s": measure_s,
        "load_cached_reference_s": cached_s,
        "self_auc": self_auc,
        "twin_auc": [r["auc"] for r in twin_auc],
        "twin_auc_error": twin_auc[0]["auc_error"],
        "classifier": {k: {"auc": v["auc"]} for k, v in main.classifier.items() if "auc" in v},
        "distances": {},
        "wasserstein_mean": {},
    }
    for s in main.slices:
        out["distances"][s.key] = {
            name: {
                "jsd": main.distances[s.key][name]["caloclouds3"]["jsd"]["mean"],
                "jsd_error": main.distances[s.key][name]["caloclouds3"]["jsd"]["error"],
                **{
                    f"floor_{floor}": results[floor].distances[s.key][name]["caloclouds3"]["jsd"]["floor"]
                    for floor in results
                },
                **{
                    f"floor_error_{floor}": results[floor].distances[s.key][name]["caloclouds3"]["jsd"][
                        "floor_error"
                    ]
                    for floor in results
                },
                "separation_power": main.distances[s.key][name]["caloclouds3"]["separation_power"]["mean"],
            }
            for name in TABLE
        }
        w1 = main.wasserstein.get(s.key, {}).get("caloclouds3")
        if w1:
            out["wasserstein_mean"][s.key] = {
                "w1": w1["mean_over_observables"],
                "floor": w1["floor_mean_over_observables"],
            }
    return out


def markdown(data: dict) -> str:
    slices = list(data["distances"])
    lines = [
        f"Measured {data['date']} by `python benchmarks/eval_matched_floors.py` (command in its docstring): "
        f"{data['n_reference']} reference showers (photons at "
        f"{', '.join(f'{e:g}' for e in data['energies_gev'])} GeV, directions of the CaloClouds3 training "
        "preset), a twin with the same per-shower conditions, the shipped CaloClouds3 with the same "
        f"conditions ({data['n_seeds']} seeds), all projected into `{GEOMETRY}`.",
        "",
        "**Floors side by side** (JSD in nats; the reference's noise for samples of these sizes):",
        "",
        "| slice | observable | twin floor | matched-halves floor | bootstrap floor | bootstrap / twin |",
        "|---|---|---|---|---|---|",
    ]
    for key in slices:
        for name, d in data["distances"][key].items():
            ratio = d["floor_bootstrap"] / d["floor_twin"] if d["floor_twin"] > 0 else float("nan")
            cells = [
                f"{d[f'floor_{f}']:.2e} ± {d[f'floor_error_{f}']:.0e}" for f in ("twin", "matched-halves")
            ]
            lines.append(
                f"| {key} | {name} | {' | '.join(cells)} | {d['floor_bootstrap']:.2e} | {ratio:.1f} |"
            )
    lines += [
        "",
        "The errors are the spread of one realisation of each floor (paired resamples for the twin, "
        "random splits for the halves): the profiles' divergences are dominated by a few shower-wide "
        "fluctuations (the depth of the shower), so one twin's floor scatters by about its own size.",
    ]
    lines += [
        "",
        "**CaloClouds3 against the twin floor** "
        "(JSD ± spread over seeds / floor = JSD over floor, separation power):",
        "",
        "| observable | " + " | ".join(slices) + " |",
        "|---|" + "---|" * len(slices),
    ]
    for name in TABLE:
        cells = []
        for key in slices:
            d = data["distances"][key][name]
            ratio = d["jsd"] / d["floor_twin"] if d["floor_twin"] > 0 else float("nan")
            cells.append(
                f"{d['jsd']:.2e} ± {d['jsd_error']:.0e} / {d['floor_twin']:.1e} = **{ratio:.0f}×** "
                f"(SP {d['separation_power']:.1e})"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    w1 = data["wasserstein_mean"]
    if w1:
        lines += [
            "",
            "Mean standardised W1 over the 26 CaloClouds II observables: "
            + ", ".join(f"{k} {v['w1']:.3f} (floor {v['floor']:.3f})" for k, v in w1.items())
            + ".",
        ]
    auc = data["classifier"]
    lines += [
        "",
        f"Classifier AUC (all energies): CaloClouds3 {auc['caloclouds3']['auc']['mean']:.3f} "
        f"± {auc['caloclouds3']['auc']['error']:.3f}; reference against twin "
        f"{np.mean(data['twin_auc']):.3f} (seeds 0-2: {', '.join(f'{a:.3f}' for a in data['twin_auc'])}; "
        f"standard error {data['twin_auc_error']:.3f}); the reference's first 1,000 showers against "
        f"themselves {', '.join(f'{a:.3f}' for a in data['self_auc'])} (seeds 0-2).",
        "",
        f"Reading and measuring the reference took {data['measure_reference_s']:.1f} s; hashing its files "
        "and loading its features from the cache "
        f"{data['load_cached_reference_s']:.2f} s: a second model evaluated against the same reference "
        f"saves {data['measure_reference_s'] - data['load_cached_reference_s']:.1f} s.",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--twin", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--compare",
        action="append",
        metavar="LABEL=FOLDER",
        help="compare candidate models (an empty FOLDER: the shipped one) instead of writing docs/",
    )
    parser.add_argument("--json", type=Path, help="with --compare: write the numbers here")
    args = parser.parse_args(argv)
    if args.compare:
        candidates = dict(c.partition("=")[::2] for c in args.compare)
        data = compare(args.reference, args.twin, candidates, args.seeds)
        if args.json:
            args.json.write_text(json.dumps(data, indent=1) + "\n")
        print(compare_markdown(data))
        return
    data = run(args.reference, args.twin, args.seeds)
    JSON_OUT.write_text(json.dumps(data, indent=1) + "\n")
    text = markdown(data)
    print(text)
    page = DOCS.read_text()
    if START in page:
        head, rest = page.split(START, 1)
        page = head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1]
        DOCS.write_text(page)
    else:
        sys.exit(f"no {START} marker in {DOCS}")


if __name__ == "__main__":
    main()
