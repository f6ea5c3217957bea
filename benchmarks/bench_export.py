"""The exported CaloClouds3 files for DDFastShowerML: TorchScript and ONNX beside the Python model.

One shower per call (what DDFastShowerML does), one CPU thread, normal incidence, no projection:

* ``model.sample`` of the shipped model, batch 1 (the Python path), with ShowerFlow's compiled
  one-row pass (the default, :mod:`calozoo_engine.kernels`), with its one-row trace instead
  (``calozoo_engine.flow.FUSE_ONE_ROW = False``) and with neither
  (``calozoo_engine.flow.TRACE_ONE_ROW = False``: the flow eager through normflows);
* the TorchScript file (``calozoo export caloclouds3 -o caloclouds3.pt``), run by ``torch.jit.load``;
* the ONNX file (``calozoo export caloclouds3 -o caloclouds3.onnx``), run by ONNX Runtime's CPU
  execution provider with one intra-op and one inter-op thread.

Then the ONNX parity of the shipped models (:func:`calozoo_engine.onnx_export.onnx_parity`, ONNX
Runtime against eager on the same draws): CaloClouds3 at :data:`PARITY_CONDITIONS` random
conditions over its range, CaloClouds2 at three normal-incidence energies.

The three are called interleaved (eager, TorchScript, ONNX, eager, ...) so a machine's drift
hits all alike; each call is timed on its own and the median and best are reported, with the
ratios measured in the same run. The exported files' output includes the tilt and the packing
into DDML's 35,000 floats, which ``sample`` does not do.

Usage (from the repository root)::

    python benchmarks/bench_export.py [--calls N]

writes its block of docs/benchmarks.md (between its markers); ``make bench`` runs it too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import hardware_limit  # noqa: E402
from bench_caloclouds3 import single_thread  # noqa: E402
from machine import cpu_name, replace_block  # noqa: E402

ENERGIES_GEV = (10.0, 50.0, 100.0)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
START, END = "<!-- bench-export:start -->", "<!-- bench-export:end -->"
CONTENDERS = ("untraced", "traced", "eager", "torchscript", "onnx")
#: Untimed rounds first: more than ShowerFlow's one-row calls before it traces itself.
WARM_UP = 40
#: CaloClouds3 conditions of the parity check: random over 1-127 GeV, theta 30-150, phi 80-110.
PARITY_CONDITIONS = 40
#: Energies at which the share of refused ShowerFlow draws is measured (the ONNX candidate rule).
REFUSAL_ENERGIES_GEV = (1.0, 2.0, 5.0, 10.0, 50.0, 100.0)


def run(calls: int = 200, seed: int = 0) -> dict:
    """Median and best ms per shower of each contender at each energy, and the file sizes."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from calozoo_engine import flow as flow_module
    from calozoo_engine.onnx_export import onnx_feed

    import calozoo

    model = calozoo.load("caloclouds3")
    hardware, shapes = hardware_limit.machine(), hardware_limit.model_shapes(model)
    rows = []
    with tempfile.TemporaryDirectory() as folder, single_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pt = model.export(Path(folder) / "caloclouds3.pt")
        onnx_file = model.export(Path(folder) / "caloclouds3.onnx")
        sizes = {"torchscript": pt.stat().st_size, "onnx": onnx_file.stat().st_size}
        scripted = torch.jit.load(str(pt))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        ort.set_seed(seed)
        session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        torch.manual_seed(seed)
        for energy in ENERGIES_GEV:
            inputs = tuple(torch.tensor([[v]], dtype=torch.float32) for v in (energy, 90.0, 90.0))
            feed = onnx_feed(energy, 90.0, 90.0)
            energies = np.array([energy])
            times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
            points: list[int] = []
            for i in range(-WARM_UP, calls):
                for name in CONTENDERS:
                    flow_module.TRACE_ONE_ROW = name != "untraced"
                    flow_module.FUSE_ONE_ROW = name != "traced"
                    start = time.perf_counter()
                    if name in ("untraced", "traced", "eager"):
                        showers = model.sample(energies, (0.0, 0.0, 1.0), seed=seed + WARM_UP + i)
                    elif name == "torchscript":
                        scripted(*inputs)
                    else:
                        session.run(None, feed)
                    if i >= 0:
                        times[name].append(time.perf_counter() - start)
                points.append(int(showers.num_points[0]))
            flow_module.TRACE_ONE_ROW = flow_module.FUSE_ONE_ROW = True
            row = {"energy_gev": energy, "points": float(np.mean(points))}
            row["limit_ms"] = hardware_limit.limit_ms(shapes, hardware, row["points"], 1)["total"]
            for name in CONTENDERS:
                row[f"{name}_ms_median"] = 1e3 * statistics.median(times[name])
                row[f"{name}_ms_best"] = 1e3 * min(times[name])
            rows.append(row)
    return {
        "rows": rows,
        "calls": calls,
        "sizes": sizes,
        "cpu": cpu_name(),
        "onnxruntime": ort.__version__,
        "hardware": hardware,
        "shapes": shapes,
        "parity": parity(seed),
        "refusals": refusal_rates(seed),
    }


