"""The ``calozoo`` command line: list, inspect and diagnose plugins; generate showers.

Listing commands import only the registry and the plugins' light registration modules, never
torch, so they answer instantly.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import time
from importlib import metadata
from pathlib import Path

import click
from click.core import ParameterSource

from . import grammar
from .errors import CalozooError, InvalidConditionError

__all__ = ["main"]


def friendly_errors(command):
    """Turn calozoo's own errors into a one-line message and exit status 1 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CalozooError as err:
            raise click.ClickException(str(err)) from err

    return wrapper


def _registry():
    from .registry import get_registry

    return get_registry()


def _print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


_PLURAL = {"geometry": "geometries"}


def _list(kind: str, as_json: bool) -> None:
    registry = _registry()
    registrations = registry.registrations(kind)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "qualified_name": r.qualified_name,
                        "plugin": r.plugin,
                        "summary": r.summary,
                        "variants": list(r.variants),
                        "factory": r.factory,
                        **r.metadata,
                    }
                    for r in registrations
                ],
                indent=2,
                default=str,
            )
        )
        return
    if not registrations:
        click.echo(f"no {_PLURAL.get(kind, kind + 's')} installed")
    else:
        _print_table(
            [
                (
                    r.qualified_name if registry.is_ambiguous(kind, r.name) else r.name,
                    r.plugin,
                    ",".join(r.variants) or "-",
                    r.summary,
                )
                for r in registrations
            ],
            ("name", "plugin", "variants", "summary"),
        )
    broken = [p for p in registry.plugins.values() if not p.ok]
    if broken:
        names = ", ".join(p.name for p in broken)
        click.echo(f"\n{len(broken)} plugin(s) failed to load ({names}): run `calozoo doctor`", err=True)


