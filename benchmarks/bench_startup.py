"""How long `calozoo list-models` takes as a fresh process, and whether it imports torch."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

PROBE = (
    "import sys, time; t = time.perf_counter()\n"
    "from click.testing import CliRunner\n"
    "from calozoo.cli import main\n"
    "CliRunner().invoke(main, ['list-models'])\n"
    "print(time.perf_counter() - t, 'torch' in sys.modules)\n"
)


def run(repeats: int = 10) -> dict:
    walls, in_process, torch_loaded = [], [], set()
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - start)
        seconds, loaded = out.stdout.split()
        in_process.append(float(seconds))
        torch_loaded.add(loaded == "True")
    return {
        "repeats": repeats,
        "process_wall_median_s": statistics.median(walls),
        "process_wall_max_s": max(walls),
        "cli_in_process_median_s": statistics.median(in_process),
        "imports_torch": any(torch_loaded),
    }


if __name__ == "__main__":
    print(run())
