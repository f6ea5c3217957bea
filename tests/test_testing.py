"""The conformance kits pass objects that keep the contract and catch ones that break it, check
by check; parametrize_with_checks names every check and builds objects lazily, once."""

import warnings
from dataclasses import replace

import numpy as np
import pytest
from blob_models import BlobModel, GeVBlobModel, NoCheckBlobModel, SeedlessBlobModel, ZeroEnergyBlobModel

from calozoo import testing
from calozoo.calibration import EnergyScaleCalibrator
from calozoo.conditions import Conditions
from calozoo.interfaces import ShowerModel
from calozoo.layered import PlanarGeometry
from calozoo.registry import Registration
from calozoo.showers import Showers
from calozoo.testing import (
    CALIBRATOR_CHECKS,
    GEOMETRY_CHECKS,
    MODEL_CHECKS,
    Check,
    calibrator_checks,
    check_calibrator,
    check_geometry,
    check_model,
    geometry_checks,
    model_checks,
    parametrize_with_checks,
    registered,
)

GEO = PlanarGeometry(np.arange(30) * 6.5 + 3.0, cell_size_mm=5.08833, threshold_mev=0.1, name="flat")


def _rng(randomness) -> np.random.Generator:
    """The 4th argument of generate() as a numpy generator, whether it is one or the batch's seeds."""
    if isinstance(randomness, np.random.Generator):
        return randomness
    return np.random.default_rng(np.asarray(randomness, dtype=np.uint64).ravel().tolist())


class DotsModel(ShowerModel):
    """A few points per GeV on a line through the layers; the seed shifts them and their energy a little."""

    name = "dots"

    @property
    def conditions(self) -> Conditions:
        return Conditions(5.0, 80.0, pdg=(22, 11), max_angle_deg=30.0)

    def generate(self, energy_gev, direction, pdg, randomness):
        shift = _rng(randomness).uniform(0.0, 1.0)
        clouds = []
        for e in energy_gev:
            n = int(20 + 3 * e)
            z = np.linspace(0.0, self.n_layers - 0.01, n)
            xy = np.column_stack([np.sin(z) + shift, np.cos(z) * 3.0])
            clouds.append(np.column_stack([xy, z, np.full(n, (10.0 + shift) * e / n)]))
        return Showers.from_point_lists(clouds, energy_gev, direction, pdg)


def _registration(**metadata) -> Registration:
    return Registration("model", "dots", "test_testing:DotsModel", "test-plugin", metadata=metadata)


def _run(pairs, tmp_path=None):
    for _, check in pairs:
        check(tmp_path)


# ---------------------------------------------------------------------------- models


def test_conforming_model_passes(tmp_path):
    check_model(BlobModel(), tmp_path)


@pytest.mark.parametrize(
    "model, complaint",
    [
        (SeedlessBlobModel(), "same seed"),
        (GeVBlobModel(), "MeV"),
        (NoCheckBlobModel(), "must be refused"),
        (ZeroEnergyBlobModel(), "zero energy"),
    ],
)
def test_broken_models_are_caught(tmp_path, model, complaint):
    with pytest.raises(AssertionError, match=complaint):
        check_model(model, tmp_path)


def test_the_model_kit_is_named_checks_in_order():
    pairs = model_checks(BlobModel())
    assert [name for name, _ in pairs] == [n for n in MODEL_CHECKS if n != "registration_metadata"]
    assert all(isinstance(check, Check) and check.id == f"blob-{name}" for name, check in pairs)
    with_registration = model_checks(DotsModel(), registration=_registration(energy_gev=(5, 80)))
    assert [name for name, _ in with_registration] == list(MODEL_CHECKS)
    assert [n for n, _ in model_checks(BlobModel(), checks=["seeding", "showers"])] == ["seeding", "showers"]
    with pytest.raises(ValueError, match="no model check named \\['speed'\\]"):
        model_checks(BlobModel(), checks="speed")
    with pytest.raises(ValueError, match="need registration="):
        model_checks(BlobModel(), checks="registration_metadata")
    with pytest.raises(ValueError, match="need a geometry"):
        calibrator_checks(EnergyScaleCalibrator(), checks=["fit", "reference_in_mm"])
    with pytest.raises(ValueError, match="give the model"):
        calibrator_checks(EnergyScaleCalibrator(), reference=Showers.empty())


def test_registration_metadata_that_agrees_passes(tmp_path):
    agrees = _registration(energy_gev=(5, 80), pdg=(11, 22), max_angle_deg=30)
    check_model(DotsModel(), tmp_path, registration=agrees)
    _run(
        model_checks(
            DotsModel(), registration=_registration(summary_only=True), checks="registration_metadata"
        )
    )


