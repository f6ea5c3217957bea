"""The command line as a user meets it: listing, info, doctor, generate and its errors."""

import dataclasses

import numpy as np
import pytest
from blob_models import BlobModel
from click.testing import CliRunner
from test_registry import BrokenHookPlugin

import calozoo
from calozoo.cli import main
from calozoo.io import read_showers, write_showers
from calozoo.showers import Showers


@pytest.fixture
def run(blob_registry):
    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args])

    return invoke


def test_list_models_and_info(run):
    result = run("list-models")
    assert result.exit_code == 0
    assert "blob" in result.output and "Gaussian blobs for tests" in result.output
    result = run("info", "blob")
    assert result.exit_code == 0 and "blob_models:load_blob" in result.output
    assert "energy_gev: (1, 100)" in result.output


def test_info_on_a_typo_suggests_the_name(run):
    result = run("info", "blop")
    assert result.exit_code == 1
    assert "Did you mean 'blob'" in result.output


def test_info_describes_a_shower_file_and_a_shard_folder(run, tmp_path):
    from calozoo.conditions import direction_from_angles

    showers = BlobModel().sample([10.0, 50.0, 50.0], direction_from_angles(60, 95), seed=1)
    folder = tmp_path / "set"
    folder.mkdir()
    write_showers(folder / "shard-00000.h5", showers[:2])
    write_showers(folder / "shard-00001.h5", showers[2:])
    result = run("info", folder)
    assert result.exit_code == 0, result.output
    for expected in (
        "(2 shards)",
        "showers:   3",
        "fixed at 10, 50 GeV",
        "θ 60.0° to 60.0°",
        "22 (photon): 3",
    ):
        assert expected in result.output
    assert "training points (z in layer units)" in result.output


def test_doctor_flags_broken_plugins(run, blob_registry):
    assert run("doctor").exit_code == 0
    blob_registry.add_plugin(BrokenHookPlugin(), "broken-one")
    result = run("doctor")
    assert result.exit_code == 1
    assert "broken-one" in result.output and "the hook fell over" in result.output


@pytest.mark.parametrize("file_format", ["showerdata", "caloclouds"])
def test_generate_writes_a_readable_file(run, tmp_path, file_format):
    options = ["-n", 12, "--energy", "10:60", "--theta", 70, "--phi", 90, "--seed", 4, "--batch-size", 5]
    out = tmp_path / "showers.h5"
    result = run("generate", "blob", *options, "-o", out, "--format", file_format)
    assert result.exit_code == 0, result.output
    assert "wrote 12 showers" in result.output
    showers = read_showers(out)
    assert len(showers) == 12
    assert showers.incident_energy_gev.min() >= 10 and showers.incident_energy_gev.max() <= 60
    assert showers.direction[:, 0].min() > 0.3  # theta 70 deg leans along the beam (+x)
    # the same seed gives the same file content
    again = tmp_path / "again.h5"
    run("generate", "blob", *options, "-o", again, "--format", file_format)
    assert read_showers(again) == showers


