"""``calozoo evaluate``: compare generated shower files with a reference file and write a report.

The command is a plain :class:`click.Command` (:data:`evaluate_command`); the main CLI adds it
with ``main.add_command(evaluate_command)``.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import click

from .. import grammar
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
            if not file.exists():
                raise click.BadParameter(
                    f"generated file or folder {str(file)!r} does not exist", param_hint="GEN.h5"
                )


def sample_files(path: Path) -> list[Path]:
    """The HDF5 files of one sample: the file itself, or a folder's shards in order."""
    from ..io import _shard_files

    return _shard_files(path) if Path(path).is_dir() else [Path(path)]


def read_sample(path: Path, orientation: str | None = None):
    """One sample from a file, or from a folder of shards (``calozoo simulate``'s output) joined in order."""
    from ..io import read_showers
    from ..showers import concatenate

    parts = [read_showers(f, orientation=orientation) for f in sample_files(path)]
    return parts[0] if len(parts) == 1 else concatenate(parts)


def _projected_inputs(paths: list[Path], geometry_name: str, declared: bool) -> bool:
    """Whether the inputs are projected cell hits, as their files say (``calozoo project`` records
    it); ``--projected`` is then not needed. Mixed inputs, or cells of another geometry, are refused."""
    from ..io import projection_of

    found = {path: projection_of(sample_files(path)[0]) for path in paths}
    projected = {path: info for path, info in found.items() if info is not None}
    if not projected:
        return declared
    if len(projected) != len(found):
        points = ", ".join(str(p) for p in found if found[p] is None)
        raise click.UsageError(
            f"{', '.join(str(p) for p in projected)} hold cell hits projected into "
            f"{next(iter(projected.values()))['projected_into']}, {points} training points: compare "
            "like with like (project the training points with `calozoo project` first)"
        )
    other = {
        str(p): info["projected_into"]
        for p, info in projected.items()
        if info["projected_into"] != geometry_name
    }
    if other:
        raise click.UsageError(
            f"cell hits projected into another geometry than --geometry {geometry_name}: {other}"
        )
    return True


