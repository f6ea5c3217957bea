"""CaloClouds3 speed: time per shower versus energy on one CPU thread, against the reference MC.

Measured, all at normal incidence (direction ``(0, 0, 1)``) and on one thread (torch, numba and
the BLAS pools of numpy all limited to one):

* CaloClouds3 ``sample`` with batch 100 (one call of 100 showers per repeat) and batch 1 (that
  many separate single-shower calls, each timed), each without and with projection into
  ``ild-ecal-barrel`` (generation and ``project`` timed together);
* the reference MC (``reference-mc``, default settings: transport plus preprocessing into training
  points, the same kind of output as CaloClouds3), one shower per call, without and with the same
  projection;
* peak memory of a fresh process per configuration (``ru_maxrss``).

Usage (from the repository root)::

    python benchmarks/bench_caloclouds3.py [--model FOLDER] [--quick] [--image PNG]

``--quick`` is for development: three energies, batch 20, a few calls; its numbers are no result.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENERGIES_GEV = tuple(float(e) for e in range(10, 101, 10))
QUICK_ENERGIES_GEV = (10.0, 50.0, 100.0)
DIRECTION = (0.0, 0.0, 1.0)
GEOMETRY = "ild-ecal-barrel"
IMAGE = Path(__file__).resolve().parent.parent / "docs" / "images" / "caloclouds3" / "time_per_shower.png"
#: The image as docs/benchmarks.md links it.
IMAGE_LINK = "images/caloclouds3/time_per_shower.png"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
#: The markers of this benchmark's section of docs/benchmarks.md.
START, END = "<!-- bench-caloclouds3:start -->", "<!-- bench-caloclouds3:end -->"

#: (key, what, energy [GeV], batch the target is about, limit [ms per shower], the authors' figure)
TARGETS = (
    (
        "cc3_b100_ms_median",
        "batch 100, no projection",
        50.0,
        100,
        2.5,
        "authors' Python: 1.3-2.5 ms",
    ),
    (
        "cc3_b1_proj_ms_median",
        "batch 1, with projection",
        100.0,
        1,
        20.0,
        "authors: 32 ms inside the full simulation",
    ),
)

#: Environment of the memory probes: every thread pool at one thread before anything is imported.
_ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}

#: A fresh process: load the model, one warm-up shower, then one batch at one energy (+ projection).
#: Memory from /proc/self/status, not ``ru_maxrss``: a child's ``ru_maxrss`` starts from the parent's
#: size at fork (survives exec), so it would report the size of the benchmarking process. The peak
#: (VmHWM) is reset just before the batch (``clear_refs`` 5), so it is the peak during the batch.
_MEMORY_PROBE = """
import json, sys
import numpy as np

def status_mib():
    values = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":")
            values[key] = int(value.split()[0]) / 1024
    return values

kind, path, energy, batch, project, geometry, direction = json.loads(sys.argv[1])
import calozoo
if kind == "caloclouds3":
    import torch
    torch.set_num_threads(1)
    model = calozoo.load("caloclouds3", path=path)
else:
    model = calozoo.load("reference-mc")
geometry = calozoo.geometry(geometry) if project else None
direction = np.array(direction)
warm = model.sample(np.full(1, 10.0), direction, seed=0, batch_size=1)
if geometry is not None:
    geometry.project(warm)
del warm
loaded = status_mib()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak to the current resident size
before = status_mib()
showers = model.sample(np.full(batch, energy), direction, seed=1, batch_size=batch)
if geometry is not None:
    geometry.project(showers)
after = status_mib()
print(json.dumps({"peak_mib": after["VmHWM"], "before_rss_mib": before["VmRSS"],
                  "reset": before["VmHWM"] - before["VmRSS"] < 1.0,
                  "lifetime_peak_mib": max(loaded["VmHWM"], after["VmHWM"]),
                  "mean_points": float(showers.num_points.mean())}))