@pytest.mark.parametrize(
    "args, message",
    [
        (["--energy", "500"], "energy out of range"),
        (["--energy", "abc"], "expected a number of GeV (50), fixed energies in equal shares (10,50,100)"),
        (["--energy", "90:10"], "a range needs LOW < HIGH"),
        (["--energy", "10:nan"], "positive, finite numbers of GeV"),
        (["--energy", "-5"], "positive, finite numbers of GeV"),
        (["--energy", "log:0.5:127"], "energy out of range"),
        (["--energy", "10:100", "--energy", "5"], "a range ('10:100') cannot be combined"),
        (["-O", "nonsense"], "KEY=VALUE"),
        (["-n", "100000000000000"], "more than half of this machine's"),
        (["--seed", "-1"], "-1 is not in the range x>=0"),
        (["--seed", "1.5"], "not a valid integer"),
        (["-o", "."], "is a directory"),
        (["--theta", "90"], "--theta and --phi go together"),
        (["--direction", "0,0,2"], "unit vector"),
        (["--direction", "0,0"], "three comma-separated numbers"),
        (["--direction", "0,0,1", "--theta", "90", "--phi", "90"], "not --theta/--phi and --direction"),
        (["--directions", "barrel-ip", "--theta", "90", "--phi", "90"], "not --theta/--phi and --directions"),
        (["--directions", "endcap"], "'endcap' is not one of 'barrel-ip', 'endcap-ip'"),
        (["-n", "0"], "0 is not in the range"),
        (["--n-showers", "2", "--n", "2"], "give -n/--n-showers once"),
    ],
)
def test_generate_refuses_bad_options_without_writing(run, tmp_path, args, message):
    out = tmp_path / "showers.h5"
    result = run("generate", "blob", "-o", out, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists()


def test_generate_n_is_a_deprecated_alias_of_n_showers(run, tmp_path):
    result = run("generate", "blob", "--n", 2, "-o", tmp_path / "old.h5")
    assert result.exit_code == 0, result.output
    notice = "calozoo generate: --n is deprecated and goes in the next release; use -n/--n-showers\n"
    assert (
        result.stderr.startswith(notice) and result.stderr.count("deprecated") == 1
    )  # then the progress bar
    assert "deprecated" not in run("generate", "blob", "--n-showers", 2, "-o", tmp_path / "new.h5").stderr
    assert read_showers(tmp_path / "old.h5") == read_showers(tmp_path / "new.h5")
    assert "--n " not in run("generate", "--help").output  # hidden


@pytest.mark.parametrize(
    "energy, check",
    [
        ("50", lambda e: e.tolist() == [50.0] * 7),
        ("10,50,90", lambda e: e.tolist() == [10.0, 50.0, 90.0, 10.0, 50.0, 90.0, 10.0]),
        (["--energy", "10", "--energy", "50"], lambda e: e.tolist() == [10.0, 50.0] * 3 + [10.0]),
        ("10:60", lambda e: 10 <= e.min() and e.max() <= 60 and len(set(e)) == 7),
        ("log:2:80", lambda e: 2 <= e.min() and e.max() <= 80 and len(set(e)) == 7),
    ],
    ids=["fixed", "list", "repeated", "uniform", "log-uniform"],
)
def test_generate_takes_each_energy_form(run, tmp_path, energy, check):
    energy = energy if isinstance(energy, list) else ["--energy", energy]
    out, again = tmp_path / "showers.h5", tmp_path / "again.h5"
    result = run("generate", "blob", "-n", 7, *energy, "--seed", 2, "--batch-size", 3, "-o", out)
    assert result.exit_code == 0, result.output
    showers = read_showers(out)
    assert check(showers.incident_energy_gev.astype(np.float64)), showers.incident_energy_gev
    assert (
        run("generate", "blob", "-n", 7, *energy, "--seed", 2, "--batch-size", 3, "-o", again).exit_code == 0
    )
    assert read_showers(again) == showers  # same seed, same energies and showers


def test_generate_log_uniform_energies_come_from_each_showers_conditions_stream(run, tmp_path):
    from calozoo.seeding import condition_rngs

    out = tmp_path / "showers.h5"
    assert run("generate", "blob", "-n", 5, "--energy", "log:1:100", "--seed", 3, "-o", out).exit_code == 0
    want = [np.exp(rng.uniform(np.log(1), np.log(100))) for rng in condition_rngs(3, 5)]
    np.testing.assert_allclose(read_showers(out).incident_energy_gev, want, rtol=1e-6)


def test_generate_draws_barrel_ip_directions(run, tmp_path):
    from calozoo.conditions import angles_from_direction
    from calozoo.distributions import barrel_ip_directions
    from calozoo.seeding import condition_rngs

    out, again = tmp_path / "showers.h5", tmp_path / "again.h5"
    options = ["-n", 6, "--energy", "10,20", "--directions", "barrel-ip", "--seed", 0]
    result = run("generate", "blob", *options, "-o", out)
    assert result.exit_code == 0, result.output
    showers = read_showers(out)
    want = []  # shower i's from its own conditions stream: an energy draw (dropped), then its direction
    for rng in condition_rngs(0, 6):
        rng.random()
        want.append(barrel_ip_directions(1, rng)[0])
    np.testing.assert_allclose(showers.direction, want, atol=1e-6)
    theta, phi = angles_from_direction(showers.direction)
    assert theta.min() > 30 and theta.max() < 150 and phi.min() > 80 and phi.max() < 110
    assert showers.incident_energy_gev.tolist() == [10.0, 20.0] * 3
    # the directions do not depend on the energies, and the same seed gives the same showers
    assert run("generate", "blob", *options[:2], "--energy", "5:50", *options[4:], "-o", again).exit_code == 0
    np.testing.assert_array_equal(read_showers(again).direction, showers.direction)
    assert run("generate", "blob", *options, "-o", again).exit_code == 0
    assert read_showers(again) == showers


def test_generate_names_the_distribution_when_a_model_refuses_its_directions(run, tmp_path):
    # blob takes at most 60 deg; barrel-ip reaches 60.5 deg at its corners
    out = tmp_path / "showers.h5"
    result = run("generate", "blob", "-n", 400, "--directions", "barrel-ip", "-o", out)
    assert result.exit_code == 1
    assert "--directions barrel-ip drew directions blob does not accept" in result.output
    assert "at most 60 deg" in result.output and not out.exists()


def _reference(path, energies, pdg=22, seed=0, format="caloclouds"):
    """A point-cloud file with varied per-shower conditions (one dummy point per shower)."""
    from calozoo.conditions import direction_from_angles
    from calozoo.io import write_showers
    from calozoo.showers import Showers

    n = len(energies)
    rng = np.random.default_rng(seed)
    direction = direction_from_angles(rng.uniform(60, 120, n), rng.uniform(70, 110, n))
    points = [np.array([[0.0, 0.0, 0.5, 1.0]])] * n
    return write_showers(path, Showers.from_point_lists(points, energies, direction, pdg), format)


def _assert_same_conditions(showers, reference):
    from calozoo.io import read_conditions

    for got, want in zip(
        (showers.incident_energy_gev, showers.direction, showers.pdg), read_conditions(reference)
    ):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ref_format", ["showerdata", "caloclouds"])
def test_generate_like_copies_the_conditions_shower_by_shower(run, tmp_path, ref_format):
    ref = _reference(tmp_path / "ref.h5", [1.0, 12.5, 99.0, 3.25, 50.0], format=ref_format)
    out, again = tmp_path / "twins.h5", tmp_path / "again.h5"
    result = run("generate", "blob", "--like", ref, "--seed", 3, "--batch-size", 2, "-o", out)
    assert result.exit_code == 0, result.output
    assert "wrote 5 showers" in result.output
    twins = read_showers(out)
    _assert_same_conditions(twins, ref)
    assert run("generate", "blob", "--like", ref, "--seed", 3, "--batch-size", 2, "-o", again).exit_code == 0
    assert read_showers(again) == twins
    assert run("generate", "blob", "--like", ref, "--seed", 4, "--batch-size", 2, "-o", again).exit_code == 0
    assert read_showers(again) != twins
    # a folder of shards (as `calozoo simulate` writes), and the first n of it
    shards = tmp_path / "shards"
    shards.mkdir()
    _reference(shards / "shard-00000.h5", [5.0, 6.0], seed=1)
    _reference(shards / "shard-00001.h5", [7.0, 8.0], seed=2)
    result = run("generate", "blob", "--like", shards, "-n", 3, "-o", out)
    assert result.exit_code == 0, result.output
    assert read_showers(out).incident_energy_gev.tolist() == [5.0, 6.0, 7.0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--energy", "50"], "drop --energy"),
        (["--theta", "90", "--phi", "90"], "drop --theta, --phi"),
        (["--direction", "0,0,1"], "drop --direction"),
        (["--pdg", "22"], "drop --pdg"),
        (["--directions", "barrel-ip"], "drop --directions"),
        (["-n", "6"], "holds only 5 showers"),
    ],
)
def test_generate_like_refuses_other_conditions(run, tmp_path, args, message):
    ref = _reference(tmp_path / "ref.h5", [1.0, 2.0, 3.0, 4.0, 5.0])
    out = tmp_path / "twins.h5"
    result = run("generate", "blob", "--like", ref, "-o", out, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


def test_generate_like_refuses_particles_the_model_does_not_simulate(run, tmp_path):
    ref = _reference(tmp_path / "ref.h5", [1.0, 2.0], pdg=[22, 11])
    result = run("generate", "blob", "--like", ref, "-o", tmp_path / "twins.h5")
    assert (
        result.exit_code == 1
        and "particle(s) [11] not simulated; this model accepts pdg [22]" in result.output
    )
    assert not (tmp_path / "twins.h5").exists()


def test_generate_like_with_toyflow(tmp_path):
    pytest.importorskip("calozoo_toyflow")
    ref = _reference(tmp_path / "ref.h5", [1.0, 4.5, 2.0, 3.0], format="showerdata")
    out, again = tmp_path / "twins.h5", tmp_path / "again.h5"
    invoke = CliRunner().invoke
    result = invoke(main, ["generate", "toyflow", "--like", str(ref), "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    twins = read_showers(out)
    _assert_same_conditions(twins, ref)
    assert (
        invoke(main, ["generate", "toyflow", "--like", str(ref), "--seed", "1", "-o", str(again)]).exit_code
        == 0
    )
    assert read_showers(again) == twins


def test_generate_refuses_an_output_another_run_is_writing(run, tmp_path):
    """Two `calozoo generate` runs into the same -o: the second fails at once; the first's file stays."""
    from calozoo.io import ShowerWriter

    out = tmp_path / "showers.h5"
    first = BlobModel().sample([10.0, 20.0], seed=1)
    with ShowerWriter(out, 2) as writer:  # the first run, still writing
        result = run("generate", "blob", "-n", 3, "-o", out)
        writer.write(first)
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit  # a message, no traceback
    assert f"Error: {out} is being written by another calozoo process (pid " in result.output
    assert "wait for it or choose another output" in result.output
    assert len(read_showers(out)) == 2
    assert run("generate", "blob", "-n", 3, "-o", out).exit_code == 0  # its own earlier file: replaced
    assert len(read_showers(out)) == 3


def test_generate_never_replaces_a_file_calozoo_did_not_write(run, tmp_path):
    out = tmp_path / "thesis.pdf"
    out.write_bytes(b"years of work")
    result = run("generate", "blob", "-n", 3, "-o", out)
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    assert f"Error: {out}: exists and is not a shower file written by calozoo" in result.output
    assert "nothing was changed" in result.output
    assert out.read_bytes() == b"years of work" and sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_project_writes_cell_hits_that_keep_the_energy(run, tmp_path):
    points = tmp_path / "points.h5"
    assert run("generate", "blob", "-n", 6, "--energy", "20:80", "-o", points).exit_code == 0
    cells = tmp_path / "cells.h5"
    result = run("project", points, cells, "--geometry", "flat", "--batch-size", 4)
    assert result.exit_code == 0, result.output
    assert "100.0% of the energy kept" in result.output
    before, after = read_showers(points), read_showers(cells)
    assert np.allclose(after.visible_energy_mev, before.visible_energy_mev, rtol=1e-4)
    assert np.all(after.num_points <= before.num_points)  # points merge into cells
    # the file keeps what the projection learned: the geometry, the cell ids, the losses by cause
    from calozoo.io import projection_of, read_cell_hits

    assert projection_of(cells)["projected_into"] == "flat" and projection_of(points) is None
    hits = read_cell_hits(cells)
    direct = calozoo.geometry("flat").project(before)
    for i in range(len(hits)):  # batches of 4 padded differently from one projection of 6
        n = hits.showers.num_points[i]
        np.testing.assert_array_equal(hits.cell_id[i, :n], direct.cell_id[i, :n])
    for cause, values in direct.losses.causes().items():
        np.testing.assert_allclose(hits.losses.causes()[cause], values, atol=1e-3)


def test_project_and_preprocess_read_a_folder_of_shards(run, tmp_path):
    """A folder of shard-*.h5 reads as the file holding them one after the other."""
    from calozoo.io import write_showers
    from calozoo.showers import concatenate

    points = BlobModel().sample([10.0, 20.0, 30.0, 40.0, 50.0], seed=1)
    folder = tmp_path / "points"
    folder.mkdir()
    write_showers(folder / "shard-00000.h5", points[:2])
    write_showers(folder / "shard-00001.h5", points[2:])
    write_showers(tmp_path / "all.h5", points)
    result = run("project", folder, "-o", tmp_path / "cells.h5", "--geometry", "flat", "--batch-size", 2)
    assert result.exit_code == 0, result.output
    assert "wrote 5 showers" in result.output
    assert run("project", tmp_path / "all.h5", tmp_path / "one.h5", "--geometry", "flat").exit_code == 0
    assert read_showers(tmp_path / "cells.h5") == read_showers(tmp_path / "one.h5")
    # raw hits (z in mm): the same, through preprocess
    rng = np.random.default_rng(0)
    depth = np.arange(30) * 6.5 + 3.0
    hits = [
        Showers.from_point_lists(
            [np.column_stack([rng.normal(0, 8, (50, 2)), rng.choice(depth, 50), rng.exponential(0.2, 50)])],
            [50.0],
            z_units="mm",
        )
        for _ in range(3)
    ]
    raw = tmp_path / "raw"
    raw.mkdir()
    for i, shower in enumerate(hits):
        write_showers(raw / f"shard-{i:05d}.h5", shower)
    write_showers(tmp_path / "raw.h5", concatenate(hits))
    result = run("preprocess", raw, "--output", tmp_path / "p1.h5", "--geometry", "flat", "--seed", 3)
    assert result.exit_code == 0, result.output
    assert (
        run(
            "preprocess", tmp_path / "raw.h5", tmp_path / "p2.h5", "--geometry", "flat", "--seed", 3
        ).exit_code
        == 0
    )
    assert read_showers(tmp_path / "p1.h5") == read_showers(tmp_path / "p2.h5")
    # each shard is checked: a folder of training points is not raw hits, and the reverse
    result = run("preprocess", folder, tmp_path / "p3.h5", "--geometry", "flat")
    assert result.exit_code == 1 and "shard-00000.h5: holds points with z in layer" in result.output
    result = run("project", raw, tmp_path / "c3.h5", "--geometry", "flat")
    assert result.exit_code == 1 and "run `calozoo preprocess` first" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("project", empty, tmp_path / "c4.h5", "--geometry", "flat")
    assert result.exit_code == 1 and "holds no shard-*.h5 files" in result.output


@pytest.mark.parametrize("command", ["project", "preprocess"])
def test_the_output_is_given_once(run, tmp_path, command):
    points = tmp_path / "points.h5"
    write_showers(points, BlobModel().sample([10.0], seed=1))
    result = run(command, points, "--geometry", "flat")
    assert result.exit_code == 2 and "give the output with -o/--output" in result.output
    result = run(command, points, tmp_path / "a.h5", "-o", tmp_path / "b.h5", "--geometry", "flat")
    assert result.exit_code == 2 and "give the output once" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.h5"]


def test_project_refuses_raw_hits_and_unknown_geometries(run, tmp_path):
    from calozoo.io import write_showers
    from calozoo.showers import Showers

    raw = tmp_path / "raw.h5"
    write_showers(raw, Showers.from_point_lists([np.ones((3, 4))], [10.0], z_units="mm"))
    result = run("project", raw, tmp_path / "cells.h5", "--geometry", "flat")
    assert result.exit_code == 1 and "run `calozoo preprocess` first" in result.output
    result = run("project", raw, tmp_path / "cells.h5", "--geometry", "flta")
    assert result.exit_code == 1 and "Did you mean 'flat'" in result.output
    assert not (tmp_path / "cells.h5").exists()


def test_preprocess_turns_raw_hits_into_training_points(run, tmp_path):
    from calozoo.io import write_showers
    from calozoo.showers import Showers

    rng = np.random.default_rng(0)
    depth = np.arange(30) * 6.5 + 3.0
    hits = [
        np.column_stack(
            [rng.normal(0, 8, 400), rng.normal(0, 8, 400), rng.choice(depth, 400), rng.exponential(0.2, 400)]
        )
        for _ in range(3)
    ]
    raw = tmp_path / "raw.h5"
    write_showers(raw, Showers.from_point_lists(hits, [50.0] * 3, z_units="mm"), format="showerdata")
    points = tmp_path / "points.h5"
    result = run("preprocess", raw, points, "--geometry", "flat", "--seed", 3)
    assert result.exit_code == 0, result.output
    out = read_showers(points)
    assert out.z_units == "layer" and np.all(out.points[..., 2][out.padding_mask] < 30)
    np.testing.assert_allclose(out.visible_energy_mev, [h[:, 3].sum() for h in hits], rtol=1e-5)
    assert np.all(out.num_points < 400)  # hits in one sub-cell merge
    # training points cannot be preprocessed again
    result = run("preprocess", points, tmp_path / "again.h5", "--geometry", "flat")
    assert result.exit_code == 1 and "needs raw hits with z in mm" in result.output


def test_plugins_can_add_sub_commands(run, blob_registry):
    from blob_models import CommandPlugin

    blob_registry.add_plugin(CommandPlugin(), "commands")
    listing = run("--help")
    assert "blob-stats" in listing.output and "mean size of blob showers" in listing.output
    result = run("blob-stats", "--n", 2)
    assert result.exit_code == 0 and result.output.startswith("mean points")
    assert run("blob-stat").exit_code == 2  # unknown sub-command: click's usage error


@pytest.mark.parametrize("signal_name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_stops_generate_at_once_and_leaves_no_file(tmp_path, signal_name, code):
    """A real process: Ctrl-C (or kill) stops it mid-run with exit 130 (143), no file, no partial."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "showers.h5"
    command = [sys.executable, "-m", "calozoo", "generate", "toy-gamma", "-n", "200000", "--energy", "10"]
    process = subprocess.Popen([*command, "-o", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".partial") for p in tmp_path.iterdir()):  # writing has begun
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(getattr(signal, signal_name))
    process.wait(timeout=30)  # without the handlers the run went on to the end (minutes)
    assert process.returncode == code, process.stderr.read()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command, expected",
    [
        (["train", "caloclouds3", "-h"], "--stage [flow|teacher|distill|assemble|calibrate|summarise]"),
        (["train", "caloclouds2", "-h"], "--stage [flow|teacher|distill|assemble|calibrate|summarise]"),
        (["import", "caloclouds3", "-h"], "-o, --output DIRECTORY"),
        (["simulate", "-h"], "--directions [barrel-ip|endcap-ip]"),
    ],
)
def test_dash_h_on_plugin_commands_shows_their_options(command, expected):
    pytest.importorskip({"simulate": "calozoo_refmc"}.get(command[0], f"calozoo_{command[1]}"))
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert expected in result.output and "-h, --help" in result.output


def test_every_option_of_every_command_says_what_it_does():
    import click

    from calozoo.cli import main
    from calozoo.registry import get_registry

    ctx = click.Context(main)
    commands = {name: main.get_command(ctx, name) for name in main.commands}
    for registration in get_registry().registrations("command"):
        commands[registration.name] = registration.resolve()
    missing = [
        (name, option.opts)
        for name, command in commands.items()
        for option in command.params
        if isinstance(option, click.Option) and not option.hidden and not option.help
    ]
    assert not missing, missing


def test_project_refuses_points_whose_layer_column_is_not_layers_and_reads_an_orientation(run, tmp_path):
    """A file with its axes permuted (mm in the layer column) is refused naming --orientation; read
    with the orientation it projects."""

    model = BlobModel()
    showers = model.sample([50.0, 60.0], seed=1)
    showers.points[..., :2] *= 20.0  # transverse positions of tens of mm, as real showers have
    stored = dataclasses.replace(
        showers, points=showers.points[..., [1, 2, 0, 3]].copy()
    )  # local (x, y, z) stored as (z, x, y)
    path = write_showers(tmp_path / "yzx.h5", stored)
    refused = run("project", path, "-o", tmp_path / "a.h5", "--geometry", "flat")
    assert refused.exit_code != 0 and "--orientation" in refused.output and "Traceback" not in refused.output
    fine = run(
        "project", path, "-o", tmp_path / "b.h5", "--geometry", "flat", "--orientation", "hdf5:xyz==local:yzx"
    )
    assert fine.exit_code == 0, fine.output
