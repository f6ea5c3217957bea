"""Figures in the paper's layout: the distribution on top, the ratio to the reference below.

Every figure is drawn with mplhep's CMS style (fonts scaled down to fit several panels) on
matplotlib's Agg backend, so reports are made on machines without a display. The reference is
a grey filled histogram, each model a coloured line; the model's band is the standard deviation
over its samples (generator seeds), or the statistical error if it has only one; the grey band
around 1 in the ratio panel is the reference's statistical error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .comparison import EvaluationResult
from .observables import OBSERVABLES, Observable

__all__ = ["plot_observable", "plot_distance_vs_energy", "plot_angle_scan", "plot_overview", "shown_slices"]

#: The fixed energies the paper shows one by one (GeV); the others go into the curves.
SHOWN_ENERGIES_GEV = (10.0, 50.0, 100.0)
_RATIO_RANGE = (0.5, 1.5)
_REFERENCE_COLOUR = "0.55"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, and no window pops up
    import matplotlib.pyplot as plt

    return plt


def _style():
    """mplhep's CMS style with smaller fonts, so that panels side by side stay readable."""
    import mplhep

    plt = _pyplot()
    style = dict(mplhep.style.CMS)
    style.update(
        {
            "font.size": 11,
            "axes.labelsize": 11,
            "axes.titlesize": 12,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "legend.fontsize": 9,
            "xtick.major.size": 6,
            "ytick.major.size": 6,
            "xtick.minor.size": 3,
            "ytick.minor.size": 3,
            "xaxis.labellocation": "right",
            "yaxis.labellocation": "top",
        }
    )
    return plt.style.context(style)


def shown_slices(result: EvaluationResult) -> list[str]:
    """Keys of the slices drawn one by one: all energies, and those nearest 10, 50 and 100 GeV."""
    fixed = [s for s in result.slices if s.energy_gev is not None]
    keys = ["all"]
    for target in SHOWN_ENERGIES_GEV:
        if fixed:
            nearest = min(fixed, key=lambda s: abs(np.log(s.energy_gev / target)))
            if nearest.key not in keys:
                keys.append(nearest.key)
    return keys


def _per_shower(values: np.ndarray, n_showers: int) -> np.ndarray:
    return values[1:-1] / max(n_showers, 1)  # drop the flow bins, per shower


def _y_label(obs: Observable) -> str:
    return {"showers": "fraction of showers", "cells": "cells per shower", "MeV": "MeV per shower"}[
        obs.counts
    ]


