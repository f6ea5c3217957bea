"""Run the benchmarks and write docs/benchmarks.md (atomically)."""

from __future__ import annotations

import os
import platform
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_caloclouds3  # noqa: E402
import bench_evaluation  # noqa: E402
import bench_export  # noqa: E402
import bench_generate  # noqa: E402
import bench_geometry  # noqa: E402
import bench_scaleout  # noqa: E402
import bench_startup  # noqa: E402
from machine import cpu_name  # noqa: E402

from calozoo.errors import ModelFolderError, UnknownNameError  # noqa: E402
from calozoo.serialization import atomic_path  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main() -> None:
    startup = bench_startup.run()
    generation = [row for name in ("toy-gamma", "toyflow") for row in bench_generate.run(name)]
    lines = [
        "# Benchmarks",
        "",
        f"Measured {date.today().isoformat()} on {cpu_name()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, by `make bench` (`benchmarks/run_all.py`).",
        "",
        "## Start-up: `calozoo list-models`",
        "",
        "A fresh Python process that runs `calozoo list-models` with every installed plugin: median "
        f"{startup['process_wall_median_s'] * 1e3:.0f} ms wall "
        f"(max {startup['process_wall_max_s'] * 1e3:.0f} ms "
        f"over {startup['repeats']} runs), of which the CLI itself "
        f"{startup['cli_in_process_median_s'] * 1e3:.0f} ms. Imports torch: "
        f"{'yes' if startup['imports_torch'] else 'no'}.",
        "",
        "## Generation time per shower (one CPU thread, no projection)",
        "",
        "| model | energy [GeV] | batch | ms / shower (median) | ms / shower (best) | points / shower |",
        "|---|---|---|---|---|---|",
    ]
    for row in generation:
        lines.append(
            f"| {row['model']} | {row['energy_gev']:g} | {row['batch_size']} | "
            f"{row['ms_per_shower_median']:.2f} | {row['ms_per_shower_min']:.2f} | {row['mean_points']:.0f} |"
        )
    projection = bench_geometry.run_projection()
    preprocessing = bench_geometry.run_preprocessing()
    lines += ["", *bench_geometry.markdown(projection, preprocessing)]
    lines += ["", "## CaloClouds3", ""]
    try:
        caloclouds3 = bench_caloclouds3.run()
    except (ModelFolderError, UnknownNameError) as err:  # plugin or shipped weights not installed
        lines.append(f"Not measured: {err}")
    else:
        lines += [bench_caloclouds3.START, *bench_caloclouds3.markdown(caloclouds3), bench_caloclouds3.END]
    # The scale-out block takes minutes and its own command (bench_scaleout.py): keep it.
    previous = DOCS.read_text() if DOCS.exists() else ""
    if bench_scaleout.START in previous:
        block = previous.split(bench_scaleout.START, 1)[1].split(bench_scaleout.END, 1)[0]
        lines += [
            "",
            "## Scale-out: workers, schedulers, processes",
            "",
            bench_scaleout.START + block + bench_scaleout.END,
        ]
    try:
        exported = bench_export.run()
    except (ModelFolderError, UnknownNameError) as err:
        exported_lines = [f"Not measured: {err}"]
    else:
        exported_lines = bench_export.markdown(exported)
    lines += ["", "## Exported files: TorchScript and ONNX (DDFastShowerML)", "", *exported_lines]
    with atomic_path(DOCS) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print(DOCS.read_text())
    bench_evaluation.main()  # 10k vs 10k showers; writes its block into docs/evaluation.md


if __name__ == "__main__":
    main()
