"""Data sets of reference-MC showers: sharded, parallel over cores, reproducible and resumable.

Shard ``i`` holds showers ``[i * shard_size, (i + 1) * shard_size)``; shower ``j`` of the data set
draws its incident conditions and its shower from child ``j`` of
``numpy.random.SeedSequence(seed)`` (calozoo's convention, :mod:`calozoo.seeding`), so the
showers depend on neither the shard size nor the number of workers, and an interrupted run
keeps its finished shards (each is written atomically) and makes only the missing ones when
started again.

With ``like`` a data set copies the per-shower conditions of another one (its "twin"): shower
``i`` gets the incident energy, direction and particle of shower ``i`` of the given file or
folder of shards, and only the showers themselves are drawn from the seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from calozoo.distributions import STAVE_INNER_RADIUS_MM, barrel_ip_directions

from .physics import PHYSICS_VERSION, PHYSICS_VERSIONS, check_physics_version

__all__ = [
    "simulate_dataset",
    "conditions_sha256",
    "cc3_training_conditions",
    "cc2_training_conditions",
    "STAVE_INNER_RADIUS_MM",
    "PRESETS",
    "ENERGY_RANGES",
]

#: Named condition sets (``None`` in a field means "given by the caller").
PRESETS = ("cc3-training", "cc2-training", "cc3-endcap-training")
#: Each preset's energies (uniform, GeV) and directions (a ``--directions`` name; ``None``: normal).
_PRESET_CONDITIONS = {
    "cc3-training": ((1.0, 127.0), "barrel-ip"),
    "cc2-training": ((10.0, 90.0), None),
    "cc3-endcap-training": ((1.0, 127.0), "endcap-ip"),
}
#: The geometry a preset simulates in when none is given (the others: ``ild-ecal-regular``).
PRESET_GEOMETRY = {"cc3-endcap-training": "ild-ecal-endcap-regular"}
DEFAULT_GEOMETRY = "ild-ecal-regular"
#: How a data set's showers are seeded (recorded in the manifest): each shower from child ``i`` of
#: the seed (:mod:`calozoo.seeding`). Data sets seeded per shard (manifests without it) differ.
SEEDING = "per-shower"
#: The kinds of ``energy_range``.
ENERGY_RANGES = ("uniform", "log-uniform")


def cc3_training_conditions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The CaloClouds3 training distribution: ``(n,)`` energies (GeV) and ``(n, 3)`` local directions.

    Photons of 1-127 GeV (uniform, drawn first), then directions from
    :func:`calozoo.distributions.barrel_ip_directions`: from the interaction point, hitting the
    top barrel stave with a uniform density on its inner face (at 1804.8 mm) within
    30° < θ < 150° and 80° < φ < 110° (θ to the beam, φ the azimuth, θ = φ = 90° normal
    incidence). The face is not cut at the barrel's half-length: the angular window alone
    defines the set. A data set draws them shower by shower: shower ``i``'s are
    ``cc3_training_conditions(1, calozoo.seeding.condition_rngs(seed, 1, start=i)[0])``.
    """
    energy = rng.uniform(1.0, 127.0, n)
    return energy, barrel_ip_directions(n, rng)


