"""Throughput of `calozoo simulate`: 1 and 2 workers, multiprocessing pool vs Dask LocalCluster.

Each run is a fresh `calozoo simulate` process into an empty folder (so the times include
starting the pool or the cluster); all runs must give the same shard checksums.

    python benchmarks/bench_scaleout.py [--showers 400] [--energy 50] [--shard-size 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = [
    ("multiprocessing", 1, []),
    ("multiprocessing", 2, []),
    ("dask local", 1, ["--scheduler", "local"]),
    ("dask local", 2, ["--scheduler", "local"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=400)
    parser.add_argument("--energy", type=float, default=50.0)
    parser.add_argument("--shard-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    calozoo = Path(sys.executable).with_name("calozoo")
    rows, checksums = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for k, (how, workers, extra) in enumerate(CONFIGS):
            out = Path(tmp) / f"run{k}"
            command = [
                str(calozoo), "simulate", str(out), "-n", str(args.showers), "--preset", "none",
                "--energy", f"{args.energy:g}", "--theta", "90", "--phi", "90", "--seed", str(args.seed),
                "--shard-size", str(args.shard_size), "--workers", str(workers), "--no-progress", *extra,
            ]  # fmt: skip
            start = time.perf_counter()
            subprocess.run(
                command, check=True, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
            )
            wall = time.perf_counter() - start
            shards = json.loads((out / "reference-mc.json").read_text())["shards"]
            checksums.add(json.dumps(shards, sort_keys=True))
            print(how, workers, {name: e["sha256"][:10] for name, e in shards.items()}, file=sys.stderr)
            rows.append(
                {"scheduler": how, "workers": workers, "wall_s": wall, "showers_per_s": args.showers / wall}
            )
            print(
                f"{how:16s} {workers} worker(s): {wall:6.1f} s, {args.showers / wall:5.1f} showers/s",
                flush=True,
            )
    print(json.dumps({"settings": vars(args), "cores": os.cpu_count(), "rows": rows}, indent=2))
    print("\n| scheduler | workers | wall time | showers/s |\n|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['scheduler']} | {row['workers']} | {row['wall_s']:.1f} s | {row['showers_per_s']:.1f} |"
        )
    if len(checksums) != 1:
        sys.exit("the runs gave different shards")
    print("\nall runs: identical shards")


if __name__ == "__main__":
    main()
