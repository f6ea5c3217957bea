"""Train toyflow on toy-gamma showers and save it: ``python -m calozoo_toyflow.train --out DIR``.

This is how the shipped weights (``calozoo_toyflow/weights/toyflow``) were made::

    python -m calozoo_toyflow.train --out plugins/toyflow/calozoo_toyflow/weights/toyflow --n 2000 --seed 0
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from calozoo.errors import OutputError
from calozoo.serialization import check_folder_replaceable, class_path
from calozoo.showers import Showers

from .gamma import ToyGammaShowers, random_directions
from .model import SHIPPED_WEIGHTS, ToyFlow

__all__ = ["training_showers", "main"]


def training_showers(n: int, seed: int) -> Showers:
    """``n`` toy-gamma showers covering toyflow's conditions.

    Energies are log-uniform in 1-127 GeV, so that low energies, where the shape changes
    fastest, are as well covered as high ones; directions are uniform within 60 deg of the normal.
    """
    gamma = ToyGammaShowers()
    conditions = gamma.conditions
    rng = np.random.default_rng(seed)
    log_low, log_high = np.log(conditions.energy_min_gev), np.log(conditions.energy_max_gev)
    energy_gev = np.exp(rng.uniform(log_low, log_high, n))
    direction = random_directions(n, conditions.max_angle_deg, rng)
    return gamma.sample(energy_gev, direction, seed=int(rng.integers(2**32)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m calozoo_toyflow.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", default=str(SHIPPED_WEIGHTS), help="folder to save the model into")
    parser.add_argument("--n", type=int, default=2000, help="number of toy-gamma training showers")
    parser.add_argument("--seed", type=int, default=0, help="seeds the showers and the training")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--lr", type=float, default=4e-3, help="initial learning rate")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:  # before training: a folder the model could not be saved into is refused now
        check_folder_replaceable(args.out, class_path(ToyFlow))
    except OutputError as err:
        parser.exit(1, f"error: {err}\n")

    start = time.perf_counter()
    showers = training_showers(args.n, args.seed)
    generated = time.perf_counter()
    model = ToyFlow().fit(showers, epochs=args.epochs, lr=args.lr, seed=args.seed, progress=not args.quiet)
    trained = time.perf_counter()
    try:
        path = model.save(args.out)
    except OutputError as err:  # the folder changed while training
        parser.exit(1, f"error: {err}\n")
    nll = model.training_["nll_per_epoch"]
    print(
        f"{args.n} toy-gamma showers in {generated - start:.1f} s; trained in {trained - generated:.1f} s "
        f"(NLL {nll[0]:.1f} -> {nll[-1]:.1f} nats per shower); saved to {path}"
    )


if __name__ == "__main__":
    main()
