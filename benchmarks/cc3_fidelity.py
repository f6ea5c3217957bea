"""CaloClouds3 against the reference Monte Carlo at normal incidence, in the ILD barrel.

Regenerates ``docs/caloclouds3-fidelity.md`` (tables), the figures under
``docs/images/caloclouds3/`` and the reference summary the plugin's fidelity test uses
(``plugins/caloclouds3/tests/reference_barrel_50gev.json``)::

    calozoo simulate test-set -n 6000 --preset none --energy 10 --energy 50 --energy 100 --seed 2 \
        --physics-version 2
    python benchmarks/cc3_fidelity.py --reference test-set [--model FOLDER] [--seeds 3]

For each incident energy in the reference: CaloClouds3 generates as many showers (with
``--seeds`` different seeds), both samples are projected into ``ild-ecal-barrel`` at its default
incident point, and the means of visible energy, occupancy, radial width and the longitudinal
profile are compared; the evaluation suite's JSDs (with floors and seed errors), FPD/KPD and the
classifier AUC come from :func:`calozoo.evaluation.evaluate`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
IMAGES = DOCS / "images" / "caloclouds3"
TEST_REFERENCE = ROOT / "plugins" / "caloclouds3" / "tests" / "reference_barrel_50gev.json"
GEOMETRY = "ild-ecal-barrel"
TABLE_OBSERVABLES = (
    "visible_energy",
    "cell_energy",
    "occupancy",
    "energy_per_layer",
    "energy_per_radius",
    "cog_x",
    "cog_y",
    "cog_z",
)


def cell_means(showers, geometry) -> dict:
    """Means after projection: visible energy, occupancy, radial width, energy per layer."""
    from calozoo_caloclouds3.calibration import summarise_cells

    summary = summarise_cells(showers, geometry)
    cells = geometry.project(showers).showers
    layer = np.floor(cells.points[..., 2]).astype(int)
    profile = [float((cells.points[..., 3] * (layer == i)).sum(1).mean()) for i in range(geometry.n_layers)]
    return {**summary.to_dict(), "layer_energy_mev": profile, "n_showers": len(showers)}


def run(reference_path: str, model_path: str | None, seeds: int, n_max: int | None) -> dict:
    import torch

    import calozoo
    from calozoo.evaluation import evaluate, write_report
    from calozoo.io import read_showers
    from calozoo.showers import concatenate

    torch.set_num_threads(1)
    from calozoo_engine.data import data_files

    reference = concatenate([read_showers(f) for f in data_files(reference_path)])
    if np.any(np.abs(reference.direction[:, 2] - 1) > 1e-6):
        raise SystemExit("the reference must be at normal incidence (0, 0, 1)")
    model = calozoo.load("caloclouds3", path=model_path)
    geometry = calozoo.geometry(GEOMETRY)
    energies = np.unique(reference.incident_energy_gev)
    picked = []
    for energy in energies:
        index = np.flatnonzero(reference.incident_energy_gev == energy)
        picked.append(index if n_max is None else index[:n_max])
    reference = reference[np.concatenate(picked)]
    samples, timing = [], {}
    for seed in range(seeds):
        start = time.perf_counter()
        samples.append(model.sample(reference.incident_energy_gev, seed=1000 + seed, batch_size=100))
        timing[seed] = time.perf_counter() - start
    per_energy = {}
    for energy in energies:
        ref = reference[reference.incident_energy_gev == energy]
        gen = samples[0][samples[0].incident_energy_gev == energy]
        per_energy[f"{energy:g}"] = {
            "reference": cell_means(ref, geometry),
            "caloclouds3": cell_means(gen, geometry),
        }
    result = evaluate({"caloclouds3": samples}, reference, geometry, energies_gev=energies, seed=0)
    write_report(result, DOCS / "reports" / "caloclouds3")
    return {"per_energy": per_energy, "evaluation": result, "seconds": timing, "model": model}


def plots(per_energy: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    from calozoo.serialization import atomic_path

    plt.style.use(mplhep.style.CMS)
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    layers = np.arange(30) + 0.5
    for (energy, pair), colour in zip(per_energy.items(), ("C0", "C1", "C2")):
        ref = np.array(pair["reference"]["layer_energy_mev"])
        gen = np.array(pair["caloclouds3"]["layer_energy_mev"])
        ax.step(layers, ref, where="mid", color=colour, label=f"reference MC {energy} GeV")
        ax.plot(layers, gen, "o", color=colour, ms=4, label=f"CaloClouds3 {energy} GeV")
        with np.errstate(divide="ignore", invalid="ignore"):
            rax.plot(layers, gen / ref, "o-", color=colour, ms=3)
    ax.set_yscale("log")
    ax.set_ylabel("mean energy per layer [MeV]")
    ax.legend(fontsize=11, ncol=2)
    rax.axhline(1, color="k", lw=1)
    rax.set_ylim(0.7, 1.3)
    rax.set_ylabel("CC3 / MC")
    rax.set_xlabel("layer")
    mplhep.label.exp_text("calozoo", "ild-ecal-barrel, normal incidence", ax=ax, loc=0)
    with atomic_path(IMAGES / "longitudinal_profile.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def markdown(out: dict) -> list[str]:
    model = out["model"]
    result = out["evaluation"]
    lines = [
        "# CaloClouds3 versus the reference Monte Carlo (generated)",
        "",
        "Written by `python benchmarks/cc3_fidelity.py` (see its docstring for the command). "
        "Normal incidence, "
        f"projected into `{GEOMETRY}` at its default incident point. Calibration of the model: "
        f"f_occ = {model.occupancy_factor:.4f}, widening = {model.widening:.4f}, "
        f"f_E = {model.energy_factor:.4f}.",
        "",
        "## Means after projection",
        "",
        "| E [GeV] | visible energy [MeV] MC / CC3 (ratio) | occupancy [cells] MC / CC3 (ratio) "
        "| radial width [mm] MC / CC3 (ratio) "
        "| profile: energy-weighted mean deviation "
        "| profile: max deviation, layers with ≥ 1 % of the energy |",
        "|---|---|---|---|---|---|",
    ]
    for energy, pair in out["per_energy"].items():
        ref, gen = pair["reference"], pair["caloclouds3"]
        cells = []
        for key in ("visible_energy_mev", "occupancy", "radial_width_mm"):
            cells.append(f"{ref[key]:.1f} / {gen[key]:.1f} ({gen[key] / ref[key]:.3f})")
        rp, gp = np.array(ref["layer_energy_mev"]), np.array(gen["layer_energy_mev"])
        share = rp / rp.sum()
        deviation = np.abs(gp / np.where(rp > 0, rp, np.nan) - 1)
        mean_dev = np.nansum(share * deviation)
        worst = np.max(deviation[share >= 0.01])
        lines.append(f"| {energy} | {' | '.join(cells)} | {100 * mean_dev:.1f} % | {100 * worst:.1f} % |")
    lines += [
        "",
        "![longitudinal profile](images/caloclouds3/longitudinal_profile.png)",
        "",
        "## Distances (evaluation suite)",
        "",
        "JSD in nats, mean ± spread over the generator seeds; "
        "the floor is the JSD between two halves of the reference matched in conditions "
        "(matched-halves); FPD/KPD on the standardised high-level features. Full report: "
        "[reports/caloclouds3/index.md](reports/caloclouds3/index.md).",
        "",
        "| slice | " + " | ".join(TABLE_OBSERVABLES) + " | FPD | KPD |",
        "|---" * (len(TABLE_OBSERVABLES) + 3) + "|",
    ]
    for key, table in result.distances.items():
        row = []
        for name in TABLE_OBSERVABLES:
            d = table.get(name, {}).get("caloclouds3")
            row.append(
                "-"
                if d is None
                else f"{d['jsd']['mean']:.4f} ± {d['jsd']['error']:.4f} (floor {d['jsd']['floor']:.4f})"
            )
        phys = result.physics_distances.get(key, {}).get("caloclouds3", {})
        fpd = phys.get("fpd", {})
        kpd = phys.get("kpd", {})
        row.append(f"{fpd.get('mean', float('nan')):.4f}")
        row.append(f"{kpd.get('mean', float('nan')):.5f}")
        lines.append(f"| {key} | " + " | ".join(row) + " |")
    if result.classifier:
        auc = result.classifier["caloclouds3"]["auc"]
        lines += [
            "",
            f"Classifier test (gradient-boosted trees on high-level features): "
            f"AUC = {auc['mean']:.3f} ± {auc['error']:.3f}.",
        ]
    return lines


def physics_version(reference_path: str) -> int:
    """The reference MC physics version of a data set folder (1 before versions were recorded)."""
    manifest = Path(reference_path) / "reference-mc.json"
    return json.loads(manifest.read_text()).get("physics_version", 1) if manifest.exists() else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference", required=True, help="normal-incidence reference set (file or folder of shards)"
    )
    parser.add_argument("--model", help="model folder (default: the shipped weights)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, help="at most this many reference showers per energy")
    parser.add_argument(
        "--no-test-reference", action="store_true", help="leave the plugin test's reference file alone"
    )
    args = parser.parse_args()
    from calozoo.serialization import atomic_path

    out = run(args.reference, args.model, args.seeds, args.n)
    plots(out["per_energy"])
    lines = markdown(out)
    with atomic_path(DOCS / "caloclouds3-fidelity.md") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    if not args.no_test_reference and "50" in out["per_energy"]:
        version = physics_version(args.reference)
        reference = dict(out["per_energy"]["50"]["reference"], physics_version=version)
        with atomic_path(TEST_REFERENCE) as tmp:
            Path(tmp).write_text(json.dumps(reference, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