def parity(seed: int = 0) -> dict:
    """The ONNX parity of the shipped CaloClouds3 and CaloClouds2 (see the module docstring)."""
    import dataclasses

    import numpy as np
    from calozoo_caloclouds2.export import CaloClouds2DDML
    from calozoo_caloclouds3.export import DDMLModule
    from calozoo_engine.onnx_export import onnx_parity

    import calozoo

    rng = np.random.default_rng(seed)
    random = [
        (float(rng.uniform(1, 127)), float(rng.uniform(30, 150)), float(rng.uniform(80, 110)))
        for _ in range(PARITY_CONDITIONS)
    ]
    cc3 = onnx_parity(DDMLModule(calozoo.load("caloclouds3")), conditions=tuple(random), seed=seed)
    normal = ((10.0, 90.0, 90.0), (50.0, 90.0, 90.0), (90.0, 90.0, 90.0))
    cc2 = onnx_parity(CaloClouds2DDML(calozoo.load("caloclouds2")), conditions=normal, seed=seed)
    return {"caloclouds3": dataclasses.asdict(cc3), "caloclouds2": dataclasses.asdict(cc2)}


def refusal_rates(seed: int = 0, draws: int = 20_000) -> dict[str, dict[float, float]]:
    """The share of ShowerFlow draws the redraw rule refuses (more than seven negative layer
    energies), per energy; CaloClouds3 at normal incidence, CaloClouds2 (normal incidence only)."""
    import numpy as np
    import torch
    from calozoo_engine.flow import MAX_NEGATIVE_LAYERS

    import calozoo

    out: dict[str, dict[float, float]] = {}
    gen = torch.Generator().manual_seed(seed)
    for name in ("caloclouds3", "caloclouds2"):
        model = calozoo.load(name)
        flow, (start, stop) = model.flow, model.flow.energy_columns
        rates = {}
        for energy in REFUSAL_ENERGIES_GEV:
            context = torch.as_tensor(
                model.recipe.flow_context(np.full(draws, energy), np.tile([0.0, 0.0, 1.0], (draws, 1))),
                dtype=torch.float32,
            )
            with torch.no_grad():
                targets = flow(torch.randn(draws, flow.features, generator=gen), context)
            rates[energy] = float(((targets[:, start:stop] < 0).sum(1) > MAX_NEGATIVE_LAYERS).float().mean())
        out[name] = rates
    return out


