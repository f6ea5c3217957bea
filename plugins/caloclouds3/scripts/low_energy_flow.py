"""Does ShowerFlow learn low energies better with targets scaled by the incident energy?

CaloClouds3's flow targets are layer counts in units of 7864 / 30 points and layer energies in
units of 3.4 / 30 GeV, whatever the photon's energy: a 1 GeV photon's 24 MeV is a tiny number
next to a 127 GeV photon's 2.8 GeV. The variant ``incident`` divides both by the incident energy
(points per GeV and MeV per GeV of incident energy per layer, about 1 at every energy), so the
flow sees every energy at the same scale. Both flows train on the same data with the same
settings; the evaluation samples each flow at fixed energies (random ``barrel-ip`` directions)
and compares the visible energy (the sum of the layer energies, before any calibration) and the
number of points with reference-MC showers of the same conditions.

    calozoo simulate data/le -n 12000 --energy log:1:127 --seed 21 --physics-version 2
    python plugins/caloclouds3/scripts/low_energy_flow.py train --data data/le --variant fixed --work fixed
    python plugins/caloclouds3/scripts/low_energy_flow.py train --data data/le --variant incident --work inc
    python plugins/caloclouds3/scripts/low_energy_flow.py evaluate fixed inc --shipped
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from calozoo_caloclouds3.model import CaloClouds3Recipe, conditioning, target_scales
from calozoo_engine.data import TrainingSet
from calozoo_engine.flow import ShowerFlow
from calozoo_engine.training import FlowSettings, train_flow

import calozoo
from calozoo.distributions import barrel_ip_directions

#: the script's variants: the recipe's flow units (``fixed`` the paper's, ``incident`` per GeV)
VARIANTS = {"fixed": "fixed", "incident": "per-gev"}
UNITS = {units: variant for variant, units in VARIANTS.items()}


def layers(variant: str, targets: torch.Tensor, energy_gev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 30)`` points and MeV per layer from a flow's targets (negative values clipped)."""
    t = targets.clamp_min(0.0).numpy().astype(np.float64)
    count_scale, energy_scale = target_scales(energy_gev, VARIANTS[variant])
    return t[:, :30] * count_scale, t[:, 30:] * energy_scale


def train(args) -> None:
    torch.set_num_threads(args.threads)
    data = TrainingSet.read(args.data)
    settings = FlowSettings(steps=args.steps, seed=args.seed)
    train_flow(data, args.work, settings, recipe=CaloClouds3Recipe(VARIANTS[args.variant]), progress=True)
    Path(args.work, "variant.json").write_text(json.dumps({"variant": args.variant}))


def load_flow(work: str) -> tuple[str, ShowerFlow]:
    """``(variant, flow)`` of a work folder (its flow checkpoint) or of a saved model folder."""
    from calozoo_engine.training import load_checkpoint

    if Path(work, "config.json").exists():  # a model folder
        model = calozoo.load("caloclouds3", path=work)
        return UNITS[model.recipe.flow_units], model.flow
    tensors, state = load_checkpoint(Path(work) / "flow" / "checkpoint")
    recipe = CaloClouds3Recipe().restore(state.get("recipe"))
    if state.get("recipe") is None and Path(work, "variant.json").exists():  # runs before the option
        recipe = CaloClouds3Recipe(VARIANTS[json.loads(Path(work, "variant.json").read_text())["variant"]])
    flow = ShowerFlow(**recipe.flow_kwargs())
    flow.load_state_dict({k.removeprefix("flow."): v for k, v in tensors.items() if k.startswith("flow.")})
    return UNITS[recipe.flow_units], flow.eval()


def evaluate(args) -> None:
    torch.set_num_threads(args.threads)
    energies = [float(e) for e in args.energies.split(",")]
    rng = np.random.default_rng(args.seed)
    energy = np.repeat(energies, args.n)
    direction = barrel_ip_directions(len(energy), rng)
    reference = calozoo.load("reference-mc", physics_version=2).sample(energy, direction, seed=args.seed)
    ref_vis = reference.visible_energy_mev
    ref_n = reference.num_points.astype(float)
    flows = [load_flow(w) + (w,) for w in args.works]
    if args.shipped:
        flows.append(("fixed", calozoo.load("caloclouds3").flow, "shipped"))
    cond = torch.from_numpy(conditioning(energy, direction))
    gens = [torch.Generator().manual_seed(args.seed * 100_000 + i) for i in range(len(energy))]
    rows = []
    for variant, flow, name in flows:
        with torch.no_grad():
            targets = flow.sample(cond, gens)
        counts, mev = layers(variant, targets, energy)
        vis, n = mev.sum(1), counts.sum(1)
        for e in energies:
            sel = energy == e
            rows.append(
                {
                    "flow": name,
                    "energy_gev": e,
                    "visible_ratio": float(vis[sel].mean() / ref_vis[sel].mean()),
                    "visible_spread_ratio": float(vis[sel].std() / ref_vis[sel].std()),
                    "points_ratio": float(n[sel].mean() / ref_n[sel].mean()),
                    "reference_visible_mev": float(ref_vis[sel].mean()),
                }
            )
    print(
        "| flow | E [GeV] | reference visible [MeV] | visible: flow / ref. | spread: flow / ref. "
        "| points: flow / ref. |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['flow']} | {r['energy_gev']:g} | {r['reference_visible_mev']:.1f} "
            f"| {r['visible_ratio']:.3f} "
            f"| {r['visible_spread_ratio']:.3f} | {r['points_ratio']:.3f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    t.add_argument("--work", required=True)
    t.add_argument("--steps", type=int, default=2500)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    e = sub.add_parser("evaluate")
    e.add_argument("works", nargs="*", help="work folders (their flow checkpoints) or model folders")
    e.add_argument("--shipped", action="store_true", help="also the shipped CaloClouds3 flow")
    e.add_argument("--energies", default="1,2,3,5,10,50,100")
    e.add_argument("-n", type=int, default=300)
    e.add_argument("--seed", type=int, default=5)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--json")
    args = parser.parse_args()
    train(args) if args.command == "train" else evaluate(args)


if __name__ == "__main__":
    main()
