"""Where CaloClouds3's core tilt comes from: the slope of each layer's centre in the training frame.

Training points have the incident direction's tilt removed (``depth x (p_x, p_y) / p_z`` from
the entry point); what is left is how the shower's energy centre drifts layer by layer. For
showers binned by the direction's slope (``p_x / p_z`` for the polar angle, ``p_y / p_z`` for the
azimuth), this prints the drift of the mean energy-weighted centre per layer (mm per layer,
fitted over the layers 3-18 that hold most of the energy) for reference showers and for
CaloClouds3 showers of the same conditions::

    calozoo simulate calib -n 1000 --preset cc3-training --seed 7 --physics-version 2
    python benchmarks/cc3_core_tilt.py --reference calib [--model FOLDER]

The same drift in both means the projection restores the tilt correctly; a different drift is
the point network's, and it tilts the shower's core.
"""

from __future__ import annotations

import argparse

import numpy as np

CORE = np.arange(3, 19)


def layer_centres(showers, n_layers: int = 30) -> np.ndarray:
    """``(2, L)`` energy-weighted mean x and y (mm) of each layer over all showers' points."""
    points, _ = showers.flat()
    layer = np.clip(np.floor(points[:, 2]).astype(int), 0, n_layers - 1)
    e = points[:, 3]
    w = np.maximum(np.bincount(layer, e, minlength=n_layers), 1e-30)
    return np.stack([np.bincount(layer, e * points[:, k], minlength=n_layers) / w for k in (0, 1)])


def drift(showers, index: np.ndarray, axis: int) -> float:
    """mm per layer of the mean centre along ``axis`` (0: x, 1: y) over the core layers."""
    centres = layer_centres(showers[index])
    return float(np.polyfit(CORE, centres[axis][CORE], 1)[0])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="reference training points (file or folder)")
    parser.add_argument("--model", help="CaloClouds3 model folder (default: the shipped weights)")
    parser.add_argument("--bins", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    import calozoo
    from calozoo.evaluation.cli import read_sample

    torch.set_num_threads(1)
    reference = read_sample(args.reference)
    model = calozoo.load("caloclouds3", path=args.model)
    generated = model.sample(reference.incident_energy_gev, reference.direction, seed=args.seed)
    print("| slope | bin | reference [mm/layer] | CaloClouds3 [mm/layer] | difference |")
    print("|---|---|---|---|---|")
    for axis, name in [(0, "p_x / p_z (θ)"), (1, "p_y / p_z (φ)")]:
        slope = reference.direction[:, axis] / reference.direction[:, 2]
        edges = np.quantile(slope, np.linspace(0, 1, args.bins + 1))
        for low, high in zip(edges[:-1], edges[1:]):
            index = np.flatnonzero((slope >= low) & (slope <= high))
            ref, gen = drift(reference, index, axis), drift(generated, index, axis)
            print(f"| {name} | {low:+.2f} to {high:+.2f} | {ref:+.3f} | {gen:+.3f} | {gen - ref:+.3f} |")


if __name__ == "__main__":
    main()
