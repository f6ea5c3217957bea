"""calozoo-engine: the building blocks every flow + point-network model of calozoo stands on.

One module each, so a new model (CaloClouds3 and CaloClouds2 today; L2LFlows, CaloDiT, the
Calorimeter Pyramid next) reads only what it uses:

- :mod:`.recipe` — :class:`~.recipe.Recipe`, the one small description of what a model is
  (conditioning, flow targets, architectures, the model class);
- :mod:`.flow` — ShowerFlow, the conditional normalising flow on normflows;
- :mod:`.pointnet` — the per-point network, EDM preconditioning with its coefficients as named
  functions, the teacher's sampler and the one-step student;
- :mod:`.sampling` — the Karras noise levels and the teacher's Heun sampler through diffusers'
  schedulers (checked equal to :mod:`.pointnet`'s), and the per-shower multistep consistency
  sampler (diffusers' scheduler cannot draw noise per shower: docs/engine.md);
- :mod:`.features` — per-shower summaries and the point normalisation;
- :mod:`.data` — the training set in memory and size-bucketed batches;
- :mod:`.training` — the three resumable stages (flow, teacher, consistency distillation):
  randomness from ``(seed, step)``, atomic safetensors checkpoints, JSON logs, torchrun;
- :mod:`.points` — the point assembly chain (torch, TorchScript-compatible);
- :mod:`.model` — :class:`~.model.FlowPointModel`, saving, loading and per-shower seeding;
- :mod:`.calibration` — projection summaries and thinning, what calibrators fit with;
- :mod:`.export` — the TorchScript base for DDFastShowerML;
- :mod:`.onnx_export` — the same contract as one ONNX graph (ONNX Runtime), checked against eager;
- :mod:`.checkpoint` — reading the original authors' torch pickles without running them;
- :mod:`.cli` — ``calozoo train MODEL`` for any recipe.

Torch is imported by these modules, never by ``calozoo`` itself: the core stays light.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
