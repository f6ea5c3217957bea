"""``calozoo simulate``: write a data set of reference-MC showers (the heavy imports happen inside)."""

from __future__ import annotations

import click
from click.core import ParameterSource

from calozoo import grammar

__all__ = ["simulate_command"]


def _scheduler_for(
    scheduler: str | None, workers: int | None, n_showers: int | None, shard_size: int
) -> str | None:
    """The Dask scheduler the shards run on: ``local`` when several workers have several shards to
    share and no scheduler is named; ``None`` (this process, or with ``pool`` a process pool) otherwise."""
    import os

    if scheduler == "pool":
        return None
    if scheduler is None:
        several_shards = n_showers is None or n_showers > shard_size
        return "local" if (workers or os.cpu_count() or 1) > 1 and several_shards else None
    return scheduler


@click.command("simulate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out_dir", metavar="[OUT_DIR]", type=click.Path(file_okay=False), required=False)
@grammar.output_option("The data set's folder (or give it as OUT_DIR).", file_okay=False)
@grammar.n_showers_option("(required, except with --like: all of REF's showers, or its first N)")
@click.option(
    "--preset",
    type=click.Choice(["cc3-training", "cc2-training", "cc3-endcap-training", "none"]),
    default="cc3-training",
    show_default=True,
    help="Incident conditions: the CaloClouds3 training set (1-127 GeV, --directions barrel-ip), the "
    "CaloClouds2 one (10-90 GeV, normal incidence), CaloClouds3's endcap set (1-127 GeV, "
    "--directions endcap-ip, in ild-ecal-endcap-regular), or 'none' for --energy with --theta/--phi, "
    "--direction or --directions. With --energy a preset keeps its directions and particle and takes "
    "those energies. Giving --theta/--phi, --direction or --directions sets no preset.",
)
@grammar.energy_option(
    "Fixed energies take equal shares of every shard; with a preset, the energies replace the preset's."
)
@grammar.direction_options("the preset's, or normal incidence (θ = φ = 90°) with --preset none")
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
@grammar.seed_option("The data set's seed.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes, also of --scheduler local [default: all cores].",
)
@click.option(
    "--scheduler",
    metavar="local|tcp://HOST:PORT|pool",
    default=None,
    help="Where the shards run: 'local' a Dask cluster of --workers processes on this machine (the "
    "default for more than one worker), an address a running Dask scheduler (its workers must see "
    "OUT_DIR under the same path: a shared file system), 'pool' a plain process pool. The data set is "
    "the same. [default: local for several workers, this process for one]",
)
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Showers per shard file (part of the data set's settings: keep it to resume or grow one).",
)
@click.option(
    "--geometry",
    metavar="NAME",
    default=None,
    help="The regularised geometry to simulate in (its material stack and field direction; "
    "`calozoo list-geometries`). [default: the preset's; ild-ecal-regular]",
)
@click.option("--raw", is_flag=True, help="Also write the raw hits (z in mm) next to the point clouds.")
@click.option("--max-points", type=click.IntRange(min=1), default=None, help="Points kept per shower.")
@click.option(
    "--physics-version",
    type=click.Choice(["2", "3"]),
    default="3",
    show_default=True,
    help="The reference MC's physics (docs/reference-mc.md, 'Physics versions'); 2 makes the data "
    "the shipped models were trained on.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def simulate_command(
    ctx,
    out_dir,
    output_option,
    n_showers,
    preset,
    energy,
    theta,
    phi,
    direction,
    directions,
    pdg,
    like,
    seed,
    workers,
    scheduler,
    shard_size,
    geometry,
    raw,
    max_points,
    physics_version,
    no_progress,
):
    """Simulate reference-MC showers into OUT_DIR as CaloClouds point-cloud shards (resumable).

    Every shower has its own seed stream, child i of --seed, whatever the shard size and the
    workers. Drawn conditions (a preset, an energy range, --directions) come from it as in
    `calozoo generate`: the shower's energy first, then its direction, so --directions barrel-ip
    --energy 1:127 is the cc3-training preset and --directions barrel-ip --energy 10,50 gives
    the directions of --preset cc3-training --energy 10 --energy 50.

    \b
    calozoo simulate data/cc3 -n 20000 --seed 1                  # the CaloClouds3 training set
    calozoo simulate data/test -n 6000 --energy 10,50,100 --theta 90 --phi 90 --seed 2
    calozoo simulate data/angles -n 6000 --energy 10,50,100 --directions barrel-ip --seed 3
    calozoo simulate data/endcap -n 20000 --preset cc3-endcap-training --seed 1   # the endcap's
    calozoo simulate data/twin --like data/test --seed 3     # same conditions, shower by shower
    calozoo simulate data/cc3 -n 20000 --seed 1 --scheduler tcp://HOST:8786   # on a Dask cluster
    """
    from calozoo.conditions import direction_from_angles

    from .dataset import simulate_dataset

    out_dir = grammar.resolve_output(out_dir, output_option, "OUT_DIR")

    given_directions = None
    preset_given = ctx.get_parameter_source("preset") != ParameterSource.DEFAULT
    if like is not None:
        given = [
            f"--{name}"
            for name in ("preset", "energy", "theta", "phi", "direction", "directions", "pdg")
            if ctx.get_parameter_source(name) != ParameterSource.DEFAULT
            and not (name == "preset" and preset == "cc3-training")
        ]
        if given:
            raise click.UsageError(
                f"--like takes every shower's energy, direction and pdg from {like}: drop {', '.join(given)}"
            )
        preset = None
    else:
        if n_showers is None:
            raise click.UsageError("give the number of showers with -n (it may be left out only with --like)")
        given_directions = grammar.resolve_directions(theta, phi, direction, directions)
        if given_directions is not None:
            if preset_given and preset != "none":
                raise click.UsageError(
                    f"--preset {preset} brings its own directions: drop it (or give --preset none) "
                    "to take the directions from --theta/--phi, --direction or --directions"
                )
            if energy is None:
                raise click.UsageError(
                    "without a preset, give --energy (the cc3-training preset is --energy 1:127 "
                    "--directions barrel-ip)"
                )
            preset = "none"
        if preset == "none" and energy is None:
            raise click.UsageError("--preset none needs --energy")
        preset = None if preset == "none" else preset
    if preset is not None and pdg != "22":
        raise click.UsageError(f"--preset {preset} simulates photons: drop --pdg (or give --preset none)")
    # recorded with a preset too (unused), as before: those data sets keep their manifests and resume
    fixed_direction = None
    if like is None and (given_directions is None or given_directions.kind == "fixed"):
        fixed_direction = (
            given_directions.vector
            if given_directions is not None
            else tuple(direction_from_angles(90.0, 90.0).tolist())
        )
    from calozoo.errors import CalozooError

    try:
        shards = simulate_dataset(
            out_dir,
            n_showers,
            preset=preset,
            energy_gev=list(energy.values) if energy is not None and not energy.is_range else None,
            energy_range=(energy.kind, *energy.values) if energy is not None and energy.is_range else None,
            direction=fixed_direction,
            directions=None if given_directions is None or given_directions.kind == "fixed" else directions,
            pdg=22 if like is not None else int(pdg),
            like=like,
            seed=seed,
            workers=workers,
            shard_size=shard_size,
            raw=raw,
            max_points=max_points,
            geometry=geometry,
            progress=not no_progress,
            scheduler=_scheduler_for(scheduler, workers, n_showers, shard_size),
            physics_version=int(physics_version),
        )
    except (ValueError, CalozooError) as err:  # CalozooError: e.g. a shard another run is writing
        raise click.ClickException(str(err)) from err
    click.echo(f"{len(shards)} shards in {out_dir}")
