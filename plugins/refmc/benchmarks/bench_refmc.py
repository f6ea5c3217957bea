"""Time per shower of the reference Monte Carlo: photons at 10, 50 and 100 GeV, one thread, median.

Raw hits in the ILD stack (``ild-ecal-regular``, 3.5 T, normal incidence), after a warm-up
shower (numba's compiled code is cached on disk, so the warm-up only loads it)::

    python plugins/refmc/benchmarks/bench_refmc.py            # 40 / 20 / 10 showers
    python plugins/refmc/benchmarks/bench_refmc.py --quick    # 10 / 5 / 3 showers
    python plugins/refmc/benchmarks/bench_refmc.py --versions 2 3   # physics versions side by side

With several versions the showers of each energy alternate between the versions (the same seeds),
so that a busy machine slows them alike.

Targets (specs/reference-mc.md): at most 0.5 s at 50 GeV and 1 s at 100 GeV; goal 0.2 s at 50 GeV.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

__all__ = ["time_per_shower"]


def time_per_shower(energy_gev: float, n: int, seed: int = 1, versions=(None,)) -> dict:
    """Wall-clock seconds of ``n`` single photon showers at ``energy_gev``, per physics version
    (``None``: the default), the versions alternating shower by shower."""
    import numpy as np
    from calozoo_refmc.materials import slab_stack_from_geometry
    from calozoo_refmc.model import simulate_hits
    from calozoo_refmc.physics import build_tables

    import calozoo

    stack = slab_stack_from_geometry(calozoo.geometry("ild-ecal-regular"))
    tables = {
        v: build_tables(stack) if v is None else build_tables(stack, physics_version=v) for v in versions
    }
    for t in tables.values():
        simulate_hits(stack, t, [1.0], [[0, 0, 1.0]], 22, [0], 3.5)  # warm-up (loads the cache)
    seconds = {v: np.empty(n) for v in versions}
    for i in range(n):
        for v, t in tables.items():
            start = time.perf_counter()
            simulate_hits(stack, t, [energy_gev], [[0, 0, 1.0]], 22, [seed + i], 3.5)
            seconds[v][i] = time.perf_counter() - start
    return {v: s.tolist() for v, s in seconds.items()}


def main() -> None:
    # one thread for every numerical library, set before numpy and numba are imported
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = "1"
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer showers")
    parser.add_argument("--versions", type=int, nargs="+", default=None, help="physics versions to compare")
    args = parser.parse_args()
    counts = {10.0: 10, 50.0: 5, 100.0: 3} if args.quick else {10.0: 40, 50.0: 20, 100.0: 10}
    versions = tuple(args.versions) if args.versions else (None,)
    print(f"reference-mc, one thread, {platform.processor() or platform.machine()}")
    print("| physics version | photon energy | showers | median s/shower | min | max |")
    print("|---|---|---|---|---|---|")
    for energy, n in counts.items():
        for version, seconds in time_per_shower(energy, n, versions=versions).items():
            s = np.array(seconds)
            label = "default" if version is None else str(version)
            print(f"| {label} | {energy:g} GeV | {n} | {np.median(s):.3f} | {s.min():.3f} | {s.max():.3f} |")


if __name__ == "__main__":
    main()
