"""The report folder: PNG plots, ``results.json`` with every number, ``index.md`` and ``index.html``.

The page is built once as a list of blocks (headings, paragraphs, tables, images) and written
twice, as Markdown and as self-contained HTML (no scripts, no network), so both always agree.
The folder appears atomically: an interrupted run leaves the previous report untouched.
"""

from __future__ import annotations

import datetime
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..serialization import atomic_folder
from .comparison import EvaluationResult
from .observables import OBSERVABLES

__all__ = ["write_report", "check_report_folder", "FLAG_RATIO"]

#: A divergence this many times its statistical floor is shown in bold: the model misses there.
FLAG_RATIO = 5.0


@dataclass
class _Strong:
    text: str


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}e}"


def _pm(summary: dict, scale: float = 1.0) -> str:
    return f"{_fmt(summary['mean'] * scale)} ± {_fmt(summary['error'] * scale, 1)}"


def _ratio(d: dict) -> float:
    ratio = d.get("ratio_to_floor")
    return float("nan") if ratio is None else ratio


def _distance_cell(d: dict, scale: float = 1.0):
    ratio = _ratio(d)
    text = f"{_pm(d, scale)} ({ratio:.1f}×)" if np.isfinite(ratio) else _pm(d, scale)
    return _Strong(text) if ratio > FLAG_RATIO else text


def _floor_cell(d: dict, scale: float = 1.0) -> str:
    return f"{_fmt(d['floor'] * scale)} ± {_fmt(d.get('floor_error', np.nan) * scale, 1)}"


def _mean_cell(d: dict, scale: float = 1.0):
    return _Strong(_fmt(d["mean"] * scale)) if _ratio(d) > FLAG_RATIO else _fmt(d["mean"] * scale)


def jsd_scale(result: EvaluationResult) -> tuple[float, str]:
    """Factor and unit name the divergences are shown in (``results.json`` always holds nats)."""
    return (1 / np.log(2.0), "bits") if result.settings.get("jsd_units") == "bits" else (1.0, "nats")


