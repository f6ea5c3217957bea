"""``calozoo simulate --scheduler``: the shards on Dask distributed are those of a single process."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from calozoo_refmc.cli import simulate_command
from calozoo_refmc.dataset import simulate_dataset
from click.testing import CliRunner

from calozoo.distributed import SchedulerError, check_scheduler, check_workers_can_write, dask_client
from calozoo.io import read_showers

distributed = pytest.importorskip("distributed")

#: 4 showers of 1 GeV in two shards: the smallest data set with work for two workers
OPTIONS = dict(preset=None, energy_gev=1.0, seed=11, shard_size=2, progress=False)


def _shards(folder):
    """The showers of every shard and the manifest's shower counts.

    The showers, not the files' bytes: HDF5 leaves a few bytes of unused metadata space
    uninitialised, so two files holding the same showers can differ there (seen about once in
    ten runs); the manifest's checksums are of the bytes and differ with them."""
    manifest = json.loads((folder / "reference-mc.json").read_text())
    showers = {p.name: read_showers(p) for p in sorted(folder.glob("shard-*.h5"))}
    return showers, {name: entry["showers"] for name, entry in manifest["shards"].items()}


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, as dask-jobqueue or `--scheduler local` makes them."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    ) as cluster:
        yield cluster


def test_dask_shards_are_bit_identical_to_a_single_process(tmp_path, cluster):
    alone = simulate_dataset(tmp_path / "alone", 4, workers=1, **OPTIONS)
    on_dask = simulate_dataset(tmp_path / "dask", 4, scheduler=cluster.scheduler_address, **OPTIONS)
    assert [p.name for p in on_dask] == [p.name for p in alone] == ["shard-00000.h5", "shard-00001.h5"]
    files, recorded = _shards(tmp_path / "alone")
    assert _shards(tmp_path / "dask") == (files, recorded)  # the showers and the manifest's counts
    assert all(read_showers(a) == read_showers(b) for a, b in zip(alone, on_dask))
    assert not list((tmp_path / "dask").glob(".shard-*"))  # every pending file renamed into place
    # resuming on Dask makes only the missing shard, identically
    on_dask[1].unlink()
    simulate_dataset(tmp_path / "dask", 4, scheduler=cluster.scheduler_address, **OPTIONS)
    assert _shards(tmp_path / "dask") == (files, recorded)


def test_simulate_scheduler_local(tmp_path):
    args = "-n 4 --preset none --energy 1 --seed 11 --shard-size 2 --no-progress".split()
    run = CliRunner().invoke
    result = run(simulate_command, [str(tmp_path / "local"), *args, "--scheduler", "local", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "2 shards" in result.output
    assert run(simulate_command, [str(tmp_path / "alone"), *args, "--workers", "1"]).exit_code == 0
    assert _shards(tmp_path / "local") == _shards(tmp_path / "alone")


def test_bad_or_unreachable_schedulers_are_clear_errors(tmp_path, cluster):
    assert check_scheduler("local") == "local" and check_scheduler("tcp://node1:8786") == "tcp://node1:8786"
    result = CliRunner().invoke(simulate_command, [str(tmp_path / "x"), "-n", "2", "--scheduler", "slurm"])
    assert result.exit_code != 0 and "tcp://HOST:PORT" in result.output and "'slurm'" in result.output
    assert not (tmp_path / "x").exists()  # refused before anything was made
    result = CliRunner().invoke(
        simulate_command,
        [str(tmp_path / "x"), "-n", "2", "--scheduler", "tcp://node1:8786", "--workers", "2"],
    )
    assert result.exit_code != 0 and "leave workers unset" in result.output
    start = time.perf_counter()
    with pytest.raises(
        SchedulerError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 2 s"
    ):
        with dask_client("tcp://127.0.0.1:9", timeout_s=2):
            pass
    assert time.perf_counter() - start < 15
    # workers that cannot write the output (here: a path under a file) are named before any shard runs
    (tmp_path / "a-file").write_text("")
    with dask_client(cluster.scheduler_address) as client:
        check_workers_can_write(client, tmp_path)
        with pytest.raises(
            SchedulerError,
            match="2 of 2 Dask workers cannot write in .*a-file.*file system the workers share",
        ):
            check_workers_can_write(client, tmp_path / "a-file" / "out")


def test_list_models_does_not_import_dask():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from calozoo.cli import main\n"
        "assert CliRunner().invoke(main, ['list-models']).exit_code == 0\n"
        "print('dask' in sys.modules, 'distributed' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
