"""``calozoo calibrate MODEL --geometry G --reference REF -o OUT``: fit a model's calibrator for a geometry.

The calibrator is the one registered under the model's name (``--calibrator`` picks another, e.g.
the core's ``energy-scale``). Two kinds exist:

- a calibrator that writes its factors into the model (CaloClouds3's occupancy, widening and
  energy factors; CaloClouds2's occupancy polynomials) has ``calibrate(model, reference, seed=)``:
  then ``OUT`` is the calibrated model folder (``calozoo generate MODEL --weights OUT``) and the
  fitted calibrator is saved beside it as ``OUT-calibrator``;
- any other calibrator is fitted on the model's showers at the reference's conditions
  (:meth:`~calozoo.interfaces.Calibrator.fit`) and saved to ``OUT`` (load it with
  :meth:`~calozoo.interfaces.Calibrator.load` and ``apply`` it to generated showers).

Both refuse, before any work, an ``OUT`` they may not replace.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import click

from .cli import friendly_errors

__all__ = ["calibrate_model", "read_reference", "echo_result", "calibrate_command", "calibrator_options"]


def read_reference(path) -> Any:
    """Reference showers (training points) from a file or a folder of shards."""
    from .io import _shard_files, read_showers
    from .showers import concatenate

    path = Path(path)
    files = _shard_files(path) if path.is_dir() else [path]
    return concatenate([read_showers(f) for f in files])


def _calibrator_for(name: str, geometry: str, seed: int, options: dict[str, str] | None = None):
    import calozoo

    from .options import parse_option_values

    registration = calozoo._registry().get("calibrator", name)
    factory = registration.resolve()
    accepted = inspect.signature(factory).parameters
    fixed = {k: v for k, v in {"geometry": geometry, "seed": seed}.items() if k in accepted}
    for key in set(options or {}) & {"geometry", "seed"}:
        raise click.UsageError(f"-C {key}=...: give the {key} with --{key}")
    typed = parse_option_values(f"calibrator {name!r}", factory, dict(options or {})) if options else {}
    return calozoo.calibrator(name, **fixed, **typed)


def calibrate_model(
    model_name: str,
    reference,
    geometry: str,
    output,
    *,
    seed: int = 0,
    weights=None,
    calibrator_name: str | None = None,
    options: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Fit the calibrator of ``model_name`` (or ``calibrator_name``) for ``geometry`` against the
    showers in ``reference``; write what it makes to ``output`` (see the module docstring).

    ``options``: the calibrator's own options as text (``{"per_layer": "true"}``), typed by its
    factory's signature.

    Returns what was written: ``{"model": folder or None, "calibrator": folder, "report": ...}``.
    """
    import calozoo

    from .serialization import check_folder_replaceable, class_path

    detector = calozoo.geometry(geometry)  # an unknown name is refused before any work
    model = calozoo.load(model_name, path=None if weights is None else str(weights))
    calibrator = _calibrator_for(calibrator_name or model_name, geometry, seed, options)
    output = Path(output)
    into_model = callable(getattr(calibrator, "calibrate", None))
    calibrator_folder = output.parent / f"{output.name}-calibrator" if into_model else output
    if into_model:
        check_folder_replaceable(output, class_path(type(model)))
    check_folder_replaceable(calibrator_folder, class_path(type(calibrator)))
    showers = read_reference(reference)
    if len(showers) == 0:
        raise click.ClickException(f"{reference}: no reference showers to calibrate against")
    if into_model:
        calibrator.calibrate(model, showers, seed=seed).save(output)
    else:
        generated = model.sample(showers.incident_energy_gev, showers.direction, pdg=showers.pdg, seed=seed)
        calibrator.fit(generated, showers, detector)
    calibrator.save(calibrator_folder)
    return {
        "model": output if into_model else None,
        "calibrator": calibrator_folder,
        "report": getattr(calibrator, "report_", None),
        "calibrator_object": calibrator,
    }


def echo_result(result: dict[str, Any]) -> None:
    import json

    if result["report"] is not None:
        click.echo(json.dumps(result["report"], indent=1, default=str))
    fitted = result["calibrator_object"]
    summary = fitted.describe_fit() if hasattr(fitted, "describe_fit") else repr(fitted)
    written = f"calibrated model {result['model']}, " if result["model"] is not None else ""
    click.echo(f"{summary}; wrote {written}calibrator {result['calibrator']}")


@click.command("calibrate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model_name", metavar="MODEL")
@click.option(
    "--reference",
    required=True,
    type=click.Path(exists=True),
    help="Reference showers (training points): a file or a folder of shards.",
)
@click.option("--geometry", required=True, help="The registered geometry to calibrate for.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write: the calibrated model (and OUTPUT-calibrator), or the fitted calibrator.",
)
@click.option(
    "--weights", type=click.Path(exists=True, file_okay=False), help="Model folder (default: shipped)."
)
@click.option("--calibrator", "calibrator_name", help="Calibrator to fit (default: the one named MODEL).")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds the generated showers and the fit."
)
@click.option(
    "-C",
    "--calibrator-option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the calibrator, typed as its factory declares it, e.g. -C per_layer=true "
    "(caloclouds3: one occupancy factor per layer).",
)
@friendly_errors
def calibrate_command(
    model_name, reference, geometry, output, weights, calibrator_name, seed, options
) -> None:
    """Fit MODEL's calibrator so that, projected into GEOMETRY, it matches the reference showers."""
    result = calibrate_model(
        model_name,
        reference,
        geometry,
        output,
        seed=seed,
        weights=weights,
        calibrator_name=calibrator_name,
        options=calibrator_options(options),
    )
    echo_result(result)


def calibrator_options(options: tuple[str, ...]) -> dict[str, str]:
    """``("per_layer=true",)`` -> ``{"per_layer": "true"}`` (typed later by the calibrator's factory)."""
    from .options import split_options

    return split_options(options, "-C")