@pytest.mark.parametrize(
    "metadata, complaint",
    [
        ({"energy_gev": (5, 100), "pdg": (22, 11), "max_angle_deg": 30}, r"energy_gev=\(5, 100\).*5-80 GeV"),
        ({"energy_gev": (1, 80)}, "energy_gev"),
        ({"energy_gev": (5, 80), "pdg": (22,), "max_angle_deg": 30}, r"pdg=\(22,\)"),
        ({"energy_gev": (5, 80), "pdg": (22, 11), "max_angle_deg": 0}, "max_angle_deg=0"),
    ],
)
def test_registration_metadata_that_disagrees_is_caught(metadata, complaint):
    ((_, check),) = model_checks(
        DotsModel(), registration=_registration(**metadata), checks="registration_metadata"
    )
    with pytest.raises(AssertionError, match=complaint):
        check()


def test_registration_by_name_comes_from_the_registry(blob_registry, monkeypatch):
    """``registered`` and a plain name look the registration up the way calozoo.load does."""
    monkeypatch.setattr(testing, "_SESSION", {})
    _run(model_checks(BlobModel(), registration="blob", checks="registration_metadata"))
    names = [name for name, _ in model_checks(registered("model", "blob"))]
    assert names[-1] == "registration_metadata"
    # with options the object is not the default load its registration describes
    assert "registration_metadata" not in [
        n for n, _ in model_checks(registered("model", "blob", {"width_mm": 5}))
    ]
    wrong = replace(blob_registry.get("model", "blob"), metadata={"energy_gev": (1, 50)})
    monkeypatch.setattr(blob_registry, "get", lambda kind, name: wrong)
    with pytest.raises(AssertionError, match=r"energy_gev=\(1, 50\)"):
        _run(model_checks(BlobModel(), registration="blob", checks="registration_metadata"))


# ---------------------------------------------------------------------------- geometries


def test_the_geometry_kit_is_named_checks_and_checks_its_registration(tmp_path):
    pairs = geometry_checks(GEO)
    assert [n for n, _ in pairs] == [n for n in GEOMETRY_CHECKS if n != "registration_metadata"]
    _run(pairs, tmp_path)
    good = Registration("geometry", "flat", "m:f", "p", metadata={"n_layers": 30, "cell_size_mm": 5.08833})
    check_geometry(GEO, tmp_path, registration=good)
    bad = replace(good, metadata={"n_layers": 29, "threshold_mev": 0.1})
    ((_, check),) = geometry_checks(GEO, registration=bad, checks="registration_metadata")
    with pytest.raises(AssertionError, match="n_layers=29 but the geometry has 30"):
        check()


# ---------------------------------------------------------------------------- calibrators


class ApplyUnfitted(EnergyScaleCalibrator):
    """Breaks the contract: an unfitted calibrator applies a factor of 1 without a word."""

    def apply(self, showers):
        return replace(showers, points=showers.points * np.float32([1, 1, 1, self.factor_ or 1.0]))


class CrashUnfitted(EnergyScaleCalibrator):
    """Breaks the contract: applying before fit fails deep inside with an AttributeError."""

    def __init__(self):
        pass

    def fit(self, generated, reference, geometry=None):
        return EnergyScaleCalibrator.fit(self, generated, reference, geometry)

    def get_config(self):
        return {}

    @classmethod
    def from_saved(cls, config, tensors):
        return cls()


class ForgetsOnLoad(EnergyScaleCalibrator):
    """Breaks the contract: the fitted factor is not saved, so a reloaded one is unfitted."""

    def get_config(self):
        return {}


class LosesPrecisionOnLoad(EnergyScaleCalibrator):
    """Breaks the contract: saves a rounded factor, so the reloaded one calibrates differently."""

    def get_config(self):
        return {"factor": None if self.factor_ is None else round(self.factor_, 1) + 0.01}


class FitReturnsNothing(EnergyScaleCalibrator):
    """Breaks the contract: fit() does not return the calibrator."""

    def fit(self, generated, reference, geometry=None):
        super().fit(generated, reference, geometry)


class FitOverwritesSettings(EnergyScaleCalibrator):
    """Breaks the contract: the learned factor overwrites a setting given to __init__."""

    def __init__(self, factor=None, target="mean"):
        super().__init__(factor)
        self.target = target

    def fit(self, generated, reference, geometry=None):
        super().fit(generated, reference, geometry)
        self.target = self.factor_
        return self

    def get_config(self):
        return {**super().get_config(), "target": self.target}


class ApplyInPlace(EnergyScaleCalibrator):
    """Breaks the contract: apply() scales the input's energies in place."""

    def apply(self, showers):
        if self.factor_ is None:
            raise RuntimeError("not fitted: call fit()")
        showers.points[..., 3] *= self.factor_
        return replace(showers)


