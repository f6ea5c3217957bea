"""Evaluation: compare generated showers with reference showers, as the CaloClouds3 paper does and beyond.

The pieces, in the order a comparison uses them:

- :mod:`.observables` - what is compared (visible energy, cell energies, profiles per layer and
  radius, occupancies, centre of gravity, internal angle);
- :mod:`.binning` - fixed bin edges, set by the observable, the geometry and the incident energy;
- :mod:`.features` - per-shower measurements on cell hits (projection included);
- :mod:`.angles` - the internal angle: energy-weighted PCA of the hit cells;
- :mod:`.distances` - Jensen-Shannon divergence, separation power, Fréchet and kernel physics
  distances;
- :mod:`.classifier` - the classifier test (ROC AUC);
- :mod:`.slices` and :mod:`.checks` - energy slices, input and condition checks;
- :mod:`.comparison` - :func:`evaluate`, the whole comparison;
- :mod:`.plots` and :mod:`.report` - figures and the report folder;
- :mod:`.distortions` - deliberately distorted copies, to see what each observable catches;
- :mod:`.voxels` - the CaloChallenge's comparison for voxelised showers (per-layer energies,
  centres, widths and sparsity; separation powers and the classifier test).

Example:
    >>> from calozoo.evaluation import evaluate, write_report                  # doctest: +SKIP
    >>> result = evaluate({"toyflow": [s1, s2, s3]}, reference, "ild-ecal-regular")  # doctest: +SKIP
    >>> write_report(result, "report/")                                        # doctest: +SKIP

The command line does the same: ``calozoo evaluate GEN.h5 --reference REF.h5 --geometry NAME
--report DIR``.
"""

from __future__ import annotations

from typing import Any

# Importing this package must stay cheap: the main CLI imports ``calozoo.evaluation.cli`` to
# register ``calozoo evaluate``, and ``calozoo list-models`` must not pay for numpy, scipy or
# matplotlib. The public names load on first use (PEP 562): name -> module that defines it.
_LAZY = {
    "evaluate": "comparison",
    "compare_features": "comparison",
    "EvaluationResult": "comparison",
    "write_report": "report",
    "BinningSettings": "binning",
    "binning_for": "binning",
    "ShowerFeatures": "features",
    "shower_features": "features",
    "measure_cells": "features",
    "Observable": "observables",
    "OBSERVABLES": "observables",
    "HIGH_LEVEL_FEATURES": "observables",
    "EnergySlice": "slices",
    "energy_slices": "slices",
    "jensen_shannon_divergence": "distances",
    "separation_power": "distances",
    "frechet_physics_distance": "distances",
    "kernel_physics_distance": "distances",
    "classifier_test": "classifier",
    "ConditionMismatchError": "checks",
    "EvaluationInputError": "checks",
    "VoxelLayout": "voxels",
    "voxel_features": "voxels",
    "compare_voxels": "voxels",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
