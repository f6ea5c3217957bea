"""``simulate_dataset`` and ``calozoo simulate``: shards, presets, twins, reproducibility, resuming."""

from __future__ import annotations

import numpy as np
import pytest
from calozoo_refmc.cli import simulate_command
from calozoo_refmc.dataset import (
    STAVE_INNER_RADIUS_MM,
    cc2_training_conditions,
    cc3_training_conditions,
    conditions_sha256,
    simulate_dataset,
)
from calozoo_refmc.physics import PHYSICS_VERSION
from click.testing import CliRunner

from calozoo.conditions import angles_from_direction, direction_from_angles
from calozoo.io import read_conditions, read_showers, write_showers
from calozoo.seeding import condition_rngs
from calozoo.showers import Showers


def test_cc3_preset_conditions():
    energy, direction = cc3_training_conditions(4000, np.random.default_rng(1))
    theta, phi = angles_from_direction(direction)
    assert energy.min() >= 1 and energy.max() <= 127
    assert theta.min() > 30 and theta.max() < 150 and phi.min() > 80 and phi.max() < 110
    np.testing.assert_allclose(np.linalg.norm(direction, axis=1), 1.0)
    assert np.all(direction[:, 2] > 0)
    # uniform on the stave's face: the hit points along the beam are evenly spread
    along = STAVE_INNER_RADIUS_MM * direction[:, 0] / direction[:, 2]
    near, far = np.mean(abs(along) < 1000), np.mean((abs(along) >= 1000) & (abs(along) < 2000))
    assert near == pytest.approx(far, rel=0.1)


def test_cc2_preset_conditions():
    energy, direction = cc2_training_conditions(4000, np.random.default_rng(1))
    assert 10 <= energy.min() < 11 and 89 < energy.max() <= 90
    np.testing.assert_array_equal(direction, np.tile([0.0, 0.0, 1.0], (4000, 1)))


def test_dataset_is_reproducible_and_resumable(tmp_path):
    options = dict(preset=None, energy_gev=[1.0, 2.0], seed=5, shard_size=3, raw=True, progress=False)
    shards = simulate_dataset(tmp_path / "a", 7, workers=2, **options)
    assert [p.name for p in shards] == ["shard-00000.h5", "shard-00001.h5", "shard-00002.h5"]
    first = [read_showers(p) for p in shards]
    assert sum(len(s) for s in first) == 7 and first[0].z_units == "layer"
    assert read_showers(tmp_path / "a" / "raw-00001.h5").z_units == "mm"
    # an interrupted run: a shard is missing; running again makes just that one, identically
    shards[1].unlink()
    simulate_dataset(tmp_path / "a", 7, workers=1, **options)
    assert read_showers(shards[1]) == first[1]
    # the number of workers does not change the data
    again = simulate_dataset(tmp_path / "b", 7, workers=1, **options)
    assert all(read_showers(p) == s for p, s in zip(again, first))
    with pytest.raises(ValueError, match="other settings"):
        simulate_dataset(tmp_path / "a", 7, workers=1, **{**options, "seed": 6})


def test_resume_verifies_shards_and_refuses_files_it_did_not_write(tmp_path, capsys):
    """Each shard's count and checksum are in the manifest: a damaged shard is made again, a stray
    file is refused (untouched), an empty manifest is a clear error, not a JSON traceback."""
    import json

    options = dict(preset=None, energy_gev=[1.0], seed=5, shard_size=2, progress=False, workers=1)
    shards = simulate_dataset(tmp_path / "a", 4, **options)
    manifest = json.loads((tmp_path / "a" / "reference-mc.json").read_text())
    assert manifest["shards"]["shard-00001.h5"]["showers"] == 2 and len(manifest["shards"]) == 2
    good = read_showers(shards[1])
    # a truncated shard: detected by its checksum and simulated again, identically
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) // 2])
    simulate_dataset(tmp_path / "a", 4, **options)
    assert "checksum differs" in capsys.readouterr().err
    assert read_showers(shards[1]) == good
    # a file of other showers named like a shard is not adopted
    stray = tmp_path / "a" / "shard-00007.h5"
    stray.write_bytes(b"someone else's showers")
    with pytest.raises(ValueError, match="shard-00007.h5, which its manifest does not record"):
        simulate_dataset(tmp_path / "a", 4, **options)
    assert stray.read_bytes() == b"someone else's showers"
    stray.unlink()
    # which setting differs is named
    with pytest.raises(ValueError, match="seed: 5 there, 6 asked"):
        simulate_dataset(tmp_path / "a", 4, **{**options, "seed": 6})
    # an empty manifest (a crash while writing it, before manifests were atomic)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "reference-mc.json").write_text("")
    with pytest.raises(ValueError, match="not a readable reference-MC manifest"):
        simulate_dataset(tmp_path / "b", 4, **options)


