"""Model folders and atomic writes: nothing truncated is ever left looking complete."""

import json
import os
import subprocess

import numpy as np
import pytest
from blob_models import BlobModel

from calozoo.calibration import EnergyScaleCalibrator
from calozoo.errors import ModelFolderError
from calozoo.serialization import atomic_path, load_folder, save_folder


def test_folder_round_trip_keeps_config_and_tensors(tmp_path):
    weights = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    save_folder(tmp_path / "m", "pkg.mod:Thing", {"width": 3}, weights)
    config, tensors = load_folder(tmp_path / "m", expected="pkg.mod:Thing")
    assert config == {"width": 3}
    np.testing.assert_array_equal(tensors["w"], weights["w"])


def test_folder_of_another_class_is_refused(tmp_path):
    BlobModel().save(tmp_path / "blob")
    with pytest.raises(ModelFolderError, match="holds a .*BlobModel, not a .*EnergyScaleCalibrator"):
        EnergyScaleCalibrator.load(tmp_path / "blob")


@pytest.mark.parametrize("damage", ["missing", "no-config", "bad-json", "bad-weights", "newer"])
def test_corrupt_folders_give_clear_errors(tmp_path, damage):
    folder = tmp_path / "m"
    save_folder(folder, "pkg.mod:Thing", {"a": 1}, {"w": np.ones(3, np.float32)})
    if damage == "missing":
        folder = tmp_path / "nowhere"
    elif damage == "no-config":
        (folder / "config.json").unlink()
    elif damage == "bad-json":
        (folder / "config.json").write_text("{not json")
    elif damage == "bad-weights":
        (folder / "weights.safetensors").write_bytes(b"\x00" * 5)
    elif damage == "newer":
        header = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**header, "format": 99}))
    with pytest.raises(ModelFolderError, match=str(folder.name)):
        load_folder(folder)


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "out.h5"
    target.write_text("previous result")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of a new res")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


def test_a_failed_folder_save_keeps_the_previous_save(tmp_path):
    BlobModel(points_per_gev=4.0).save(tmp_path / "m")

    class Exploding(BlobModel):
        def get_tensors(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        Exploding().save(tmp_path / "m")
    assert BlobModel.load(tmp_path / "m").points_per_gev == 4.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.h5") as tmp:
            tmp.write_text("data")
        BlobModel().save(tmp_path / "model")
    finally:
        os.umask(mask)
    assert (tmp_path / "out.h5").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "model" / "config.json").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------ what an existing output may be
