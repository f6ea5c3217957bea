"""``calozoo evaluate``: compare generated shower files with a reference file and write a report.

The command is a plain :class:`click.Command` (:data:`evaluate_command`); the main CLI adds it
with ``main.add_command(evaluate_command)``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..cli import friendly_errors as _friendly_errors

__all__ = ["evaluate_command", "parse_samples"]


def parse_samples(arguments: tuple[str, ...]) -> dict[str, list[Path]]:
    """``[LABEL=]FILE`` arguments -> ``{label: [files]}``; files sharing a label are seeds of one model.

    Without a label a file is its own model, named by its stem.

    >>> parse_samples(("cc3=a.h5", "cc3=b.h5", "toy.h5"))
    {'cc3': [PosixPath('a.h5'), PosixPath('b.h5')], 'toy': [PosixPath('toy.h5')]}
    """
    models: dict[str, list[Path]] = {}
    for argument in arguments:
        label, sep, file = argument.partition("=")
        if not sep or not label or Path(argument).exists():
            label, file = Path(argument).stem, argument
        if label == "reference":
            raise click.BadParameter("'reference' names the reference sample; give the model another label")
        models.setdefault(label, []).append(Path(file))
    return models


def _check_exist(models: dict[str, list[Path]]) -> None:
    for files in models.values():
        for file in files:
            if not file.is_file():
                raise click.BadParameter(f"generated file {str(file)!r} does not exist", param_hint="GEN.h5")


def _parse_numbers(value: str | None, what: str, counts: tuple[int, ...] | None = None) -> list[float] | None:
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        numbers = []
    if not numbers or (counts and len(numbers) not in counts):
        raise click.BadParameter(f"expected {what}, got {value!r}")
    return numbers


@click.command("evaluate")
@click.argument("samples", nargs=-1, required=True, metavar="[LABEL=]GEN.h5...")
@click.option(
    "--reference",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Reference showers (same incident conditions as the generated ones).",
)
@click.option("--geometry", "geometry_name", required=True, help="Geometry to project into and compare in.")
@click.option("--report", required=True, type=click.Path(file_okay=False), help="Report folder to write.")
@click.option("--projected", is_flag=True, help="The files hold projected cell hits, not training points.")
@click.option(
    "--incident-point", help="Where the showers enter, mm (x,y or x,y,z; default: the geometry's own)."
)
@click.option(
    "--energies", help="Fixed-energy slices in GeV, e.g. 10,50,100 (default: the reference's fixed energies)."
)
@click.option(
    "--energy-tolerance",
    type=click.FloatRange(min=0),
    default=1e-3,
    show_default=True,
    help="Relative half-width of an energy slice.",
)
@click.option("--no-classifier", is_flag=True, help="Skip the classifier test.")
@click.option(
    "--bootstrap",
    type=click.IntRange(min=2),
    default=20,
    show_default=True,
    help="Resamples for the statistical floor and single-sample errors.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Fixes resampling and the classifier.")
@click.option(
    "--no-condition-check", is_flag=True, help="Compare even if the incident conditions differ (not advised)."
)
@click.option("--no-plots", is_flag=True, help="Numbers and tables only, no figures (much faster).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@_friendly_errors
def evaluate_command(
    samples,
    reference,
    geometry_name,
    report,
    projected,
    incident_point,
    energies,
    energy_tolerance,
    no_classifier,
    bootstrap,
    seed,
    no_condition_check,
    no_plots,
    batch_size,
) -> None:
    """Compare generated showers with reference showers and write a report folder.

    Each GEN.h5 is one model, named by its file stem; give LABEL=GEN.h5 to name it, and the same
    LABEL to several files to treat them as seeds of one model (distances then get the mean and
    spread over seeds).

    \b
    calozoo evaluate cc3=cc3_seed1.h5 cc3=cc3_seed2.h5 cc2=cc2.h5 \\
        --reference test.h5 --geometry ild-ecal-regular --report report/
    """
    import calozoo

    from ..io import read_showers
    from .comparison import evaluate
    from .report import check_report_folder, write_report

    started = time.perf_counter()
    models = parse_samples(samples)
    _check_exist(models)
    point = _parse_numbers(incident_point, "two or three comma-separated numbers in mm", (2, 3))
    slice_energies = _parse_numbers(energies, "comma-separated energies in GeV")
    check_report_folder(report)
    geometry = calozoo.geometry(geometry_name)

    click.echo(f"reading {reference}", err=True)
    reference_showers = read_showers(reference)
    generated = {}
    for label, files in models.items():
        generated[label] = []
        for file in files:
            click.echo(f"reading {file}", err=True)
            generated[label].append(read_showers(file))

    result = evaluate(
        generated,
        reference_showers,
        geometry,
        projected=projected,
        incident_point_mm=point,
        energies_gev=slice_energies,
        energy_tolerance=energy_tolerance,
        classifier=not no_classifier,
        n_bootstrap=bootstrap,
        seed=seed,
        check_conditions=not no_condition_check,
        batch_size=batch_size,
        progress=True,
        inputs={
            "reference file": str(reference),
            **{f"{label} file(s)": ", ".join(str(f) for f in files) for label, files in models.items()},
        },
    )
    folder = write_report(result, report, plots=not no_plots, progress=True)

    names = list(result.models)
    rows = [("JSD, all energies [nats]", *names, "floor")]
    for obs_name, by_model in result.distances["all"].items():
        jsd = [by_model[m]["jsd"] for m in names]
        rows.append(
            (obs_name, *[f"{d['mean']:.2e} ± {d['error']:.1e}" for d in jsd], f"{jsd[0]['floor']:.1e}")
        )
    if result.classifier:
        rows.append(("classifier AUC", *[f"{result.classifier[m]['auc']['mean']:.3f}" for m in names], "0.5"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    click.echo(f"\nreport written to {folder / 'index.html'} ({time.perf_counter() - started:.1f} s)")