class PluginCommands(click.Group):
    """The built-in sub-commands plus those registered through ``calozoo_register_commands``.

    A registered command is imported only when it runs; ``calozoo --help`` shows its summary.
    Ctrl-C stops any command at once (exit status 130, SIGTERM 143) and leaves no file that looks
    complete: writers finish or drop the batch in hand (:mod:`calozoo.interrupts`).
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from .interrupts import Terminated, handle_signals

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        with handle_signals():
            try:
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except click.exceptions.Abort as err:
                terminated = isinstance(err.__cause__, Terminated)
                click.echo("terminated" if terminated else "interrupted", err=True)
                sys.exit(143 if terminated else 130)
            except click.ClickException as err:
                err.show()
                sys.exit(err.exit_code)
            except OSError as err:  # a path that cannot be written or read, a full disk
                where = f"{err.filename}: " if err.filename else ""
                click.echo(f"Error: {where}{err.strerror or err}", err=True)
                sys.exit(1)
            except MemoryError:
                click.echo(
                    "Error: out of memory; use a smaller --batch-size, fewer showers per file, or a "
                    "machine with more memory",
                    err=True,
                )
                sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def _registered(self) -> dict:
        # "VERB MODEL" registrations are a model's own sub-commands (`calozoo VERB MODEL`), not listed here
        return {
            r.name: r
            for r in _registry().registrations("command")
            if r.name not in self.commands and " " not in r.name
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*self.commands, *self._registered()])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        registration = self._registered().get(name)
        # For listing, a stand-in carrying the summary; resolve_command swaps in the real one.
        return None if registration is None else click.Command(name, short_help=registration.summary)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, command, rest = super().resolve_command(ctx, args)
        if name not in self.commands:
            try:
                command = _registry().get("command", name).resolve()
            except CalozooError as err:
                raise click.ClickException(str(err)) from err
            if not isinstance(command, click.Command):
                raise click.ClickException(
                    f"command {name!r} is registered as {type(command).__name__}, not a click.Command"
                )
        return name, command, rest


@click.group(cls=PluginCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="calozoo")
def main() -> None:
    """calozoo: generative models for fast calorimeter shower simulation."""


@main.command("list-models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_models(as_json: bool) -> None:
    """List the installed shower models."""
    _list("model", as_json)


@main.command("list-geometries")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_geometries(as_json: bool) -> None:
    """List the installed detector geometries."""
    _list("geometry", as_json)


@main.command("list-calibrators")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_calibrators(as_json: bool) -> None:
    """List the installed calibrators."""
    _list("calibrator", as_json)


@main.command()
@click.argument("name")
@click.option("--load", "load_it", is_flag=True, help="Also load it and describe what it accepts.")
@friendly_errors
def info(name: str, load_it: bool) -> None:
    """Describe the model, geometry or calibrator NAME, or the shower file (or shard folder) NAME.

    \b
    calozoo info caloclouds3
    calozoo info showers.h5
    """
    if Path(name).exists():
        from .fileinfo import describe_file, format_description

        for line in format_description(describe_file(name)):
            click.echo(line)
        return
    registry = _registry()
    reg = registry.find(name)
    plugin = registry.plugins.get(reg.plugin)
    click.echo(f"{reg.kind}: {reg.name}")
    if reg.summary:
        click.echo(f"  summary:  {reg.summary}")
    version = f" {plugin.version}" if plugin and plugin.version else ""
    dist = plugin.distribution if plugin and plugin.distribution else "?"
    click.echo(f"  plugin:   {reg.plugin} (package {dist}{version})")
    click.echo(f"  factory:  {reg.factory}")
    if reg.variants:
        click.echo(f"  variants: {', '.join(reg.variants)}")
    card = ("paper", "licence", "validity", "fidelity", "bibtex")
    for key, value in sorted(reg.metadata.items()):
        if key not in card and key != "shipped_config":
            click.echo(f"  {key}: {value}")
    for line in _shipped_card(reg):
        click.echo(f"  {line}")
    for key in card:
        if key in reg.metadata:
            click.echo(f"  {key}: {reg.metadata[key]}")
    if load_it:
        import calozoo

        loader = {"model": calozoo.load, "geometry": calozoo.geometry, "calibrator": calozoo.calibrator}[
            reg.kind
        ]
        thing = loader(name)
        click.echo(f"  loaded:   {getattr(thing, 'describe', thing.__repr__)()}")


#: Bytes the incident conditions of one shower take in memory (energy, direction, pdg; float64).
_CONDITION_BYTES = 40


def _check_memory_for(n_showers: int) -> None:
    """Refuse, before anything runs, a number of showers whose conditions alone exceed half the memory.

    The showers themselves are streamed batch by batch; their conditions are drawn at once.
    """
    import os

    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on every system
        return
    need = n_showers * _CONDITION_BYTES
    if need > memory / 2:
        per_file = 10 ** int(math.log10(memory / 2 / _CONDITION_BYTES))
        raise click.UsageError(
            f"-n {n_showers:,}: the incident conditions alone need {need / 1e9:,.0f} GB, more than half "
            f"of this machine's {memory / 1e9:,.0f} GB of memory; generate several files with different "
            f"seeds instead (e.g. -n {per_file:,} --seed 1, then --seed 2, ...)"
        )


def _shipped_card(reg) -> list[str]:
    """What the shipped weights' own record says: the data of each training stage, the calibration.

    Read from the JSON the plugin names (``shipped_config``, relative to its package), without
    importing the plugin's model code (no torch).
    """
    import importlib.util

    relative = reg.metadata.get("shipped_config")
    if not relative:
        return []
    spec = importlib.util.find_spec(reg.factory.split(":")[0].split(".")[0])
    if spec is None or not spec.submodule_search_locations:
        return []
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    try:
        config = json.loads(path.read_text()).get("config", {})
    except (OSError, ValueError):
        return [f"shipped weights: {relative} cannot be read"]
    lines = []
    for stage, record in config.get("training", {}).items():
        if isinstance(record, dict) and record.get("data"):
            steps = f", {record['steps']} steps" if record.get("steps") else ""
            lines.append(f"trained ({stage}): {record['data']}{steps}")
    calibration = config.get("calibration")
    if isinstance(calibration, dict) and calibration.get("geometry"):
        shown = f" on {calibration['n_showers']} reference showers" if calibration.get("n_showers") else ""
        lines.append(f"calibrated for: {calibration['geometry']}{shown}")
    return lines


@main.command()
def doctor() -> None:
    """Show installed plugins, their versions and status, and why broken ones failed."""
    registry = _registry()
    click.echo(f"{'python':<14} {sys.version.split()[0]}")
    # The core needs no torch, normflows or diffusers (calozoo-engine brings them): absent is "not installed".
    core = ("calozoo", "h5py", "numpy", "pluggy", "showerdata")
    for dist in (*core, "calozoo-engine", "torch", "normflows", "diffusers"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        click.echo(f"{dist:<14} {version}")
    click.echo("")
    rows = []
    for p in registry.plugins.values():
        rows.append(
            (p.name, p.distribution or "-", p.version or "-", p.status, ", ".join(p.registered) or "-")
        )
    _print_table(rows, ("plugin", "package", "version", "status", "registers"))
    broken = [p for p in registry.plugins.values() if not p.ok]
    for p in broken:
        click.echo(f"\nplugin {p.name!r} ({p.module}) is broken: {p.error}")
    for problem in registry.problems:
        click.echo(f"\nproblem: {problem}")
    if broken or registry.problems:
        raise SystemExit(1)
    click.echo("\nall plugins loaded")


def _input_files(path: str | Path, prefix: str = "shard") -> list[Path]:
    """The shower files of an input: the file itself, or a folder's ``shard-*.h5`` (or, with
    ``prefix="raw"``, ``raw-*.h5``) in order."""
    from .io import _shard_files

    return _shard_files(path, prefix) if Path(path).is_dir() else [Path(path)]


def _deprecated_n(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None:
        click.echo(
            f"calozoo {ctx.info_name}: --n is deprecated and goes in the next release; use -n/--n-showers",
            err=True,
        )
    return value


_FORMAT_OPTION = click.option(
    "--format",
    "file_format",
    type=click.Choice(["showerdata", "caloclouds"]),
    default="caloclouds",
    show_default=True,
    help="Output file layout.",
)


@main.command()
@click.argument("model_name", metavar="MODEL")
@grammar.n_showers_option("[default: 100; with --like all of REF's showers, or its first N]")
@click.option("--n", "n_deprecated", type=click.IntRange(min=1), hidden=True, callback=_deprecated_n)
@grammar.energy_option(default="50")
@grammar.direction_options("normal incidence, (0, 0, 1)")
@click.option("--pdg", type=int, default=None, help="Incident particle id (default: the model's first).")
@click.option(
    "--like",
    metavar="REF",
    type=click.Path(exists=True),
    help="Twins of REF (a point-cloud .h5 file or a folder of shards): shower i gets the energy, "
    "direction and pdg of REF's shower i (instead of --energy, --theta/--phi, --direction(s), --pdg).",
)
@grammar.seed_option("Same seed, same showers (and the same drawn energies and directions).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Showers generated and written at a time (bounds the memory).",
)
@click.option(
    "--weights",
    type=click.Path(exists=True, file_okay=False),
    help="A model folder saved by model.save() instead of the shipped weights.",
)
@click.option(
    "--variant",
    default=None,
    metavar="NAME",
    help="One of the model's shipped variants (`calozoo info MODEL`), e.g. endcap for caloclouds3 "
    "[default: the model's first].",
)
@click.option(
    "-O",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A model option passed to calozoo.load, typed as the model's factory declares it "
    "(true/false, numbers, text), e.g. -O extrapolate=true.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    required=True,
    help="Output HDF5 file (with --shard-size: a folder of shard-00000.h5, ...).",
)
@_FORMAT_OPTION
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    default=None,
    help="Write -o as a folder of shards of this many showers each (the layout `calozoo simulate` "
    "writes); every shower has a seed stream of its own, so the showers do not depend on the shard "
    "size, --scheduler or --workers. An existing folder holding only the shards of an earlier run "
    "is replaced.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="local|tcp://HOST:PORT",
    help="With --shard-size: one Dask task per shard, on a local cluster or a running scheduler "
    "[default: the shards one after the other in this process].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes of a --scheduler local cluster; more than one without --scheduler starts one "
    "[default: all cores, at most one per shard].",
)
@friendly_errors
def generate(
    model_name,
    n_showers,
    n_deprecated,
    energy,
    theta,
    phi,
    direction,
    directions,
    pdg,
    like,
    seed,
    batch_size,
    weights,
    variant,
    options,
    output,
    file_format,
    shard_size,
    scheduler,
    workers,
) -> None:
    """Generate showers with MODEL and write them to a file (or, with --shard-size, a folder).

    Every shower has its own seed stream, child i of --seed: its drawn energy (10:100,
    log:1:127) and direction (--directions), then the model's draws. The same seed gives the
    same conditions and showers whatever --batch-size, --shard-size, --workers and --scheduler.

    \b
    calozoo generate toyflow -n 1000 --energy 10:100 --theta 90 --phi 90 --seed 1 -o showers.h5
    calozoo generate caloclouds3 -n 1000 --energy log:1:127 --directions barrel-ip -o cc3.h5
    calozoo generate toyflow --like data/test -o twins.h5    # REF's conditions, shower by shower
    calozoo generate toy-gamma -n 100000 --shard-size 10000 --scheduler local -o showers/
    """
    import numpy as np

    import calozoo

    from .io import ShowerWriter, read_conditions

    if shard_size is None and (scheduler is not None or workers is not None):
        raise click.UsageError("--scheduler and --workers share out shards: give --shard-size too")
    if scheduler is None and workers is not None and workers > 1:
        scheduler = "local"  # several workers on this machine: a Dask LocalCluster
    if scheduler is not None:
        from .distributed import check_scheduler

        check_scheduler(scheduler)
    if shard_size is None and Path(output).is_dir():
        raise click.BadParameter(
            f"File {output!r} is a directory (give --shard-size to write a folder of shards)"
        )
    if n_deprecated is not None:
        if n_showers is not None:
            raise click.UsageError("give -n/--n-showers once (--n is its deprecated old name)")
        n_showers = n_deprecated
    if like is not None:
        ctx = click.get_current_context()
        given = [
            f"--{name}"
            for name in ("energy", "theta", "phi", "direction", "directions", "pdg")
            if ctx.get_parameter_source(name) != ParameterSource.DEFAULT
        ]
        if given:
            raise click.UsageError(
                f"--like takes every shower's energy, direction and pdg from {like}: drop {', '.join(given)}"
            )
        energies, unit, pdg = read_conditions(like)
        if n_showers is not None and n_showers > len(energies):
            raise click.UsageError(f"-n {n_showers}: {like} holds only {len(energies)} showers")
        n_showers = n_showers or len(energies)
        energies, unit, pdg = energies[:n_showers], unit[:n_showers], pdg[:n_showers]
    else:
        n_showers = n_showers or 100
        _check_memory_for(n_showers)
        spec = grammar.resolve_directions(theta, phi, direction, directions)
        # Drawn conditions come shower by shower from each shower's own conditions stream
        # (calozoo.seeding), so they depend on neither --shard-size nor --batch-size.
        energies, unit = grammar.draw_conditions(energy, spec, seed, n_showers)
        if unit is None:
            unit = np.array([0.0, 0.0, 1.0])

    if shard_size is not None:
        job = {"model_name": model_name, "weights": weights, "variant": variant, "options": tuple(options)}
        job.update(batch_size=batch_size, format=file_format)
        _generate_shards(job, energies, unit, pdg, seed, shard_size, output, scheduler, workers)
        return

    from .io import SHOWER_FILE_KIND, is_calozoo_shower_file
    from .serialization import check_file_replaceable

    check_file_replaceable(output, SHOWER_FILE_KIND, is_calozoo_shower_file)  # before the model loads
    started = time.perf_counter()
    model = calozoo.load(model_name, path=weights, variant=variant, **_parse_options(options, model_name))
    # Per-shower directions and pdg (with --like) are checked against the model here, before the
    # first batch: a particle it does not simulate is refused with the ones it does.
    try:
        batches = model.iter_sample(energies, unit, pdg=pdg, seed=seed, batch_size=batch_size, progress=True)
    except InvalidConditionError as err:
        if like is not None:
            raise InvalidConditionError(
                f"{like}: {model_name} cannot generate its conditions: {err}"
            ) from err
        if directions is not None:
            raise InvalidConditionError(
                f"--directions {directions} drew directions {model_name} does not accept: {err}"
            ) from err
        raise
    points = visible_mev = 0.0
    # Streamed batch by batch: memory stays bounded by one batch, and the file appears only
    # once every shower is in it.
    with ShowerWriter(output, n_showers, format=file_format) as writer:
        for batch in batches:
            writer.write(batch)
            points += float(batch.num_points.sum())
            visible_mev += float(batch.visible_energy_mev.sum())
    elapsed = time.perf_counter() - started
    click.echo(
        f"wrote {n_showers} showers to {output} ({file_format}): "
        f"{points / n_showers:.0f} points and {visible_mev / n_showers:.1f} MeV visible per shower "
        f"on average, {elapsed:.2f} s"
    )


_SHARD_NAME = re.compile(r"shard-(\d+)\.h5")


def _pending_shard(folder: Path, index: int) -> Path:
    """Where shard ``index`` is written until every shard is done (then renamed to shard-NNNNN.h5)."""
    return folder / f".shard-{index:05d}.h5.pending"


@functools.lru_cache(maxsize=2)
def _shard_model(model_name: str, weights: str | None, options: tuple[str, ...], variant: str | None = None):
    """The model, loaded once per process (a Dask worker makes many shards with it)."""
    import calozoo

    return calozoo.load(model_name, path=weights, variant=variant, **_parse_options(options, model_name))


def _make_generated_shard(task: tuple) -> tuple[int, int, float, float]:
    """Generate one shard into its pending file (here or on a Dask worker); ``(index, n, points, MeV)``."""
    from .io import ShowerWriter

    index, job, energies, unit, pdg, seed, start, pending = task
    model = _shard_model(job["model_name"], job["weights"], job["options"], job["variant"])
    batch_size = job["batch_size"]
    # the job's showers start, start + 1, ...: the same seeds whatever the shard size
    batches = model.iter_sample(
        energies, unit, pdg=pdg, seed=seed, batch_size=batch_size, progress=False, start=start
    )
    points = visible_mev = 0.0
    with ShowerWriter(pending, len(energies), format=job["format"]) as writer:
        for batch in batches:
            writer.write(batch)
            points += float(batch.num_points.sum())
            visible_mev += float(batch.visible_energy_mev.sum())
    return index, len(energies), points, visible_mev


def _check_shard_folder(folder: Path) -> list[Path]:
    """The shard files of an earlier run in ``folder`` (to be replaced); refuse anything else.

    ``folder`` may be missing, empty, or hold only ``shard-NNNNN.h5`` shower files calozoo wrote
    and the hidden ``.shard-*`` files of an interrupted run; nothing else is ever touched.
    """
    from .errors import OutputError
    from .io import is_calozoo_shower_file

    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise OutputError(f"{folder}: exists and is not a folder; nothing was changed: choose another output")
    if not folder.exists():
        return []
    old, foreign = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".shard-") and entry.is_file():
            continue  # a pending shard, its partial or lock: left by an interrupted generate
        if _SHARD_NAME.fullmatch(entry.name) and entry.is_file() and is_calozoo_shower_file(entry):
            old.append(entry)
        else:
            foreign.append(entry.name + ("/" if entry.is_dir() else ""))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(
            f"{folder}: holds files that are not calozoo shards ({shown}); calozoo replaces only a "
            "folder of shards it wrote itself, so nothing was changed: choose a new or empty folder"
        )
    return old


def _generate_shards(job, energies, unit, pdg, seed, shard_size, output, scheduler, workers) -> None:
    """``generate --shard-size``: the conditions cut into shards, each made (here or on Dask) from
    its showers' own seeds (those of the whole job) into a pending file; once all are done they
    are renamed to ``shard-NNNNN.h5`` and the earlier run's surplus shards are removed."""
    from .serialization import output_lock

    folder = Path(output)
    n_showers = len(energies)
    _check_shard_folder(folder)  # before the model loads
    folder.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with output_lock(folder):
        old = _check_shard_folder(folder)
        created = not folder.exists()
        folder.mkdir(exist_ok=True)
        try:
            results = _make_shards(job, energies, unit, pdg, seed, shard_size, folder, scheduler, workers)
        except BaseException:
            if created and not any(folder.iterdir()):
                folder.rmdir()  # a failed first run leaves no empty folder behind
            raise
        for index in range(len(results)):  # all done: the shards appear under their names
            os.replace(_pending_shard(folder, index), folder / f"shard-{index:05d}.h5")
        for surplus in old:  # an earlier run's shards beyond this run's last
            if int(_SHARD_NAME.fullmatch(surplus.name).group(1)) >= len(results):
                surplus.unlink()
    elapsed = time.perf_counter() - started
    points = sum(r[2] for r in results)
    visible_mev = sum(r[3] for r in results)
    click.echo(
        f"wrote {n_showers} showers in {len(results)} shards to {folder} ({job['format']}): "
        f"{points / n_showers:.0f} points and {visible_mev / n_showers:.1f} MeV visible per shower "
        f"on average, {elapsed:.2f} s"
    )


