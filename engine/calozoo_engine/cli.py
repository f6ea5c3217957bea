"""``calozoo train MODEL`` for every flow + point-network model: one command, driven by the model's recipe.

A plugin registers ``make_train_command(recipe)`` through the ``calozoo_register_commands`` hook
(``register("train NAME", "module:train_command")``); the stages are :mod:`.training`'s. The calibrate stage
uses the calibrator registered under the model's name, through its ``calibrate(model,
reference, seed=)``: it is ``calozoo calibrate NAME --weights WORK/model -o WORK/model``.
"""

from __future__ import annotations

from pathlib import Path

import click

from calozoo.cli import friendly_errors

__all__ = ["make_train_command", "check_outputs", "CONTEXT_SETTINGS"]

#: ``-h`` as well as ``--help``: these commands run on their own (``calozoo train MODEL ...`` hands
#: them the rest of the line), so they do not inherit the ``calozoo`` group's settings.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

_DEFAULT_STEPS = {"flow": 2500, "teacher": 8000, "distill": 3000}


def make_train_command(recipe_type: type, default_steps: dict[str, int] | None = None) -> click.Command:
    """The ``calozoo train NAME`` command of the model whose recipe class is ``recipe_type``.

    Args:
        recipe_type: the model's :class:`~.recipe.Recipe` (its ``name`` names the model; a new
            work folder starts from ``recipe_type()``).
        default_steps: steps per stage when ``--steps`` is not given.
    """
    name = recipe_type.name
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
        type=click.Choice(["flow", "teacher", "distill", "assemble", "calibrate", "summarise"]),
        required=True,
        help="flow, teacher, distill: train (resumable); assemble: write WORK/model; calibrate: fit it; "
        "summarise: write the per-shower summaries of --data to -o (a compact data set for the flow).",
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
        help="calibrate: geometry to calibrate for (default ild-ecal-barrel); flow, teacher, distill, "
        "summarise: a new work folder's detector, whose layer count the model takes (default ILD's 30).",
    )
    @click.option(
        "-o",
        "--output",
        type=click.Path(),
        help="assemble/calibrate: model folder to write (default WORK/model); summarise: the file.",
    )
    @click.option(
        "--recipe",
        "recipe_options",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"A recipe option of a new work folder ({_options_help(recipe_type)}); a resumed stage "
        "keeps the recipe it started with.",
    )
    @click.option(
        "-C",
        "--calibrator-option",
        "calibrator_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="calibrate: an option of the model's calibrator (as `calozoo calibrate -C`).",
    )
    @click.option(
        "--base",
        help="assemble: the point network (and its normalisation) from this model folder, or "
        "'shipped' for the plugin's own, instead of WORK/distill: a new flow with a trained point network.",
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
        recipe_options,
        calibrator_options,
        base,
    ):
        import torch

        from . import training

        if threads:
            torch.set_num_threads(threads)
        recipe = make_recipe(recipe_type, recipe_options)
        if geometry is not None and stage not in ("assemble", "calibrate"):
            import calozoo

            recipe = recipe.for_geometry(calozoo.geometry(geometry))
        if (recipe_options or geometry is not None) and stage in ("flow", "teacher", "distill"):
            _check_resumed_recipe(Path(work) / stage, recipe)
        if base is not None and stage != "assemble":
            raise click.UsageError("--base applies to the assemble stage only")
        if stage == "assemble":
            point_model = None
            if base is not None:
                import calozoo

                point_model = calozoo.load(name, None if base == "shipped" else base)
            click.echo(f"wrote {training.assemble(work, recipe, output, point_model=point_model)}")
            return
        if stage == "calibrate":
            if reference is None:
                raise click.UsageError("--reference is required for the calibrate stage")
            from calozoo.calibrate import (
                calibrate_model,
                echo_result,
            )
            from calozoo.calibrate import (
                calibrator_options as parse_calibrator_options,
            )

            folder = Path(output) if output else Path(work) / "model"
            options = parse_calibrator_options(calibrator_options)
            geometry = geometry or "ild-ecal-barrel"
            echo_result(
                calibrate_model(name, reference, geometry, folder, seed=seed, weights=folder, options=options)
            )
            return
        if data is None:
            raise click.UsageError(f"--data is required for the {stage} stage")
        from .data import SummarySet, TrainingSet, read_training_data, write_summaries

        if stage == "summarise":
            if output is None:
                raise click.UsageError("-o/--output (a .h5 file) is required for the summarise stage")
            summaries = SummarySet.of_shards(data, recipe.n_layers, limit=limit)
            written = write_summaries(output, summaries)
            size = written.stat().st_size
            click.echo(
                f"wrote {written}: {len(summaries)} showers, {size / len(summaries):.0f} bytes per shower"
            )
            return

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
        train_set = read_training_data(data, limit=limit, points=stage != "flow")
        held = f"{len(train_set.points)} points" if isinstance(train_set, TrainingSet) else "summaries only"
        click.echo(f"{stage}: {len(train_set)} showers, {held}; work folder {work}")
        run = {
            "flow": training.train_flow,
            "teacher": training.train_teacher,
            "distill": training.train_distill,
        }
        folder = run[stage](train_set, work, settings, device=device, recipe=recipe)
        click.echo(f"{stage}: checkpoint {folder}; losses in {Path(work) / stage / 'log.jsonl'}")

    train_command.help = f"""Train {name} stage by stage; every stage resumes from its last checkpoint.

    \b
    calozoo train {name} --data TRAIN --stage flow
    calozoo train {name} --data TRAIN --stage summarise -o SUMMARIES.h5   # the flow's data, compact
    calozoo train {name} --data TRAIN --stage teacher
    calozoo train {name} --data TRAIN --stage distill
    calozoo train {name} --stage assemble
    calozoo train {name} --stage calibrate --reference REF.h5 --geometry ild-ecal-barrel

    \b
    Another detector: --geometry NAME on the training stages (the layer count is the geometry's).
    """
    return train_command


