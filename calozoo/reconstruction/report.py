"""Report folders of the reconstruction benchmarks: ``results.json``, ``index.md``, ``plots/*.png``.

Every figure shows the model, the reference and the twin (the reference with other seeds: the
noise), with a ratio panel to the reference below each panel (mplhep style, as the evaluation's).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.plots import _pyplot, _style
from ..serialization import atomic_folder

__all__ = ["write_report", "summary_lines"]

_LOOK = {
    "model": {"color": "tab:red", "marker": "o", "linestyle": "-"},
    "reference": {"color": "black", "marker": "s", "linestyle": "none"},
    "twin": {"color": "tab:gray", "marker": "^", "linestyle": ":"},
}


def _labels(meta: dict[str, Any]) -> dict[str, str]:
    return {
        "model": meta.get("model", "model"),
        "reference": meta.get("reference", "reference"),
        "twin": "twin",
    }


def _panels(plt, n: int, width: float = 4.2):
    figure = plt.figure(figsize=(width * n, 4.8))
    grid = figure.add_gridspec(2, n, height_ratios=(3, 1), hspace=0.05, wspace=0.3)
    pairs = []
    for i in range(n):
        top = figure.add_subplot(grid[0, i])
        bottom = figure.add_subplot(grid[1, i], sharex=top)
        top.tick_params(labelbottom=False)
        pairs.append((top, bottom))
    return figure, pairs


def _ratio(bottom, x, values: dict, errors: dict, label: str) -> None:
    ref = np.asarray(values["reference"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        for sample in ("model", "twin"):
            r = np.asarray(values[sample], dtype=float) / ref
            e = (
                np.hypot(
                    np.asarray(errors[sample], dtype=float), np.asarray(errors["reference"], dtype=float)
                )
                / ref
            )
            look = _LOOK[sample]
            bottom.errorbar(
                x, r, yerr=np.abs(e), color=look["color"], marker=look["marker"], ms=3, ls=look["linestyle"]
            )
    bottom.axhline(1.0, color="black", lw=0.8)
    bottom.set_ylabel(label)


def _plot_linearity(result: dict, meta: dict, path: Path) -> None:
    plt = _pyplot()
    labels = _labels(meta)
    with _style():
        figure, ((lin, lin_r), (res, res_r)) = _panels(plt, 2)
        for sample, data in result["samples"].items():
            rows = data["per_energy"]
            e = [r["energy_gev"] for r in rows]
            look = _LOOK[sample]
            lin.errorbar(
                e,
                [r["mu90_over_e"] for r in rows],
                yerr=[r["mu90_over_e_err"] for r in rows],
                label=labels[sample],
                ms=4,
                **look,
            )
            res.errorbar(
                e,
                [r["resolution"] for r in rows],
                yerr=[r["resolution_err"] for r in rows],
                label=labels[sample],
                ms=4,
                **look,
            )
            fit = data["fit"]
            if math.isfinite(fit["stochastic"]):
                grid = np.geomspace(min(e), max(e), 100)
                res.plot(
                    grid,
                    np.hypot(fit["stochastic"] / np.sqrt(grid), fit["constant"]),
                    color=look["color"],
                    lw=0.8,
                    ls="--",
                )
        for key, bottom, label in (("mu90_over_e", lin_r, "/ ref."), ("resolution", res_r, "/ ref.")):
            values = {s: [r[key] for r in d["per_energy"]] for s, d in result["samples"].items()}
            errors = {s: [r[key + "_err"] for r in d["per_energy"]] for s, d in result["samples"].items()}
            _ratio(bottom, result["energies_gev"], values, errors, label)
        lin.axhline(1.0, color="black", lw=0.8)
        lin.set_ylabel(r"$\mu_{90} / E_{\gamma}$")
        res.set_ylabel(r"$\sigma_{90} / \mu_{90}$")
        for top, bottom in ((lin, lin_r), (res, res_r)):
            top.set_xscale("log")
            bottom.set_xlabel(r"$E_{\gamma}$ [GeV]")
            top.legend(frameon=False)
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)


def _plot_diphoton(result: dict, meta: dict, path: Path) -> None:
    plt = _pyplot()
    labels = _labels(meta)
    edges = np.asarray(result["distance_edges_mm"])
    centre = 0.5 * (edges[1:] + edges[:-1])
    colours = {"0": "tab:blue", "1": "tab:orange", "2": "tab:green"}
    with _style():
        figure, pairs = _panels(plt, len(result["energies_gev"]))
        for (top, bottom), (energy, samples) in zip(pairs, result["per_energy"].items()):
            for sample, data in samples.items():
                look = _LOOK[sample]
                for k, colour in colours.items():
                    top.errorbar(
                        centre,
                        data["fraction"][k],
                        yerr=data["fraction_err"][k],
                        color=colour,
                        marker=look["marker"],
                        ms=3,
                        ls=look["linestyle"],
                        label=f"{labels[sample]}, {k} γ" if sample != "twin" else None,
                    )
            values = {s: d["fraction"]["2"] for s, d in samples.items()}
            errors = {s: d["fraction_err"]["2"] for s, d in samples.items()}
            _ratio(bottom, centre, values, errors, "2 γ / ref.")
            top.set_title(f"{float(energy):g} GeV + {float(energy):g} GeV")
            top.set_ylim(0, 1.05)
            top.set_ylabel("fraction of events")
            bottom.set_xlabel(r"$d_{\gamma\gamma}$ on the ECAL face [mm]")
        pairs[0][0].legend(frameon=False, fontsize=6, ncol=1, loc="center left")
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)


def _plot_angle(result: dict, meta: dict, path: Path) -> None:
    plt = _pyplot()
    labels = _labels(meta)
    ranges = {"theta": (-4.0, 4.0), "phi": (-4.0, 4.0), "angle": (0.0, 6.0)}
    names = {
        "theta": r"$\Delta\theta$ [°]",
        "phi": r"$\Delta\phi$ [°]",
        "angle": r"angle to the true direction [°]",
    }
    with _style():
        for which in ("top4", "all"):
            figure, pairs = _panels(plt, 3)
            for (top, bottom), key in zip(pairs, ("theta", "phi", "angle")):
                bins = np.linspace(*ranges[key], 25)
                counts, errors = {}, {}
                for sample, data in result["samples"].items():
                    v = np.asarray(data[which]["values"][key], dtype=float)
                    v = v[np.isfinite(v)]
                    h, _ = np.histogram(np.clip(v, bins[0], bins[-1] - 1e-9), bins)
                    norm = max(h.sum(), 1) * np.diff(bins)
                    counts[sample], errors[sample] = h / norm, np.sqrt(h) / norm
                    look = _LOOK[sample]
                    top.stairs(
                        counts[sample],
                        bins,
                        color=look["color"],
                        ls="-" if sample != "twin" else ":",
                        label=labels[sample],
                    )
                _ratio(bottom, 0.5 * (bins[1:] + bins[:-1]), counts, errors, "/ ref.")
                bottom.set_ylim(0.0, 2.0)
                bottom.set_xlabel(names[key])
                top.set_ylabel("density")
            pairs[0][0].legend(frameon=False)
            pairs[0][0].set_title("top 4 % of hits" if which == "top4" else "all hits", loc="left")
            figure.savefig(path.with_name(f"angle-{which}.png"), dpi=110, bbox_inches="tight")
            plt.close(figure)


_PLOTS = {"linearity": _plot_linearity, "diphoton": _plot_diphoton, "angle": _plot_angle}


def _constant(fit: dict) -> str:
    """The constant term; a fit whose best constant term is negative stops at 0 (no error then)."""
    if not math.isfinite(fit["constant_err"]):
        return "0 (fit at its bound)" if fit["constant"] == 0 else f"{100 * fit['constant']:.2f} %"
    return f"({100 * fit['constant']:.2f} ± {100 * fit['constant_err']:.2f}) %"


def summary_lines(kind: str, result: dict, meta: dict) -> list[str]:
    """The report's table in Markdown."""
    labels = _labels(meta)
    lines: list[str] = []
    if kind == "linearity":
        lines += [
            "| sample | stochastic term | constant term | max. non-linearity | slope |",
            "|---|---|---|---|---|",
        ]
        for sample, data in result["samples"].items():
            fit = data["fit"]
            lines.append(
                f"| {labels[sample]} "
                f"| ({100 * fit['stochastic']:.1f} ± {100 * fit['stochastic_err']:.1f}) %/√E "
                f"| {_constant(fit)} "
                f"| {100 * data['max_nonlinearity']:.2f} % | {data['linearity_slope']:.4f} |"
            )
        lines += [
            "",
            "| E [GeV] | "
            + " | ".join(f"μ90/E {labels[s]}" for s in result["samples"])
            + " | "
            + " | ".join(f"σ90/μ90 {labels[s]}" for s in result["samples"])
            + " |",
            "|---" * (1 + 2 * len(result["samples"])) + "|",
        ]
        for i, e in enumerate(result["energies_gev"]):
            lin = [f"{d['per_energy'][i]['mu90_over_e']:.4f}" for d in result["samples"].values()]
            res = [f"{100 * d['per_energy'][i]['resolution']:.2f} %" for d in result["samples"].values()]
            lines.append(f"| {e:g} | " + " | ".join(lin + res) + " |")
    elif kind == "diphoton":
        lines += [
            "| energy | "
            + " | ".join(f"d50 {labels[s]} [mm]" for s in ("model", "reference", "twin"))
            + " |",
            "|---|---|---|---|",
        ]
        for energy, samples in result["per_energy"].items():
            cells = [
                f"{samples[s]['d50_mm']:.1f} ± {samples[s]['d50_err_mm']:.1f}"
                for s in ("model", "reference", "twin")
            ]
            lines.append(f"| {float(energy):g} + {float(energy):g} GeV | " + " | ".join(cells) + " |")
    elif kind == "angle":
        lines += [
            "| E [GeV] | hits | sample | Δθ mean ± std [°] | Δφ mean ± std [°] | angle median [°] |",
            "|---|---|---|---|---|---|",
        ]
        for which in ("top4", "all"):
            for sample, data in result["samples"].items():
                for row in data[which]["per_energy"]:
                    lines.append(
                        f"| {row['energy_gev']:g} | {'top 4 %' if which == 'top4' else 'all'} "
                        f"| {labels[sample]} "
                        f"| {row['theta_mean']:+.2f} ± {row['theta_std']:.2f} "
                        f"| {row['phi_mean']:+.2f} ± {row['phi_std']:.2f} "
                        f"| {row['angle_median']:.2f} |"
                    )
    return lines


def write_report(kind: str, result: dict, folder: str | os.PathLike, meta: dict, plots: bool = True) -> Path:
    """Write the report folder of benchmark ``kind`` atomically (an older report is replaced)."""
    titles = {
        "linearity": "Energy linearity and resolution of reconstructed photons",
        "diphoton": "Di-photon separation",
        "angle": "Internal angle of reconstructed photons",
    }
    with atomic_folder(folder) as tmp:
        (tmp / "results.json").write_text(
            json.dumps({"benchmark": kind, "meta": meta, "result": result}, indent=1)
        )
        lines = [
            f"# {titles[kind]}: {meta.get('model', 'model')} against {meta.get('reference', 'reference')}",
            "",
        ]
        lines += [f"Command: `{meta['command']}`", ""] if meta.get("command") else []
        lines += summary_lines(kind, result, meta)
        if plots:
            (tmp / "plots").mkdir()
            _PLOTS[kind](result, meta, tmp / "plots" / f"{kind}.png")
            lines += [""] + [f"![{p.stem}](plots/{p.name})" for p in sorted((tmp / "plots").glob("*.png"))]
        (tmp / "index.md").write_text("\n".join(lines) + "\n")
    return Path(folder)
