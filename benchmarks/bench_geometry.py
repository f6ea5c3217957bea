"""Time to project one shower into cells, and to preprocess raw hits into training points."""

from __future__ import annotations

import statistics
import time

import numpy as np

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


if __name__ == "__main__":
    for row in run_projection() + run_preprocessing():
        print(row)
