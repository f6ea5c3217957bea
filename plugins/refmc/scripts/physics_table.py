"""Compare reference-MC physics versions on the quantities of a GEANT4 comparison, with statistical errors.

    python plugins/refmc/scripts/physics_table.py --showers 2000 --seed 1 --versions 2 3 \
        [--workers N] [--json out.json] [--plots DIR]

Photons at normal incidence into ``ild-ecal-regular``, energies uniform in 10-100 GeV, the same
showers' conditions and seeds for every version: the conditions are drawn as
``calozoo simulate OUT -n N --preset none --energy 10:100 --theta 90 --phi 90 --seed S`` draws
them, and shower ``i`` is child ``i`` of the seed, so version ``v``'s showers are those of that
command with ``--physics-version v``. Each shower is transported once (``ReferenceMC.sample``
with ``output="raw"``); its training points are the same raw hits preprocessed with the
shower's own seeds (``ReferenceMC.points_from_raw``: what ``output="points"`` returns).

Definitions (all per shower, then averaged over showers, every shower weighing the same):

- visible energy: the silicon deposits (raw hits) over the incident energy;
- core / halo: fraction of the visible energy at ``r < 15.6 mm`` / ``r > 62.5 mm`` from the
  axis (normal incidence through the entry point ``x = y = 0``), from the raw hits (exact
  positions) and from the training points (5x5 sub-cell centres);
- radial profile: fraction of the visible energy in 15.625 mm bins of ``r`` out to 250 mm;
- layers: fraction of the visible energy per layer (raw hits, layer of the silicon slice);
- alternation: each slab ``k`` holds layers ``2k`` and ``2k + 1`` (``docs/geometry.md``, the
  ``slab`` rows of ``calozoo_ild/ild_ecal.json``: Si, W plate, Si), the slabs are separated by
  the structure's W plate. "13/14" is the mean energy in layer 13 (second layer of slab 6,
  right behind the slab's W plate) over that in layer 14 (first layer of slab 7, behind the
  structure plate and 2.6 mm of PCB/air/Cu); the pair means average that ratio over the
  cross-slab pairs ``(2k+1)/(2k+2)``, ``k = 0..13``, and over the same-slab pairs
  ``(2k+1)/(2k)``, ``k = 0..14``;
- centre of gravity: the shower-to-shower standard deviation of the energy-weighted x and y;
- sub-cell cluster spectrum: training points per shower with an energy in each decade
  [1 keV, 10 keV), ..., [1 MeV, 10 MeV) (plus below 1 keV and from 10 MeV on), and the fraction
  of all points in each.

Errors: bootstrap over showers (``--bootstrap`` resamples). The v3/v2 ratio's error uses the same
resampled shower indices for both versions (the showers share conditions and seeds, so they are
correlated).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: Transverse cuts and binning, mm.
CORE_MM, HALO_MM = 15.6, 62.5
R_BIN_MM, R_MAX_MM = 15.625, 250.0
N_R_BINS = int(round(R_MAX_MM / R_BIN_MM))
N_LAYERS = 30
#: Decade edges of the sub-cell cluster energies, MeV (1 keV .. 10 MeV), plus under/overflow.
DECADE_EDGES_MEV = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
DECADE_LABELS = ("< 1 keV", "1-10 keV", "10-100 keV", "0.1-1 MeV", "1-10 MeV", ">= 10 MeV")
#: GEANT4 reference values (percent) where we have them.
GEANT4 = {"visible_pct": 2.22, "core_raw_pct": 84.0, "halo_raw_pct": 1.7}


# ---------------------------------------------------------------- per-shower features
def transverse_features(owner, x, y, e, n_showers: int) -> dict[str, np.ndarray]:
    """Per-shower transverse sums of flat deposits (``owner``: shower index of each deposit).

    Returns ``vis`` (N,), ``core`` and ``halo`` (N,) energies, ``radial`` (N, N_R_BINS) energy per
    15.625 mm bin of ``r`` (beyond 250 mm in none), ``cog`` (N, 2) the energy-weighted x, y (0 for
    an empty shower).
    """
    owner = np.asarray(owner, np.int64)
    x, y, e = (np.asarray(a, np.float64) for a in (x, y, e))
    r = np.hypot(x, y)
    vis = np.bincount(owner, weights=e, minlength=n_showers)
    core = np.bincount(owner, weights=e * (r < CORE_MM), minlength=n_showers)
    halo = np.bincount(owner, weights=e * (r > HALO_MM), minlength=n_showers)
    rbin = np.floor(r / R_BIN_MM).astype(np.int64)
    inside = rbin < N_R_BINS
    radial = np.bincount(
        owner[inside] * N_R_BINS + rbin[inside], weights=e[inside], minlength=n_showers * N_R_BINS
    ).reshape(n_showers, N_R_BINS)
    safe = np.where(vis > 0, vis, 1.0)
    cog = np.stack(
        [
            np.bincount(owner, weights=e * x, minlength=n_showers) / safe,
            np.bincount(owner, weights=e * y, minlength=n_showers) / safe,
        ],
        1,
    )
    return {"vis": vis, "core": core, "halo": halo, "radial": radial, "cog": cog}


def layer_energies(owner, layer, e, n_showers: int, n_layers: int = N_LAYERS) -> np.ndarray:
    """``(N, n_layers)`` energy per layer of flat deposits with integer ``layer`` indices."""
    owner, layer = np.asarray(owner, np.int64), np.asarray(layer, np.int64)
    return np.bincount(
        owner * n_layers + layer, weights=np.asarray(e, np.float64), minlength=n_showers * n_layers
    ).reshape(n_showers, n_layers)


def decade_counts(owner, e, n_showers: int) -> np.ndarray:
    """``(N, 6)`` points per shower below 1 keV, in each decade 1 keV-10 MeV, and from 10 MeV on."""
    group = np.searchsorted(DECADE_EDGES_MEV, np.asarray(e, np.float64), side="right")
    n = len(DECADE_EDGES_MEV) + 1
    return np.bincount(np.asarray(owner, np.int64) * n + group, minlength=n_showers * n).reshape(n_showers, n)


def layer_of_depth(z_mm, boundaries_mm, slab_layer) -> np.ndarray:
    """Sensitive-layer index of raw hits at depth ``z_mm``: the silicon slice nearest to the hit
    (the hits' float32 depths can round across a slice's face into its neighbour)."""
    b, slab_layer = np.asarray(boundaries_mm, np.float64), np.asarray(slab_layer)
    sensitive = np.flatnonzero(slab_layer >= 0)
    sensitive = sensitive[np.argsort(slab_layer[sensitive])]
    centres = 0.5 * (b[sensitive] + b[sensitive + 1])
    nearest = np.searchsorted(0.5 * (centres[1:] + centres[:-1]), np.asarray(z_mm, np.float64))
    return slab_layer[sensitive][nearest]


def shower_features(raw, points, boundaries_mm, slab_layer) -> dict[str, np.ndarray]:
    """All per-shower features of a batch: raw hits (``z`` in mm) and their training points."""
    n = len(raw)
    hits, owner = raw.flat()
    out = {
        f"{k}_raw": v for k, v in transverse_features(owner, hits[:, 0], hits[:, 1], hits[:, 3], n).items()
    }
    layer = layer_of_depth(hits[:, 2], boundaries_mm, slab_layer)
    out["layers"] = layer_energies(owner, layer, hits[:, 3], n)
    pts, powner = points.flat()
    out.update(
        {f"{k}_pts": v for k, v in transverse_features(powner, pts[:, 0], pts[:, 1], pts[:, 3], n).items()}
    )
    out["decades"] = decade_counts(powner, pts[:, 3], n)
    out["energy_gev"] = np.asarray(raw.incident_energy_gev, np.float64)
    return out


# ---------------------------------------------------------------- quantities
def _frac(a, b):
    return a / np.where(b > 0, b, 1.0)


def quantities(f: dict[str, np.ndarray], idx: np.ndarray | None = None) -> dict[str, float]:
    """The table's quantities from per-shower features (showers ``idx``, all by default)."""
    if idx is not None:
        f = {k: v[idx] for k, v in f.items()}
    q: dict[str, float] = {}
    vis = f["vis_raw"]
    q["visible_pct"] = 100 * np.mean(vis / (f["energy_gev"] * 1000.0))
    for src in ("raw", "pts"):
        v = f[f"vis_{src}"]
        q[f"core_{src}_pct"] = 100 * np.mean(_frac(f[f"core_{src}"], v))
        q[f"halo_{src}_pct"] = 100 * np.mean(_frac(f[f"halo_{src}"], v))
        radial = np.mean(_frac(f[f"radial_{src}"], v[:, None]), 0)
        for b in range(N_R_BINS):
            q[f"radial_{src}_{b:02d}_pct"] = 100 * radial[b]
        cog = f[f"cog_{src}"]
        q[f"cog_x_std_{src}_mm"] = np.std(cog[:, 0], ddof=1)
        q[f"cog_y_std_{src}_mm"] = np.std(cog[:, 1], ddof=1)
    layers = np.mean(_frac(f["layers"], vis[:, None]), 0)
    for k in range(10):
        q[f"layer_{k:02d}_pct"] = 100 * layers[k]
    q.update(alternation(layers))
    counts = f["decades"]
    per_shower = counts.mean(0)
    total = counts.sum()
    for d in range(len(DECADE_LABELS)):
        q[f"points_{d}_per_shower"] = per_shower[d]
        q[f"points_{d}_frac_pct"] = 100 * counts[:, d].sum() / max(total, 1)
    q["points_per_shower"] = counts.sum(1).mean()
    return {k: float(v) for k, v in q.items()}