def cc2_training_conditions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The CaloClouds2 training distribution: photons of 10-90 GeV (uniform), normal incidence."""
    return rng.uniform(10.0, 90.0, n), np.tile([0.0, 0.0, 1.0], (n, 1))


def _shard_conditions(settings: dict[str, Any], n: int, start: int):
    """The energies, directions and pdg of showers ``start .. start + n - 1`` of the data set.

    Drawn by :func:`calozoo.grammar.draw_conditions`, as ``calozoo generate`` draws them: nothing
    for fixed energies with a fixed direction; otherwise (a preset, an energy range, a
    distribution of directions) shower ``i``'s own conditions stream
    (:func:`calozoo.seeding.condition_rngs`) gives one energy first (one draw, dropped when the
    energies are fixed), then its direction. So a shower's conditions depend on neither the
    shard size nor the number of workers, the directions do not depend on how the energies are
    given, ``energy_gev=[1, 2], directions="barrel-ip"`` draws the same directions as
    ``preset="cc3-training"`` with the same seed, and ``energy_range=("uniform", 1, 127),
    directions="barrel-ip"`` is the ``cc3-training`` preset.
    """
    from calozoo.grammar import DirectionSpec, EnergySpec, draw_conditions

    fixed = settings["energy_gev"]
    energy_range = settings.get("energy_range")
    if settings["preset"] in PRESETS:
        (low, high), directions = _PRESET_CONDITIONS[settings["preset"]]
        energy_range = energy_range or ("uniform", low, high)
        direction, pdg = (0.0, 0.0, 1.0), 22
    else:
        directions, direction, pdg = settings.get("directions"), settings["direction"], settings["pdg"]
    if fixed is not None:
        energy = EnergySpec("fixed", tuple(float(e) for e in np.atleast_1d(fixed)))
    else:
        energy = EnergySpec(energy_range[0], (float(energy_range[1]), float(energy_range[2])))
    if directions is not None:
        spec = DirectionSpec(directions)
    else:
        spec = DirectionSpec("fixed", tuple(float(v) for v in direction))
    energies, unit = draw_conditions(energy, spec, settings["seed"], n, start=start)
    return energies, unit, np.full(n, int(pdg))


_MODEL = None


def _model(settings: dict[str, Any]):
    global _MODEL
    if _MODEL is None:
        from .model import ReferenceMC

        _MODEL = ReferenceMC(
            output="raw",
            geometry=settings["geometry"],
            max_points=settings["max_points"],
            physics_version=settings["physics_version"],
        )
    return _MODEL


def _pending(out: Path, index: int) -> Path:
    """Where a worker leaves shard ``index`` until the manifest has recorded it."""
    return out / f".shard-{index:05d}.h5.pending"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _make_shard(job: tuple[int, int, dict[str, Any], str, tuple | None]) -> tuple[int, int, str]:
    """Simulate one shard (in a worker process) into its pending file; ``(index, showers, sha256)``.

    The job's last item is the shard's conditions when they are given (``like``), else ``None``.
    The main process records the shard in the manifest, then renames the pending file to
    ``shard-NNNNN.h5``: a shard file exists only once the manifest knows its checksum.
    """
    from calozoo.io import write_showers
    from calozoo.seeding import shower_seeds

    index, n, settings, out_dir, given = job
    # Shower i of the data set is child i of SeedSequence(seed), whichever shard holds it
    # (calozoo.seeding): its conditions, transport and preprocessing do not depend on the shard size.
    start = index * settings["shard_size"]
    model = _model(settings)
    energy, direction, pdg = given if given is not None else _shard_conditions(settings, n, start)
    model.conditions.validate(energy, direction, pdg)
    seeds = shower_seeds(settings["seed"], n, start=start)
    raw, _ = model.simulate_raw(energy, direction, pdg, seeds)
    points = model.points_from_raw(raw, seeds, max_points=settings["max_points"])
    out = Path(out_dir)
    if settings["raw"]:
        write_showers(out / f"raw-{index:05d}.h5", raw)
    pending = write_showers(_pending(out, index), points)
    return index, n, file_sha256(pending)


def conditions_sha256(energy_gev: np.ndarray, direction: np.ndarray, pdg: np.ndarray) -> str:
    """Content hash of per-shower conditions: sha256 of the energies and directions as
    little-endian float64 bytes followed by the PDG ids as little-endian int64 bytes."""
    digest = hashlib.sha256()
    for values, dtype in ((energy_gev, "<f8"), (direction, "<f8"), (pdg, "<i8")):
        digest.update(np.ascontiguousarray(values, dtype=dtype).tobytes())
    return digest.hexdigest()


def _check_energy_range(energy_range, energy_gev) -> list | None:
    """``energy_range`` as the manifest records it, ``[kind, low, high]``, after checking it."""
    if energy_range is None:
        return None
    try:
        kind, low, high = energy_range
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"energy_range must be (kind, low, high), got {energy_range!r}") from None
    if kind not in ENERGY_RANGES:
        raise ValueError(f"energy_range kind must be one of {ENERGY_RANGES}, got {kind!r}")
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
        raise ValueError(f"energy_range needs 0 < low < high (GeV, finite), got {low!r}, {high!r}")
    if energy_gev is not None:
        raise ValueError("give energy_gev (fixed energies) or energy_range, not both")
    return [kind, low, high]


def _like_conditions(like: str | os.PathLike, n_showers: int | None):
    """The first ``n_showers`` (default all) conditions of ``like``, as float64/float64/int64."""
    from calozoo.io import read_conditions

    energy, direction, pdg = read_conditions(like)
    if n_showers is None:
        n_showers = len(energy)
    elif n_showers > len(energy):
        raise ValueError(
            f"n_showers = {n_showers}, but {like} holds only {len(energy)} showers to copy the "
            "conditions of (leave n_showers unset to take all of them)"
        )
    return energy[:n_showers], direction[:n_showers], pdg[:n_showers].astype(np.int64)


def _read_manifest(manifest: Path) -> dict:
    try:
        return json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{manifest} is not a readable reference-MC manifest ({err}); it was not written completely "
            "by calozoo or was edited: move the folder away or restore the file"
        ) from None


def _write_manifest(manifest: Path, state: dict) -> None:
    """Replace the manifest atomically: a crash leaves the old one or the new one, never half."""
    partial = manifest.with_name(f".{manifest.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(state, indent=2))
    os.replace(partial, manifest)


#: Settings that may differ between runs on one folder: the size grows, the conditions' path moves.
_MAY_DIFFER = ("n_showers", "like", "shards")


def _check_same_data_set(out: Path, manifest: Path, previous: dict, settings: dict, like) -> None:
    """Refuse to continue a data set made with other settings, saying which setting differs."""
    made_with = previous.get("physics_version", 1)
    if made_with != settings["physics_version"]:
        raise ValueError(
            f"{out} holds a data set made with reference-MC physics version {made_with}; this "
            f"installation simulates version {settings['physics_version']} here, whose showers "
            f"differ: finish it with the version that started it (--physics-version {made_with}, "
            f"if it is one of {list(PHYSICS_VERSIONS)}), or use another folder"
        )
    if previous.get("seeding") != settings["seeding"]:
        raise ValueError(
            f"{out} holds a data set seeded shard by shard (made before calozoo seeded every shower "
            "from its own stream): this version gives other showers for the same seed, so it cannot "
            "continue it: finish it with the version that started it, or use another folder"
        )
    if previous.get("like_sha256") != settings.get("like_sha256"):
        made = f"like {previous['like']}" if "like" in previous else "without like"
        asked = f"like {like}" if like is not None else "without like"
        raise ValueError(
            f"{out} holds a data set simulated {made} ({manifest}); this run asks for one {asked}, "
            "with other per-shower conditions: resume it with the same conditions, or use another "
            "folder"
        )
    differ = [
        f"{key}: {previous.get(key)!r} there, {settings.get(key)!r} asked"
        for key in sorted(set(previous) | set(settings))
        if key not in _MAY_DIFFER and previous.get(key) != settings.get(key)
    ]
    if differ:
        raise ValueError(
            f"{out} holds a data set made with other settings ({'; '.join(differ)}); use another folder"
        )
    if settings["n_showers"] < previous["n_showers"]:
        raise ValueError(
            f"{out} holds {previous['n_showers']} showers; this run asks for {settings['n_showers']}: "
            "a data set grows (the same settings with a larger -n add shards) but never shrinks"
        )


def _refuse_unknown_shards(out: Path, recorded: dict) -> None:
    """A ``shard-*.h5`` the manifest does not know was not written by this data set: refuse it."""
    unknown = sorted(f.name for f in out.glob("shard-*.h5") if f.name not in recorded)
    if unknown:
        raise ValueError(
            f"{out} holds {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}, which its manifest "
            "does not record: files this data set did not write. Move them away (nothing was changed)"
        )


def _adopt_unrecorded_shards(out: Path, settings: dict) -> dict:
    """Shards of a manifest written before checksums were recorded: kept if they read completely."""
    from calozoo.io import read_showers

    adopted = {}
    for shard in sorted(out.glob("shard-*.h5")):
        try:
            n = len(read_showers(shard))
        except Exception:  # unreadable: simulated again
            continue
        adopted[shard.name] = {"showers": n, "sha256": file_sha256(shard)}
    return adopted


def simulate_dataset(
    out_dir: str | os.PathLike,
    n_showers: int | None,
    *,
    preset: str | None = "cc3-training",
    energy_gev: float | list[float] | None = None,
    energy_range: tuple[str, float, float] | None = None,
    direction: tuple[float, float, float] | None = None,
    directions: str | None = None,
    pdg: int = 22,
    like: str | os.PathLike | None = None,
    seed: int = 0,
    workers: int | None = None,
    shard_size: int = 1000,
    raw: bool = False,
    max_points: int | None = None,
    geometry: str | None = None,
    progress: bool = True,
    scheduler: str | None = None,
    physics_version: int = PHYSICS_VERSION,
) -> list[Path]:
    """Write ``n_showers`` reference-MC showers as CaloClouds point-cloud shards into ``out_dir``.

    Args:
        out_dir: folder for ``shard-00000.h5``, … (training points, CaloClouds layout) and, with
            ``raw=True``, ``raw-00000.h5``, … (raw hits, z in mm); created if missing.
        n_showers: total number of showers; with ``like`` ``None`` takes all of its showers
            and a number the first ``n_showers``.
        preset: ``"cc3-training"`` (see :func:`cc3_training_conditions`), ``"cc2-training"``
            (:func:`cc2_training_conditions`), ``"cc3-endcap-training"`` (1-127 GeV uniform,
            directions :func:`calozoo.distributions.endcap_ip_directions`, in
            ``ild-ecal-endcap-regular`` unless ``geometry`` says otherwise) or ``None`` for
            conditions given by ``energy_gev`` (one value, or several sharing every shard equally)
            or ``energy_range``, ``direction`` (local unit vector, default normal incidence) or
            ``directions``, and ``pdg``. With a preset, ``energy_gev`` or ``energy_range``
            replaces the preset's energies and keeps its directions and particle: the directions
            are those the plain preset draws with the same seed.
        energy_range: ``("uniform", LOW, HIGH)`` or ``("log-uniform", LOW, HIGH)`` in GeV
            (``0 < LOW < HIGH``), instead of ``energy_gev``: each shard draws its energies first
            from its own stream.
        directions: a distribution of directions
            (:data:`calozoo.distributions.DIRECTION_DISTRIBUTIONS`: ``"barrel-ip"``), with
            ``preset=None``, instead of ``direction``: each shard draws them after its energies
            (``n`` draws, dropped when fixed), so ``directions="barrel-ip"`` gives the directions
            of ``preset="cc3-training"`` with the same seed, whatever the energies.
        like: a point-cloud file (:func:`calozoo.io.read_showers`) or a folder of shards as this
            function writes them: shower ``i`` gets the incident energy, direction and pdg of
            shower ``i`` there. It replaces ``preset``, which must be left at its default (or
            ``None``), as must ``energy_gev``, ``direction`` and ``pdg``. The manifest records
            its path and :func:`conditions_sha256`; a folder started with other conditions is
            not resumed.
        seed: the data set's seed; the same seed gives the same showers, whatever the
            ``shard_size``, the workers and the scheduler: shower ``i`` draws its conditions and
            its shower from child ``i`` of ``numpy.random.SeedSequence(seed)``.
        workers: processes (default: all cores); with ``scheduler="local"`` the local Dask
            cluster's worker processes; not used with a scheduler's address.
        shard_size: showers per file.
        raw: also write the raw hits.
        max_points: training points kept per shower (CaloClouds3 uses 6000); ``None`` keeps all.
        geometry: a registered geometry with a material stack; default the preset's
            (:data:`PRESET_GEOMETRY`), else ``ild-ecal-regular``. The reference MC takes the
            field's direction from it.
        progress: show a tqdm progress bar.
        scheduler: ``None`` (a multiprocessing pool, or this process for one worker),
            ``"local"`` (a Dask ``LocalCluster`` of ``workers`` processes, one thread each) or a
            Dask scheduler's address ``tcp://HOST:PORT``, whose workers must see ``out_dir`` under
            the same path (a shared file system; checked before any shard is submitted). One
            task per shard; the files are the same whatever the scheduler.
        physics_version: the reference MC's physics (:data:`~calozoo_refmc.physics.PHYSICS_VERSIONS`;
            2 reproduces the data sets the shipped models were trained on); recorded in the
            manifest, and a data set is only continued with the version that started it.

    Returns:
        The paths of all point-cloud shards.

    Raises:
        ValueError: bad settings, conditions the reference MC cannot simulate, or ``out_dir``
            holds a data set made with other settings.
    """

    from calozoo.errors import InvalidConditionError

    if n_showers is not None and (not isinstance(n_showers, (int, np.integer)) or n_showers < 1):
        raise ValueError(f"n_showers must be a positive integer, got {n_showers!r}")
    if n_showers is None and like is None:
        raise ValueError("give n_showers (it may be left out only with like)")
    if not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    if scheduler is not None:
        from calozoo.distributed import check_scheduler

        check_scheduler(scheduler)
        if workers is not None and scheduler != "local":
            raise ValueError(
                f"workers is the size of a local cluster; the scheduler at {scheduler} has the workers "
                "it has (leave workers unset)"
            )
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {PRESETS} (or None with energy_gev)")
    energy_range = _check_energy_range(energy_range, energy_gev)
    if geometry is None:
        geometry = PRESET_GEOMETRY.get(preset, DEFAULT_GEOMETRY)
    if directions is not None:
        from calozoo.distributions import DIRECTION_DISTRIBUTIONS

        if directions not in DIRECTION_DISTRIBUTIONS:
            raise ValueError(f"unknown directions {directions!r}; known: {tuple(DIRECTION_DISTRIBUTIONS)}")
        if like is None and (preset is not None or direction is not None):
            raise ValueError("directions replaces a preset's directions and direction: give preset=None")
    given = None
    if like is not None:
        if (
            preset not in (None, "cc3-training")
            or energy_gev is not None
            or energy_range is not None
            or direction is not None
            or directions is not None
            or pdg != 22
        ):
            raise ValueError(
                "like gives every shower's energy, direction and pdg: leave preset, energy_gev, "
                "energy_range, direction, directions and pdg unset"
            )
        given = _like_conditions(like, n_showers)
        n_showers, preset, pdg = len(given[0]), None, None
    elif preset is None:
        if energy_gev is None and energy_range is None:
            raise ValueError(
                "without a preset, give energy_gev or energy_range (and optionally direction or "
                "directions, and pdg)"
            )
        if energy_gev is not None:
            energy_gev = [float(e) for e in np.atleast_1d(energy_gev)]
        if directions is None:
            direction = [float(v) for v in (direction if direction is not None else (0.0, 0.0, 1.0))]
    elif energy_gev is not None:
        energy_gev = [float(e) for e in np.atleast_1d(energy_gev)]
    settings = {
        "n_showers": int(n_showers),
        "shard_size": int(shard_size),
        "preset": preset,
        "energy_gev": energy_gev,
        # a list, as the manifest's JSON reads back (a tuple would never equal it on resuming)
        "direction": None if direction is None else [float(v) for v in direction],
        "pdg": None if pdg is None else int(pdg),
        "seed": int(seed),
        "raw": bool(raw),
        "max_points": max_points,
        "geometry": geometry,
        "physics_version": check_physics_version(physics_version),
        "seeding": SEEDING,
    }
    # only when given: the manifests of data sets made without them stay as they were
    if energy_range is not None:
        settings["energy_range"] = energy_range
    if directions is not None:
        settings["directions"] = directions
    if given is not None:  # only then: manifests written before `like` existed stay resumable
        settings["like"] = str(Path(like).resolve())
        settings["like_sha256"] = conditions_sha256(*given)
    # the conditions are checked here, before any worker starts
    from .model import ReferenceMC

    model = ReferenceMC(output="raw", geometry=geometry)
    if given is not None:
        try:
            model.conditions.validate(*given)
        except InvalidConditionError as err:
            raise InvalidConditionError(
                f"{like}: the reference MC cannot simulate its conditions: {err}"
            ) from err
    else:
        energies = energy_range[1:] if energy_range is not None else energy_gev  # a range: its ends
        if preset is None:
            shared = None if directions is not None else np.asarray(direction)
            model.conditions.validate(energies, shared, np.full(len(energies), pdg))
        elif energies is not None:
            model.conditions.validate(energies)

    from calozoo.serialization import output_lock

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # one run per data set: a second one would take the first one's pending shards for stale
    with output_lock(out):
        return _simulate_into(out, settings, given, n_showers, shard_size, workers, like, progress, scheduler)


def _simulate_into(
    out: Path, settings: dict, given, n_showers: int, shard_size: int, workers, like, progress, scheduler=None
):
    """The body of :func:`simulate_dataset` once the folder is locked."""
    import multiprocessing

    from tqdm.auto import tqdm

    manifest = out / "reference-mc.json"
    recorded: dict[str, dict] = {}
    if manifest.exists():
        previous = _read_manifest(manifest)
        _check_same_data_set(out, manifest, previous, settings, like)
        recorded = previous.get("shards", {})
        if "shards" not in previous:  # a manifest written before shards were recorded
            recorded = _adopt_unrecorded_shards(out, settings)

    sizes = [min(shard_size, n_showers - start) for start in range(0, n_showers, shard_size)]
    shards = [out / f"shard-{i:05d}.h5" for i in range(len(sizes))]
    _refuse_unknown_shards(out, recorded)
    for stale in out.glob(".shard-*.h5.pending"):  # a run killed before it recorded these
        stale.unlink()
    keep = set()
    for shard, size in zip(shards, sizes):
        entry = recorded.get(shard.name)
        if entry is not None and shard.exists():
            if entry.get("showers") == size and file_sha256(shard) == entry.get("sha256"):
                keep.add(shard.name)
            elif entry.get("showers") == size:
                print(
                    f"{shard}: its checksum differs from the manifest's (damaged?): simulating it again",
                    file=sys.stderr,
                )
    # Shards to be made again keep their old entries until replaced: a file on disk is always
    # one the manifest records, so an interrupted run never leaves a shard it would refuse.
    state = {**settings, "shards": {name: e for name, e in recorded.items() if (out / name).exists()}}
    if manifest.exists() and "like" in settings:
        state["like"] = previous.get("like", settings["like"])  # where the conditions came from first
    _write_manifest(manifest, state)

    starts = np.cumsum([0, *sizes])
    # with like, each job carries its shard's slice of the conditions
    parts = [None if given is None else tuple(c[a:b] for c in given) for a, b in zip(starts, starts[1:])]
    todo = [(i, n, settings, str(out), parts[i]) for i, n in enumerate(sizes) if shards[i].name not in keep]
    # (a local Dask cluster gets as many processes; a remote scheduler has its own workers)
    workers = min(workers or os.cpu_count() or 1, max(len(todo), 1))
    done = n_showers - sum(job[1] for job in todo)

    def finish(index: int, n: int, sha256: str) -> None:
        # record first, then rename: a shard file only ever exists with its checksum recorded
        state["shards"][shards[index].name] = {"showers": int(n), "sha256": sha256}
        _write_manifest(manifest, state)
        os.replace(_pending(out, index), shards[index])

    with tqdm(total=n_showers, initial=done, unit="shower", disable=not progress, desc="reference-mc") as bar:
        if scheduler is not None:
            if todo:
                _run_on_dask(scheduler, workers, todo, out, finish, bar)
        elif workers == 1:
            for job in todo:
                finish(*_make_shard(job))
                bar.update(job[1])
        elif todo:
            # fork where there is one (fast start, the tables are inherited); spawn elsewhere
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with context.Pool(workers, initializer=_quiet_worker) as pool:
                for index, n, sha256 in pool.imap_unordered(_make_shard, todo):
                    finish(index, n, sha256)
                    bar.update(n)
    return shards


def _quiet_worker() -> None:
    """A pool worker leaves Ctrl-C to the parent and dies quietly when the pool ends it (SIGTERM):
    forked workers inherit the parent's handlers, which would print a traceback per worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_on_dask(scheduler: str, workers: int | None, todo: list, out: Path, finish, bar) -> None:
    """One Dask task per shard; each finished one recorded and renamed here, as they complete."""
    import uuid

    from calozoo.distributed import as_completed, check_workers_can_write, dask_client

    with dask_client(scheduler, workers=workers) as client:
        if scheduler != "local":
            check_workers_can_write(client, out)
        where = str(out.resolve())  # the workers may run elsewhere: the full path
        todo = [(index, n, settings, where, part) for index, n, settings, _, part in todo]
        run = uuid.uuid4().hex[:8]  # task keys of this run only, never another run's results
        futures = [
            client.submit(_make_shard, job, pure=False, key=f"refmc-shard-{job[0]:05d}-{run}") for job in todo
        ]
        try:
            for future in as_completed(futures):
                index, n, sha256 = future.result()
                finish(index, n, sha256)
                bar.update(n)
        finally:
            client.cancel(futures)  # interrupted or failed: stop what has not started
