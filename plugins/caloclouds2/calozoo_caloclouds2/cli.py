"""``calozoo train caloclouds2`` (reached through the core's ``calozoo train``).

The command is CaloClouds3's (:func:`calozoo_caloclouds3.cli.make_train_command`) with
CaloClouds2's recipe, model builder and calibrator.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from calozoo_caloclouds3.cli import check_outputs, make_train_command

__all__ = ["train_command"]


def _recipe():
    from .recipe import CaloClouds2Recipe

    return CaloClouds2Recipe()


def _build(**parts):
    from .model import build

    return build(**parts)


def _calibrate(work, reference, geometry, output, seed) -> None:
    """The calibrate stage: fit the occupancy polynomials for ``geometry``, write them into the model."""
    from calozoo_caloclouds3.data import data_files

    from calozoo.io import read_showers
    from calozoo.showers import concatenate

    from .calibration import CaloClouds2Calibrator
    from .model import CaloClouds2

    folder = Path(output) if output else Path(work) / "model"
    model = CaloClouds2.load(folder)
    calibrator_folder = folder.parent / f"{folder.name}-calibrator"
    check_outputs((folder, CaloClouds2), (calibrator_folder, CaloClouds2Calibrator))
    showers = concatenate([read_showers(f) for f in data_files(reference)])
    calibrator = CaloClouds2Calibrator(geometry, seed=seed)
    calibrator.calibrate(model, showers, seed=seed).save(folder)
    calibrator.save(calibrator_folder)
    click.echo(json.dumps(calibrator.report_, indent=1))
    click.echo(f"poly_real = {calibrator.poly_real_}, poly_fake = {calibrator.poly_fake_}; wrote {folder}")


train_command = make_train_command(
    "caloclouds2",
    _recipe,
    _calibrate,
    build=_build,
    default_steps={"flow": 4000, "teacher": 8000, "distill": 4000},
)