def alternation(layer_profile) -> dict[str, float]:
    """Slab alternation of a mean layer profile: layer 13 over 14, and the means over the cross-slab
    pairs ``(2k+1)/(2k+2)`` (k = 0..13) and the same-slab pairs ``(2k+1)/(2k)`` (k = 0..14)."""
    p = np.asarray(layer_profile, np.float64)
    n = len(p)
    cross = [p[2 * k + 1] / p[2 * k + 2] for k in range((n - 1) // 2)]
    same = [p[2 * k + 1] / p[2 * k] for k in range(n // 2)]
    return {
        "ratio_13_14": float(p[13] / p[14]),
        "ratio_cross_slab_mean": float(np.mean(cross)),
        "ratio_same_slab_mean": float(np.mean(same)),
    }


def bootstrap_indices(n: int, n_boot: int, seed: int = 12345) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def summarise(f: dict[str, np.ndarray], boot: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Central values and the bootstrap replicas (``boot``: (B, N) resampled shower indices)."""
    central = quantities(f)
    reps = [quantities(f, idx) for idx in boot]
    return central, {k: np.array([r[k] for r in reps]) for k in central}


# ---------------------------------------------------------------- simulation
_MODEL = None


def _worker_init(version: int) -> None:
    global _MODEL
    import calozoo

    _MODEL = calozoo.load("reference-mc", physics_version=version, output="raw", geometry="ild-ecal-regular")


def _simulate_chunk(job):
    """Transport showers ``start .. start + n - 1`` once; features of their raw hits and points."""
    from calozoo.seeding import shower_seeds

    start, energy, direction, seed, batch_size = job
    raw = _MODEL.sample(energy, direction, seed=seed, start=start, batch_size=batch_size)
    points = _MODEL.points_from_raw(raw, shower_seeds(seed, len(energy), start=start))
    return start, shower_features(raw, points, _MODEL.stack.boundaries_mm, _MODEL.stack.layer)


def parse_energy(text: str):
    """``"10:100"`` (uniform) or ``"10"`` (fixed), GeV, as ``calozoo simulate --energy``."""
    from calozoo.grammar import EnergySpec

    if ":" in text:
        low, high = (float(v) for v in text.split(":"))
        return EnergySpec("uniform", (low, high))
    return EnergySpec("fixed", (float(text),))


def conditions(n: int, seed: int, energy: str = "10:100"):
    """Energies and directions of ``calozoo simulate -n N --preset none --energy 10:100 --theta 90
    --phi 90 --seed S``."""
    from calozoo.conditions import direction_from_angles
    from calozoo.grammar import DirectionSpec, draw_conditions

    energy, unit = draw_conditions(
        parse_energy(energy),
        DirectionSpec("fixed", tuple(direction_from_angles(90.0, 90.0).tolist())),
        seed,
        n,
    )
    return energy, unit


def simulate_features(
    version: int, n: int, seed: int, workers: int = 1, chunk: int = 50, energy_gev: str = "10:100"
) -> dict:
    """Per-shower features of ``n`` showers of physics ``version`` (``workers`` processes)."""
    import multiprocessing

    from tqdm.auto import tqdm

    energy, unit = conditions(n, seed, energy_gev)
    jobs = [(s, energy[s : s + chunk], unit[s : s + chunk], seed, chunk) for s in range(0, n, chunk)]
    parts = {}
    with tqdm(total=n, unit="shower", desc=f"reference-mc v{version}") as bar:
        if workers > 1:
            ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
            with ctx.Pool(workers, initializer=_worker_init, initargs=(version,)) as pool:
                for start, feats in pool.imap_unordered(_simulate_chunk, jobs):
                    parts[start] = feats
                    bar.update(len(feats["vis_raw"]))
        else:
            _worker_init(version)
            for job in jobs:
                start, feats = _simulate_chunk(job)
                parts[start] = feats
                bar.update(len(feats["vis_raw"]))
    ordered = [parts[s] for s in sorted(parts)]
    return {k: np.concatenate([p[k] for p in ordered]) for k in ordered[0]}


# ---------------------------------------------------------------- output
ROWS = [
    ("visible_pct", "visible / incident energy [%]"),
    ("core_raw_pct", "E(r < 15.6 mm) / visible, raw hits [%]"),
    ("halo_raw_pct", "E(r > 62.5 mm) / visible, raw hits [%]"),
    ("core_pts_pct", "E(r < 15.6 mm) / visible, training points [%]"),
    ("halo_pts_pct", "E(r > 62.5 mm) / visible, training points [%]"),
    *[
        (f"radial_raw_{b:02d}_pct", f"radial {b * R_BIN_MM:.1f}-{(b + 1) * R_BIN_MM:.1f} mm, raw [%]")
        for b in range(N_R_BINS)
    ],
    *[(f"layer_{k:02d}_pct", f"layer {k} / visible [%]") for k in range(10)],
    ("ratio_13_14", "E(layer 13) / E(layer 14)"),
    ("ratio_cross_slab_mean", "mean (2k+1)/(2k+2), cross-slab pairs k=0..13"),
    ("ratio_same_slab_mean", "mean (2k+1)/(2k), same-slab pairs k=0..14"),
    ("cog_x_std_raw_mm", "std of CoG x, raw [mm]"),
    ("cog_y_std_raw_mm", "std of CoG y, raw [mm]"),
    ("cog_x_std_pts_mm", "std of CoG x, points [mm]"),
    ("cog_y_std_pts_mm", "std of CoG y, points [mm]"),
    ("points_per_shower", "training points per shower"),
    *[(f"points_{d}_per_shower", f"points {label} per shower") for d, label in enumerate(DECADE_LABELS)],
    *[(f"points_{d}_frac_pct", f"points {label} [% of points]") for d, label in enumerate(DECADE_LABELS)],
]


def _fmt(v: float, e: float) -> str:
    if not np.isfinite(e):
        return f"{v:.4g}"
    if e == 0:  # e.g. the ratio of two identical samples
        return f"{v:.4f} ± 0"
    digits = max(0, min(6, 1 - int(np.floor(np.log10(e)))))
    return f"{v:.{digits}f} ± {e:.{digits}f}"


def markdown_table(results: dict, versions: list[int]) -> str:
    base = versions[0]
    head = ["quantity", *[f"v{v}" for v in versions]]
    head += [f"v{v}/v{base}" for v in versions[1:]] + ["GEANT4"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label in ROWS:
        cells = [label]
        for v in versions:
            q = results[str(v)]["quantities"][key]
            cells.append(_fmt(q["value"], q["error"]))
        for v in versions[1:]:
            r = results["ratios"][f"v{v}/v{base}"][key]
            cells.append(_fmt(r["value"], r["error"]))
        cells.append(f"≈ {GEANT4[key]}" if key in GEANT4 else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def make_plots(results: dict, versions: list[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    out.mkdir(parents=True, exist_ok=True)
    plt.style.use(mplhep.style.CMS)
    base = versions[0]
    edges = np.arange(N_R_BINS + 1) * R_BIN_MM
    for what, keys, xlabel, name, x in (
        ("radial", [f"radial_raw_{b:02d}_pct" for b in range(N_R_BINS)], "r [mm]", "radial_profile", edges),
        ("layer", [f"layer_all_{k:02d}_pct" for k in range(N_LAYERS)], "layer", "layer_profile", None),
    ):
        fig, (ax, rax) = plt.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)}, figsize=(9, 8)
        )
        for v in versions:
            q = results[str(v)]["quantities"] if what == "radial" else results[str(v)]["layer_profile"]
            vals = np.array([q[k]["value"] for k in keys])
            errs = np.array([q[k]["error"] for k in keys])
            bins = x if x is not None else np.arange(N_LAYERS + 1) - 0.5
            mplhep.histplot(vals, bins, yerr=errs, ax=ax, label=f"physics v{v}")
            if v != base:
                r = (
                    results["ratios"][f"v{v}/v{base}"]
                    if what == "radial"
                    else results["layer_ratios"][f"v{v}/v{base}"]
                )
                mplhep.histplot(
                    np.array([r[k]["value"] for k in keys]),
                    bins,
                    yerr=np.array([r[k]["error"] for k in keys]),
                    ax=rax,
                )
        ax.set_yscale("log")
        ax.set_ylabel("fraction of visible energy [%]")
        ax.legend()
        rax.axhline(1, c="grey", ls=":")
        rax.set(xlabel=xlabel, ylabel=f"ratio to v{base}")
        fig.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
        plt.close(fig)


def _git(*args: str) -> str:
    try:
        root = Path(__file__).resolve().parents[3]
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _with_errors(central: dict, reps: dict) -> dict:
    return {k: {"value": central[k], "error": float(np.std(reps[k], ddof=1))} for k in central}


def layer_profile(f: dict, idx=None) -> dict[str, float]:
    if idx is not None:
        f = {k: v[idx] for k, v in f.items()}
    p = np.mean(_frac(f["layers"], f["vis_raw"][:, None]), 0)
    return {f"layer_all_{k:02d}_pct": float(100 * p[k]) for k in range(N_LAYERS)}


def run(
    versions: list[int],
    n: int,
    seed: int,
    workers: int,
    n_boot: int,
    chunk: int = 50,
    energy: str = "10:100",
    save=None,
) -> dict:
    """Simulate and summarise every version; ``save(results)`` is called after each one (the numbers
    so far survive a later version's failure). A version whose simulation raises is recorded with
    its error and left out of the ratios. The git state is recorded as each version starts: its
    worker processes import the plugin's code then."""
    boot = bootstrap_indices(n, n_boot)
    results: dict = {
        "showers": n,
        "seed": seed,
        "energy_gev": energy,
        "geometry": "ild-ecal-regular",
        "bootstrap": n_boot,
        "git_commit": _git("log", "-1", "--format=%h"),
        "git_status_refmc": _git("status", "--short", "plugins/refmc"),
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "geant4": GEANT4,
        "ratios": {},
        "layer_ratios": {},
    }
    reps_by_version, layer_reps = {}, {}
    for v in versions:
        state = {
            "git_commit": _git("log", "-1", "--format=%h"),
            "git_status_refmc": _git("status", "--short", "plugins/refmc"),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        t0 = time.perf_counter()
        try:
            f = simulate_features(v, n, seed, workers, chunk, energy)
        except Exception as error:  # noqa: BLE001 - another version may still run; recorded
            results[str(v)] = {**state, "error": f"{type(error).__name__}: {error}"}
            print(f"physics version {v} failed: {results[str(v)]['error']}", file=sys.stderr)
            if save:
                save(results)
            continue
        wall = time.perf_counter() - t0
        central, reps = summarise(f, boot)
        lp = layer_profile(f)
        lreps = [layer_profile(f, idx) for idx in boot]
        lreps = {k: np.array([r[k] for r in lreps]) for k in lp}
        reps_by_version[v], layer_reps[v] = (central, reps), (lp, lreps)
        results[str(v)] = {
            **state,
            "wall_s": wall,
            "quantities": _with_errors(central, reps),
            "layer_profile": _with_errors(lp, lreps),
        }
        _ratios(results, [u for u in versions if u in reps_by_version], reps_by_version, layer_reps)
        if save:
            save(results)
    return results


def _ratios(results: dict, versions: list[int], reps_by_version: dict, layer_reps: dict) -> None:
    if not versions:
        return
    base = versions[0]
    for v in versions[1:]:
        for store, src in (("ratios", reps_by_version), ("layer_ratios", layer_reps)):
            (c0, r0), (c1, r1) = src[base], src[v]
            results[store][f"v{v}/v{base}"] = {
                k: {
                    "value": c1[k] / c0[k] if c0[k] else float("nan"),
                    "error": float(np.std(r1[k] / np.where(r0[k] != 0, r0[k], np.nan), ddof=1)),
                }
                for k in c0
            }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--versions", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (errors)")
    parser.add_argument("--energy", default="10:100", help="GeV: LOW:HIGH (uniform) or one energy")
    parser.add_argument("--chunk", type=int, default=50, help="showers per task")
    parser.add_argument(
        "--json", type=Path, help="write the numbers here (a path with {version}: one file per version)"
    )
    parser.add_argument("--plots", type=Path, help="write the radial and layer profile plots here")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()

    def save(results: dict) -> None:
        if args.json:
            write_json(results, args.json)

    results = run(
        args.versions, args.showers, args.seed, args.workers, args.bootstrap, args.chunk, args.energy, save
    )
    results["wall_s"] = time.perf_counter() - t0
    results["workers"] = args.workers
    save(results)
    ok = [v for v in args.versions if "quantities" in results[str(v)]]
    print(markdown_table(results, ok))
    print(
        f"\n{args.showers} showers per version, seed {args.seed}, {args.workers} workers, wall time "
        f"{results['wall_s']:.0f} s ("
        + ", ".join(
            f"v{v}: {results[str(v)]['wall_s']:.0f} s, commit {results[str(v)]['git_commit']}"
            if v in ok
            else f"v{v}: FAILED ({results[str(v)]['error']})"
            for v in args.versions
        )
        + ")"
    )
    if args.plots and ok:
        make_plots(results, ok, args.plots)
    return 0 if len(ok) == len(args.versions) else 1


def write_json(results: dict, path: Path) -> None:
    """All numbers into ``path``; a path with ``{version}`` gets one file per version (the common
    settings, that version's numbers and its ratios to the first version)."""
    path = Path(path)
    if "{version}" not in str(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
        return
    common = {k: v for k, v in results.items() if not k.isdigit() and k not in ("ratios", "layer_ratios")}
    for key in (k for k in results if k.isdigit()):
        one = {**common, "version": int(key), key: results[key]}
        for store in ("ratios", "layer_ratios"):
            one[store] = {r: v for r, v in results[store].items() if r.startswith(f"v{key}/")}
        target = Path(str(path).replace("{version}", key))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(one, indent=1))


if __name__ == "__main__":
    sys.exit(main())