def test_a_data_set_grows_with_the_same_settings_and_never_shrinks(tmp_path):
    options = dict(preset=None, energy_gev=[1.0, 2.0], seed=5, shard_size=2, progress=False, workers=1)
    small = simulate_dataset(tmp_path / "a", 3, **options)
    kept = read_showers(small[0])
    grown = simulate_dataset(tmp_path / "a", 6, **options)
    assert [p.name for p in grown] == ["shard-00000.h5", "shard-00001.h5", "shard-00002.h5"]
    assert read_showers(grown[0]) == kept and len(read_showers(grown[1])) == 2
    # the same as a data set made at that size at once
    direct = simulate_dataset(tmp_path / "b", 6, **options)
    assert all(read_showers(a) == read_showers(b) for a, b in zip(grown, direct))
    with pytest.raises(ValueError, match="never shrinks"):
        simulate_dataset(tmp_path / "a", 4, **options)


def test_dataset_of_another_physics_version_is_not_resumed(tmp_path):
    import json

    options = dict(preset=None, energy_gev=[1.0], seed=5, shard_size=2, progress=False, workers=1)
    simulate_dataset(tmp_path, 4, **options)
    manifest = tmp_path / "reference-mc.json"
    settings = json.loads(manifest.read_text())
    assert settings["physics_version"] == PHYSICS_VERSION
    # a folder started before the version was recorded (version 1), with a shard still to make
    del settings["physics_version"]
    manifest.write_text(json.dumps(settings))
    (tmp_path / "shard-00001.h5").unlink()
    with pytest.raises(ValueError, match="physics version 1; this installation simulates version"):
        simulate_dataset(tmp_path, 4, **options)
    assert not (tmp_path / "shard-00001.h5").exists()


