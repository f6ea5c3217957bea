"""calozoo-caloclouds3: the CaloClouds3 shower model (arXiv:2511.01460) as a calozoo plugin.

The parts, one module each:

- :mod:`.features` — how showers become flow targets and normalised point features;
- :mod:`.showerflow` — ShowerFlow, the conditional flow over per-layer counts and energies;
- :mod:`.pointnet` — the per-point network, EDM preconditioning and the samplers;
- :mod:`.data` — the training set in memory and size-bucketed batches;
- :mod:`.training` — the three resumable training stages (flow, teacher, distill);
- :mod:`.model` — :class:`~.model.CaloClouds3`, the generation and calibration chain;
- :mod:`.calibration` — the calibrator fitting occupancy, widening and energy factors;
- :mod:`.export` — TorchScript for DDFastShowerML; :mod:`.checkpoint` — the authors' files.

Importing this package is cheap: calozoo imports only :mod:`.plugin` to list models.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
