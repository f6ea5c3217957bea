"""Reconstruction-level validation: events of several particles, a photon finder, benchmarks.

The CaloClouds3 paper calls reconstruction the ultimate test of a fast-simulation model: run the
same reconstruction on its showers and on full-simulation showers and compare the physics that
comes out. This package provides the pieces, for any geometry that gives its cells' positions:

- :func:`overlay`: several showers in one event, their deposits summed per cell before the
  threshold (:class:`Events`);
- :func:`find_photons`: a documented photon finder on cell hits (:class:`PhotonFinder`) with an
  energy calibration fitted on reference showers (:class:`PhotonCalibration`);
- :mod:`calozoo.reconstruction.benchmarks`: energy linearity and resolution, di-photon
  separation and the internal angle, model against reference (``calozoo benchmark``).
"""

from .events import (
    Events,
    Particles,
    ReconstructionError,
    local_directions,
    overlay,
    sample_events,
    without_threshold,
)
from .finder import PhotonCalibration, PhotonFinder, Photons, default_calibration, find_photons

__all__ = [
    "Events",
    "Particles",
    "ReconstructionError",
    "overlay",
    "sample_events",
    "local_directions",
    "without_threshold",
    "PhotonCalibration",
    "PhotonFinder",
    "Photons",
    "default_calibration",
    "find_photons",
]