def _options_help(recipe_type: type) -> str:
    options = getattr(recipe_type, "options", {})
    if not options:
        return "this model has none"
    return "; ".join(f"{key}={'|'.join(choices)}" for key, choices in options.items())


def make_recipe(recipe_type: type, options: tuple[str, ...] = ()):
    """``recipe_type(**options)`` from ``KEY=VALUE`` strings, each checked against the recipe's
    ``options`` (a :class:`click.UsageError` names what is accepted)."""
    accepted = getattr(recipe_type, "options", {})
    kwargs = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in accepted:
            raise click.UsageError(
                f"--recipe {option!r}: expected KEY=VALUE with KEY one of {sorted(accepted) or 'none'}"
            )
        if value not in accepted[key]:
            raise click.UsageError(
                f"--recipe {key}={value!r}: accepted values are {', '.join(accepted[key])}"
            )
        kwargs[key] = value
    return recipe_type(**kwargs)


def _check_resumed_recipe(stage_folder: Path, recipe) -> None:
    """Refuse explicit recipe options that differ from those a stage's checkpoint started with."""
    import json

    state = stage_folder / "checkpoint" / "state.json"
    if not state.exists():
        return
    stored = recipe.restore(json.loads(state.read_text())["state"].get("recipe"))
    if stored.to_dict() != recipe.to_dict():
        keys = sorted(set(stored.to_dict()) | set(recipe.to_dict()) | {"n_layers"})
        differ = {
            k: getattr(stored, k, None) for k in keys if getattr(stored, k, None) != getattr(recipe, k, None)
        }
        raise click.UsageError(
            f"{stage_folder} was started with {differ}: resume it without --recipe/--geometry "
            "or use another --work"
        )


def check_outputs(*outputs: tuple[str | Path, type]) -> None:
    """Refuse, before any work, ``(folder, class)`` outputs that saving would not be allowed to replace.

    The same check ``save`` makes (:func:`calozoo.serialization.check_folder_replaceable`): a
    folder holding files calozoo did not write, or a calozoo folder of another kind, raises
    :class:`~calozoo.errors.OutputError` (a one-line message on the command line).
    """
    from calozoo.serialization import check_folder_replaceable, class_path

    for folder, cls in outputs:
        check_folder_replaceable(folder, class_path(cls))