# ---------------------------------------------------------------------------------- the page
def _blocks(result: EvaluationResult, images: dict[str, str]) -> list[tuple]:
    models = list(result.models)
    geometry = result.geometry
    ref = result.reference
    fixed = [s for s in result.slices if s.energy_gev is not None]
    energies = ref["incident_energy_gev"]
    scale, unit = jsd_scale(result)
    floor_text = result.settings.get("floor_definition", "")
    blocks: list[tuple] = [
        ("h1", "calozoo evaluation"),
        (
            "list",
            [
                f"geometry: {geometry['name']} ({geometry['n_layers']} layers, cells "
                f"{geometry['cell_size_mm']} mm, threshold {geometry['threshold_mev']:g} MeV)",
                f"reference: {ref['n_showers']} showers, {energies['min']:g}-{energies['max']:g} GeV"
                + (
                    f" at fixed energies {', '.join(f'{e:g}' for e in energies['fixed'])}"
                    if energies["fixed"]
                    else ""
                ),
                *[
                    f"{name}: {len(sizes)} sample(s) of {', '.join(str(n) for n in sizes)} showers"
                    for name, sizes in result.models.items()
                ],
                *[f"{label}: {value}" for label, value in result.inputs.items()],
                f"calozoo {_version()}, written {datetime.date.today().isoformat()}",
            ],
        ),
        *([("h2", "Warnings"), ("list", list(result.warnings))] if result.warnings else []),
        (
            "p",
            f"Divergences are Jensen-Shannon divergences in {unit} "
            + ("(log base 2, at most 1) " if unit == "bits" else "(natural log, at most ln 2 = 0.693) ")
            + "between normalised histograms with fixed bins (underflow and overflow included, empty "
            "bins set to 1e-10). Errors are the standard deviation over a model's samples (seeds), or "
            "a bootstrap of its one sample. "
            f"The statistical floor used here ({result.settings.get('floor', 'bootstrap')}) is {floor_text}. "
            f"(n×) is the divergence over its floor, in bold above {FLAG_RATIO:g}×. All numbers (in nats), "
            "bin edges and histograms are in results.json.",
        ),
        ("h2", "Overview (all energies)"),
        ("img", images.get("overview"), "JSD over its statistical floor per observable"),
        ("h2", f"Jensen-Shannon divergence [{unit}], all energies"),
        (
            "table",
            ["observable", *models, "floor"],
            [
                [
                    obs.title,
                    *[_distance_cell(result.distances["all"][obs.name][m]["jsd"], scale) for m in models],
                    _floor_cell(result.distances["all"][obs.name][models[0]]["jsd"], scale),
                ]
                for obs in OBSERVABLES
            ],
        ),
    ]
    for model in models if fixed else []:
        blocks += [
            ("h2", f"Jensen-Shannon divergence [{unit}] versus incident energy: {model}"),
            (
                "table",
                ["observable", *[s.label for s in fixed]],
                [
                    [
                        obs.title,
                        *[
                            _distance_cell(result.distances[s.key][obs.name][model]["jsd"], scale)
                            for s in fixed
                        ],
                    ]
                    for obs in OBSERVABLES
                ],
            ),
        ]
    if "distance_vs_energy" in images:
        blocks.append(("img", images["distance_vs_energy"], "JSD versus incident energy"))
    blocks += [
        ("h2", "Separation power, all energies"),
        (
            "table",
            ["observable", *models, "floor"],
            [
                [
                    obs.title,
                    *[
                        _distance_cell(result.distances["all"][obs.name][m]["separation_power"])
                        for m in models
                    ],
                    _floor_cell(result.distances["all"][obs.name][models[0]]["separation_power"]),
                ]
                for obs in OBSERVABLES
            ],
        ),
        ("h2", "Physics distances (standardised high-level features)"),
        (
            "p",
            "Fréchet physics distance (extrapolated to infinite sample size) and kernel physics distance "
            "(unbiased MMD², polynomial kernel of degree 4), as in JetNet, on "
            + ", ".join(result.physics_distances["all"][models[0]]["features"])
            + ". Both are 0 for equal distributions; small negative values are at the floor.",
        ),
        (
            "table",
            ["energies", *[f"{m} FPD" for m in models], *[f"{m} KPD" for m in models]],
            [
                [
                    s.label,
                    *[_pm(result.physics_distances[s.key][m]["fpd"]) for m in models],
                    *[_pm(result.physics_distances[s.key][m]["kpd"]) for m in models],
                ]
                for s in result.slices
            ],
        ),
    ]
    w1 = result.wasserstein.get("all", {})
    if w1:
        from .wasserstein import W1_OBSERVABLES

        blocks += [
            ("h2", "Wasserstein-1 distances (CaloClouds II observables, standardised)"),
            (
                "p",
                "Per-shower observables standardised by the reference's mean and standard deviation; "
                "distance 1 is a shift by one standard deviation. Floor as for the divergences, scaled "
                "as the square root of the sizes' factor (a W1 distance falls as 1/sqrt(N)).",
            ),
            (
                "table",
                ["observable", *models, "floor"],
                [
                    [
                        name,
                        *[_distance_cell(w1[m][name]) if m in w1 else "n/a" for m in models],
                        _floor_cell(w1[models[0]][name]) if models[0] in w1 else "n/a",
                    ]
                    for name in W1_OBSERVABLES
                ],
            ),
        ]
        fixed_w1 = [s for s in fixed if s.key in result.wasserstein and result.wasserstein[s.key]]
        if "w1_vs_energy" in images:
            blocks.append(("img", images["w1_vs_energy"], "mean W1 versus incident energy"))
        if fixed_w1:
            blocks.append(
                (
                    "table",
                    ["mean W1 over the 26 observables", *[s.label for s in fixed_w1]],
                    [
                        [
                            m,
                            *[
                                f"{result.wasserstein[s.key][m]['mean_over_observables']:.3f} "
                                f"(floor {result.wasserstein[s.key][m]['floor_mean_over_observables']:.3f})"
                                if m in result.wasserstein[s.key]
                                else "n/a"
                                for s in fixed_w1
                            ],
                        ]
                        for m in models
                    ],
                )
            )
    if result.classifier:
        rows = []
        for m, c in result.classifier.items():
            if "skipped" in c:
                rows.append([m, "skipped", "", "", "", c["skipped"]])
                continue
            rows.append(
                [
                    m,
                    _pm(c["auc"]),
                    _fmt(c["jsd"]["mean"]),
                    _fmt(c["jsd_bits"]["mean"]),
                    f"{c['accuracy']['mean']:.3f}",
                    str(c["runs"][0]["n_test"]),
                ]
            )
        blocks += [
            ("h2", "Classifier test (all energies)"),
            (
                "p",
                "Histogram gradient boosting on the incident conditions, the high-level features and the "
                "energy and occupancy of every layer; split 60/20/20 (train/validation/test) by a hash of "
                "each shower's content (a shower and its copy share a split), balanced per incident-energy "
                "stratum, conditions taken from one canonical source, fixed seed. AUC 0.5: "
                "indistinguishable; 1: separable. The JSD is ln 2 − BCE of the test split; in bits as the "
                "CaloChallenge reports it."
                + (
                    " The twin row is the reference against its twin: the floor."
                    if "twin (floor)" in result.classifier
                    else ""
                ),
            ),
            (
                "table",
                ["sample", "ROC AUC", "JSD [nats]", "JSD [bits]", "accuracy", "test showers per class"],
                rows,
            ),
        ]
    scan = result.angle_scan["all"]
    percent = list(np.asarray(scan["percent"]))
    blocks += [
        ("h2", "Internal angle (energy-weighted PCA of the hit cells)"),
        (
            "table",
            [
                "hits used",
                "reference mean error [deg]",
                *[f"{m} mean error [deg]" for m in models],
                *[f"{m} JSD" for m in models],
            ],
            [
                [
                    f"top {p:g} %",
                    f"{scan['reference_mean_deg'][i]:.3f}",
                    *[f"{scan['models'][m]['mean_deg'][i]:.3f}" for m in models],
                    *[_fmt(scan["models"][m]["jsd"][i]) for m in models],
                ]
                for i, p in enumerate(percent)
            ],
        ),
        ("img", images.get("angle_scan"), "internal angle scan"),
    ]
    if images:
        blocks += [
            ("h2", "Distributions"),
            (
                "p",
                "Distribution on top (per shower), ratio to the reference below; bands as described above.",
            ),
        ]
    for obs in OBSERVABLES if images else []:
        blocks += [("h3", obs.title), ("img", images[obs.name], obs.title)]
    blocks += [
        ("h2", "Binning (all energies)"),
        (
            "p",
            "Fixed by the observable, the geometry and the slice's incident energy; "
            "per-slice edges in results.json.",
        ),
        (
            "table",
            ["observable", "bins", "from", "to", "unit / axis"],
            [
                [obs.title, str(len(e) - 1), f"{e[0]:.4g}", f"{e[-1]:.4g}", obs.axis_label]
                for obs in OBSERVABLES
                for e in [np.asarray(result.binning["all"][obs.name])]
            ],
        ),
    ]
    return blocks