def markdown(result: dict) -> list[str]:
    lines = [
        START,
        f"One shower per call, one thread, normal incidence, no projection; {result['calls']} calls "
        f"of each, interleaved, after {WARM_UP} warm-up rounds; {result['cpu']}, ONNX Runtime "
        f"{result['onnxruntime']}. Command: `python benchmarks/bench_export.py`. `sample`: ShowerFlow's "
        "compiled one-row pass (the default); traced: its one-row trace instead "
        "(`calozoo_engine.flow.FUSE_ONE_ROW = False`); untraced: ShowerFlow eager through normflows "
        "(`calozoo_engine.flow.TRACE_ONE_ROW = False`).",
        "",
        "| energy [GeV] | points | limit [ms] | `sample` untraced [ms] | `sample` traced [ms] "
        "| `sample` [ms] | TorchScript file [ms] | ONNX file [ms] | `sample` / untraced "
        "| `sample` / traced | TorchScript / `sample` | ONNX / TorchScript |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        limit = row["limit_ms"]
        cells = [
            f"{row[f'{n}_ms_median']:.2f} (best {row[f'{n}_ms_best']:.2f}; "
            f"{row[f'{n}_ms_median'] / limit:.1f}x)"
            for n in CONTENDERS
        ]
        u, r, e, t, o = (row[f"{name}_ms_median"] for name in CONTENDERS)
        lines.append(
            f"| {row['energy_gev']:g} | {row['points']:.0f} | {limit:.2f} | {' | '.join(cells)} | "
            f"{e / u:.2f} | {e / r:.2f} | {t / e:.2f} | {o / t:.2f} |"
        )
    hardware, shapes, sizes = result["hardware"], result["shapes"], result["sizes"]
    lines += [
        "",
        "Medians (best; median over the limit). The limit (`benchmarks/hardware_limit.py`): this "
        f"machine's one-thread read bandwidth {hardware['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s and "
        f"matrix-product peak {hardware['matmul_flop_per_s'] / 1e9:.0f} GFLOP/s, measured in the same "
        f"run; ShowerFlow's {shapes['flow_parameters'] / 1e6:.2f} M parameters streamed once, its "
        f"products and the point network's ({shapes['point_weights']:,} weights per point) at the "
        "peak, the points written once.",
        "",
        f"File sizes: TorchScript {sizes['torchscript'] / 2**20:.1f} MiB, "
        f"ONNX {sizes['onnx'] / 2**20:.1f} MiB. The files also tilt the points and pack DDML's "
        "35,000 floats; `sample` returns a `Showers` object.",
        "",
        "ONNX parity (ONNX Runtime against eager on the same draws, the worst over the conditions; "
        f"CaloClouds3 at {PARITY_CONDITIONS} random conditions over 1-127 GeV, θ 30-150°, φ 80-110°, "
        "CaloClouds2 at 10, 50, 90 GeV, normal incidence):",
        "",
        "| model | flow targets | point features | layer energies | counts equal | points swapped |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in result["parity"].items():
        lines.append(
            f"| {name} | {p['targets']:.1e} | {p['features']:.1e} | {p['layer_energy']:.1e} | "
            f"{'yes' if p['counts_equal'] else 'no'} | {p['rows_differing']:.2%} |"
        )
    lines += [
        "",
        "Differences relative to each quantity's largest value. A swapped point trades places with a "
        "neighbour whose generated depth agrees to rounding (the depth sort); an export is refused above "
        "1e-4 or 1 % swapped.",
        "",
        "ShowerFlow draws refused by the redraw rule (more than seven negative layer energies; 20,000 "
        "draws per energy, normal incidence), which the ONNX graph's four candidates must cover:",
        "",
        "| model | " + " | ".join(f"{e:g} GeV" for e in REFUSAL_ENERGIES_GEV) + " |",
        "|---|" + "---|" * len(REFUSAL_ENERGIES_GEV),
        *(
            f"| {name} | " + " | ".join(f"{rates[e]:.2%}" for e in REFUSAL_ENERGIES_GEV) + " |"
            for name, rates in result["refusals"].items()
        ),
        END,
    ]
    return lines


def write_block(lines: list[str], page_path: Path = DOCS) -> None:
    """Replace this benchmark's block in docs/benchmarks.md (atomically), or append it."""
    replace_block(lines, START, END, "Exported files: TorchScript and ONNX (DDFastShowerML)", page_path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per contender and energy")
    args = parser.parse_args(argv)
    lines = markdown(run(args.calls))
    write_block(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
