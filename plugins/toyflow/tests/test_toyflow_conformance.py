"""The calozoo conformance kit on both registered toy models, one test per check
(``test_conformance[toyflow-seeding]``, ...), each model loaded by name once."""

from calozoo.testing import parametrize_with_checks


@parametrize_with_checks("toy-gamma", "toyflow", kind="model")
def test_conformance(check, tmp_path):
    check(tmp_path)