def _version() -> str:
    from .. import __version__

    return __version__


# ---------------------------------------------------------------------------------- renderers
def _md_cell(cell) -> str:
    text = cell.text if isinstance(cell, _Strong) else str(cell)
    text = text.replace("|", "\\|")
    return f"**{text}**" if isinstance(cell, _Strong) else text


def _markdown(blocks: list[tuple]) -> str:
    lines = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "list":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines.append("| " + " | ".join(_md_cell(c) for c in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img" and block[1]:
            lines += [f"![{block[2]}]({block[1]})", ""]
    return "\n".join(lines)


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1.5em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: .25em .6em; text-align: right; }
th { background: #eee; } td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #f8f8f8; }
td strong { color: #b00; }
img { max-width: 100%; height: auto; display: block; margin: .5em 0 1em; }
"""


def _html_cell(cell, tag: str = "td") -> str:
    if isinstance(cell, _Strong):
        return f"<{tag}><strong>{html.escape(cell.text)}</strong></{tag}>"
    return f"<{tag}>{html.escape(str(cell))}</{tag}>"


def _html(blocks: list[tuple]) -> str:
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(_html_cell(c, "th") for c in block[1])
            rows = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img" and block[1]:
            body.append(f'<img src="{html.escape(block[1])}" alt="{html.escape(block[2])}" loading="lazy">')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>calozoo evaluation</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------- entry point
def check_report_folder(folder: str | os.PathLike) -> Path:
    """Refuse a report folder that exists and holds something other than an earlier report.

    Writing a report replaces the whole folder; a typo such as ``--report .`` must not delete
    a working directory.
    """
    from .checks import EvaluationInputError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise EvaluationInputError(f"report folder {folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "results.json").is_file():
        raise EvaluationInputError(
            f"report folder {folder}: exists and is not an earlier report (no results.json); writing the "
            "report would replace its contents, so choose a new or empty folder"
        )
    return folder


def write_report(
    result: EvaluationResult, folder: str | os.PathLike, *, plots: bool = True, progress: bool = False
) -> Path:
    """Write the report folder (replacing an older one atomically).

    Contents: ``results.json`` (every number, the bin edges, the histograms, the inputs and
    settings, the calozoo version), ``index.md`` and ``index.html`` (tables and figures),
    and the figures under ``plots/``: one per observable (all energies and 10, 50, 100 GeV),
    ``overview.png``, ``angle_scan.png`` and, with fixed energies, ``distance_vs_energy.png``.
    ``plots=False`` leaves the figures out (numbers and tables only, in a second).

    Returns:
        ``folder`` as a :class:`~pathlib.Path`.

    Raises:
        EvaluationInputError: ``folder`` exists and is neither empty nor an earlier report.
    """
    from tqdm.auto import tqdm

    from . import plots as figures

    folder = check_report_folder(folder)
    with atomic_folder(folder) as tmp:
        (tmp / "plots").mkdir()
        images = {"overview": "plots/overview.png", "angle_scan": "plots/angle_scan.png"}
        images.update({obs.name: f"plots/{obs.name}.png" for obs in OBSERVABLES})
        jobs = [
            ("overview", lambda p: figures.plot_overview(result, p)),
            ("angle_scan", lambda p: figures.plot_angle_scan(result, p)),
            *[(o.name, lambda p, name=o.name: figures.plot_observable(result, name, p)) for o in OBSERVABLES],
        ]
        if sum(s.energy_gev is not None for s in result.slices) >= 2:
            images["distance_vs_energy"] = "plots/distance_vs_energy.png"
            jobs.append(("distance_vs_energy", lambda p: figures.plot_distance_vs_energy(result, p)))
            images["w1_vs_energy"] = "plots/w1_vs_energy.png"
            jobs.append(("w1_vs_energy", lambda p: figures.plot_w1_vs_energy(result, p)))
        if plots:
            for key, draw in tqdm(jobs, desc="plotting", unit="figure", disable=not progress):
                draw(tmp / images[key])
        blocks = _blocks(result, images if plots else {})
        (tmp / "results.json").write_text(json.dumps(result.to_dict(), indent=1, allow_nan=False) + "\n")
        (tmp / "index.md").write_text(_markdown(blocks))
        (tmp / "index.html").write_text(_html(blocks))
    return folder
