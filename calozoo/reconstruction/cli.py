"""``calozoo reconstruct`` and ``calozoo benchmark linearity|diphoton|angle``.

::

    calozoo reconstruct cells.h5 -o photons.h5                     # cells of `calozoo project`
    calozoo benchmark linearity caloclouds3 --reference reference-mc --report reports/linearity
    calozoo benchmark diphoton caloclouds2 --reference reference-mc --directions normal --report r/
"""

from __future__ import annotations

import shlex
import sys
import time

import click

from ..cli import _parse_options, friendly_errors

__all__ = ["reconstruct_command", "benchmark_command"]


@click.command("reconstruct")
@click.argument("cells", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(), required=True, help="Photons file to write (HDF5).")
@click.option("--geometry", help="The geometry the cells are in [default: the one the file names].")
@friendly_errors
def reconstruct_command(cells, output, geometry):
    """Find photons in CELLS: an events file (several showers per event) or the cell hits of
    `calozoo project` (one shower per event); write one row per photon candidate to OUTPUT."""
    import numpy as np

    from .files import read_events, write_photons
    from .finder import find_photons

    events = read_events(cells, geometry)
    start = time.perf_counter()
    photons = find_photons(events, geometry or events.geometry)
    took = time.perf_counter() - start
    write_photons(output, photons, events.geometry)
    counts = np.bincount(photons.count, minlength=3)
    click.echo(
        f"wrote {output}: {len(photons)} photons in {events.n_events} events "
        f"(events with 0/1/2+ photons: {counts[0]}/{counts[1]}/{counts[2:].sum()}; "
        f"{1e3 * took / max(events.n_events, 1):.2f} ms per event)"
    )


_KINDS = ("linearity", "diphoton", "angle")


def _floats(value: str | None, name: str):
    if value is None:
        return None
    try:
        out = [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"{name} takes comma-separated numbers of GeV, e.g. 5,20,100; got {value!r}"
        ) from None
    if not out or any(not v > 0 for v in out):
        raise click.BadParameter(f"{name} takes positive energies in GeV, got {value!r}")
    return out


@click.command("benchmark")
@click.argument("kind", type=click.Choice(_KINDS))
@click.argument("model")
@click.option("--reference", default="reference-mc", show_default=True, help="The reference model.")
@click.option("--report", type=click.Path(file_okay=False), required=True, help="Report folder to write.")
@click.option("--geometry", default="ild-ecal-barrel", show_default=True, help="The detector.")
@click.option(
    "--directions",
    type=click.Choice(["ip", "normal"]),
    default="ip",
    show_default=True,
    help="ip: from the interaction point; normal: along the stave's normal (for models trained at "
    "normal incidence).",
)
@click.option("--energies", help="Energies in GeV, comma-separated [default: the benchmark's own].")
@click.option(
    "-n", "--n-events", type=click.IntRange(min=10), help="Events per energy [default: the benchmark's]."
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Conditions and showers."
)
@click.option(
    "-O", "--option", "options", multiple=True, metavar="KEY=VALUE", help="A model option (calozoo.load)."
)
@click.option(
    "-R",
    "--reference-option",
    "reference_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A reference option, e.g. -R physics_version=2.",
)
@click.option(
    "--weights",
    type=click.Path(exists=True, file_okay=False),
    help="A saved model folder instead of the shipped weights.",
)
@click.option("--no-plots", is_flag=True, help="Numbers only.")
@friendly_errors
def benchmark_command(
    kind,
    model,
    reference,
    report,
    geometry,
    directions,
    energies,
    n_events,
    seed,
    options,
    reference_options,
    weights,
    no_plots,
):
    """Reconstruction benchmark KIND (linearity, diphoton, angle) of MODEL against the reference.

    The same photon finder runs on MODEL's showers, on the reference's (same incident conditions)
    and on a twin of the reference (other seeds: the noise); REPORT gets results.json, index.md
    and plots/.
    """
    import calozoo

    from ..serialization import REPORT_KIND, check_folder_replaceable
    from . import benchmarks
    from .report import write_report

    check_folder_replaceable(report, REPORT_KIND)  # before the work, not after it
    setup = benchmarks.Setup(
        model=calozoo.load(model, path=weights, **_parse_options(options, model)),
        reference=calozoo.load(reference, **_parse_options(reference_options, reference)),
        geometry=calozoo.geometry(geometry),
        seed=seed,
        directions=directions,
        progress=True,
    )
    kwargs = {}
    chosen = _floats(energies, "--energies")
    if chosen:
        kwargs["energies"] = chosen
    if n_events:
        kwargs["n_events" if kind == "diphoton" else "n_per_energy"] = n_events
    start = time.perf_counter()
    result = getattr(benchmarks, kind)(setup, **kwargs)
    meta = {
        "model": model,
        "reference": reference + (" (" + ", ".join(reference_options) + ")" if reference_options else ""),
        "geometry": geometry,
        "directions": directions,
        "seed": seed,
        "command": "calozoo " + shlex.join(sys.argv[1:]) if sys.argv[0].endswith("calozoo") else None,
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_report(kind, result, report, meta, plots=not no_plots)
    from .report import summary_lines

    click.echo("\n".join(summary_lines(kind, result, meta)))
    click.echo(f"wrote {report}")
