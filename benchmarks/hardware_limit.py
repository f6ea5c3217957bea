"""The hardware limit of a flow + point-network model on the machine the benchmark runs on.

Measured here, on one thread: the memory read bandwidth (best of several sums over a 256 MiB
float32 tensor, far larger than any cache) and the matrix-product peak (best of several
1024 x 1024 x 1024 float32 products). From the model's own shapes, per shower at batch ``B``:

- ShowerFlow's weights streamed from memory once per call: ``4 x flow parameters / bandwidth / B``
  (at batch 1 this is the whole flow; at batch 100 it is shared);
- ShowerFlow's matrix products at the peak: ``2 x flow weights / peak``;
- the point network's per-point matrix products at the peak: ``2 x per-point weights x points /
  peak`` (the per-shower modulations are negligible);
- the points written once: ``16 bytes x points / bandwidth``.

Their sum is the time no implementation on this machine can beat (it ignores sorting, random
numbers and every other cost, so real code sits above it); the benchmarks report each time as
a multiple of it. ``python benchmarks/hardware_limit.py`` prints the machine's figures and the
shipped CaloClouds3's limits.
"""

from __future__ import annotations

import time

#: Bytes of float32.
FLOAT = 4


def measure_bandwidth(mebibytes: int = 256, repeats: int = 7) -> float:
    """Best read bandwidth of one thread, bytes per second (a sum streams the tensor once)."""
    import torch

    data = torch.ones(mebibytes * 2**20 // FLOAT)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        float(data.sum())
        best = min(best, time.perf_counter() - start)
    return data.numel() * FLOAT / best


def measure_matmul_peak(size: int = 1024, repeats: int = 7) -> float:
    """Best float32 matrix-product rate of one thread, FLOP per second."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def machine() -> dict:
    """This machine's one-thread bandwidth and matrix-product peak (torch limited to one thread)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {"bandwidth_bytes_per_s": measure_bandwidth(), "matmul_flop_per_s": measure_matmul_peak()}
    finally:
        torch.set_num_threads(threads)


def model_shapes(model) -> dict:
    """What the limit needs of a flow + point-network model: parameter and weight counts."""
    import torch

    flow_parameters = sum(p.numel() for p in model.flow.parameters())
    flow_weights = sum(m.weight.numel() for m in model.flow.modules() if isinstance(m, torch.nn.Linear))
    point_weights = sum(layer._layer.weight.numel() for layer in model.net.layers)
    return {"flow_parameters": flow_parameters, "flow_weights": flow_weights, "point_weights": point_weights}


def limit_ms(shapes: dict, hardware: dict, points: float, batch: int) -> dict:
    """The limit per shower, ms, and its parts (see the module docstring)."""
    bandwidth, peak = hardware["bandwidth_bytes_per_s"], hardware["matmul_flop_per_s"]
    parts = {
        "flow_stream": FLOAT * shapes["flow_parameters"] / bandwidth / batch,
        "flow_products": 2 * shapes["flow_weights"] / peak,
        "point_products": 2 * shapes["point_weights"] * points / peak,
        "points_written": 4 * FLOAT * points / bandwidth,
    }
    parts = {key: 1e3 * value for key, value in parts.items()}
    parts["total"] = sum(parts.values())
    return parts


def main() -> None:
    import calozoo

    hardware = machine()
    model = calozoo.load("caloclouds3")
    shapes = model_shapes(model)
    print(
        f"bandwidth {hardware['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s, "
        f"matmul peak {hardware['matmul_flop_per_s'] / 1e9:.1f} GFLOP/s (one thread)"
    )
    print(shapes)
    for points in (600.0, 2300.0, 4100.0):
        for batch in (1, 100):
            parts = limit_ms(shapes, hardware, points, batch)
            print(
                f"{points:.0f} points, batch {batch}: "
                + ", ".join(f"{k} {v:.3f} ms" for k, v in parts.items())
            )


if __name__ == "__main__":
    main()
