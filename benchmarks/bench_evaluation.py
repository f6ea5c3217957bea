"""Time `calozoo evaluate` on 10,000 against 10,000 toy-gamma showers on one CPU thread.

The showers (10-100 GeV in steps of 10, 1,000 each, normal incidence) are generated first and
not timed; the timing covers what `calozoo evaluate` does after reading the files: projection
into an ILD-like geometry, the observables, every distance at all energies and in the ten
fixed-energy slices, the statistical floors (matched halves), the 26 Wasserstein distances,
and the report (plots, JSON, Markdown, HTML).
The classifier is timed separately (the requirement is for the evaluation without it).

    python benchmarks/bench_evaluation.py            # prints the result, updates docs/evaluation.md

The result replaces the block between the ``bench-evaluation`` markers in docs/evaluation.md.
"""

from __future__ import annotations

import os

# One thread for every numerical library, set before numpy is imported.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from machine import cpu_name  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "evaluation.md"
START, END = "<!-- bench-evaluation:start -->", "<!-- bench-evaluation:end -->"
ENERGIES_GEV = np.arange(10.0, 101.0, 10.0)
LIMIT_S = 120.0


def ild_like_geometry():
    from calozoo.layered import PlanarGeometry

    return PlanarGeometry(np.arange(30) * 6.5 + 6.8, cell_size_mm=5.08833, threshold_mev=0.1, name="ild-like")


def run(n_per_energy: int = 1000) -> dict:
    import calozoo
    from calozoo.evaluation import evaluate, write_report
    from calozoo.evaluation.classifier import classifier_test
    from calozoo.evaluation.features import shower_features

    model = calozoo.load("toy-gamma")
    energies = np.repeat(ENERGIES_GEV, n_per_energy)
    reference = model.sample(energies, seed=1)
    generated = model.sample(energies, seed=2)
    geometry = ild_like_geometry()

    start = time.perf_counter()
    result = evaluate(generated, reference, geometry, classifier=False)
    evaluated = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        write_report(result, Path(folder) / "report")
        reported = time.perf_counter()
        n_figures = len(list((Path(folder) / "report" / "plots").glob("*.png")))

    # The classifier on its own, on the same showers (projected again: not part of the total).
    ref_features = shower_features(reference, geometry)
    gen_features = shower_features(generated, geometry)
    classifier_start = time.perf_counter()
    auc = classifier_test(
        ref_features.classifier_inputs(),
        gen_features.classifier_inputs(),
        reference_energy_gev=ref_features.incident_energy_gev,
        generated_energy_gev=gen_features.incident_energy_gev,
        n_conditions=ref_features.N_CONDITIONS,
    )
    classifier_s = time.perf_counter() - classifier_start
    jsd = {name: result.jsd(name)["mean"] for name in ("visible_energy", "cell_energy", "energy_per_layer")}
    return {
        "n_showers": len(reference),
        "n_slices": len(result.slices),
        "evaluate_s": evaluated - start,
        "report_s": reported - evaluated,
        "total_s": reported - start,
        "n_figures": n_figures,
        "classifier_s": classifier_s,
        "auc": auc["auc"],
        "auc_error": auc["auc_error"],
        "jsd": jsd,
        "mean_cells": float(ref_features.scalars["occupancy"].mean()),
    }


def markdown(row: dict) -> str:
    verdict = "within" if row["total_s"] < LIMIT_S else "OVER"
    jsd = ", ".join(f"{name} {value:.1e}" for name, value in row["jsd"].items())
    return "\n".join(
        [
            START,
            f"Measured {date.today().isoformat()} on {cpu_name()}, one thread, Python "
            f"{platform.python_version()}, by `python benchmarks/bench_evaluation.py`: "
            f"{row['n_showers']:,} against {row['n_showers']:,} toy-gamma showers "
            f"(10-100 GeV in steps of 10, {row['mean_cells']:.0f} hit cells per shower on average), "
            f"{row['n_slices']} energy slices, ILD-like geometry.",
            "",
            "| step | time [s] |",
            "|---|---|",
            "| projection, observables, distances, floors (`evaluate`, no classifier) | "
            f"{row['evaluate_s']:.1f} |",
            f"| report: {row['n_figures']} figures, JSON, Markdown, HTML (`write_report`) | "
            f"{row['report_s']:.1f} |",
            f"| **total** ({verdict} the {LIMIT_S:.0f} s budget) | **{row['total_s']:.1f}** |",
            f"| classifier test alone (not in the total) | {row['classifier_s']:.1f} |",
            "",
            f"Two independent samples: classifier AUC {row['auc']:.3f} ± {row['auc_error']:.3f} "
            f"({row['n_showers'] // 5:,} test showers per class); JSD {jsd}.",
            END,
        ]
    )


def write_docs(block: str) -> None:
    from calozoo.serialization import atomic_path

    text = DOCS.read_text() if DOCS.exists() else ""
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with atomic_path(DOCS) as tmp:
        tmp.write_text(text)


def main() -> None:
    row = run()
    block = markdown(row)
    print(block)
    if "--no-docs" not in sys.argv:
        write_docs(block)


if __name__ == "__main__":
    main()