def _make_shards(job, energies, unit, pdg, seed, shard_size, folder, scheduler, workers) -> list:
    """Every shard into its pending file in ``folder`` (locked by the caller); the results in order."""
    import numpy as np

    starts = range(0, len(energies), shard_size)
    for stale in folder.glob(".shard-*"):  # an interrupted run's: only the lock holder writes them
        stale.unlink()
    tasks = []
    for index, start in enumerate(starts):
        part = slice(start, start + shard_size)
        shard_unit = unit[part] if np.ndim(unit) == 2 else unit
        shard_pdg = pdg[part] if pdg is not None and np.ndim(pdg) > 0 else pdg
        tasks.append((index, job, energies[part], shard_unit, shard_pdg, seed, start, None))
    # here too: bad options fail early
    _shard_model(job["model_name"], job["weights"], job["options"], job["variant"])
    from tqdm.auto import tqdm

    results = []
    if scheduler is None:
        for task in tqdm(tasks, unit="shard", desc="generating"):
            results.append(_make_generated_shard(task[:-1] + (_pending_shard(folder, task[0]),)))
    else:
        results = _generate_on_dask(scheduler, workers, tasks, folder)
    return results


def _generate_on_dask(scheduler: str, workers: int | None, tasks: list, folder: Path) -> list:
    """One Dask task per shard; the results in shard order."""
    import uuid

    from .distributed import as_completed, check_workers_can_write, dask_client

    where = folder.resolve()  # the workers may run elsewhere: the full path
    workers = min(workers or os.cpu_count() or 1, len(tasks)) if scheduler == "local" else workers
    with dask_client(scheduler, workers=workers) as client:
        if scheduler != "local":
            check_workers_can_write(client, where)
        run = uuid.uuid4().hex[:8]  # task keys of this run only
        futures = [
            client.submit(
                _make_generated_shard,
                task[:-1] + (str(_pending_shard(where, task[0])),),
                pure=False,
                key=f"generate-shard-{task[0]:05d}-{run}",
            )
            for task in tasks
        ]
        from tqdm.auto import tqdm

        results = {}
        try:
            for future in tqdm(as_completed(futures), total=len(futures), unit="shard", desc="generating"):
                index, n, points, visible_mev = future.result()
                results[index] = (index, n, points, visible_mev)
        finally:
            client.cancel(futures)  # interrupted or failed: stop what has not started
    return [results[i] for i in range(len(tasks))]


