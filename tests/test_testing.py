"""The conformance kit passes a model that keeps the contract and catches ones that break it."""

import pytest
from blob_models import BlobModel, GeVBlobModel, NoCheckBlobModel, SeedlessBlobModel, ZeroEnergyBlobModel

from calozoo.testing import check_model


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