"""


def median_and_best(seconds_per_shower: list[float]) -> tuple[float, float]:
    """Median and best, ms per shower."""
    return 1e3 * statistics.median(seconds_per_shower), 1e3 * min(seconds_per_shower)


@contextlib.contextmanager
def single_thread():
    """Inside the block torch, numba and the BLAS pools of numpy run on one thread (restored after)."""
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    torch_threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)  # the reference MC's transport is not parallel; this only makes sure
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(torch_threads)
        numba.set_num_threads(numba_threads)


def time_sampling(model, geometry, energy: float, batch: int, calls: int, project: bool, seed: int):
    """Time any shower model at normal incidence: ``calls`` calls of ``batch`` showers each.

    With ``project`` every call's showers are also projected into ``geometry`` (timed together).

    Returns:
        seconds per shower of each call, and the mean number of points per shower.
    """
    import numpy as np

    per_shower, points = [], []
    for i in range(calls):
        start = time.perf_counter()
        showers = model.sample(np.full(batch, energy), DIRECTION, seed=seed + i, batch_size=batch)
        if project:
            geometry.project(showers)
        per_shower.append((time.perf_counter() - start) / batch)
        points.append(float(showers.num_points.mean()))
    return per_shower, float(np.mean(points))


def time_reference_mc(model, geometry, energy: float, showers: int, seed: int):
    """One shower per call: seconds for training points, and for points + projection; mean points."""
    import numpy as np

    points_s, projected_s, points = [], [], []
    for i in range(showers):
        start = time.perf_counter()
        out = model.sample(np.full(1, energy), DIRECTION, seed=seed + i, batch_size=1)
        generated = time.perf_counter()
        geometry.project(out)
        projected = time.perf_counter()
        points_s.append(generated - start)
        projected_s.append(projected - start)
        points.append(float(out.num_points.mean()))
    return points_s, projected_s, float(np.mean(points))


def measure_memory(model_path, energy: float, configurations) -> list[dict]:
    """Peak resident memory of a fresh single-threaded process per ``(kind, batch, project)``."""
    rows = []
    env = {**os.environ, **_ONE_THREAD_ENV}
    for kind, batch, project in configurations:
        path = None if model_path is None else str(model_path)
        arg = json.dumps([kind, path, energy, batch, project, GEOMETRY, list(DIRECTION)])
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, arg], capture_output=True, text=True, env=env
        )
        if out.returncode != 0:
            raise RuntimeError(f"memory probe {kind} batch {batch} failed:\n{out.stderr[-2000:]}")
        probe = json.loads(out.stdout.strip().splitlines()[-1])
        if not probe["reset"]:
            raise RuntimeError("memory probe: could not reset the peak resident size (clear_refs)")
        rows.append(
            {
                "model": kind,
                "energy_gev": energy,
                "batch_size": batch,
                "projection": project,
                "peak_rss_mib": probe["peak_mib"],  # whole process, during the batch
                "rss_before_mib": probe["before_rss_mib"],  # model loaded, warmed up
                "rise_mib": probe["peak_mib"] - probe["before_rss_mib"],  # the batch's own
                "lifetime_peak_mib": probe["lifetime_peak_mib"],  # imports and loading included
                "mean_points": probe["mean_points"],
            }
        )
    return rows


def run(
    model_path=None,
    quick: bool = False,
    *,
    energies=None,
    batch_size: int | None = None,
    repeats: int | None = None,
    single_calls: int | None = None,
    reference_showers: int | None = None,
    memory: bool = True,
) -> dict:
    """Time CaloClouds3 (folder ``model_path``, ``None`` = shipped weights) and the reference MC.

    Defaults (full / ``quick``): energies 10-100 GeV in steps of 10 / 10, 50, 100 GeV;
    batch 100 / 20 with 5 / 1 repeats; 50 / 3 single-shower calls; 20 / 2 reference showers
    per energy.
    """
    import hardware_limit
    from calozoo_engine.flow import TRACE_AFTER_CALLS
    from machine import cpu_name

    import calozoo

    energies = tuple(float(e) for e in (energies or (QUICK_ENERGIES_GEV if quick else ENERGIES_GEV)))
    batch_size = batch_size or (20 if quick else 100)
    repeats = repeats or (1 if quick else 5)
    single_calls = single_calls or (3 if quick else 50)
    reference_showers = reference_showers or (2 if quick else 20)

    with single_thread():
        model = calozoo.load("caloclouds3", path=model_path)
        hardware, shapes = hardware_limit.machine(), hardware_limit.model_shapes(model)
        reference = calozoo.load("reference-mc")
        geometry = calozoo.geometry(GEOMETRY)
        # Warm-up: lazy initialisation, allocator, numba JIT (or its cache), projection tables.
        for batch in (1, batch_size):
            time_sampling(model, geometry, energies[0], batch, 2, True, seed=10**6)
        # past ShowerFlow's one-row calls before it traces itself: batch 1 is timed traced
        time_sampling(model, geometry, energies[0], 1, TRACE_AFTER_CALLS + 2, False, seed=10**6)
        time_reference_mc(reference, geometry, energies[0], 2, seed=10**6)

        rows = []
        for energy in energies:
            row = {"energy_gev": energy}
            seed = int(energy) * 1000
            for key, batch, calls, project in [
                ("cc3_b100", batch_size, repeats, False),
                ("cc3_b100_proj", batch_size, repeats, True),
                ("cc3_b1", 1, single_calls, False),
                ("cc3_b1_proj", 1, single_calls, True),
            ]:
                times, points = time_sampling(model, geometry, energy, batch, calls, project, seed)
                row[f"{key}_ms_median"], row[f"{key}_ms_min"] = median_and_best(times)
                if key == "cc3_b100":
                    row["cc3_mean_points"] = points
            for batch, name in ((batch_size, "limit_b100_ms"), (1, "limit_b1_ms")):
                row[name] = hardware_limit.limit_ms(shapes, hardware, row["cc3_mean_points"], batch)["total"]
            points_s, projected_s, ref_points = time_reference_mc(
                reference, geometry, energy, reference_showers, seed
            )
            row["refmc_ms_median"], row["refmc_ms_min"] = median_and_best(points_s)
            row["refmc_proj_ms_median"], row["refmc_proj_ms_min"] = median_and_best(projected_s)
            row["refmc_mean_points"] = ref_points
            row["speedup_points"] = row["refmc_ms_median"] / row["cc3_b100_ms_median"]
            row["speedup_cells"] = row["refmc_proj_ms_median"] / row["cc3_b1_proj_ms_median"]
            rows.append(row)

    memory_rows = []
    if memory:
        energy = max(energies)
        memory_rows = measure_memory(
            model_path,
            energy,
            [
                ("caloclouds3", batch_size, False),
                ("caloclouds3", batch_size, True),
                ("caloclouds3", 1, True),
                ("reference-mc", 1, True),
            ],
        )
    return {
        "model_path": None if model_path is None else str(model_path),
        "quick": quick,
        "cpu": cpu_name(),
        "threads": 1,
        "geometry": GEOMETRY,
        "direction": list(DIRECTION),
        "batch_size": batch_size,
        "repeats": repeats,
        "single_calls": single_calls,
        "reference_showers": reference_showers,
        "rows": rows,
        "hardware": hardware,
        "memory": memory_rows,
        "targets": _targets(rows, batch_size),
    }


def _targets(rows: list[dict], batch_size: int) -> list[dict]:
    out = []
    for key, what, energy, batch, limit, authors in TARGETS:
        row = next((r for r in rows if r["energy_gev"] == energy), None)
        measured_batch = batch_size if key.startswith("cc3_b100") else 1
        value = None if row is None else row[key]
        out.append(
            {
                "what": what,
                "energy_gev": energy,
                "batch_size": batch,
                "measured_batch_size": measured_batch,
                "limit_ms": limit,
                "authors": authors,
                "ms_per_shower": value,
                "passed": None if value is None else bool(value <= limit),
            }
        )
    return out


def plot_style() -> dict:
    """mplhep's CMS style with fonts small enough for a 6.4 x 4.8 inch figure with a long legend."""
    import mplhep

    style = dict(mplhep.style.CMS)
    style.update(
        {
            "font.size": 11,
            "axes.labelsize": 11,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "legend.fontsize": 9,
            "xaxis.labellocation": "right",
            "yaxis.labellocation": "top",
        }
    )
    return style