def _tree(folder):
    """Every entry below ``folder`` with its content: what must survive a refused write untouched."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def test_a_folder_calozoo_did_not_write_is_never_replaced(tmp_path):
    from calozoo.errors import OutputError

    precious = tmp_path / "work"
    (precious / "showers").mkdir(parents=True)
    (precious / "thesis.tex").write_text("years of work")
    (precious / "showers" / "old.h5").write_bytes(b"other showers")
    before = _tree(tmp_path)
    with pytest.raises(OutputError) as refused:
        BlobModel().save(precious)
    message = str(refused.value)
    assert f"{precious}: exists and holds files calozoo did not write (showers/, thesis.tex)" in message
    assert "nothing was changed" in message
    assert _tree(tmp_path) == before  # not a file lost, no partial folder or lock left
    (precious / "thesis.tex").write_text("")  # nothing big is needed: any foreign file counts
    with pytest.raises(OutputError, match="calozoo did not write"):
        save_folder(precious, "pkg.mod:Thing", {})


def test_an_empty_folder_is_used_and_a_save_of_the_same_class_replaced(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    BlobModel(points_per_gev=4.0).save(folder)
    assert BlobModel.load(folder).points_per_gev == 4.0
    BlobModel(points_per_gev=6.0).save(folder)  # an earlier save of the same class: replaced
    assert BlobModel.load(folder).points_per_gev == 6.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_calozoo_folder_of_another_kind_is_refused_naming_both(tmp_path):
    from calozoo.errors import OutputError

    BlobModel().save(tmp_path / "blob")
    before = _tree(tmp_path)
    with pytest.raises(OutputError, match=r"blob: holds a saved blob_models:BlobModel, not a saved calozoo"):
        EnergyScaleCalibrator().save(tmp_path / "blob")
    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "results.json").write_text("{}")
    (report / "plots" / "overview.png").write_bytes(b"png")
    before = _tree(tmp_path)
    with pytest.raises(
        OutputError, match="report: holds a calozoo evaluation report, not a saved blob_models:BlobModel"
    ):
        BlobModel().save(report)
    assert _tree(tmp_path) == before
    assert BlobModel.load(tmp_path / "blob").points_per_gev == 5.0


def test_files_added_to_a_calozoo_folder_keep_it_from_being_replaced(tmp_path):
    from calozoo.errors import OutputError

    BlobModel().save(tmp_path / "m")
    (tmp_path / "m" / "notes.txt").write_text("how I trained it")
    before = _tree(tmp_path)
    with pytest.raises(
        OutputError, match=r"m: holds a saved .*BlobModel and also files calozoo did not write"
    ):
        BlobModel(points_per_gev=2.0).save(tmp_path / "m")
    assert _tree(tmp_path) == before


def test_a_file_or_a_link_where_a_folder_goes_is_refused(tmp_path):
    from calozoo.errors import OutputError

    (tmp_path / "m").write_text("a file")
    with pytest.raises(OutputError, match="m: exists and is not a folder; nothing was changed"):
        BlobModel().save(tmp_path / "m")
    BlobModel().save(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputError, match="link: is a symbolic link"):
        BlobModel().save(tmp_path / "link")
    assert (tmp_path / "m").read_text() == "a file" and (tmp_path / "link").is_symlink()


def test_a_folder_of_unknown_kind_is_checked_once_written(tmp_path):
    """write_report's way: atomic_folder without a kind, which the finished folder tells."""
    from calozoo.errors import OutputError
    from calozoo.serialization import atomic_folder

    def report(folder, value):
        with atomic_folder(folder) as tmp:
            (tmp / "plots").mkdir()
            (tmp / "results.json").write_text(value)

    report(tmp_path / "r", "1")
    (tmp_path / "r" / "plots" / "w1_vs_energy.png").write_bytes(b"an earlier run's figure")
    report(tmp_path / "r", "2")  # a report replaces a report, its figures included
    assert (tmp_path / "r" / "results.json").read_text() == "2"
    assert not (tmp_path / "r" / "plots" / "w1_vs_energy.png").exists()
    (tmp_path / "r" / "plots" / "mine.pdf").write_text("a figure of my own")
    with pytest.raises(OutputError, match=r"r: holds a calozoo evaluation report and also files .*mine.pdf"):
        report(tmp_path / "r", "3")
    assert (tmp_path / "r" / "results.json").read_text() == "2"
    (tmp_path / "r" / "plots" / "mine.pdf").unlink()
    BlobModel().save(tmp_path / "m")
    with pytest.raises(OutputError, match="holds a saved .*BlobModel, not a calozoo evaluation report"):
        report(tmp_path / "m", "3")
    assert BlobModel.load(tmp_path / "m").points_per_gev == 5.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "r"]


