"""``simulate_dataset`` and ``calozoo simulate``: shards, presets, reproducibility, resuming."""

from __future__ import annotations

import numpy as np
import pytest
from calozoo_refmc.cli import simulate_command
from calozoo_refmc.dataset import (
    STAVE_INNER_RADIUS_MM,
    cc2_training_conditions,
    cc3_training_conditions,
    simulate_dataset,
)
from calozoo_refmc.physics import PHYSICS_VERSION
from click.testing import CliRunner

from calozoo.conditions import angles_from_direction
from calozoo.io import read_showers


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
        [str(tmp_path), "-n", "2", "--preset", "none", "--energy", "1", "--theta", "80", "--workers", "1"],
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
