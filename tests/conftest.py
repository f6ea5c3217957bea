"""Shared fixtures: a registry holding only the built-ins and the test blob model."""

import pytest
from blob_models import BlobPlugin

from calozoo import registry as registry_module


@pytest.fixture
def blob_registry(monkeypatch):
    """Replace the process-wide registry by built-ins + the blob model (no entry points)."""
    reg = registry_module.Registry().discover(entry_points=False)
    reg.add_plugin(BlobPlugin(), "blob-plugin")
    monkeypatch.setattr(registry_module, "_REGISTRY", reg)
    return reg