@main.command()
@click.argument("model_name", metavar="MODEL")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="File to write.")
@click.option(
    "--weights",
    type=click.Path(exists=True, file_okay=False),
    help="A model folder saved by model.save() instead of the shipped weights.",
)
@click.option("--variant", default=None, metavar="NAME", help="One of the model's shipped variants.")
@click.option("--geometry", help="Geometry whose layer depths the export uses (model default if not given).")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["torchscript", "onnx"]),
    default=None,
    help="File format (default: onnx for a .onnx file name, torchscript otherwise).",
)
@friendly_errors
def export(model_name, output, weights, variant, geometry, file_format) -> None:
    """Export MODEL for the C++ simulation chain (TorchScript or ONNX for DDFastShowerML).

    \b
    calozoo export caloclouds3 -o caloclouds3.pt
    calozoo export caloclouds3 -o caloclouds3.onnx
    """
    import calozoo

    model = calozoo.load(model_name, path=weights, variant=variant)
    options = {} if geometry is None else {"geometry": geometry}
    if file_format is not None:
        options["format"] = file_format
    try:
        written = model.export(output, **options)
    except NotImplementedError as err:
        raise click.ClickException(f"{model_name} cannot be exported: {err}") from err
    click.echo(f"wrote {written}")


def _parse_options(options: tuple[str, ...], model_name: str | None = None) -> dict:
    """``("extrapolate=no",)`` -> ``{"extrapolate": False}``: typed by the model factory's signature.

    Without ``model_name`` the values stay text. An option the factory does not take is an
    error listing those it does (:mod:`calozoo.options`).
    """
    from .options import parse_option_values, split_options

    parsed = split_options(options, "--option")
    if model_name is None or not parsed:
        return parsed
    registration = _registry().get("model", model_name)
    return parse_option_values(f"model {model_name!r}", registration.resolve(), parsed)