def _measured(path: Path, label: str, cache_folder: Path | None, measure_settings: dict, measure):
    """The features of the sample at ``path``: from the cache if it has them, else measured (and cached).

    ``measure(path, label)`` reads and measures the sample."""
    from .cache import cache_key, load_features, save_features

    entry = None
    if cache_folder is not None:
        entry = cache_folder / f"{cache_key(sample_files(path), measure_settings)}.npz"
        cached = load_features(entry)
        if cached is not None:
            click.echo(f"{label}: measured features from the cache ({entry.name[:12]}...)", err=True)
            return cached
    features = measure(path, label)
    if entry is not None:
        save_features(entry, features)
    return features


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
    type=click.Path(exists=True),
    help="Reference showers, a file or a folder of shards (same incident conditions as the generated ones).",
)
@click.option(
    "--twin",
    type=click.Path(exists=True),
    help="A second, independent reference with the same per-shower conditions (calozoo simulate OUT "
    "--like REF): the floor is then reference against twin.",
)
@click.option(
    "--floor",
    "floor_method",
    type=click.Choice(["twin", "matched-halves", "bootstrap"]),
    help="Statistical floor [default: twin with --twin, else matched-halves: two halves of the reference "
    "matched in energy and direction].",
)
@click.option(
    "--jsd-units",
    type=click.Choice(["nats", "bits"]),
    default="nats",
    show_default=True,
    help="Units of the divergences in the table and report (bits: the CaloChallenge's).",
)
@click.option(
    "--physics-distances",
    type=click.Choice(["calozoo", "jetnet"]),
    default="calozoo",
    show_default=True,
    help="FPD/KPD convention: calozoo (standardised features) or jetnet (the JetNet library's own).",
)
@grammar.orientation_option()
@click.option(
    "--scheduler",
    help="Measure the samples on Dask: 'local' (a LocalCluster of --workers processes) or tcp://HOST:PORT "
    "(a running scheduler whose workers see the input files) [default: this process].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes of --scheduler local [default: all cores].",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Measure the reference (and twin) again instead of using the cache beside the report.",
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
    "--low-level-classifier",
    is_flag=True,
    help="Also train the CaloChallenge's network on the cells in an 11 x 11 box about the axis per layer.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=2),
    default=20,
    show_default=True,
    help="Resamples for the statistical floor and single-sample errors.",
)
@grammar.seed_option("Fixes resampling and the classifier.")
@click.option(
    "--no-condition-check", is_flag=True, help="Compare even if the incident conditions differ (not advised)."
)
@click.option("--no-plots", is_flag=True, help="Numbers and tables only, no figures (much faster).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Showers projected and measured at once (bounds the memory).",
)
@_friendly_errors
def evaluate_command(
    samples,
    reference,
    twin,
    floor_method,
    jsd_units,
    physics_distances,
    orientation,
    scheduler,
    workers,
    no_cache,
    geometry_name,
    report,
    projected,
    incident_point,
    energies,
    energy_tolerance,
    no_classifier,
    low_level_classifier,
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

    from .cache import CACHE_FOLDER
    from .comparison import LOW_LEVEL_HALF_WIDTH, evaluate
    from .features import ANGLE_SCAN_PERCENT, shower_features
    from .report import check_report_folder, write_report

    started = time.perf_counter()
    models = parse_samples(samples)
    _check_exist(models)
    point = _parse_numbers(incident_point, "two or three comma-separated numbers in mm", (2, 3))
    slice_energies = _parse_numbers(energies, "comma-separated energies in GeV")
    if orientation is not None:
        from ..io import orientation_permutation

        try:
            orientation_permutation(orientation)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--orientation") from None
    if floor_method == "twin" and twin is None:
        raise click.UsageError("--floor twin needs --twin REF2 (calozoo simulate OUT --like REF makes one)")
    check_report_folder(report)
    from ..serialization import REPORT_KIND, check_folder_replaceable

    check_folder_replaceable(report, REPORT_KIND)  # before the work, not after it
    geometry = calozoo.geometry(geometry_name)
    if hasattr(geometry, "n_alpha") and hasattr(geometry, "to_voxels"):  # a voxel readout: CaloChallenge
        _evaluate_voxels(models, reference, twin, geometry, report, no_classifier, low_level_classifier, seed)
        click.echo(f"report written to {report} ({time.perf_counter() - started:.1f} s)")
        return
    inputs = [Path(reference), *([Path(twin)] if twin else []), *(f for fs in models.values() for f in fs)]
    projected = _projected_inputs(inputs, geometry.name, projected)

    grid = LOW_LEVEL_HALF_WIDTH if low_level_classifier and not no_classifier else None

    options = dict(projected=projected, incident_point_mm=point, batch_size=batch_size, grid_half_width=grid)
    client = None

    def measure(path, label):
        if client is not None:  # one task per chunk of every shard file, gathered in order
            from .features import measure_on_dask

            click.echo(f"measuring {path} on {scheduler}", err=True)
            files = [str(f) for f in sample_files(path)]
            return measure_on_dask(client, files, geometry, {**options, "label": label}, orientation)
        click.echo(f"reading {path}", err=True)
        return shower_features(
            read_sample(path, orientation), geometry, label=label, progress=True, **options
        )

    measure_settings = {
        "geometry": geometry.name,
        "geometry_class": f"{type(geometry).__module__}.{type(geometry).__qualname__}",
        "layer_depth_mm": [float(d) for d in geometry.layer_depth_mm],
        "cell_size_mm": float(geometry.cell_size_mm),
        "threshold_mev": float(geometry.threshold_mev),
        "projected": projected,
        "incident_point_mm": point,
        "angle_scan_percent": list(ANGLE_SCAN_PERCENT),
        "grid_half_width": grid,
        "orientation": orientation,
    }
    cache_folder = None if no_cache else Path(report).resolve().parent / CACHE_FOLDER
    if workers is not None and scheduler != "local":
        raise click.UsageError("--workers is for --scheduler local (a remote scheduler has its own workers)")
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            from ..distributed import dask_client

            client = stack.enter_context(dask_client(scheduler, workers=workers))
        reference_features = _measured(Path(reference), "reference", cache_folder, measure_settings, measure)
        twin_features = None
        if twin is not None:
            twin_features = _measured(Path(twin), "twin", cache_folder, measure_settings, measure)
        generated = {}
        for label, files in models.items():
            generated[label] = []
            for file in files:
                if client is not None:  # measured there: evaluate takes the features
                    generated[label].append(measure(file, label))
                else:
                    click.echo(f"reading {file}", err=True)
                    generated[label].append(read_sample(file, orientation))

    result = evaluate(
        generated,
        reference_features,
        geometry,
        projected=projected,
        incident_point_mm=point,
        energies_gev=slice_energies,
        energy_tolerance=energy_tolerance,
        classifier=not no_classifier,
        low_level_classifier=low_level_classifier,
        n_bootstrap=bootstrap,
        seed=seed,
        check_conditions=not no_condition_check,
        twin=twin_features,
        floor=floor_method,
        physics_distances=physics_distances,
        batch_size=batch_size,
        progress=True,
        inputs={
            "reference": str(reference),
            **({"twin": str(twin)} if twin else {}),
            **{f"{label} file(s)": ", ".join(str(f) for f in files) for label, files in models.items()},
        },
    )
    result.settings["jsd_units"] = jsd_units
    folder = write_report(result, report, plots=not no_plots, progress=True)
    for line in summary_lines(result):
        click.echo(line)
    for message in result.warnings:
        click.echo(f"warning: {message}", err=True)
    click.echo(f"\nreport written to {folder / 'index.html'} ({time.perf_counter() - started:.1f} s)")


def _evaluate_voxels(models, reference, twin, geometry, report, no_classifier, low_level, seed) -> None:
    """The CaloChallenge's comparison in voxel space (:func:`.voxels.evaluate_voxel_files`):
    CaloChallenge files as they are, calozoo point files projected into the readout first."""
    from .voxels import evaluate_voxel_files, summary_lines

    classifiers = () if no_classifier else ("high", "low") if low_level else ("high",)
    results = evaluate_voxel_files(
        models, reference, geometry, report, twin=twin, classifiers=classifiers, seed=seed
    )
    for line in summary_lines(results):
        click.echo(line)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def summary_lines(result) -> list[str]:
    """The terminal summary: per observable JSD, floor, JSD/floor and separation power; then the
    divergence over its floor per energy slice; then the classifier."""
    from .report import jsd_scale

    scale, unit = jsd_scale(result)
    names = list(result.models)
    header = ["all energies", *[c for m in names for c in (f"{m} JSD [{unit}]", "/floor", "sep. power")]]
    rows = [(*header, f"floor ({result.settings['floor']})")]
    for obs_name, by_model in result.distances["all"].items():
        cells = [obs_name]
        for m in names:
            jsd, sep = by_model[m]["jsd"], by_model[m]["separation_power"]
            cells += [
                f"{jsd['mean'] * scale:.2e} ± {jsd['error'] * scale:.1e}",
                f"{jsd['ratio_to_floor']:.1f}",
            ]
            cells.append(f"{sep['mean']:.2e}")
        floor = by_model[names[0]]["jsd"]
        cells.append(f"{floor['floor'] * scale:.1e} ± {floor['floor_error'] * scale:.0e}")
        rows.append(tuple(cells))
    lines = _table(rows)
    fixed = [s for s in result.slices if s.energy_gev is not None]
    for m in names if fixed else []:
        rows = [(f"{m}: JSD / floor", *[s.label for s in fixed])]
        for obs_name in result.distances["all"]:
            rows.append(
                (
                    obs_name,
                    *[f"{result.distances[s.key][obs_name][m]['jsd']['ratio_to_floor']:.1f}" for s in fixed],
                )
            )
        lines += ["", *_table(rows)]
    if result.classifier:
        rows = [("classifier", "AUC", "JSD [nats]", "JSD [bits]")]
        for m, c in result.classifier.items():
            if "skipped" in c:
                rows.append((m, "skipped", "", ""))
            else:
                rows.append(
                    (
                        m,
                        f"{c['auc']['mean']:.3f} ± {c['auc']['error']:.3f}",
                        f"{c['jsd']['mean']:.3f}",
                        f"{c['jsd_bits']['mean']:.3f}",
                    )
                )
        lines += ["", *_table(rows)]
    return lines
