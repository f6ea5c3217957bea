"""The effect of the ILD surroundings (TPC field cage, SET, HCAL) on the reference MC's halo and first layers.

    python plugins/refmc/scripts/surroundings_table.py --showers 400 --seed 1 --workers 4 \
        [--variants bare full front back hcal4 hcal16] [--json out.json]

Physics version 3, photons at normal incidence into ``ild-ecal-regular``, energies uniform in
10-100 GeV: the conditions and seeds of ``physics_table.py`` (shower ``i`` the same in every
variant), raw hits only. Variants of the transported stack (``calozoo_refmc.model.
stack_with_surroundings``, the surroundings of ``ILDRegular.surroundings``):

- ``bare``: the ECAL alone (``ReferenceMC(physics_version=3)``);
- ``full``: with the surroundings in front and behind (``surroundings=True``; 8 HCAL layers);
- ``front``: only the material in front (field cage, SET, gap);
- ``back``: only the material behind (gap, 8 HCAL layers);
- ``hcalN``: front and the gap plus N HCAL layers (how many layers matter);
- ``ip``: a bound, not a model: as ``full`` but the photon starts at the interaction point and
  crosses a crude inner detector first (:data:`INNER_DETECTOR`: ~2 % X0 of silicon for the VXD
  and SIT, the TPC inner field cage as its outer one, the TPC gas as 1.2 % X0 of aluminium in ten
  sheets), for the case that the GEANT4 photons were shot from the IP.

Errors: bootstrap over showers; the difference to ``bare`` uses the same resampled showers
(the variants share conditions and seeds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from physics_table import (  # noqa: E402
    GEANT4,
    N_R_BINS,
    R_BIN_MM,
    bootstrap_indices,
    conditions,
    layer_energies,
    layer_of_depth,
    transverse_features,
)

_MODEL = None

#: The ``ip`` variant's crude inner detector at 90 degrees, IP outwards (assumptions, see the
#: docstring), followed by the TPC outer field cage, SET and gap of ``ILDRegular.surroundings``.
INNER_DETECTOR = (
    [("air", 16.0, None), ("Si", 0.5, None), ("air", 44.0, None), ("Si", 0.5, None)]
    + [("air", 92.5, None), ("Si", 0.45, None), ("air", 146.5, None), ("Si", 0.45, None)]
    + [("air", 28.1, None), ("Al", 0.01, None), ("ground/HV mix", 0.05, None), ("glass", 0.22, None)]
    + [("air", 24.22, None), ("glass", 0.22, None), ("ground/HV mix", 0.05, None), ("Cu", 0.07, None)]
    + [("air", 135.5, None), ("Al", 0.107, None)] * 10
    + [("air", 0.05, None)]
)


def make_model(variant: str):
    from calozoo_ild.facts import load_facts
    from calozoo_refmc.model import stack_with_surroundings
    from calozoo_refmc.physics import build_tables

    import calozoo

    model = calozoo.load("reference-mc", physics_version=3, output="raw", geometry="ild-ecal-regular")
    if variant == "bare":
        return model
    facts = load_facts()
    front, back = model.geometry.surroundings
    if variant == "front":
        back = ()
    elif variant == "back":
        front = ()
    elif variant == "ip":
        front = INNER_DETECTOR + list(front)
    elif variant.startswith("hcal"):
        back = facts.surroundings_stack(int(variant[4:]))[1]
    elif variant != "full":
        raise ValueError(f"unknown variant {variant!r}")
    model.stack = stack_with_surroundings(model.geometry, front=list(front), back=list(back))
    model.tables = build_tables(model.stack, model.cuts, 3)
    return model


def _init(variant: str) -> None:
    global _MODEL
    _MODEL = make_model(variant)


def _chunk(job):
    start, energy, direction, seed = job
    t0 = time.process_time()
    raw = _MODEL.sample(energy, direction, seed=seed, start=start, batch_size=len(energy))
    cpu = time.process_time() - t0
    n = len(raw)
    hits, owner = raw.flat()
    f = {k: v for k, v in transverse_features(owner, hits[:, 0], hits[:, 1], hits[:, 3], n).items()}
    layer = layer_of_depth(hits[:, 2], _MODEL.stack.boundaries_mm, _MODEL.stack.layer)
    f["layers"] = layer_energies(owner, layer, hits[:, 3], n)
    f["energy_gev"] = np.asarray(raw.incident_energy_gev, np.float64)
    return start, f, cpu


def simulate(variant: str, n: int, seed: int, workers: int, chunk: int = 25):
    import multiprocessing

    energy, unit = conditions(n, seed)
    jobs = [(s, energy[s : s + chunk], unit[s : s + chunk], seed) for s in range(0, n, chunk)]
    parts, cpu = {}, 0.0
    with multiprocessing.get_context("fork").Pool(workers, initializer=_init, initargs=(variant,)) as pool:
        pool.map(_warm, range(workers))
        for start, f, c in pool.imap_unordered(_chunk, jobs):
            parts[start] = f
            cpu += c
    ordered = [parts[s] for s in sorted(parts)]
    return {k: np.concatenate([p[k] for p in ordered]) for k in ordered[0]}, cpu / n


def _warm(_):
    # compile / warm the transport outside the timing
    _MODEL.sample(np.array([1.0]), np.array([[0.0, 0.0, 1.0]]), seed=0)


def quantities(f, idx=None) -> dict[str, float]:
    if idx is not None:
        f = {k: v[idx] for k, v in f.items()}
    vis = f["vis"]
    safe = np.where(vis > 0, vis, 1.0)
    q = {
        "visible_pct": 100 * np.mean(vis / (f["energy_gev"] * 1000.0)),
        "core_pct": 100 * np.mean(f["core"] / safe),
        "halo_pct": 100 * np.mean(f["halo"] / safe),
    }
    radial = np.mean(f["radial"] / safe[:, None], 0)
    for b in range(N_R_BINS):
        q[f"radial_{b:02d}_pct"] = 100 * radial[b]
    layers = np.mean(f["layers"] / safe[:, None], 0)
    for k in range(5):
        q[f"layer_{k}_pct"] = 100 * layers[k]
    return {k: float(v) for k, v in q.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--showers", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--variants", nargs="+", default=["bare", "full", "front", "back", "hcal4", "hcal16"])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    feats, cpu = {}, {}
    for v in a.variants:
        t0 = time.time()
        feats[v], cpu[v] = simulate(v, a.showers, a.seed, a.workers)
        print(f"{v}: {time.time() - t0:.0f} s wall, {cpu[v]:.3f} s cpu per shower", flush=True)
    boot = bootstrap_indices(a.showers, a.bootstrap)
    central = {v: quantities(feats[v]) for v in a.variants}
    reps = {v: [quantities(feats[v], i) for i in boot] for v in a.variants}
    err = {v: {k: float(np.std([r[k] for r in reps[v]], ddof=1)) for k in central[v]} for v in a.variants}
    ref = a.variants[0]
    derr = {
        v: {k: float(np.std([r[k] - s[k] for r, s in zip(reps[v], reps[ref])], ddof=1)) for k in central[v]}
        for v in a.variants
    }
    keys = list(central[ref])
    labels = {k: k for k in keys}
    for b in range(N_R_BINS):
        labels[f"radial_{b:02d}_pct"] = f"radial {b * R_BIN_MM:.1f}-{(b + 1) * R_BIN_MM:.1f} mm [%]"
    head = (
        "| quantity | GEANT4 | "
        + " | ".join(a.variants)
        + " | "
        + " | ".join(f"{v} - {ref}" for v in a.variants[1:])
    )
    print(head + " |")
    print("|" + "---|" * (2 + 2 * len(a.variants) - 1))
    for k in keys:
        g4 = GEANT4.get(k.replace("core_pct", "core_raw_pct").replace("halo_pct", "halo_raw_pct"), "")
        cells = [f"{central[v][k]:.4g} ± {err[v][k]:.2g}" for v in a.variants]
        diffs = [f"{central[v][k] - central[ref][k]:+.3g} ± {derr[v][k]:.2g}" for v in a.variants[1:]]
        print(f"| {labels[k]} | {g4} | " + " | ".join(cells + diffs) + " |")
    print("| cpu s / shower (mean, 10-100 GeV) | | " + " | ".join(f"{cpu[v]:.3f}" for v in a.variants) + " |")
    if a.json:
        out = {"central": central, "err": err, "diff_err": derr, "cpu_s": cpu}
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
