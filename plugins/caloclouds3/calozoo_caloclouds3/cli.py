"""``calozoo train caloclouds3`` and ``calozoo import caloclouds3`` (registered through the commands hook)."""

from __future__ import annotations

import click
from calozoo_engine.cli import CONTEXT_SETTINGS, check_outputs, make_train_command

from calozoo.cli import friendly_errors

from .model import CaloClouds3Recipe

__all__ = ["train_command", "import_command"]

train_command = make_train_command(CaloClouds3Recipe)


@click.command("import", context_settings=CONTEXT_SETTINGS)
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(file_okay=False), required=True, help="Model folder to write."
)
@click.option(
    "--base",
    type=click.Path(exists=True, file_okay=False),
    help="Model whose flow and calibration to keep (default: the shipped one).",
)
@friendly_errors
def import_command(checkpoint, output, base):
    """Import the authors' distilled CaloClouds3 point network (a torch pickle) without running pickled code.

    The point network comes from CHECKPOINT (its EMA weights); ShowerFlow and the calibration
    come from --base; the point normalisation is the authors' (their training-set constants).
    """
    from calozoo_engine.checkpoint import load_authors_point_network

    from .model import AUTHORS_POINT_SCALER, CaloClouds3, load_pretrained

    check_outputs((output, CaloClouds3))  # before the work: a folder it may not replace is refused
    net, info = load_authors_point_network(checkpoint)
    model = load_pretrained(base)
    imported = CaloClouds3(
        model.flow,
        net,
        AUTHORS_POINT_SCALER,
        model.occupancy_factor,
        model.widening,
        model.energy_factor,
        {
            **model.calibration,
            "note": "calibrated for calozoo's own point network, not refitted for the imported one",
        },
        training={"imported_from": str(checkpoint), **{k: str(v) for k, v in info.items()}},
    )
    imported.save(output)
    click.echo(f"imported {checkpoint} ({info}) into {output}")