def _draw_panel(ax, ratio_ax, result: EvaluationResult, obs: Observable, slice_key: str):
    import mplhep

    edges = np.asarray(result.binning[slice_key][obs.name])
    entry = result.histograms[slice_key][obs.name]
    ref_values = np.asarray(entry["reference"]["values"])
    n_ref = ref_values.sum() if obs.kind == "shower" else _n_showers(result, slice_key, "reference")
    ref = _per_shower(ref_values, n_ref)
    ref_error = _per_shower(np.sqrt(np.asarray(entry["reference"]["variances"])), n_ref)
    if obs.log_x:
        ax.set_xscale("log")
    if obs.log_y:
        ax.set_yscale("log")
    # The ratio is only drawn where the reference is known to better than 50 %.
    known = (ref > 0) & (ref_error < 0.5 * ref)
    content = ref > 0
    mplhep.histplot(
        ref, edges, ax=ax, histtype="fill", color=_REFERENCE_COLOUR, alpha=0.45, label="reference"
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(known, ref_error / ref, np.nan)
    ratio_ax.fill_between(
        edges,
        np.append(1 - rel, np.nan),
        np.append(1 + rel, np.nan),
        step="post",
        color=_REFERENCE_COLOUR,
        alpha=0.35,
        linewidth=0,
    )
    ratio_ax.axhline(1.0, color="0.3", linewidth=0.8)
    for i, model in enumerate(result.models):
        colour = f"C{i}"
        samples = entry[model]
        sizes = [
            np.sum(s["values"]) if obs.kind == "shower" else _n_showers(result, slice_key, model, k)
            for k, s in enumerate(samples)
        ]
        curves = np.array([_per_shower(np.asarray(s["values"]), n) for s, n in zip(samples, sizes)])
        mean = curves.mean(axis=0)
        content |= mean > 0
        if len(curves) > 1:
            band = curves.std(axis=0, ddof=1)
        else:
            band = _per_shower(np.sqrt(np.asarray(samples[0]["variances"])), sizes[0])
        jsd = result.distances[slice_key][obs.name][model]["jsd"]["mean"]
        mplhep.histplot(
            mean, edges, ax=ax, histtype="step", color=colour, linewidth=1.4, label=f"{model} (JSD {jsd:.1e})"
        )
        ax.fill_between(
            edges,
            np.append(mean - band, np.nan),
            np.append(mean + band, np.nan),
            step="post",
            color=colour,
            alpha=0.25,
            linewidth=0,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(known, mean / ref, np.nan)
            ratio_band = np.where(known, band / ref, np.nan)
        ratio_ax.stairs(ratio, edges, color=colour, linewidth=1.4, baseline=None)
        ratio_ax.fill_between(
            edges,
            np.append(ratio - ratio_band, np.nan),
            np.append(ratio + ratio_band, np.nan),
            step="post",
            color=colour,
            alpha=0.25,
            linewidth=0,
        )
    if not obs.log_y:
        ax.set_ylim(bottom=0)
    # Show the range with content (the bins themselves stay fixed): a 10 GeV shower's visible
    # energy fills a tenth of the range binned for 100 GeV.
    filled = np.flatnonzero(content)
    if len(filled):
        ax.set_xlim(edges[max(filled[0] - 1, 0)], edges[min(filled[-1] + 2, len(edges) - 1)])
    ratio_ax.set_ylim(*_RATIO_RANGE)
    ratio_ax.set_xlabel(obs.axis_label)
    ratio_ax.set_ylabel("ratio")
    ax.set_ylabel(_y_label(obs))
    ax.set_title(result.slice(slice_key).label, loc="left")
    ax.tick_params(labelbottom=False)


def _n_showers(result: EvaluationResult, slice_key: str, sample: str, index: int = 0) -> int:
    """Showers of a sample in a slice: the total of its occupancy histogram (one entry per shower)."""
    entry = result.histograms[slice_key]["occupancy"][sample]
    entry = entry if sample == "reference" else entry[index]
    return int(round(float(np.sum(entry["values"]))))


def plot_observable(
    result: EvaluationResult, name: str, path: str | os.PathLike, slices: Sequence[str] | None = None
):
    """One observable, one column per energy slice: distribution on top, ratio below."""
    from .observables import observable

    plt = _pyplot()
    obs = observable(name)
    keys = list(slices or shown_slices(result))
    with _style():
        width, height = 4.6 * len(keys), 4.6
        fig, axes = plt.subplots(
            2,
            len(keys),
            figsize=(width, height),
            squeeze=False,
            sharex="col",
            gridspec_kw={"height_ratios": (3, 1), "hspace": 0.06, "wspace": 0.38},
        )
        # Fixed margins (inches) instead of bbox_inches="tight", which draws the figure twice:
        # these figures are most of a report's run time.
        fig.subplots_adjust(
            left=0.8 / width, right=1 - 0.15 / width, bottom=0.6 / height, top=1 - 0.55 / height
        )
        for column, key in enumerate(keys):
            _draw_panel(axes[0, column], axes[1, column], result, obs, key)
        fig.suptitle(obs.title, x=0.01, y=0.995, ha="left", va="top", fontsize=13)
        # One legend for all panels, above them (the JSD quoted is that of all energies).
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="upper right", ncol=len(labels), frameon=False, bbox_to_anchor=(0.995, 1.0)
        )
        fig.savefig(path, dpi=90)
        plt.close(fig)


def plot_distance_vs_energy(result: EvaluationResult, path: str | os.PathLike, metric: str = "jsd"):
    """Each observable's distance versus incident energy (fixed-energy slices), with its floor."""
    plt = _pyplot()
    fixed = [s for s in result.slices if s.energy_gev is not None]
    energies = np.array([s.energy_gev for s in fixed])
    columns = 4
    rows = -(-len(OBSERVABLES) // columns)
    with _style():
        fig, axes = plt.subplots(
            rows,
            columns,
            figsize=(4.2 * columns, 3.0 * rows),
            squeeze=False,
            gridspec_kw={"hspace": 0.5, "wspace": 0.35},
        )
        for ax, obs in zip(axes.flat, OBSERVABLES):
            floor = [
                result.distances[s.key][obs.name][next(iter(result.models))][metric]["floor"] for s in fixed
            ]
            ax.plot(energies, floor, "--", color="0.5", label="statistical floor")
            for i, model in enumerate(result.models):
                d = [result.distances[s.key][obs.name][model][metric] for s in fixed]
                ax.errorbar(
                    energies,
                    [x["mean"] for x in d],
                    yerr=[x["error"] for x in d],
                    fmt="o-",
                    color=f"C{i}",
                    markersize=3,
                    capsize=2,
                    label=model,
                )
            ax.set_yscale("log")
            ax.set_title(obs.title, fontsize=10)
            ax.set_xlabel("incident energy [GeV]")
            ax.set_ylabel(metric.upper() if metric == "jsd" else "separation power")
        for ax in list(axes.flat)[len(OBSERVABLES) :]:
            ax.set_visible(False)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="upper center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, 0.96)
        )
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)


