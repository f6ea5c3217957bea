"""Time per shower versus incident energy for a registered model, one CPU thread."""

from __future__ import annotations

import statistics
import time

ENERGIES_GEV = (10.0, 50.0, 100.0)


def run(model_name: str, batch_size: int = 100, repeats: int = 5, threads: int = 1) -> list[dict]:
    import numpy as np
    import torch

    import calozoo

    torch.set_num_threads(threads)
    model = calozoo.load(model_name)
    model.sample(np.full(batch_size, ENERGIES_GEV[0]), seed=0)  # warm-up (lazy init, allocator)
    rows = []
    for energy in ENERGIES_GEV:
        times, points = [], []
        for repeat in range(repeats):
            start = time.perf_counter()
            showers = model.sample(np.full(batch_size, energy), seed=repeat, batch_size=batch_size)
            times.append((time.perf_counter() - start) / batch_size)
            points.append(showers.num_points.mean())
        rows.append(
            {
                "model": model_name,
                "energy_gev": energy,
                "batch_size": batch_size,
                "threads": threads,
                "ms_per_shower_median": 1e3 * statistics.median(times),
                "ms_per_shower_min": 1e3 * min(times),
                "mean_points": float(np.mean(points)),
            }
        )
    return rows


if __name__ == "__main__":
    for row in run("toyflow"):
        print(row)
