"""``calozoo generate --shard-size``: shards that do not depend on who makes them."""

import numpy as np
import pytest
from click.testing import CliRunner

from calozoo.cli import main
from calozoo.io import _shard_files, read_showers

COMMON = [
    "generate",
    "toy-gamma",
    "-n",
    "25",
    "--energy",
    "10:100",
    "--theta",
    "80",
    "--phi",
    "95",
    "--seed",
    "7",
]


def generate(*args):
    result = CliRunner().invoke(main, [*COMMON, *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def test_shards_are_the_same_in_process_and_on_a_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    generate("--shard-size", 10, "-o", tmp_path / "here")
    generate("--shard-size", 10, "--scheduler", "local", "--workers", 2, "-o", tmp_path / "dask")
    here, dask = _shard_files(tmp_path / "here"), _shard_files(tmp_path / "dask")
    assert [f.name for f in here] == [f.name for f in dask] == [f"shard-0000{i}.h5" for i in range(3)]
    for a, b in zip(here, dask):
        assert read_showers(a) == read_showers(b)
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == [f.name for f in dask]  # no leftovers

    # the shards together have the conditions a single-file run with the same seed draws
    generate("-o", tmp_path / "one.h5")
    one = read_showers(tmp_path / "one.h5")
    shards = [read_showers(f) for f in here]
    assert [len(s) for s in shards] == [10, 10, 5]
    np.testing.assert_array_equal(
        np.concatenate([s.incident_energy_gev for s in shards]), one.incident_energy_gev
    )
    np.testing.assert_array_equal(np.concatenate([s.direction for s in shards]), one.direction)
    np.testing.assert_array_equal(np.concatenate([s.pdg for s in shards]), one.pdg)


def test_a_shard_folder_is_replaced_only_when_it_holds_only_shards(tmp_path):
    out = tmp_path / "out"
    generate("--shard-size", 10, "-o", out)
    first = read_showers(out / "shard-00000.h5")
    generate("--shard-size", 20, "-o", out)  # an earlier run's shards: replaced, the surplus removed
    assert sorted(p.name for p in out.iterdir()) == ["shard-00000.h5", "shard-00001.h5"]
    assert len(read_showers(out / "shard-00000.h5")) == 20 and read_showers(out / "shard-00000.h5") != first

    (out / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, [*COMMON, "--shard-size", "10", "-o", str(out)])
    assert result.exit_code != 0 and "notes.txt" in result.output
    assert (out / "notes.txt").read_text() == "mine" and len(read_showers(out / "shard-00000.h5")) == 20


def test_scheduler_options_need_shards_and_a_folder_needs_them(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, [*COMMON, "--scheduler", "local", "-o", str(tmp_path / "a.h5")])
    assert result.exit_code != 0 and "--shard-size" in result.output
    result = runner.invoke(
        main, [*COMMON, "--shard-size", "5", "--scheduler", "nowhere", "-o", str(tmp_path / "b")]
    )
    assert result.exit_code != 0 and "--scheduler" in result.output
    result = runner.invoke(main, [*COMMON, "-o", str(tmp_path)])
    assert result.exit_code != 0 and "--shard-size" in result.output


def test_evaluate_measures_on_dask_as_in_one_process(tmp_path):
    """`calozoo evaluate --scheduler local`: the samples measured as Dask tasks (a shard folder as the
    reference, chunks of a file as the model) give the same report numbers as one process."""
    import json

    import calozoo
    from calozoo.io import write_showers

    model = calozoo.load("toy-gamma")
    energies = np.repeat([10.0, 20.0], 60)
    reference, generated = model.sample(energies, seed=1), model.sample(energies, seed=2)
    (tmp_path / "ref").mkdir()
    write_showers(tmp_path / "ref" / "shard-00000.h5", reference[:70])
    write_showers(tmp_path / "ref" / "shard-00001.h5", reference[70:])
    gen = write_showers(tmp_path / "gen.h5", generated)
    common = ["evaluate", str(gen), "--reference", str(tmp_path / "ref"), "--geometry", "ild-ecal-regular"]
    common += ["--no-plots", "--no-classifier", "--no-cache"]
    serial = CliRunner().invoke(main, [*common, "--report", str(tmp_path / "serial")])
    assert serial.exit_code == 0, serial.output
    dask = CliRunner().invoke(
        main, [*common, "--report", str(tmp_path / "dask"), "--scheduler", "local", "--workers", "2"]
    )
    assert dask.exit_code == 0, dask.output
    assert "on local" in dask.output  # measured there
    one, two = (json.loads((tmp_path / r / "results.json").read_text()) for r in ("serial", "dask"))
    assert one["distances"] == two["distances"] and one["histograms"] == two["histograms"]


def test_generate_with_several_workers_defaults_to_a_local_cluster(tmp_path):
    result = generate("-o", tmp_path / "w", "--shard-size", 10, "--workers", 2)
    serial = generate("-o", tmp_path / "s", "--shard-size", 10)
    for a, b in zip(_shard_files(tmp_path / "w"), _shard_files(tmp_path / "s")):
        assert read_showers(a) == read_showers(b)
    assert result.exit_code == 0 and serial.exit_code == 0