def _parse_point(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3):
        raise click.BadParameter(f"expected two or three comma-separated numbers in mm, got {value!r}")
    return parts


def _stream(batches, n_showers: int, output: str, file_format: str, label: str, transform) -> None:
    """Apply ``transform`` batch by batch with a progress bar, writing each result to ``output``."""
    from tqdm.auto import tqdm

    from .io import ShowerWriter

    with ShowerWriter(output, n_showers, format=file_format) as writer:
        with tqdm(total=n_showers, unit="shower", desc=label) as bar:
            for batch in batches:
                writer.write(transform(batch))
                bar.update(len(batch))


_BATCH_SIZE_OPTION = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Showers processed and written at a time (bounds the memory).",
)


@main.command()
@click.argument("input_file", metavar="RAW_HITS", type=click.Path(exists=True))
@click.argument("output", metavar="[POINTS.h5]", type=click.Path(dir_okay=False), required=False)
@grammar.output_option("Output HDF5 file of training points (or give it as POINTS.h5).")
@click.option("--geometry", "geometry_name", required=True, help="Geometry the hits come from.")
@grammar.seed_option("Seeds the random sub-cell grid offsets.")
@click.option(
    "--sub-cells", type=click.IntRange(min=1), default=5, show_default=True, help="Sub-cells per cell side."
)
@click.option(
    "--trim-mm",
    type=float,
    default=250.0,
    show_default=True,
    help="Keep points within this distance of the axis, mm.",
)
@click.option(
    "--max-points",
    type=click.IntRange(min=1),
    default=None,
    help="Keep at most this many (the most energetic) points per shower.",
)
@_BATCH_SIZE_OPTION
@_FORMAT_OPTION
@friendly_errors
def preprocess(
    input_file,
    output,
    output_option,
    geometry_name,
    seed,
    sub_cells,
    trim_mm,
    max_points,
    batch_size,
    file_format,
) -> None:
    """Turn raw hits (z in mm, local frame) into training points (tilt removed, z in layers).

    RAW_HITS is a point-cloud .h5 file or a folder of shard-*.h5 files (read in order, as one
    file holding them one after the other).

    \b
    calozoo preprocess raw_hits.h5 -o points.h5 --geometry ild-ecal-regular --seed 1
    """
    output = grammar.resolve_output(output, output_option, "POINTS.h5")
    import calozoo

    from .io import read_showers
    from .preprocessing import preprocess as preprocess_hits
    from .showers import concatenate

    geo = calozoo.geometry(geometry_name)
    # a `calozoo simulate --raw` folder: its raw-*.h5 hold the hits (its shard-*.h5 the points)
    raw_folder = Path(input_file).is_dir() and any(Path(input_file).glob("raw-*.h5"))
    files = _input_files(input_file, "raw" if raw_folder else "shard")
    parts = []
    for file in files:
        part = read_showers(file)
        if part.z_units != "mm":
            raise click.ClickException(
                f"{file}: holds points with z in {part.z_units}; preprocess needs raw hits with z in mm"
            )
        parts.append(part)
    raw = parts[0] if len(parts) == 1 else concatenate(parts)
    points = preprocess_hits(
        raw,
        geo,
        seed=seed,
        sub_cells=sub_cells,
        trim_mm=trim_mm,
        max_points=max_points,
        batch_size=batch_size,
        progress=True,
    )
    _stream(points.batches(batch_size), len(points), output, file_format, "writing", lambda batch: batch)
    click.echo(f"wrote {len(points)} showers to {output}: {points.num_points.mean():.0f} points per shower")


