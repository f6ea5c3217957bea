"""Train CaloClouds2 end to end in one process: simulate (optional), flow, teacher, distill, assemble.

The stage-by-stage CLI (``calozoo train caloclouds2 --stage ...``) reads the data set once per
stage; this script reads it once, and can size each stage to a wall-clock budget (it times a few
steps of the stage first), which is how the shipped weights were trained on a lent GPU::

    python plugins/caloclouds2/train_all.py --data data/cc2 --simulate 30000 --work cc2-work \\
        --device cuda --budget flow=150 --budget teacher=150 --budget distill=110

Without ``--budget`` each stage runs its ``--steps`` (defaults: flow 4000, teacher 8000,
distill 4000). Every stage resumes from its checkpoint when run again.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("flow", "teacher", "distill")
DEFAULT_STEPS = {"flow": 4000, "teacher": 8000, "distill": 4000}
PROBE_STEPS = 15


def _settings(stage: str, steps: int, args):
    from calozoo_caloclouds3 import training

    if stage == "flow":
        return training.FlowSettings(steps=steps, seed=args.seed, batch_size=args.batch_size)
    if stage == "teacher":
        return training.TeacherSettings(steps=steps, seed=args.seed, points_per_batch=args.points_per_batch)
    return training.DistillSettings(steps=steps, seed=args.seed, points_per_batch=args.points_per_batch)


def _run(stage: str, data, work: Path, steps: int, args, progress: bool = True) -> None:
    from calozoo_caloclouds2.recipe import CaloClouds2Recipe
    from calozoo_caloclouds3 import training

    settings = _settings(stage, steps, args)
    if stage == "distill":
        training.train_distill(data, work, settings, progress=progress, device=args.device)
    else:
        run = training.train_flow if stage == "flow" else training.train_teacher
        run(data, work, settings, progress=progress, device=args.device, recipe=CaloClouds2Recipe())


def _seconds_per_step(stage: str, data, work: Path, args) -> float:
    """Time ``PROBE_STEPS`` steps of ``stage`` in a scratch copy of the work folder."""
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch)
        if stage == "distill":
            shutil.copytree(work / "teacher", probe / "teacher")
        _run(stage, data, probe, 3, args, progress=False)  # warm-up (CUDA kernels, allocations)
        shutil.rmtree(probe / stage)
        start = time.perf_counter()
        _run(stage, data, probe, PROBE_STEPS, args, progress=False)
        return (time.perf_counter() - start) / PROBE_STEPS


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="folder of CaloClouds2-preset shards")
    parser.add_argument("--simulate", type=int, help="first simulate this many showers into --data")
    parser.add_argument("--data-seed", type=int, default=21)
    parser.add_argument("--work", default="caloclouds2-work")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--points-per-batch", type=int, default=65536)
    parser.add_argument("--steps", action="append", default=[], help="STAGE=N (default flow 4000, ...)")
    parser.add_argument("--budget", action="append", default=[], help="STAGE=SECONDS: size the stage to it")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    steps = {**DEFAULT_STEPS, **{k: int(v) for k, v in (s.split("=") for s in args.steps)}}
    budget = {k: float(v) for k, v in (s.split("=") for s in args.budget)}

    if args.simulate:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "from calozoo.cli import main; main()", "simulate", args.data]
            + ["-n", str(args.simulate), "--preset", "cc2-training", "--seed", str(args.data_seed)]
            + ["--no-progress"],
            check=True,
        )
        print(f"simulate: {args.simulate} showers in {time.perf_counter() - start:.0f} s", flush=True)

    from calozoo_caloclouds2.model import build
    from calozoo_caloclouds3 import training
    from calozoo_caloclouds3.data import TrainingSet

    start = time.perf_counter()
    data = TrainingSet.read(args.data)
    print(f"read {len(data)} showers, {len(data.points)} points in {time.perf_counter() - start:.0f} s")
    work = Path(args.work)
    for stage in args.stages.split(","):
        if stage not in STAGES:
            parser.error(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
        n = steps[stage]
        if stage in budget:
            per_step = _seconds_per_step(stage, data, work, args)
            n = max(PROBE_STEPS, min(n, int(budget[stage] / per_step)))
            print(
                f"{stage}: {per_step * 1000:.1f} ms/step -> {n} steps for {budget[stage]:.0f} s", flush=True
            )
        start = time.perf_counter()
        _run(stage, data, work, n, args, progress=not args.no_progress)
        print(f"{stage}: {n} steps in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"assembled {training.assemble(work, build=build)}")


if __name__ == "__main__":
    main()
