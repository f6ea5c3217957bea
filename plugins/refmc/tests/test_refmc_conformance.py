"""The calozoo conformance kit on the reference Monte Carlo, one test per check.

The behavioural checks simulate a few showers across the model's whole energy range, so they run
on a load restricted to 0.1-20 GeV (1000 GeV showers take seconds each); the registration's
metadata is checked against the default load it describes.
"""

from calozoo.testing import model_checks, parametrize_with_checks, registered

FAST = registered("model", "reference-mc", {"energy_range_gev": (0.1, 20.0)}, label="reference-mc-20gev")


@parametrize_with_checks(
    model_checks(FAST),
    model_checks(registered("model", "reference-mc"), checks="registration_metadata"),
)
def test_conformance(check, tmp_path):
    check(tmp_path)