@main.command()
@click.argument("input_file", metavar="POINTS", type=click.Path(exists=True))
@click.argument("output", metavar="[CELLS.h5]", type=click.Path(dir_okay=False), required=False)
@grammar.output_option("Output HDF5 file of cell hits (or give it as CELLS.h5).")
@click.option("--geometry", "geometry_name", required=True, help="Geometry to project into.")
@click.option(
    "--incident-point",
    help="Where the showers enter, mm, in the geometry's coordinates "
    "(x,y or x,y,z; default: the geometry's own).",
)
@grammar.orientation_option()
@_BATCH_SIZE_OPTION
@_FORMAT_OPTION
@friendly_errors
def project(
    input_file, output, output_option, geometry_name, incident_point, orientation, batch_size, file_format
) -> None:
    """Project training points into the cells of a geometry (one point per hit cell).

    POINTS is a point-cloud .h5 file or a folder of shard-*.h5 files (as `calozoo simulate`
    writes), streamed batch by batch in order into one CELLS.h5.

    \b
    calozoo project showers.h5 -o cells.h5 --geometry ild-ecal-barrel
    calozoo project data/test -o test-cells.h5 --geometry ild-ecal-barrel
    """
    output = grammar.resolve_output(output, output_option, "CELLS.h5")
    import calozoo

    from .io import count_showers, iter_showers, read_showers

    geo = calozoo.geometry(geometry_name)
    point = _parse_point(incident_point)
    files = _input_files(input_file)
    for file in files:
        z_units = read_showers(file, stop=1).z_units
        if z_units != "layer":
            raise click.ClickException(
                f"{file}: holds z in {z_units}; project needs training "
                "points with z in layer units (run `calozoo preprocess` first)"
            )
    before = after = 0.0
    # Streamed: memory is bounded by one batch, whatever the size of the file (or of the shards).
    # The file keeps what the projection learned: the geometry, the cell ids, the losses by cause.
    from tqdm.auto import tqdm

    from .evaluation.checks import check_layer_column
    from .io import ShowerWriter

    batches = (batch for file in files for batch in iter_showers(file, batch_size, orientation=orientation))
    total = sum(count_showers(file) for file in files)
    attrs = {"projected_into": geo.name, "threshold_mev": float(geo.threshold_mev)}
    with ShowerWriter(output, total, format=file_format, attrs=attrs) as writer:
        with tqdm(total=total, unit="shower", desc=f"projecting into {geometry_name}") as bar:
            for batch in batches:
                check_layer_column(batch, geo.n_layers, str(input_file))  # permuted axes: say so
                hits = geo.project(batch, point)
                before += float(batch.visible_energy_mev.sum())
                after += float(hits.showers.visible_energy_mev.sum())
                extra = None
                if file_format == "caloclouds":
                    extra = {"cell_id": hits.cell_id}
                    if hits.losses is not None:
                        extra.update({f"losses/{k}": v for k, v in hits.losses.causes().items()})
                writer.write(hits.showers, extra)
                bar.update(len(batch))
    click.echo(
        f"wrote {count_showers(output)} showers to {output}: {after / max(before, 1e-30):.1%} of the energy "
        f"kept in cells above {geo.threshold_mev:g} MeV"
    )


