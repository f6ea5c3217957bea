"""CaloClouds3's training throughput per stage on one thread: showers/s (flow), points/s (point network).

    python benchmarks/bench_training.py            # --showers 400 --steps 30 --threads 1

A small CaloClouds3 training set (the ``cc3-training`` preset, reference MC physics version 2, as
the shipped model) is simulated into a temporary folder; each stage runs ``--steps`` steps with
its default settings (flow: 2,048 showers per step; teacher: 65,536 points; distillation: 32,768
points and one Heun step of the teacher per step) and the time per step is read from the
stage's own log (the first logged interval, the warm-up, left out). Prints a Markdown table
(docs/caloclouds3.md, "Training throughput").
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from machine import cpu_name  # noqa: E402


def _seconds_per_step(log: Path) -> float:
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    rows = [r for r in rows if "seconds" in r]
    (s0, t0), (s1, t1) = (rows[0]["step"], rows[0]["seconds"]), (rows[-1]["step"], rows[-1]["seconds"])
    return (t1 - t0) / (s1 - s0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=400)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from calozoo_caloclouds3.model import CaloClouds3Recipe
    from calozoo_engine.data import TrainingSet
    from calozoo_engine.training import (
        DistillSettings,
        FlowSettings,
        TeacherSettings,
        train_distill,
        train_flow,
        train_teacher,
    )
    from calozoo_refmc.dataset import simulate_dataset

    torch.set_num_threads(args.threads)
    recipe = CaloClouds3Recipe()
    every = max(2, args.steps // 6)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        simulate_dataset(data_dir, args.showers, seed=11, physics_version=2, workers=1, progress=False)
        data = TrainingSet.read(data_dir, progress=False)
        work = Path(tmp) / "work"
        common = {"steps": args.steps, "log_every": every, "checkpoint_every": args.steps}
        flow, teacher, distill = FlowSettings(**common), TeacherSettings(**common), DistillSettings(**common)
        train_flow(data, work, flow, recipe=recipe, progress=False)
        train_teacher(data, work, teacher, recipe=recipe, progress=False)
        train_distill(data, work, distill, recipe=recipe, progress=False)
        logs = {stage: work / stage / "log.jsonl" for stage in ("flow", "teacher", "distill")}
        rows = [
            ("flow", flow.batch_size, "showers", _seconds_per_step(logs["flow"])),
            ("teacher", teacher.points_per_batch, "points", _seconds_per_step(logs["teacher"])),
            ("distill", distill.points_per_batch, "points", _seconds_per_step(logs["distill"])),
        ]
    print(
        f"Measured on {cpu_name()}, {args.threads} thread(s), Python {platform.python_version()}, torch "
        f"{torch.__version__}, by `python benchmarks/bench_training.py --showers {args.showers} "
        f"--steps {args.steps} --threads {args.threads}`."
    )
    print()
    print("| stage | per step | s / step | throughput per thread |")
    print("|---|---|---|---|")
    for stage, size, unit, seconds in rows:
        rate = size / seconds / args.threads
        print(f"| {stage} | {size:,} {unit} | {seconds:.3f} | {rate:,.0f} {unit}/s |")


if __name__ == "__main__":
    main()