def test_toyflow_save_refuses_a_foreign_folder_and_replaces_its_own(tmp_path):
    pytest.importorskip("calozoo_toyflow")
    import calozoo
    from calozoo.errors import OutputError

    model = calozoo.load("toyflow")
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match="thesis: exists and holds files calozoo did not write"):
        model.save(precious)
    assert _tree(precious) == {"thesis.tex": b"years of work"}
    model.save(tmp_path / "saved")
    model.save(tmp_path / "saved")  # its own earlier save: replaced
    assert type(calozoo.load("toyflow", path=tmp_path / "saved")) is type(model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved", "thesis"]


# ------------------------------------------------------------------ one writer per output
def test_a_second_writer_of_a_folder_is_refused(tmp_path):
    from calozoo.errors import OutputBusyError
    from calozoo.serialization import atomic_folder

    BlobModel(points_per_gev=4.0).save(tmp_path / "m")
    with atomic_folder(tmp_path / "m", kind="blob_models:BlobModel") as tmp:
        with pytest.raises(OutputBusyError) as busy:
            BlobModel(points_per_gev=9.0).save(tmp_path / "m")
        header = {"class": "blob_models:BlobModel", "config": {"points_per_gev": 6.0}}
        (tmp / "config.json").write_text(json.dumps(header))
    assert str(busy.value) == (
        f"{tmp_path / 'm'} is being written by another calozoo process (pid {os.getpid()}); "
        "wait for it or choose another output"
    )
    assert BlobModel.load(tmp_path / "m").points_per_gev == 6.0  # the first writer's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("locking", ["flock", "pid file"])
def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, monkeypatch, locking):
    from calozoo import serialization

    if locking == "pid file":  # where files cannot be flock-ed: O_EXCL and the pid
        monkeypatch.setattr(serialization, "fcntl", None)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / ".out.h5.lock").write_text(f"{dead.pid}\n")  # its writer was killed (kill -9)
    with atomic_path(tmp_path / "out.h5") as tmp:
        assert (tmp_path / ".out.h5.lock").read_text() == f"{os.getpid()}\n"
        tmp.write_text("data")
    assert (tmp_path / "out.h5").read_text() == "data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_a_live_pid_file_lock_is_respected(tmp_path, monkeypatch):
    from calozoo import serialization
    from calozoo.errors import OutputBusyError

    monkeypatch.setattr(serialization, "fcntl", None)
    lock = tmp_path / ".out.h5.lock"
    lock.write_text(f"{os.getpid()}\n")  # a writer that is still running
    with pytest.raises(OutputBusyError, match=rf"out.h5 is being written by .* \(pid {os.getpid()}\)"):
        with atomic_path(tmp_path / "out.h5"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.h5.lock"]


def test_a_writer_killed_with_sigkill_leaves_the_output_free(tmp_path):
    """Another process holds the output, a second writer is refused naming it; kill -9 frees it."""
    import signal
    import sys

    from calozoo.errors import OutputBusyError

    out = tmp_path / "out.h5"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from calozoo.serialization import atomic_path\n"
            "with atomic_path(sys.argv[1]):\n    print('writing', flush=True); time.sleep(60)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "writing\n"
        with pytest.raises(OutputBusyError, match=rf"\(pid {holder.pid}\); wait for it or choose another"):
            with atomic_path(out):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with atomic_path(out) as tmp:  # the kernel dropped the dead writer's lock
        tmp.write_text("mine")
    assert out.read_text() == "mine"


def test_partials_left_by_a_killed_writer_are_removed_by_the_next_one(tmp_path):
    """kill -9 leaves `.NAME.xxxxxxxx.partial`; the next writer of NAME (holding its lock) removes it,
    and nothing else."""
    from calozoo.serialization import atomic_path

    stale_file = tmp_path / ".out.h5.abc123_z.partial"
    stale_file.write_bytes(b"half a file")
    stale_folder = tmp_path / ".out.h5.k9x2mmq1.partial"
    stale_folder.mkdir()
    other = tmp_path / ".out.h5.x.abc123_z.partial"  # another output's temporary file
    other.write_bytes(b"someone else's")
    keep = tmp_path / "out.h5.notes"
    keep.write_text("mine")
    with atomic_path(tmp_path / "out.h5") as tmp:
        tmp.write_bytes(b"")
    assert not stale_file.exists() and not stale_folder.exists()
    assert other.exists() and keep.read_text() == "mine"


def test_weights_with_nan_are_refused_naming_the_file_and_tensor(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    from calozoo.errors import ModelFolderError
    from calozoo.serialization import load_folder, save_folder

    folder = save_folder(tmp_path / "m", "some.module:Model", {"a": 1}, {"layer.weight": np.ones(3)})
    save_file({"layer.weight": np.array([1.0, np.nan, 2.0])}, str(folder / "weights.safetensors"))
    with pytest.raises(ModelFolderError, match=r"weights.safetensors: the tensor\(s\) layer.weight hold NaN"):
        load_folder(folder)


def test_large_weights_are_saved_in_files_of_at_most_16_mib(tmp_path):
    import numpy as np

    from calozoo.serialization import MAX_WEIGHTS_FILE_BYTES, load_folder, save_folder

    rng = np.random.default_rng(0)
    tensors = {
        f"layer{i}.weight": rng.normal(size=(1000, 1000)).astype(np.float32) for i in range(9)
    }  # 36 MB
    folder = save_folder(tmp_path / "big", "tests:Big", {"n": 9}, tensors)
    files = sorted(folder.glob("weights*.safetensors"))
    assert [f.name for f in files] == [f"weights-{i:05d}-of-00003.safetensors" for i in (1, 2, 3)]
    assert all(f.stat().st_size <= MAX_WEIGHTS_FILE_BYTES for f in files)
    config, back = load_folder(folder, "tests:Big")
    assert config == {"n": 9} and sorted(back) == sorted(tensors)
    assert all(np.array_equal(back[k], tensors[k]) for k in tensors)
    # a smaller save replaces the shards by one file; an incomplete set is refused
    save_folder(folder, "tests:Big", {"n": 1}, {"w": np.ones(3)})
    assert [f.name for f in folder.glob("weights*")] == ["weights.safetensors"]
    big = save_folder(tmp_path / "big2", "tests:Big", {"n": 9}, tensors)
    (big / "weights-00002-of-00003.safetensors").unlink()
    with pytest.raises(ModelFolderError, match="incomplete"):
        load_folder(big)
