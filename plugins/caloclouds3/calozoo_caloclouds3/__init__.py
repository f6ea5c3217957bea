"""calozoo-caloclouds3: the CaloClouds3 shower model (arXiv:2511.01460) as a calozoo plugin.

A thin model on the shared engine (:mod:`calozoo_engine`):

- :mod:`.model` — top to bottom: :class:`~.model.CaloClouds3Recipe` (conditioning, 60 flow
  targets, architectures), the chain's per-layer targets with the occupancy factor, and
  :class:`~.model.CaloClouds3` with its three calibration factors;
- :mod:`.calibration` — the calibrator fitting occupancy, widening and energy factors;
- :mod:`.export` — its hooks of the engine's TorchScript export for DDFastShowerML;
- :mod:`.cli` — ``calozoo train caloclouds3`` and ``calozoo import caloclouds3`` (the authors'
  checkpoints, read by :mod:`calozoo_engine.checkpoint` without running pickled code).

Importing this package is cheap: calozoo imports only :mod:`.plugin` to list models.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
