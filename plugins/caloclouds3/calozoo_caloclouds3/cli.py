"""``calozoo train caloclouds3`` and ``calozoo import caloclouds3`` (reached through the core's commands)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from calozoo.cli import friendly_errors

__all__ = ["train_command", "import_command", "make_train_command", "check_outputs"]

#: ``-h`` as well as ``--help``: these commands run on their own (``calozoo train MODEL ...`` hands
#: them the rest of the line), so they do not inherit the ``calozoo`` group's settings.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

_DEFAULT_STEPS = {"flow": 2500, "teacher": 8000, "distill": 3000}


def make_train_command(
    name: str,
    recipe: Callable[[], Any],
    calibrate: Callable[[str, str | None, str, str | None, int], None],
    build: Callable[..., Any] | None = None,
    default_steps: dict[str, int] | None = None,
) -> click.Command:
    """The ``calozoo train NAME`` command of a CaloClouds variant.

    Args:
        name: the model name (work folder default ``NAME-work``, help texts).
        recipe: makes the variant's :class:`~.recipe.Recipe` (for a new work folder).
        calibrate: ``calibrate(work, reference, geometry, output, seed)`` for the calibrate stage.
        build: the model builder :func:`.training.assemble` uses (default CaloClouds3).
        default_steps: steps per stage when ``--steps`` is not given.
    """
    steps_default = {**_DEFAULT_STEPS, **(default_steps or {})}
    steps_help = ", ".join(f"{k} {v}" for k, v in steps_default.items())

    @click.command("train", context_settings=CONTEXT_SETTINGS)
    @click.option(
        "--data",
        type=click.Path(exists=True),
        help="Training set: a CaloClouds-layout .h5 or a folder of shards.",
    )
    @click.option(
        "--stage",
        type=click.Choice(["flow", "teacher", "distill", "assemble", "calibrate"]),
        required=True,
        help="flow, teacher, distill: train (resumable); assemble: write WORK/model; calibrate: fit it.",
    )
    @click.option(
        "--work",
        type=click.Path(file_okay=False),
        default=f"{name}-work",
        show_default=True,
        help="Work folder of the run.",
    )
    @click.option("--steps", type=click.IntRange(min=1), help=f"Total steps of the stage ({steps_help}).")
    @click.option("--lr", type=float, help="Peak learning rate (cosine decay to 1e-5).")
    @click.option("--batch-size", type=click.IntRange(min=1), help="flow: showers per step (2048).")
    @click.option(
        "--points-per-batch", type=click.IntRange(min=1), help="teacher/distill: padded points per step."
    )
    @click.option(
        "--max-points",
        type=click.IntRange(min=1),
        help="teacher/distill: random subset of at most this many points per shower.",
    )
    @click.option("--limit", type=click.IntRange(min=1), help="Use only the first N showers of the data.")
    @click.option(
        "--seed", type=int, default=0, show_default=True, help="Seeds the training (and the calibration)."
    )
    @click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads.")
    @click.option(
        "--device", default="cpu", show_default=True, help="torch device for the training stages (cpu, cuda)."
    )
    @click.option(
        "--reference", type=click.Path(exists=True), help="calibrate: reference showers (training points)."
    )
    @click.option(
        "--geometry",
        default="ild-ecal-barrel",
        show_default=True,
        help="calibrate: geometry to calibrate for.",
    )
    @click.option(
        "-o",
        "--output",
        type=click.Path(file_okay=False),
        help="assemble/calibrate: model folder to write (default WORK/model).",
    )
    @friendly_errors
    def train_command(
        data,
        stage,
        work,
        steps,
        lr,
        batch_size,
        points_per_batch,
        max_points,
        limit,
        seed,
        threads,
        device,
        reference,
        geometry,
        output,
    ):
        import torch

        from . import training

        if threads:
            torch.set_num_threads(threads)
        if stage == "assemble":
            click.echo(f"wrote {training.assemble(work, output, build)}")
            return
        if stage == "calibrate":
            if reference is None:
                raise click.UsageError("--reference is required for the calibrate stage")
            calibrate(work, reference, geometry, output, seed)
            return
        if data is None:
            raise click.UsageError(f"--data is required for the {stage} stage")
        from .data import TrainingSet

        settings_class = {
            "flow": training.FlowSettings,
            "teacher": training.TeacherSettings,
            "distill": training.DistillSettings,
        }[stage]
        options = {
            "steps": steps or steps_default[stage],
            "lr": lr,
            "seed": seed,
            "batch_size": batch_size,
            "points_per_batch": points_per_batch,
            "max_points": max_points,
        }
        fields = settings_class.__dataclass_fields__
        for option, value in options.items():
            if value is not None and option not in fields:
                raise click.UsageError(f"--{option.replace('_', '-')} does not apply to the {stage} stage")
        settings = settings_class(**{k: v for k, v in options.items() if v is not None})
        train_set = TrainingSet.read(data, limit=limit)
        click.echo(f"{stage}: {len(train_set)} showers, {len(train_set.points)} points; work folder {work}")
        if stage == "distill":  # the recipe comes with the teacher
            folder = training.train_distill(train_set, work, settings, device=device)
        else:
            run = training.train_flow if stage == "flow" else training.train_teacher
            folder = run(train_set, work, settings, device=device, recipe=recipe())
        click.echo(f"{stage}: checkpoint {folder}; losses in {Path(work) / stage / 'log.jsonl'}")

    train_command.help = f"""Train {name} stage by stage; every stage resumes from its last checkpoint.

    \b
    calozoo train {name} --data TRAIN --stage flow
    calozoo train {name} --data TRAIN --stage teacher
    calozoo train {name} --data TRAIN --stage distill
    calozoo train {name} --stage assemble
    calozoo train {name} --stage calibrate --reference REF.h5 --geometry ild-ecal-barrel
    """
    return train_command


def check_outputs(*outputs: tuple[str | Path, type]) -> None:
    """Refuse, before any work, ``(folder, class)`` outputs that saving would not be allowed to replace.

    The same check ``save`` makes (:func:`calozoo.serialization.check_folder_replaceable`): a
    folder holding files calozoo did not write, or a calozoo folder of another kind, raises
    :class:`~calozoo.errors.OutputError` (a one-line message on the command line).
    """
    from calozoo.serialization import check_folder_replaceable, class_path

    for folder, cls in outputs:
        check_folder_replaceable(folder, class_path(cls))


def _calibrate(work, reference, geometry, output, seed) -> None:
    """The calibrate stage of CaloClouds3: fit f_occ, widening and f_E, write them into the model."""
    from calozoo.io import read_showers
    from calozoo.showers import concatenate

    from .calibration import CaloClouds3Calibrator
    from .data import data_files
    from .model import CaloClouds3

    folder = Path(output) if output else Path(work) / "model"
    model = CaloClouds3.load(folder)
    calibrator_folder = folder.parent / f"{folder.name}-calibrator"
    check_outputs((folder, CaloClouds3), (calibrator_folder, CaloClouds3Calibrator))
    showers = concatenate([read_showers(f) for f in data_files(reference)])
    calibrator = CaloClouds3Calibrator(geometry, seed=seed)
    calibrated = calibrator.calibrate(model, showers, seed=seed)
    calibrated.save(folder)
    calibrator.save(calibrator_folder)
    click.echo(json.dumps(calibrator.report_, indent=1))
    click.echo(
        f"f_occ = {calibrator.occupancy_factor_:.4f}, widening = {calibrator.widening_:.4f}, "
        f"f_E = {calibrator.energy_factor_:.4f}; wrote {folder}"
    )


def _cc3_recipe():
    from .recipe import CaloClouds3Recipe

    return CaloClouds3Recipe()


train_command = make_train_command("caloclouds3", _cc3_recipe, _calibrate)


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
    from .checkpoint import load_authors_point_network
    from .features import AUTHORS_POINT_SCALER
    from .model import CaloClouds3, load_pretrained

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
