"""Validation plots of the reference Monte Carlo for docs/reference-mc.md (a few minutes on one core).

    python plugins/refmc/scripts/make_validation_plots.py [--out docs/images/reference-mc] [--scale 4]

Writes PNGs and ``numbers.json`` (every number quoted on the page) into ``--out`` and prints them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from calozoo_refmc.materials import (  # noqa: E402
    MATERIALS,
    W_ATTENUATION_CM2_G,
    W_ATTENUATION_MEV,
    homogeneous_block,
    single_slab,
    slab_stack_from_geometry,
    w_attenuation_without_coherent_cm2_g,
)
from calozoo_refmc.model import simulate_hits
from calozoo_refmc.physics import Cuts, build_tables, grid

import calozoo  # noqa: E402

W = MATERIALS["W"]
NORMAL = np.array([0.0, 0.0, 1.0])


def run(stack, tables, energy_gev, n, pdg=22, field=0.0, seed=0):
    return simulate_hits(
        stack, tables, np.full(n, energy_gev), np.tile(NORMAL, (n, 1)), pdg, seed + np.arange(n), field
    )


def attenuation(out: Path, numbers: dict, scale: int) -> None:
    stack = single_slab("W", 1.0)
    tables = build_tables(stack)
    energies = grid()
    keep = (energies > 0.07) & (energies < 1e5)
    mu = tables.photon[0][:, keep] * 10 / W.density_g_cm3  # 1/mm -> cm²/g
    fig, ax = plt.subplots(figsize=(7, 5))
    labels = ("photoelectric", "Compton (Klein–Nishina)", "pair (Hubbell et al. fit; screened BH > 1 GeV)")
    for row, label in zip(mu, labels):
        ax.loglog(energies[keep], row, label=label, lw=1)
    ax.loglog(energies[keep], mu.sum(0), "k", label="total (reference MC)")
    ax.loglog(
        W_ATTENUATION_MEV, w_attenuation_without_coherent_cm2_g(), "o", mfc="none", label="NIST, no coherent"
    )
    ax.loglog(W_ATTENUATION_MEV, W_ATTENUATION_CM2_G, "x", label="NIST, total")
    ax.axhline(7 / 9 / W.x0_g_cm2, ls=":", c="grey", label="7/(9 X0)")
    measured = {}
    for k, d in ((0.15, 0.3), (0.3, 1.5), (0.5, 3.0), (1.0, 7.0), (10_000.0, 4.5)):
        n = 2000 * scale
        tal = run(single_slab("W", d), build_tables(single_slab("W", d)), k / 1000, n)[1]
        survived = np.mean(tal[:, 0] + tal[:, 1] == 0)
        measured[k] = -np.log(survived) / d * 10 / W.density_g_cm3
    ax.loglog(list(measured), list(measured.values()), "s", c="C3", label="transported (transmission)")
    ax.set(xlabel="photon energy [MeV]", ylabel="mass attenuation in W [cm²/g]", ylim=(1e-3, 20))
    ax.legend(fontsize=8)
    fig.savefig(out / "attenuation.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    table = dict(zip(W_ATTENUATION_MEV.tolist(), w_attenuation_without_coherent_cm2_g().tolist()))
    numbers["attenuation_cm2_g"] = {
        str(k): {"mc": float(v), "nist_no_coherent": table.get(k)} for k, v in measured.items()
    }
    numbers["mfp_10GeV_mm"] = float(10 / W.density_g_cm3 / measured[10_000.0])
    numbers["mfp_expected_mm"] = 9 / 7 * W.x0_mm


def tungsten_block(out: Path, numbers: dict, scale: int) -> None:
    stack = homogeneous_block("W", 140.0, 0.5)
    tables = build_tables(stack, Cuts(delta_cut_sensitive_mev=0.3))
    fig, ax = plt.subplots(figsize=(7, 5))
    numbers["t_max"] = {}
    containment = {}
    bins = np.arange(0, 40.01, 0.5)
    centre = 0.5 * (bins[1:] + bins[:-1])

    def fitted_maximum(profile):
        near = profile > 0.3 * profile.max()
        design = np.stack([np.ones(near.sum()), np.log(centre[near]), -centre[near]], axis=1)
        _, a1, b = np.linalg.lstsq(design, np.log(profile[near]), rcond=None)[0]
        return a1 / b

    runs = ((10.0, 150, 22), (30.0, 75, 22), (100.0, 50, 22), (10.0, 100, 11), (100.0, 50, 11))
    for energy, n, pdg in runs:
        hits, _ = run(stack, tables, energy, n * scale, pdg=pdg, seed=1000)
        per_shower = np.array([np.histogram(h[:, 2] / W.x0_mm, bins=bins, weights=h[:, 3])[0] for h in hits])
        profile = per_shower.mean(axis=0)
        t_max = fitted_maximum(profile)
        # statistical error: the spread of the maxima of four independent quarters, halved
        quarters = [fitted_maximum(q.mean(axis=0)) for q in np.array_split(per_shower, 4)]
        points = np.concatenate(hits)
        name = f"{'photon' if pdg == 22 else 'electron'} {energy:g} GeV"
        rule = np.log(energy * 1000 / W.critical_energy_mev) + (0.5 if pdg == 22 else -0.5)
        numbers["t_max"][name] = {
            "mc": float(t_max),
            "stat": float(np.std(quarters, ddof=1) / 2),
            "showers": n * scale,
            "pdg_rule": float(rule),
        }
        if pdg == 11:
            numbers["t_max"][name]["gflash"] = float(np.log(energy * 1000 / W.critical_energy_mev) - 0.858)
        line = ax.step(centre, profile / energy / 1000, where="mid", label=f"{name}: fit max {t_max:.2f} X0")
        ax.axvline(rule, c=line[0].get_color(), ls=":")
        r = np.hypot(points[:, 0], points[:, 1])
        containment[name] = float(points[r < W.moliere_radius_mm, 3].sum() / points[:, 3].sum())
    ax.set(xlabel="depth in tungsten [X0]", ylabel="1/E dE/dt [1/(0.5 X0)]", xlim=(0, 30))
    ax.legend(fontsize=8, title="dotted: PDG ln(E/Ec) ± 0.5")
    fig.savefig(out / "tungsten_profile.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    numbers["containment_1RM"] = containment


def mip(out: Path, numbers: dict, scale: int) -> None:
    stack = single_slab("Si", 0.525)
    hits, _ = run(stack, build_tables(stack), 1.0, 5000 * scale, pdg=11)
    deposit = np.array([h[:, 3].sum() for h in hits])
    counts, edges = np.histogram(deposit, bins=np.arange(0, 0.6, 0.005))
    smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
    mpv = float(0.5 * (edges[:-1] + edges[1:])[np.argmax(smooth)])
    fig, ax = plt.subplots(figsize=(7, 5))
    mplhep.histplot(counts, edges, ax=ax, label=f"1 GeV e−, 0.525 mm Si: MPV {mpv:.3f} MeV")
    ax.axvline(0.15, c="grey", ls=":", label="0.15 MeV")
    ax.set(xlabel="deposited energy [MeV]", ylabel="showers / 5 keV", yscale="log")
    ax.legend()
    fig.savefig(out / "mip_silicon.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    numbers["mip"] = {
        "mpv_mev": mpv,
        "mean_mev": float(deposit.mean()),
        "frac_above_2mpv": float(np.mean(deposit > 2 * mpv)),
    }


def ild(out: Path, numbers: dict, scale: int) -> None:
    stack = slab_stack_from_geometry(calozoo.geometry("ild-ecal-regular"))
    tables = build_tables(stack)
    weights = np.where(np.arange(30) >= 20, 2.0, 1.0)
    energies = (5.0, 10.0, 20.0, 43.7, 50.0, 100.0)
    response, resolution, visible = [], [], {}
    fig_l, ax_l = plt.subplots(figsize=(7, 5))
    for energy in energies:
        n = int(max(20, 1500 / energy)) * scale
        hits, tallies = run(stack, tables, energy, n, field=3.5, seed=2000)
        layers = np.array([np.bincount(h[:, 4].astype(int), weights=h[:, 3], minlength=30) for h in hits])
        weighted = layers @ weights
        response.append(weighted.mean() / energy)
        resolution.append(weighted.std() / weighted.mean())
        visible[str(energy)] = float(layers.sum(1).mean() / energy / 1000)
        if energy in (10.0, 50.0, 100.0):
            ax_l.plot(np.arange(30), layers.mean(0) / energy, "o-", ms=3, label=f"{energy:g} GeV photons")
    ax_l.set(xlabel="layer", ylabel="mean silicon energy / E [MeV/GeV]")
    ax_l.legend()
    fig_l.savefig(out / "ild_layers.png", dpi=120, bbox_inches="tight")
    plt.close(fig_l)
    e = np.array(energies)
    res = np.array(resolution)
    design = np.stack([1 / e, np.ones_like(e)], axis=1)
    a2, b2 = np.linalg.lstsq(design, res**2, rcond=None)[0]
    stochastic, constant = float(np.sqrt(max(a2, 0))), float(np.sqrt(max(b2, 0)))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax1.plot(e, np.array(response) / np.mean(response), "o")
    ax1.axhspan(0.99, 1.01, color="grey", alpha=0.2, label="±1 %")
    ax1.set(xlabel="photon energy [GeV]", ylabel="weighted Si energy / E (normalised)")
    ax1.legend()
    ax2.plot(e, res, "o", label="reference MC")
    fine = np.linspace(4, 110, 100)
    ax2.plot(
        fine, np.sqrt(stochastic**2 / fine + constant**2), label=f"{stochastic:.3f}/√E (+) {constant:.3f}"
    )
    ax2.plot(fine, np.sqrt(0.166**2 / fine + 0.011**2), ":", label="ILD SiW: 16.6 %/√E (+) 1.1 %")
    ax2.set(xlabel="photon energy [GeV]", ylabel="σ/E")
    ax2.legend()
    fig.savefig(out / "ild_response.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    numbers["ild"] = {
        "energies_gev": list(energies),
        "response_mev_per_gev": [float(v) for v in response],
        "linearity_max_dev": float(np.max(abs(np.array(response) / np.mean(response) - 1))),
        "resolution": [float(v) for v in res],
        "stochastic": stochastic,
        "constant": constant,
        "visible_fraction": visible,
    }
    # one shower, side view
    hits, _ = run(stack, tables, 50.0, 1, field=3.5, seed=7)
    h = hits[0]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.scatter(h[:, 2], h[:, 1], s=2, c=np.log10(h[:, 3]), cmap="viridis")
    ax.set(xlabel="depth z [mm]", ylabel="y [mm] (bending plane)", ylim=(-60, 60))
    ax.set_title("one 50 GeV photon, raw silicon hits (colour: log10 E/MeV)", fontsize=10)
    fig.savefig(out / "event_display.png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images/reference-mc")
    parser.add_argument("--scale", type=int, default=4, help="multiply every shower count by this")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    matplotlib.use("Agg")
    plt.style.use(mplhep.style.ROOT)
    plt.rcParams.update({"font.size": 11, "axes.titlesize": 11, "legend.fontsize": 8})
    numbers: dict = {}
    for step in (attenuation, mip, tungsten_block, ild):
        step(out, numbers, args.scale)
    (out / "numbers.json").write_text(json.dumps(numbers, indent=2))
    print(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