def test_simulate_command(tmp_path):
    result = CliRunner().invoke(
        simulate_command,
        [
            str(tmp_path),
            "-n",
            "2",
            "--preset",
            "none",
            "--energy",
            "1",
            "--theta",
            "80",
            "--phi",
            "90",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    showers = read_showers(tmp_path / "shard-00000.h5")
    assert len(showers) == 2 and np.allclose(showers.incident_energy_gev, 1.0)
    bad = CliRunner().invoke(simulate_command, [str(tmp_path / "x"), "-n", "2", "--preset", "none"])
    assert bad.exit_code != 0 and "--energy" in bad.output
    negative = CliRunner().invoke(
        simulate_command, [str(tmp_path / "y"), "-n", "1", "--preset", "none", "--energy", "-5"]
    )
    assert negative.exit_code != 0 and "energy" in negative.output


def test_registration_is_light_and_registers_the_command():
    import subprocess
    import sys

    code = (
        "import sys, calozoo, calozoo_refmc.plugin; "
        "print('numba' in sys.modules, 'calozoo_refmc.transport' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    from calozoo.cli import main

    listing = CliRunner().invoke(main, ["--help"])
    assert "simulate" in listing.output


def _reference(path, energies, pdg=22, seed=0):
    """A point-cloud file with varied per-shower conditions (one dummy point per shower)."""
    n = len(energies)
    rng = np.random.default_rng(seed)
    direction = direction_from_angles(rng.uniform(60, 120, n), rng.uniform(80, 100, n))
    points = [np.array([[0.0, 0.0, 0.5, 1.0]])] * n
    return write_showers(path, Showers.from_point_lists(points, energies, direction, pdg))


def _assert_same_conditions(a, b):
    for x, y in zip(read_conditions(a), read_conditions(b)):
        np.testing.assert_array_equal(x, y)


def test_like_copies_the_conditions_shower_by_shower(tmp_path):
    ref = _reference(tmp_path / "ref.h5", [1.0, 3.5, 2.25, 5.0, 1.5], pdg=[22, 11, 22, 22, 11])
    options = dict(like=ref, shard_size=3, progress=False)
    shards = simulate_dataset(tmp_path / "a", None, seed=3, workers=1, **options)
    assert [len(read_showers(p)) for p in shards] == [3, 2]
    _assert_same_conditions(tmp_path / "a", ref)
    # the same seed gives the very same showers (whatever the workers), another seed others
    again = simulate_dataset(tmp_path / "b", None, seed=3, workers=2, **options)
    assert all(read_showers(p) == read_showers(q) for p, q in zip(shards, again))
    other = simulate_dataset(tmp_path / "c", None, seed=4, workers=1, **options)
    _assert_same_conditions(tmp_path / "c", ref)
    assert read_showers(other[0]) != read_showers(shards[0])
    # a folder of shards is a reference too; n_showers takes the first n
    simulate_dataset(tmp_path / "d", 2, like=tmp_path / "a", seed=5, progress=False, workers=1)
    energy, direction, pdg = read_conditions(tmp_path / "d")
    np.testing.assert_array_equal(direction, read_conditions(ref)[1][:2])
    assert energy.tolist() == [1.0, 3.5] and pdg.tolist() == [22, 11]
    with pytest.raises(ValueError, match="holds only 5 showers"):
        simulate_dataset(tmp_path / "e", 6, like=ref, progress=False)
    with pytest.raises(ValueError, match="leave preset, energy_gev"):
        simulate_dataset(tmp_path / "e", None, like=ref, energy_gev=[1.0], progress=False)


def test_like_is_resumed_only_with_the_same_conditions(tmp_path):
    import json
    import shutil

    ref = _reference(tmp_path / "ref.h5", [1.0, 2.0, 3.0])
    options = dict(shard_size=2, progress=False, workers=1, seed=1)
    shards = simulate_dataset(tmp_path / "out", None, like=ref, **options)
    first = read_showers(shards[1])
    manifest = json.loads((tmp_path / "out" / "reference-mc.json").read_text())
    assert manifest["like"] == str(ref.resolve())
    assert manifest["like_sha256"] == conditions_sha256(*read_conditions(ref))
    # the same conditions from another path resume the data set, identically
    shards[1].unlink()
    moved = shutil.copy(ref, tmp_path / "moved.h5")
    simulate_dataset(tmp_path / "out", None, like=moved, **options)
    assert read_showers(shards[1]) == first
    other = _reference(tmp_path / "other.h5", [1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="simulated like .*ref.h5.*other per-shower conditions"):
        simulate_dataset(tmp_path / "out", None, like=other, **options)
    with pytest.raises(ValueError, match="simulated like .*ref.h5.*without like"):
        simulate_dataset(tmp_path / "out", 3, preset=None, energy_gev=1.0, **options)
    simulate_dataset(tmp_path / "fixed", 2, preset=None, energy_gev=1.0, **options)
    with pytest.raises(ValueError, match="simulated without like"):
        simulate_dataset(tmp_path / "fixed", None, like=ref, **options)


def test_like_refuses_conditions_the_mc_cannot_simulate(tmp_path):
    for name, energies, pdg, message in (
        ("low.h5", [1.0, 0.05], 22, "energy out of range"),
        ("positron.h5", [1.0, 2.0], [22, -11], r"particle\(s\) \[-11\] not simulated"),
    ):
        ref = _reference(tmp_path / name, energies, pdg)
        with pytest.raises(ValueError, match=f"{name}: the reference MC cannot simulate.*{message}"):
            simulate_dataset(tmp_path / "out", None, like=ref, progress=False, workers=1)
        assert not (tmp_path / "out").exists()  # refused before anything was written


def test_preset_with_fixed_energies_keeps_the_preset_directions(tmp_path):
    shards = simulate_dataset(
        tmp_path, 5, preset="cc3-training", energy_gev=[1.0, 2.0], seed=7, shard_size=5, progress=False
    )
    showers = read_showers(shards[0])
    assert showers.incident_energy_gev.tolist() == [1.0, 2.0, 1.0, 2.0, 1.0]
    assert showers.pdg.tolist() == [22] * 5
    # the directions the plain preset draws for these showers, each from its own stream, same seed
    want = [cc3_training_conditions(1, rng)[1][0] for rng in condition_rngs(7, 5)]
    np.testing.assert_array_equal(showers.direction, want)
    with pytest.raises(ValueError, match="energy out of range"):
        simulate_dataset(tmp_path / "x", 2, preset="cc2-training", energy_gev=[0.01], progress=False)


def test_simulate_command_like_and_preset_energies(tmp_path):
    ref = _reference(tmp_path / "ref.h5", [1.0, 2.0, 3.0], pdg=[22, 11, 22])
    run = CliRunner().invoke
    result = run(
        simulate_command, [str(tmp_path / "twin"), "--like", str(ref), "--seed", "2", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    _assert_same_conditions(tmp_path / "twin", ref)
    result = run(simulate_command, [str(tmp_path / "two"), "--like", str(ref), "-n", "2", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert read_conditions(tmp_path / "two")[0].tolist() == [1.0, 2.0]
    for extra in (
        ["--energy", "1"],
        ["--preset", "none"],
        ["--preset", "cc2-training"],
        ["--theta", "80"],
        ["--direction", "0,0,1"],
        ["--directions", "barrel-ip"],
    ):
        bad = run(simulate_command, [str(tmp_path / "bad"), "--like", str(ref), *extra])
        assert bad.exit_code == 2 and f"drop {extra[0]}" in bad.output, bad.output
    bad = run(simulate_command, [str(tmp_path / "bad"), "--like", str(ref), "--pdg", "11", "--phi", "80"])
    assert bad.exit_code == 2 and "drop --phi, --pdg" in bad.output
    assert not (tmp_path / "bad").exists()
    missing = run(simulate_command, [str(tmp_path / "bad"), "--preset", "none", "--energy", "1"])
    assert missing.exit_code == 2 and "-n" in missing.output
    # fixed energies with a preset's directions (here CaloClouds2's: normal incidence)
    result = run(
        simulate_command,
        [str(tmp_path / "cc2"), "-n", "2", "--preset", "cc2-training", "--energy", "2", "--workers", "1"],
    )
    assert result.exit_code == 0, result.output
    showers = read_showers(tmp_path / "cc2" / "shard-00000.h5")
    assert showers.incident_energy_gev.tolist() == [2.0, 2.0]
    assert showers.direction.tolist() == [[0, 0, 1]] * 2
    # a preset's data set made on the command line resumes there (its manifest reads back equal)
    (tmp_path / "cc2" / "shard-00000.h5").unlink()
    result = run(
        simulate_command,
        [str(tmp_path / "cc2"), "-n", "2", "--preset", "cc2-training", "--energy", "2", "--workers", "1"],
    )
    assert result.exit_code == 0, result.output
    assert read_showers(tmp_path / "cc2" / "shard-00000.h5") == showers


def test_a_second_run_into_a_data_set_being_written_is_refused(tmp_path):
    """Two runs into one folder would take each other's pending shards for stale ones."""
    from calozoo.errors import OutputBusyError
    from calozoo.serialization import output_lock

    options = dict(preset=None, energy_gev=[1.0], seed=5, shard_size=2, progress=False, workers=1)
    with output_lock(tmp_path / "a"):  # what a running `calozoo simulate` holds
        with pytest.raises(OutputBusyError, match="being written by another calozoo process"):
            simulate_dataset(tmp_path / "a", 2, **options)
    assert len(simulate_dataset(tmp_path / "a", 2, **options)) == 1


def _simulate(tmp_path, name, *args, output_option=False):
    out = ["-o", str(tmp_path / name)] if output_option else [str(tmp_path / name)]
    result = CliRunner().invoke(simulate_command, [*out, *map(str, args), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    return [read_showers(p) for p in sorted((tmp_path / name).glob("shard-*.h5"))]


def test_simulate_directions_barrel_ip_is_the_cc3_preset(tmp_path):
    """--directions barrel-ip draws the cc3-training preset's directions, whatever the energies."""
    common = ["-n", 4, "--shard-size", 3, "--seed", 7]
    new = _simulate(tmp_path, "new", *common, "--directions", "barrel-ip", "--energy", "1,2")
    old = _simulate(tmp_path, "old", *common, "--preset", "cc3-training", "--energy", 1, "--energy", 2)
    assert len(new) == 2 and all(a == b for a, b in zip(new, old))
    assert new[0].incident_energy_gev.tolist() == [1.0, 2.0, 1.0] and new[1].incident_energy_gev.tolist() == [
        1.0
    ]
    # a log-uniform range: the same directions again (n draws for the energies, then the directions)
    log = _simulate(tmp_path, "log", *common, "--directions", "barrel-ip", "--energy", "log:1:3")
    for a, b in zip(log, old):
        np.testing.assert_array_equal(a.direction, b.direction)
        assert 1 <= a.incident_energy_gev.min() and a.incident_energy_gev.max() <= 3
    # the preset is --energy 1:127 --directions barrel-ip, shower for shower
    energies = np.concatenate([s.incident_energy_gev for s in log])
    want = [np.exp(rng.uniform(0, np.log(3))) for rng in condition_rngs(7, 4)]
    np.testing.assert_allclose(energies, want, rtol=1e-6)


def test_the_endcap_preset_simulates_in_the_endcap_geometry(tmp_path):
    import json

    from calozoo.distributions import endcap_ip_directions

    showers = _simulate(tmp_path, "ec", "-n", 3, "--preset", "cc3-endcap-training", "--seed", 4)[0]
    settings = json.loads((tmp_path / "ec" / "reference-mc.json").read_text())
    assert settings["preset"] == "cc3-endcap-training" and settings["geometry"] == "ild-ecal-endcap-regular"
    want = []
    for rng in condition_rngs(4, 3):  # each shower's stream: its energy first, then its direction
        rng.uniform(1.0, 127.0)
        want.append(endcap_ip_directions(1, rng)[0])
    np.testing.assert_allclose(showers.direction, want, rtol=1e-6)
    assert np.all((showers.incident_energy_gev >= 1) & (showers.incident_energy_gev <= 127))
    # --geometry takes another one; one without a material stack is refused with the reason
    result = CliRunner().invoke(
        simulate_command,
        [
            str(tmp_path / "bad"),
            "-n",
            "2",
            "--preset",
            "none",
            "--energy",
            "5",
            "--geometry",
            "ild-ecal-barrel",
        ],
    )
    assert result.exit_code != 0 and "has no material_stack" in result.output
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").glob("shard-*"))


def test_simulate_energy_ranges_with_fixed_directions(tmp_path):
    showers = _simulate(tmp_path, "u", "-n", 3, "--energy", "1:3", "--theta", 70, "--phi", 95, "--seed", 2)[0]
    want = [rng.uniform(1, 3) for rng in condition_rngs(2, 3)]
    np.testing.assert_allclose(showers.incident_energy_gev, want, rtol=1e-6)
    np.testing.assert_allclose(showers.direction, np.tile(direction_from_angles(70, 95), (3, 1)), atol=1e-6)
    options = ["-n", 3, "--energy", "1:3", "--theta", 70, "--phi", 95, "--seed", 2]
    again = _simulate(tmp_path, "again", *options, output_option=True)[0]
    assert again == showers
    # a range with a preset: the preset's directions (cc2: normal incidence)
    cc2 = _simulate(tmp_path, "cc2", "-n", 2, "--preset", "cc2-training", "--energy", "log:1:2")[0]
    assert cc2.direction.tolist() == [[0, 0, 1]] * 2 and 1 <= cc2.incident_energy_gev.min()
    import json

    manifest = json.loads((tmp_path / "u" / "reference-mc.json").read_text())
    assert manifest["energy_range"] == ["uniform", 1.0, 3.0] and manifest["energy_gev"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--theta", "80"], "--theta and --phi go together"),
        (["--directions", "barrel-ip"], "without a preset, give --energy"),
        (
            ["--preset", "cc3-training", "--directions", "barrel-ip", "--energy", "1"],
            "brings its own directions",
        ),
        (["--preset", "cc2-training", "--theta", "90", "--phi", "90", "--energy", "1"], "brings its own"),
        (["--energy", "1:1"], "a range needs LOW < HIGH"),
        (["--energy", "1:2", "--energy", "3"], "cannot be combined"),
        (["--preset", "none", "--energy", "log:0.01:1"], "energy out of range"),
        (["--pdg", "11"], "simulates photons: drop --pdg"),
        (["--direction", "0,0,1", "--directions", "barrel-ip", "--energy", "1"], "not --direction and"),
        (["-o", "elsewhere"], "give the output once"),
    ],
)
def test_simulate_refuses_conditions_it_cannot_make(tmp_path, args, message):
    result = CliRunner().invoke(simulate_command, [str(tmp_path / "out"), "-n", "2", *args])
    assert result.exit_code != 0 and message in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_simulate_dataset_checks_energy_range_and_directions(tmp_path):
    options = dict(progress=False, workers=1)
    for kwargs, message in (
        (dict(preset=None, energy_range=("normal", 1, 2)), "energy_range kind must be one of"),
        (dict(preset=None, energy_range=("uniform", 2, 1)), "0 < low < high"),
        (dict(preset=None, energy_range=("uniform", 1)), "must be \\(kind, low, high\\)"),
        (dict(preset=None, energy_range=("uniform", 1, 2), energy_gev=1.0), "not both"),
        (dict(preset=None, energy_gev=1.0, directions="endcap"), "unknown directions"),
        (dict(energy_gev=1.0, directions="barrel-ip"), "give preset=None"),
        (dict(preset=None, energy_gev=1.0, direction=(0, 0, 1), directions="barrel-ip"), "give preset=None"),
    ):
        with pytest.raises(ValueError, match=message):
            simulate_dataset(tmp_path / "out", 2, **kwargs, **options)
    assert not (tmp_path / "out").exists()


def test_preprocess_reads_the_raw_hits_of_a_simulate_raw_folder(tmp_path):
    """`calozoo preprocess FOLDER` on a `simulate --raw` folder takes its raw-*.h5 (hits in mm)."""
    from calozoo.cli import main

    options = dict(preset=None, energy_gev=[1.0], seed=5, shard_size=2, progress=False, workers=1)
    simulate_dataset(tmp_path / "set", 3, raw=True, **options)
    out = tmp_path / "points.h5"
    result = CliRunner().invoke(
        main, ["preprocess", str(tmp_path / "set"), "-o", str(out), "--geometry", "ild-ecal-regular"]
    )
    assert result.exit_code == 0, result.output
    points = read_showers(out)
    assert len(points) == 3 and points.z_units == "layer"


def test_the_physics_version_is_chosen_recorded_and_kept(tmp_path):
    import json

    from calozoo_refmc.model import ReferenceMC

    with pytest.raises(ValueError, match=r"physics_version must be one of \[2, 3\]"):
        ReferenceMC(physics_version=4)
    assert ReferenceMC().physics_version == PHYSICS_VERSION == 3
    options = dict(preset=None, energy_gev=[1.0], seed=5, shard_size=2, progress=False, workers=1)
    simulate_dataset(tmp_path, 2, physics_version=2, **options)
    assert json.loads((tmp_path / "reference-mc.json").read_text())["physics_version"] == 2
    with pytest.raises(ValueError, match="physics version 2; this installation simulates version 3"):
        simulate_dataset(tmp_path, 4, **options)  # growing it with version 3 is refused
    simulate_dataset(tmp_path, 4, physics_version=2, **options)  # with its own version it grows


def test_a_saved_reference_mc_without_a_physics_version_is_version_2(tmp_path):
    import json

    from calozoo_refmc.model import ReferenceMC

    folder = ReferenceMC(physics_version=3).save(tmp_path / "mc")
    config = json.loads((folder / "config.json").read_text())
    assert config["config"]["physics_version"] == 3
    del config["config"]["physics_version"]
    (folder / "config.json").write_text(json.dumps(config))
    assert ReferenceMC.load(folder).physics_version == 2


def test_a_process_pool_ends_without_tracebacks(tmp_path):
    """The pool's workers inherit calozoo's SIGTERM handler; ending the pool must stay quiet."""
    import subprocess
    import sys

    command = [
        sys.executable, "-m", "calozoo", "simulate", str(tmp_path / "d"), "-n", "1", "--energy", "1",
        "--shard-size", "1", "--workers", "3", "--scheduler", "pool", "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Terminated" not in done.stderr
    assert len(list((tmp_path / "d").glob("shard-*.h5"))) == 1
