"""What batch invariance costs: CaloClouds3 and CaloClouds2 with and without ``batch_invariant=True``.

One CPU thread, photons at normal incidence, 50 GeV (CaloClouds3) and 50 GeV (CaloClouds2):
milliseconds per shower, median (best) over repeated calls of batch 100 and batch 1, the two
settings interleaved call by call so that a busy machine slows both alike; and, for each setting,
whether the showers of one seed are bit-identical between batch sizes 1, 7 and 100 (and how many
of 100 showers have a different number of points when they are not).

Usage (from the repository root)::

    python benchmarks/bench_batch_invariance.py [--repeats N]

It prints a markdown table (docs/engine.md quotes it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import calozoo  # noqa: E402

ENERGY_GEV = 50.0


def _time(model, batch: int, seed: int) -> float:
    start = time.perf_counter()
    model.sample(np.full(batch, ENERGY_GEV), seed=seed, batch_size=batch)
    return (time.perf_counter() - start) / batch * 1e3


def _agreement(model) -> tuple[bool, int]:
    energy = np.linspace(10.0, 90.0, 100)
    whole = model.sample(energy, seed=5, batch_size=100)
    identical, differing = True, 0
    for batch in (1, 7):
        other = model.sample(energy, seed=5, batch_size=batch)
        identical &= other == whole
        differing = max(differing, int(np.sum(other.num_points != whole.num_points)))
    return bool(identical), differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per batch size and setting")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in ("caloclouds3", "caloclouds2"):
        models = {flag: calozoo.load(name, batch_invariant=flag) for flag in (False, True)}
        for model in models.values():
            model.sample(np.full(10, ENERGY_GEV), seed=0, batch_size=10)  # warm-up
        times = {(flag, batch): [] for flag in models for batch in (100, 1)}
        for k in range(args.repeats):
            for batch in (100, 1):
                for _ in range(1 if batch == 100 else 5):
                    for flag, model in models.items():
                        times[(flag, batch)].append(_time(model, batch, seed=k))
        for flag, model in models.items():
            identical, differing = _agreement(model)
            cells = [
                f"{statistics.median(times[(flag, b)]):.2f} ({min(times[(flag, b)]):.2f})" for b in (100, 1)
            ]
            rows.append(
                (name, "on" if flag else "off (default)", *cells, "yes" if identical else "no", differing)
            )
    print(
        "| model | batch_invariant | batch 100 [ms / shower] | batch 1 [ms / shower] | "
        "bit-identical for batch 1, 7, 100 | showers of 100 with another point count |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


if __name__ == "__main__":
    main()
