"""The calozoo geometry kit on every registered ILD geometry, one test per check, including that
the registrations' metadata (layers, cell size, threshold) describe the geometries built by name."""

from calozoo.testing import parametrize_with_checks


@parametrize_with_checks(
    "ild-ecal-regular", "ild-ecal-barrel", "ild-ecal-endcap-regular", "ild-ecal-endcap", kind="geometry"
)
def test_conformance(check, tmp_path):
    check(tmp_path)
