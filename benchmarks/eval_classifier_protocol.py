"""The classifier protocol and the distortion suite, measured: what docs/evaluation.md quotes.

    python benchmarks/eval_classifier_protocol.py

On toy-gamma showers in an ILD-like planar geometry (as tests/test_evaluation.py): the classifier
AUC of 1,000 showers against themselves and of two independent samples of 5,000 (10 and 20 GeV),
for three seeds each; then the distortion suite (an independent sample and four distorted copies
of further independent samples, 300 showers at each of 10, 50 and 100 GeV against a reference of
the same size) with JSD over its floor and the classifier AUC. Writes the block between the
``classifier-protocol`` markers in docs/evaluation.md.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "evaluation.md"
START, END = "<!-- classifier-protocol:start -->", "<!-- classifier-protocol:end -->"
COLUMNS = ("visible_energy", "cell_energy", "energy_per_layer", "occupancy", "occupancy_per_layer", "cog_x")


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_evaluation import ild_like, toy_showers

    from calozoo.evaluation import evaluate, shower_features
    from calozoo.evaluation.comparison import classify_features
    from calozoo.evaluation.distortions import empty_layer, scale_energies, shift_points, thin_hits
    from calozoo.interfaces import CellHits

    geometry = ild_like()

    first = shower_features(toy_showers(11, (10.0, 20.0), 2500), geometry)
    second = shower_features(toy_showers(12, (10.0, 20.0), 2500), geometry)
    copy = first.subset(np.arange(1000) * 5)
    itself = [classify_features(copy, copy, seed=seed) for seed in range(3)]
    independent = [classify_features(first, second, seed=seed) for seed in range(3)]

    thinned = thin_hits(geometry.project(toy_showers(7)).showers, 0.10, seed=1)
    models = {
        "independent sample": toy_showers(2),
        "energies × 1.05": scale_energies(toy_showers(3), 1.05),
        "points shifted 2 mm in x": shift_points(toy_showers(4), dx_mm=2.0),
        "layer 10 emptied": empty_layer(toy_showers(5), 10),
        "cell hits thinned by 10 %": CellHits(thinned, np.zeros(thinned.points.shape[:2], dtype=np.int64)),
    }
    result = evaluate(models, toy_showers(1), geometry, n_bootstrap=20, seed=0)

    lines = [
        f"Measured {date.today().isoformat()} by `python benchmarks/eval_classifier_protocol.py`.",
        "",
        "| classifier test | seed 0 | seed 1 | seed 2 |",
        "|---|---|---|---|",
        "| 1,000 showers against themselves | " + " | ".join(f"{r['auc']:.3f}" for r in itself) + " |",
        "| 5,000 against 5,000 independent | "
        + " | ".join(f"{r['auc']:.3f} ± {r['auc_error']:.3f}" for r in independent)
        + " |",
        "",
        f"Distortion suite, all energies (900 showers per sample), JSD (× {result.settings['floor']} floor) "
        "and the classifier AUC:",
        "",
        "| sample | " + " | ".join(COLUMNS) + " | AUC |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for name in models:
        cells = []
        for obs in COLUMNS:
            d = result.jsd(obs, name)
            text = f"{d['mean']:.1e} ({d['ratio_to_floor']:.1f})"
            cells.append(f"**{text}**" if d["ratio_to_floor"] > 5 else text)
        auc = result.classifier[name]["auc"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {auc['mean']:.3f} ± {auc['error']:.3f} |")
    text = "\n".join(lines)
    print(text)
    page = DOCS.read_text()
    head, rest = page.split(START, 1)
    DOCS.write_text(head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1])


if __name__ == "__main__":
    main()