if __name__ == "__main__":  # pragma: no cover
    main()


def _model_subcommand(verb: str):
    """A core command ``calozoo VERB MODEL [ARGS...]`` that hands over to the model plugin's own.

    A plugin offers it through the commands hook, ``register("VERB MODEL", "module:command")``
    (a ``click.Command``, imported only when used).
    """

    @click.command(
        verb,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    @click.argument("model_name", metavar="MODEL", required=False)
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    @friendly_errors
    def command(ctx: click.Context, model_name: str | None, args: tuple[str, ...]) -> None:
        prefix = f"{verb} "
        offering = sorted(
            r.name[len(prefix) :] for r in _registry().registrations("command") if r.name.startswith(prefix)
        )
        if model_name is None or model_name in ("-h", "--help"):
            click.echo(ctx.get_help())
            click.echo(f"\nModels with a `{verb}` command: {', '.join(offering) or 'none installed'}")
            return
        _registry().get("model", model_name)  # an unknown model: the error lists close matches
        if model_name.rpartition(":")[2] not in offering:
            raise click.ClickException(
                f"model {model_name!r} has no `{verb}` command; "
                f"models with one: {', '.join(offering) or 'none installed'}"
            )
        registration = _registry().get("command", f"{verb} {model_name.rpartition(':')[2]}")
        sub = registration.resolve()
        if not isinstance(sub, click.Command):
            raise click.ClickException(
                f"{model_name}'s {verb} command {registration.factory!r} is not a click.Command"
            )
        sub.main(args=list(args), prog_name=f"calozoo {verb} {model_name}", standalone_mode=True)

    return command


_TRAIN = _model_subcommand("train")
_TRAIN.help = "Train MODEL: `calozoo train MODEL --help` shows the model's own options."
_IMPORT = _model_subcommand("import")
_IMPORT.help = (
    "Import a checkpoint written by MODEL's original authors into a calozoo model folder: "
    "`calozoo import MODEL --help` shows the model's own options (the checkpoint, -o FOLDER, ...)."
)
main.add_command(_TRAIN)
main.add_command(_IMPORT)


@main.command()
@click.argument("input_file", metavar="FILE", type=click.Path(exists=True))
@click.option("--index", type=int, default=0, show_default=True, help="Which shower of FILE, from 0.")
@click.option(
    "--geometry",
    "geometry_name",
    default=None,
    help="Project the training points into this geometry and show its cells "
    "(default: the points as they are).",
)
@click.option(
    "--incident-point",
    default=None,
    help="With --geometry: where the shower enters, mm, in the geometry's coordinates (x,y or x,y,z).",
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The PNG to write.")
@click.option(
    "--dpi",
    type=click.IntRange(min=20, max=600),
    default=100,
    show_default=True,
    help="Resolution of the PNG.",
)
@friendly_errors
def show(input_file, index, geometry_name, incident_point, output, dpi) -> None:
    """Event display of one shower of FILE (a shower file or a folder of shards): a map of every
    layer and a 3D view, written as PNG."""
    from .display import show_shower

    point = None
    if incident_point is not None:
        try:
            point = [float(v) for v in incident_point.split(",")]
        except ValueError:
            point = []
        if len(point) not in (2, 3):
            raise click.BadParameter(
                f"expected two or three comma-separated numbers in mm, got {incident_point!r}",
                param_hint="--incident-point",
            )
    try:
        show_shower(input_file, index, geometry=geometry_name, path=output, incident_point_mm=point, dpi=dpi)
    except ValueError as err:  # a geometry refusing the shower (raw hits, an incident point off its face)
        if isinstance(err, CalozooError):
            raise
        raise click.ClickException(str(err)) from err
    shown = f"its cells in {geometry_name}" if geometry_name else "its points"
    click.echo(f"wrote {output}: shower {index} of {input_file}, {shown}")
