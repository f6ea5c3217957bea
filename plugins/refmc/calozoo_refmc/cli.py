"""``calozoo simulate``: write a data set of reference-MC showers (the heavy imports happen inside)."""

from __future__ import annotations

import click
from click.core import ParameterSource

__all__ = ["simulate_command"]


@click.command("simulate")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "-n",
    "--n-showers",
    type=click.IntRange(min=1),
    default=None,
    help="Number of showers (required, except with --like: all of REF's showers, or its first n).",
)
@click.option(
    "--preset",
    type=click.Choice(["cc3-training", "cc2-training", "none"]),
    default="cc3-training",
    show_default=True,
    help="Incident conditions: the CaloClouds3 training set (1-127 GeV, inclined), the CaloClouds2 one "
    "(10-90 GeV, normal incidence), or 'none' for --energy/--theta/--phi. With --energy a preset keeps "
    "its directions and particle and takes the fixed energies.",
)
@click.option(
    "--energy",
    "energy_gev",
    type=float,
    multiple=True,
    help="Fixed energy in GeV (repeat it: equal shares of each energy); with a preset, fixed energies "
    "with the preset's directions.",
)
@click.option("--theta", type=float, default=90.0, show_default=True, help="Polar angle to the beam, deg.")
@click.option("--phi", type=float, default=90.0, show_default=True, help="Azimuth, deg (90/90: normal).")
@click.option("--pdg", type=click.Choice(["22", "11"]), default="22", show_default=True, help="Particle.")
@click.option(
    "--like",
    "like",
    metavar="REF",
    type=click.Path(exists=True),
    default=None,
    help="Twins of REF (a point-cloud .h5 file or a folder of shards): shower i gets the energy, "
    "direction and pdg of REF's shower i.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="The data set's seed.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes [default: all cores].")
@click.option("--shard-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--raw", is_flag=True, help="Also write the raw hits (z in mm) next to the point clouds.")
@click.option("--max-points", type=click.IntRange(min=1), default=None, help="Points kept per shower.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def simulate_command(
    ctx,
    out_dir,
    n_showers,
    preset,
    energy_gev,
    theta,
    phi,
    pdg,
    like,
    seed,
    workers,
    shard_size,
    raw,
    max_points,
    no_progress,
):
    """Simulate reference-MC showers into OUT_DIR as CaloClouds point-cloud shards (resumable).

    \b
    calozoo simulate data/test -n 6000 --preset none --energy 10 --energy 50 --energy 100 --seed 2
    calozoo simulate data/twin --like data/test --seed 3     # same conditions, shower by shower
    """
    from calozoo.conditions import direction_from_angles

    from .dataset import simulate_dataset

    if like is not None:
        given = [
            f"--{name}"
            for name in ("preset", "energy", "theta", "phi", "pdg")
            if ctx.get_parameter_source("energy_gev" if name == "energy" else name) != ParameterSource.DEFAULT
            and not (name == "preset" and preset == "cc3-training")
        ]
        if given:
            raise click.UsageError(
                f"--like takes every shower's energy, direction and pdg from {like}: drop {', '.join(given)}"
            )
    else:
        if n_showers is None:
            raise click.UsageError("give the number of showers with -n (it may be left out only with --like)")
        if preset == "none" and not energy_gev:
            raise click.UsageError("--preset none needs at least one --energy")
    from calozoo.errors import CalozooError

    try:
        shards = simulate_dataset(
            out_dir,
            n_showers,
            preset=None if preset == "none" or like is not None else preset,
            energy_gev=list(energy_gev) or None,
            direction=None if like is not None else tuple(direction_from_angles(theta, phi).tolist()),
            pdg=int(pdg),
            like=like,
            seed=seed,
            workers=workers,
            shard_size=shard_size,
            raw=raw,
            max_points=max_points,
            progress=not no_progress,
        )
    except (ValueError, CalozooError) as err:  # CalozooError: e.g. a shard another run is writing
        raise click.ClickException(str(err)) from err
    click.echo(f"{len(shards)} shards in {out_dir}")
