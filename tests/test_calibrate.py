"""`calozoo calibrate MODEL --geometry G --reference REF -o OUT`: the registered calibrator kind, used."""

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

import calozoo
from calozoo.calibration import EnergyScaleCalibrator
from calozoo.cli import main
from calozoo.io import write_showers


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """toy-gamma showers with every point energy 10 % higher: the factor to find is about 1.1."""
    showers = calozoo.load("toy-gamma").sample(np.full(60, 30.0), seed=4)
    points = showers.points.copy()
    points[..., 3] *= 1.1
    path = tmp_path_factory.mktemp("ref") / "reference.h5"
    write_showers(path, replace(showers, points=points))
    return path


def _calibrate(*args):
    return CliRunner().invoke(main, ["calibrate", "toy-gamma", *args])


def test_a_calibrator_that_is_not_the_models_own_is_fitted_and_saved(reference, tmp_path):
    out = tmp_path / "scale"
    result = _calibrate(
        "--calibrator", "energy-scale", "--reference", str(reference), "--geometry", "ild-ecal-barrel",
        "-o", str(out), "--seed", "9",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"calibrator {out}" in result.output
    fitted = EnergyScaleCalibrator.load(out)
    # the model's own showers at the reference's conditions, another seed: close to 1.1
    assert fitted.factor_ == pytest.approx(1.1, rel=0.03)


def test_a_folder_it_did_not_write_is_refused_before_any_work(reference, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = _calibrate(
        "--calibrator", "energy-scale", "--reference", str(reference), "--geometry", "ild-ecal-barrel",
        "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--calibrator", "energy-scal"], "energy-scale"),  # close matches are listed
        (["--geometry", "ild-ecal-barel"], "ild-ecal-barrel"),
    ],
)
def test_unknown_names_get_a_one_line_error(reference, tmp_path, args, message):
    base = {"--calibrator": "energy-scale", "--geometry": "ild-ecal-barrel"}
    base.update(dict(zip(args[::2], args[1::2])))
    flat = [v for kv in base.items() for v in kv]
    result = _calibrate(*flat, "--reference", str(reference), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in result.output


@pytest.mark.parametrize(
    "option, message",
    [
        ("bogus=1", "bogus"),  # the calibrator takes no such option: named, with what it takes
        ("seed=3", "--seed"),  # set by the command's own option
        ("nokey", "KEY=VALUE"),
    ],
)
def test_calibrator_options_are_checked(reference, tmp_path, option, message):
    result = _calibrate(
        "--calibrator", "energy-scale", "--reference", str(reference), "--geometry", "ild-ecal-barrel",
        "-o", str(tmp_path / "out"), "-C", option,
    )  # fmt: skip
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message in result.output
    assert not (tmp_path / "out").exists()