class AcceptsEmpty(EnergyScaleCalibrator):
    """Breaks the contract: an empty reference gives a NaN factor instead of an error."""

    def fit(self, generated, reference, geometry=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the mean of nothing
            self.factor_ = float(np.mean(reference.visible_energy_mev)) / float(
                generated.visible_energy_mev.mean()
            )
        return self


class IgnoresGeometry(EnergyScaleCalibrator):
    """Breaks the contract: fits on the points, never projecting them, so raw hits in mm pass."""

    def fit(self, generated, reference, geometry=None):
        return super().fit(generated, reference, None)


def test_conforming_calibrators_pass(tmp_path):
    # synthetic showers, the calibrator's own choice of geometry
    names = [n for n, _ in calibrator_checks(EnergyScaleCalibrator())]
    assert names == [n for n in CALIBRATOR_CHECKS if n != "reference_in_mm"]
    check_calibrator(EnergyScaleCalibrator(), tmp_path=tmp_path)
    # a model's showers projected into a geometry, the reference another seed of the model
    check_calibrator(EnergyScaleCalibrator(), DotsModel(), GEO, tmp_path=tmp_path)
    # a reference given: the model generates at its conditions
    reference = DotsModel().sample([10.0, 20.0, 40.0], seed=3)
    check_calibrator(EnergyScaleCalibrator(), DotsModel(), GEO, reference, tmp_path, n_showers=3)


@pytest.mark.parametrize(
    "calibrator, check, complaint",
    [
        (ApplyUnfitted(), "unfitted_apply", "unfitted calibrator returned showers"),
        (CrashUnfitted(), "unfitted_apply", "AttributeError"),
        (ForgetsOnLoad(), "save_load", "reloaded calibrator cannot apply"),
        (LosesPrecisionOnLoad(), "save_load", "must calibrate the same"),
        (FitReturnsNothing(), "fit", "must return the fitted calibrator"),
        (FitOverwritesSettings(), "fit", r"changed the settings \['target'\]"),
        (ApplyInPlace(), "apply", "changed its input"),
        (AcceptsEmpty(), "empty_reference", "was accepted"),
        (IgnoresGeometry(), "reference_in_mm", "in mm .* was accepted"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_broken_calibrators_are_caught(tmp_path, calibrator, check, complaint):
    ((_, one),) = calibrator_checks(calibrator, DotsModel(), GEO, checks=check)
    with pytest.raises(AssertionError, match=complaint):
        one(tmp_path)
    with pytest.raises(AssertionError, match=complaint):  # the whole kit stops at the same breach
        check_calibrator(calibrator, DotsModel(), GEO, tmp_path=tmp_path)


def test_no_check_changes_the_calibrator_it_was_given(tmp_path):
    calibrator = EnergyScaleCalibrator()
    check_calibrator(calibrator, DotsModel(), GEO, tmp_path=tmp_path)
    assert calibrator.factor_ is None


# ---------------------------------------------------------------------------- parametrize_with_checks


def _params(mark):
    name, params = mark.args
    assert name == "check"
    return {p.id: p.values[0] for p in params}


def test_parametrize_names_every_check_and_builds_lazily_once(tmp_path):
    built = []

    def make():
        built.append(1)
        return DotsModel()

    mark = parametrize_with_checks(make, kind="model")
    checks = _params(mark)
    assert list(checks) == [f"make-{n}" for n in MODEL_CHECKS if n != "registration_metadata"]
    assert built == []  # nothing built while collecting
    checks["make-showers"](tmp_path)
    checks["make-save_load"](tmp_path)
    assert built == [1]  # one model for all its checks


def test_parametrize_takes_objects_kits_and_unnamed_factories():
    calibrator_kit = calibrator_checks(lambda: EnergyScaleCalibrator(), DotsModel(), GEO, label="scale")
    checks = _params(parametrize_with_checks(GEO, calibrator_kit, lambda: BlobModel()))
    assert "flat-projection" in checks and "scale-reference_in_mm" in checks
    assert "blob-seeding" in checks  # without kind=, a factory is built at collection to see what it is
    assert [c.kind for c in checks.values()].count("calibrator") == len(CALIBRATOR_CHECKS)
    with pytest.raises(TypeError, match="takes models"):
        parametrize_with_checks(42)


def test_parametrize_takes_registered_names(blob_registry, monkeypatch, tmp_path):
    monkeypatch.setattr(testing, "_SESSION", {})
    checks = _params(parametrize_with_checks("blob", "flat"))
    assert "blob-registration_metadata" in checks and "flat-missing_layers" in checks
    checks["blob-registration_metadata"](tmp_path)
    checks["flat-save_load"](tmp_path)
    assert registered("model", "blob")() is registered("model", "blob")()  # once per session
    assert "energy-scale-calibrator-fit" in _params(
        parametrize_with_checks("energy-scale", kind="calibrator")
    )
    with pytest.raises(ValueError, match="registered as nothing"):
        parametrize_with_checks("no-such-thing")


# ---------------------------------------------------------------------------- the core's own calibrator


@parametrize_with_checks(calibrator_checks(registered("calibrator", "energy-scale"), DotsModel(), GEO))
def test_the_registered_energy_scale_calibrator_conforms(check, tmp_path):
    check(tmp_path)
