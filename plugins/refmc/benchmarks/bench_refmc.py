"""Time per shower of the reference Monte Carlo: photons at 10, 50 and 100 GeV, one thread, median.

Raw hits in the ILD stack (``ild-ecal-regular``, 3.5 T, normal incidence), after a warm-up
shower (numba's compiled code is cached on disk, so the warm-up only loads it)::

    python plugins/refmc/benchmarks/bench_refmc.py            # 40 / 20 / 10 showers
    python plugins/refmc/benchmarks/bench_refmc.py --quick    # 10 / 5 / 3 showers

Targets (specs/reference-mc.md): at most 0.5 s at 50 GeV and 1 s at 100 GeV; goal 0.2 s at 50 GeV.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

__all__ = ["time_per_shower"]


def time_per_shower(energy_gev: float, n: int, seed: int = 1) -> list[float]:
    """Wall-clock seconds of ``n`` single photon showers at ``energy_gev``."""
    import numpy as np
    from calozoo_refmc.materials import slab_stack_from_geometry
    from calozoo_refmc.model import simulate_hits
    from calozoo_refmc.physics import build_tables

    import calozoo

    stack = slab_stack_from_geometry(calozoo.geometry("ild-ecal-regular"))
    tables = build_tables(stack)
    simulate_hits(stack, tables, [1.0], [[0, 0, 1.0]], 22, [0], 3.5)  # warm-up (loads the cache)
    seconds = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        simulate_hits(stack, tables, [energy_gev], [[0, 0, 1.0]], 22, [seed + i], 3.5)
        seconds[i] = time.perf_counter() - start
    return seconds.tolist()


def main() -> None:
    # one thread for every numerical library, set before numpy and numba are imported
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = "1"
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer showers")
    args = parser.parse_args()
    counts = {10.0: 10, 50.0: 5, 100.0: 3} if args.quick else {10.0: 40, 50.0: 20, 100.0: 10}
    print(f"reference-mc, one thread, {platform.processor() or platform.machine()}")
    print("| photon energy | showers | median s/shower | min | max |")
    print("|---|---|---|---|---|")
    for energy, n in counts.items():
        s = np.array(time_per_shower(energy, n))
        print(f"| {energy:g} GeV | {n} | {np.median(s):.3f} | {s.min():.3f} | {s.max():.3f} |")


if __name__ == "__main__":
    main()
