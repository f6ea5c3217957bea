"""The calozoo conformance kits on CaloClouds3 as a user loads it, one test per check: the model
(with its registration's metadata) and its calibrator, fitted for the ILD barrel on a dozen of
the model's showers. Only the public API: the model, calibrator and geometry by name."""

from calozoo.testing import calibrator_checks, parametrize_with_checks, registered

MODEL = registered("model", "caloclouds3")
BARREL = registered("geometry", "ild-ecal-barrel")


@parametrize_with_checks(MODEL, calibrator_checks(registered("calibrator", "caloclouds3"), MODEL, BARREL))
def test_conformance(check, tmp_path):
    check(tmp_path)
