"""Time to project one shower into cells, and to preprocess raw hits into training points.

``python benchmarks/bench_geometry.py`` measures both and rewrites their block of
docs/benchmarks.md (``make bench`` writes it too, with the rest of the page).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from machine import cpu_name, replace_block  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
START, END = "<!-- bench-geometry:start -->", "<!-- bench-geometry:end -->"

ENERGIES_GEV = (10.0, 50.0, 100.0)
GEOMETRIES = ("ild-ecal-regular", "ild-ecal-barrel")


def _median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def run_projection(repeats: int = 200) -> list[dict]:
    """One shower at a time (batch 1), as inside a simulation chain."""
    import calozoo

    installed = {r.name for r in calozoo.list_geometries()}
    toy = calozoo.load("toy-gamma")
    rows = []
    for name in [g for g in GEOMETRIES if g in installed]:
        geometry = calozoo.geometry(name)
        for energy in ENERGIES_GEV:
            shower = toy.sample([energy], seed=1)
            geometry.project(shower)  # warm-up
            rows.append(
                {
                    "geometry": name,
                    "energy_gev": energy,
                    "points": int(shower.num_points[0]),
                    "cells": int(geometry.project(shower).showers.num_points[0]),
                    "ms_per_shower": _median_ms(lambda g=geometry, s=shower: g.project(s), repeats),
                    "repeats": repeats,
                }
            )
    return rows


def fake_raw_hits(energy_gev: float, n_showers: int, hits_per_point: int = 5, seed: int = 0):
    """Raw-hit-like clouds: toy-gamma points split into several hits, tilt applied, z in mm."""
    import calozoo
    from calozoo.preprocessing import trajectory_xy_mm
    from calozoo.showers import Showers

    geometry = calozoo.geometry("ild-ecal-regular")
    rng = np.random.default_rng(seed)
    showers = calozoo.load("toy-gamma").sample([energy_gev] * n_showers, [0.0, 0.5, np.sqrt(0.75)], seed=seed)
    clouds = []
    for i, points in enumerate(showers):
        hits = np.repeat(points, hits_per_point, axis=0).astype(np.float64)
        hits[:, :2] += rng.normal(0.0, 1.0, (len(hits), 2))
        hits[:, 3] /= hits_per_point
        depth = geometry.layer_depth_mm[np.floor(hits[:, 2]).astype(int)]
        hits[:, :2] += trajectory_xy_mm(showers.direction[i], depth)
        hits[:, 2] = depth
        clouds.append(hits)
    return Showers.from_point_lists(clouds, showers.incident_energy_gev, showers.direction, z_units="mm")


def run_preprocessing(n_showers: int = 20) -> list[dict]:
    import calozoo
    from calozoo.preprocessing import preprocess

    if "ild-ecal-regular" not in {r.name for r in calozoo.list_geometries()}:
        return []
    geometry = calozoo.geometry("ild-ecal-regular")
    rows = []
    for energy in ENERGIES_GEV:
        raw = fake_raw_hits(energy, n_showers)
        preprocess(raw[:2], geometry, seed=0)  # warm-up
        start = time.perf_counter()
        points = preprocess(raw, geometry, seed=0)
        rows.append(
            {
                "energy_gev": energy,
                "raw_hits": float(raw.num_points.mean()),
                "points": float(points.num_points.mean()),
                "ms_per_shower": 1e3 * (time.perf_counter() - start) / n_showers,
            }
        )
    return rows


def markdown(projection: list[dict], preprocessing: list[dict]) -> list[str]:
    """The block of docs/benchmarks.md: projection, then preprocessing."""
    lines = [
        START,
        "## Projection into cells (one shower per call, one thread)",
        "",
        "Toy-gamma showers (training points) projected: tilt re-applied, placed at the incident point,",
        "summed per cell, dead regions and the 0.1 MeV threshold applied. Median over "
        f"{projection[0]['repeats'] if projection else 0} calls after a warm-up, on {cpu_name()}; "
        "`python benchmarks/bench_geometry.py` (or `make bench`).",
        "",
        "| geometry | energy [GeV] | points | cells | ms / shower (median) | ns / point |",
        "|---|---|---|---|---|---|",
    ]
    for row in projection:
        lines.append(
            f"| {row['geometry']} | {row['energy_gev']:g} | {row['points']} | {row['cells']} | "
            f"{row['ms_per_shower']:.3f} | {1e6 * row['ms_per_shower'] / max(row['points'], 1):.0f} |"
        )
    lines += [
        "",
        "## Preprocessing raw hits into training points (batch of 20, one thread)",
        "",
        "Raw-hit-like clouds (toy-gamma points split into 5 hits each, tilted at 30 deg), ild-ecal-regular.",
        "",
        "| energy [GeV] | raw hits | points out | ms / shower |",
        "|---|---|---|---|",
    ]
    for row in preprocessing:
        lines.append(
            f"| {row['energy_gev']:g} | {row['raw_hits']:.0f} | {row['points']:.0f} | "
            f"{row['ms_per_shower']:.2f} |"
        )
    return [*lines, END]


def main() -> None:
    from bench_caloclouds3 import single_thread

    with single_thread():
        lines = markdown(run_projection(), run_preprocessing())
    replace_block(lines, START, END, "Projection into cells", DOCS)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
