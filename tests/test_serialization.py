"""Model folders and atomic writes: nothing truncated is ever left looking complete."""

import json

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
