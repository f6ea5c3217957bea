"""Time the photon finder and the overlay: one event per call, one thread.

    python benchmarks/bench_reconstruction.py

Events are reference-MC photons (default physics) entering the ILD barrel's top stave from the
interaction point; one photon per event, and two photons 30 mm apart. Prints a Markdown table
(the one in docs/reconstruction.md).
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from bench_geometry import _median_ms  # noqa: E402
from machine import cpu_name  # noqa: E402

CASES = ((5.0, 1), (20.0, 1), (100.0, 1), (100.0, 2))
REPEATS = 10  # events per case, each timed on its own


def run() -> list[dict]:
    import calozoo
    from calozoo.reconstruction import PhotonFinder, overlay

    barrel = calozoo.geometry("ild-ecal-barrel")
    reference = calozoo.load("reference-mc")
    finder = PhotonFinder.for_geometry(barrel)
    rng = np.random.default_rng(5)
    rows = []
    for energy, n_photons in CASES:
        n = REPEATS * n_photons
        offset = np.tile([0.0, 30.0][:n_photons], REPEATS)  # a second photon 30 mm along the beam
        along = np.repeat(rng.uniform(-400, 400, REPEATS), n_photons) + offset
        point = np.stack([np.zeros(n), np.full(n, 1804.8), along], axis=1)
        direction = point / np.linalg.norm(point, axis=1, keepdims=True)
        showers = reference.sample(np.full(n, energy), barrel.locate(point, direction).direction, seed=3)
        event = np.repeat(np.arange(REPEATS), n_photons)
        find, place, hits, found = [], [], [], []
        for i in range(REPEATS):
            rows_i = event == i
            one = showers[np.flatnonzero(rows_i)]
            args = (barrel, one, point[rows_i], np.zeros(n_photons, dtype=np.int64))
            place.append(_median_ms(lambda a=args: overlay(*a), 5))
            events = overlay(*args)
            finder.find(events)  # warm-up
            find.append(_median_ms(lambda e=events: finder.find(e), 5))
            hits.append(len(events.energy_mev))
            found.append(int(finder.find(events).count[0]))
        rows.append(
            {
                "energy_gev": energy,
                "photons": n_photons,
                "hits": float(np.mean(hits)),
                "found": float(np.mean(found)),
                "overlay_ms": statistics.median(place),
                "find_ms": statistics.median(find),
                "find_ms_max": max(find),
            }
        )
    return rows


def main() -> None:
    rows = run()
    command = " ".join(sys.argv)
    print(f"Measured on {cpu_name()}, one thread, Python {platform.python_version()}, by `{command}`.")
    print()
    print("| photons | energy [GeV] | hit cells | photons found | overlay [ms] | photon finder [ms] (max) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['photons']} | {r['energy_gev']:g} | {r['hits']:.0f} | {r['found']:.1f} "
            f"| {r['overlay_ms']:.2f} "
            f"| {r['find_ms']:.2f} ({r['find_ms_max']:.2f}) |"
        )


if __name__ == "__main__":
    main()