def plot(result: dict, path) -> None:
    """Time per shower versus energy (log y): the CaloClouds3 variants and the reference MC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from calozoo.serialization import atomic_path

    rows, b = result["rows"], result["batch_size"]
    energies = [r["energy_gev"] for r in rows]
    curves = [
        ("cc3_b100", f"CaloClouds3, batch {b}", "C0", "o-"),
        ("cc3_b100_proj", f"CaloClouds3, batch {b} + projection", "C0", "o--"),
        ("cc3_b1", "CaloClouds3, batch 1", "C1", "s-"),
        ("cc3_b1_proj", "CaloClouds3, batch 1 + projection", "C1", "s--"),
        ("refmc", "reference MC (training points)", "0.3", "^-"),
        ("refmc_proj", "reference MC + projection", "0.3", "^--"),
    ]
    with plt.style.context(plot_style()):
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        for key, label, colour, fmt in curves:
            ax.plot(
                energies, [r[f"{key}_ms_median"] for r in rows], fmt, color=colour, markersize=4, label=label
            )
        for target in result["targets"]:
            colour = "C0" if target["batch_size"] > 1 else "C1"
            ax.plot(
                target["energy_gev"],
                target["limit_ms"],
                "*",
                color=colour,
                markeredgecolor="k",
                markersize=12,
                label=f"target: {target['what']}",
            )
        ax.set_yscale("log")
        ax.set_xlabel("incident energy [GeV]")
        ax.set_ylabel("time per shower [ms] (median)")
        ax.set_title(f"one CPU thread, {result['cpu']}", fontsize=9, loc="left")
        ax.legend(loc="upper left", frameon=False, ncol=2, fontsize=8)
        top = max(r["refmc_proj_ms_median"] for r in rows)
        ax.set_ylim(top=top * 20)  # room for the legend above the curves
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
        plt.close(fig)


def _cell(row: dict, key: str) -> str:
    return f"{row[f'{key}_ms_median']:.2f} ({row[f'{key}_ms_min']:.2f})"


def markdown(result: dict, image=IMAGE, image_link: str = IMAGE_LINK) -> list[str]:
    """The section of docs/benchmarks.md (no heading); draws the plot into ``image`` unless ``None``."""
    b = result["batch_size"]
    where = "shipped weights" if result["model_path"] is None else f"`{result['model_path']}`"
    lines = []
    if result["quick"]:
        lines += ["**Quick run (development settings): these numbers are no result.**", ""]
    lines += [
        f"CaloClouds3 ({where}) on one CPU thread (torch, numba and BLAS), photons at normal incidence "
        f"{tuple(result['direction'])}. Cells: ms per shower, median (best) over "
        f"{result['repeats']} call{'s' * (result['repeats'] != 1)} of {b} showers (batch {b}) "
        f"or over {result['single_calls']} "
        f"single-shower calls (batch 1), after a warm-up. Without projection the output is training "
        f"points; with projection the same call is followed by `{result['geometry']}.project` "
        "(default incident point), timed together. The reference MC (`reference-mc`, default "
        "settings: transport in `ild-ecal-regular`, then preprocessing into training points) is timed "
        f"in the same run, one shower per call, {result['reference_showers']} showers per energy.",
        "",
        f"Speed-up, points: reference MC (training points) / CaloClouds3 batch {b} without "
        "projection. Speed-up, cells: reference MC + projection / CaloClouds3 batch 1 with "
        "projection (one shower at a time, as in a simulation).",
        "",
        f"| energy [GeV] | CC3 batch {b} | CC3 batch 1 | CC3 batch 1 + proj. | CC3 batch {b} + proj. "
        "| reference MC | reference MC + proj. | speed-up, points | speed-up, cells "
        f"| points / shower (CC3 / ref.) | limit batch {b} / batch 1 | over the limit: batch {b} / "
        "batch 1 / batch 1 + proj. |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        over = (
            r["cc3_b100_ms_median"] / r["limit_b100_ms"],
            r["cc3_b1_ms_median"] / r["limit_b1_ms"],
            r["cc3_b1_proj_ms_median"] / r["limit_b1_ms"],
        )
        lines.append(
            f"| {r['energy_gev']:g} | {_cell(r, 'cc3_b100')} | {_cell(r, 'cc3_b1')} | "
            f"{_cell(r, 'cc3_b1_proj')} | {_cell(r, 'cc3_b100_proj')} | {_cell(r, 'refmc')} | "
            f"{_cell(r, 'refmc_proj')} | {r['speedup_points']:.1f}x | {r['speedup_cells']:.1f}x | "
            f"{r['cc3_mean_points']:.0f} / {r['refmc_mean_points']:.0f} | "
            f"{r['limit_b100_ms']:.2f} / {r['limit_b1_ms']:.2f} | "
            + " / ".join(f"{x:.1f}x" for x in over)
            + " |"
        )
    hardware = result["hardware"]
    lines += [
        "",
        "The limit (`benchmarks/hardware_limit.py`, measured in the same run): one-thread read "
        f"bandwidth {hardware['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s and matrix-product peak "
        f"{hardware['matmul_flop_per_s'] / 1e9:.0f} GFLOP/s; ShowerFlow's weights streamed once per "
        "call (shared by a batch), its products and the point network's at the peak, the points "
        "written once. The projection is not in the limit (its memory floor is microseconds).",
    ]
    if result["memory"]:
        parts = []
        for m in result["memory"]:
            name = "CC3" if m["model"] == "caloclouds3" else "reference MC"
            proj = " + projection" if m["projection"] else ""
            parts.append(
                f"{name} batch {m['batch_size']}{proj}: {m['peak_rss_mib']:.0f} MiB "
                f"(+{m['rise_mib']:.0f} MiB; {m['lifetime_peak_mib']:.0f} MiB)"
            )
        lines += [
            "",
            f"Peak memory at {result['memory'][0]['energy_gev']:g} GeV: a fresh one-thread process per "
            "configuration loads the model, generates one warm-up shower, resets its peak resident "
            "size and generates the batch. Given: the peak resident size during the batch (the "
            "whole process: Python, libraries, model, batch), in brackets how far the batch raised "
            "it above the resident size just before, and the process's peak over its whole life "
            "(imports and loading included): " + "; ".join(parts) + ".",
        ]
    lines += ["", "Targets (reported, not asserted):", ""]
    for t in result["targets"]:
        if t["ms_per_shower"] is None:
            verdict, value = "NOT MEASURED", "no measurement at this energy"
        else:
            verdict = "PASS" if t["passed"] else "MISS"
            value = f"{t['ms_per_shower']:.2f} ms"
        note = ""
        if t["measured_batch_size"] != t["batch_size"]:
            note = f" (measured with batch {t['measured_batch_size']}, not {t['batch_size']})"
        lines.append(
            f"- {t['what']} at {t['energy_gev']:g} GeV, ≤ {t['limit_ms']:g} ms per shower "
            f"({t['authors']}): {value} → **{verdict}**{note}"
        )
    if image is not None:
        plot(result, image)
        lines += ["", f"![time per shower versus energy]({image_link})"]
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="CaloClouds3 model folder (default: shipped weights)")
    parser.add_argument("--quick", action="store_true", help="development settings: seconds, not a result")
    parser.add_argument(
        "--image",
        default=None,
        help=f"where the plot goes (default: {IMAGE}; with --quick a file in the temporary folder)",
    )
    parser.add_argument("--json", default=None, help="also write the result here")
    parser.add_argument(
        "--write", action="store_true", help="replace this section of docs/benchmarks.md (not with --quick)"
    )
    args = parser.parse_args(argv)
    if args.write and (args.quick or args.model):
        parser.error("--write is for the shipped model's full run (no --quick, no --model)")
    quick_image = Path(tempfile.gettempdir()) / "calozoo_cc3_time_quick.png"
    image = args.image or (quick_image if args.quick else IMAGE)
    result = run(args.model, quick=args.quick)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    lines = markdown(result, image=image)
    if args.write:
        from datetime import date

        from machine import cpu_name, replace_block

        measured = (
            f"Measured {date.today().isoformat()} on {cpu_name()} by "
            "`python benchmarks/bench_caloclouds3.py --write` (this section; `make bench` runs it too)."
        )
        replace_block([START, measured, "", *lines, END], START, END, "CaloClouds3", DOCS)
    print("\n".join(lines))
    print(f"\n(plot written to {image})")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