def plot_w1_vs_energy(result: EvaluationResult, path: str | os.PathLike):
    """The mean standardised Wasserstein-1 distance over the 26 CaloClouds II observables versus energy."""
    plt = _pyplot()
    fixed = [s for s in result.slices if s.energy_gev is not None and result.wasserstein.get(s.key)]
    with _style():
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for i, model in enumerate(result.models):
            keep = [s for s in fixed if model in result.wasserstein[s.key]]
            energies = [s.energy_gev for s in keep]
            ax.plot(
                energies,
                [result.wasserstein[s.key][model]["mean_over_observables"] for s in keep],
                "o-",
                color=f"C{i}",
                label=model,
            )
            if i == 0:
                floor = [result.wasserstein[s.key][model]["floor_mean_over_observables"] for s in keep]
                ax.plot(energies, floor, "--", color="0.5", label=f"floor ({result.settings.get('floor')})")
        ax.set_yscale("log")
        ax.set_xlabel("incident energy [GeV]")
        ax.set_ylabel("mean W1 (26 observables, standardised)")
        ax.legend(frameon=False, fontsize=9)
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)


def plot_angle_scan(result: EvaluationResult, path: str | os.PathLike, slices: Sequence[str] | None = None):
    """Mean internal-angle error (top) and its JSD (bottom) versus the share of hits used."""
    plt = _pyplot()
    keys = list(slices or shown_slices(result))
    with _style():
        fig, axes = plt.subplots(
            2,
            len(keys),
            figsize=(4.2 * len(keys), 5.0),
            squeeze=False,
            gridspec_kw={"height_ratios": (2, 1), "hspace": 0.08, "wspace": 0.3},
        )
        for column, key in enumerate(keys):
            scan = result.angle_scan[key]
            percent = np.asarray(scan["percent"])
            top, bottom = axes[0, column], axes[1, column]
            top.plot(percent, scan["reference_mean_deg"], "s-", color=_REFERENCE_COLOUR, label="reference")
            for i, model in enumerate(result.models):
                m = scan["models"][model]
                top.errorbar(
                    percent,
                    m["mean_deg"],
                    yerr=np.nan_to_num(m["mean_deg_error"]),
                    fmt="o-",
                    color=f"C{i}",
                    markersize=3,
                    capsize=2,
                    label=model,
                )
                bottom.plot(percent, m["jsd"], "o-", color=f"C{i}", markersize=3)
            for ax in (top, bottom):
                ax.set_xscale("log")
                ax.axvline(4.0, color="0.7", linestyle=":")
            top.set_yscale("log")
            top.set_ylabel("mean angular error [deg]")
            top.set_title(result.slice(key).label, loc="left")
            top.tick_params(labelbottom=False)
            bottom.set_ylabel("JSD")
            bottom.set_xlabel("most energetic hits used [%]")
            if column == 0:
                top.legend(loc="best", frameon=False)
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)


def plot_overview(result: EvaluationResult, path: str | os.PathLike, slice_key: str = "all"):
    """JSD over its statistical floor for every observable and model: which ones stand out."""
    plt = _pyplot()
    names = [o.name for o in OBSERVABLES]
    models = list(result.models)
    height = 0.8 / len(models)
    with _style():
        fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(names) * max(1, len(models) ** 0.5) + 1.2))
        y = np.arange(len(names))
        for i, model in enumerate(models):
            ratio = [result.distances[slice_key][n][model]["jsd"]["ratio_to_floor"] for n in names]
            ax.barh(
                y + i * height - 0.4 + height / 2,
                np.nan_to_num(ratio, nan=0.0),
                height=height,
                color=f"C{i}",
                label=model,
            )
        ax.axvline(1.0, color="0.3", linewidth=0.8)
        ax.axvline(5.0, color="C3", linewidth=0.8, linestyle="--", label="5 x floor")
        ax.set_xscale("log")
        ax.set_yticks(y, [o.title for o in OBSERVABLES], fontsize=9)
        ax.tick_params(axis="y", which="minor", left=False, right=False)
        ax.invert_yaxis()
        ax.set_xlabel("JSD / statistical floor")
        ax.set_title(
            f"{result.slice(slice_key).label}: divergence over its statistical floor", loc="left", fontsize=11
        )
        ax.legend(loc="lower right", frameon=True, fontsize=8)
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)
