"""What differs between CaloClouds variants, as one small strategy object the shared code takes.

The training stages (:mod:`.training`), the data set (:mod:`.data`) and ShowerFlow are shared by
CaloClouds3 and CaloClouds2 (the plugin ``calozoo-caloclouds2``). A :class:`Recipe` says, for one
variant, what the networks see:

- the flow's conditioning and targets (CaloClouds3: ``[E/127, p]`` and 60 per-layer numbers;
  CaloClouds2: ``[E/100]`` and 65 shower-level and normalised per-layer numbers),
- the point network's conditioning (CaloClouds3: ``[E/127, p]``; CaloClouds2: ``[E/100 * 2 - 1,
  N/6000 * 2 - 1]``) and widths,
- the flow's architecture (block pattern, number of blocks, MLP width),
- how the flow targets are dequantised while training (integer counts, empty layers).

A recipe may hold statistics of the training set (CaloClouds2 standardises the centre of
gravity): :meth:`Recipe.fit` computes them, :meth:`Recipe.to_dict` / :func:`recipe_from_dict`
store them with checkpoints and models.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .features import (
    COUNT_SCALE,
    LAYER_ENERGY_SCALE_GEV,
    N_LAYERS,
    ShowerSummaries,
    conditioning,
)

__all__ = ["Recipe", "CaloClouds3Recipe", "register_recipe", "recipe_from_dict"]

_RECIPES: dict[str, type[Recipe]] = {}


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: makes ``cls`` known to :func:`recipe_from_dict` under ``cls.name``."""
    _RECIPES[cls.name] = cls
    return cls


def recipe_from_dict(data: dict[str, Any] | None) -> Recipe:
    """The recipe a checkpoint or model config stored (``None``: CaloClouds3, for older files)."""
    if data is None:
        return CaloClouds3Recipe()
    name = data.get("name")
    if name not in _RECIPES:
        raise ValueError(
            f"unknown CaloClouds recipe {name!r}; known: {sorted(_RECIPES)} "
            "(a variant's plugin registers its recipe when imported)"
        )
    return _RECIPES[name].from_dict(data)


class Recipe:
    """The variant-specific half of a CaloClouds model (see the module docstring).

    Subclasses set the class attributes and implement the four methods.
    """

    name: ClassVar[str]
    #: ShowerFlow sizes and architecture (keyword arguments of :class:`~.showerflow.ShowerFlow`).
    flow_features: ClassVar[int]
    flow_context_features: ClassVar[int]
    flow_architecture: ClassVar[dict[str, Any]]
    #: Point network: widths and conditioning size.
    point_widths: ClassVar[tuple[int, ...]]
    point_context_features: ClassVar[int]

    def fit(self, summaries: ShowerSummaries) -> Recipe:
        """Statistics of a training set the targets need (none by default); returns ``self``."""
        return self

    def flow_context(self, energy_gev: np.ndarray, direction: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def point_context(
        self, energy_gev: np.ndarray, direction: np.ndarray, num_points: np.ndarray
    ) -> np.ndarray:
        raise NotImplementedError

    def flow_targets(self, summaries: ShowerSummaries) -> np.ndarray:
        raise NotImplementedError

    def dequantisation(self, summaries: ShowerSummaries) -> np.ndarray:
        """``(N, D)`` widths of the uniform noise added to the flow targets while training."""
        raise NotImplementedError

    def flow_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~.showerflow.ShowerFlow` (sizes and architecture)."""
        return {
            "features": self.flow_features,
            "context_features": self.flow_context_features,
            **self.flow_architecture,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        return cls()


@register_recipe
class CaloClouds3Recipe(Recipe):
    """CaloClouds3: ``c = [E/127, p_x, p_y, p_z]`` for both networks; 60 per-layer flow targets."""

    name = "caloclouds3"
    flow_features = 2 * N_LAYERS
    flow_context_features = 4
    flow_architecture = {"blocks": 2, "pattern": "APAPAPSPAPAPAP", "hidden_factor": 10}
    point_widths = (4, 32, 64, 128, 64, 32, 4)
    point_context_features = 4

    def flow_context(self, energy_gev, direction):
        return conditioning(energy_gev, direction)

    def point_context(self, energy_gev, direction, num_points):
        return conditioning(energy_gev, direction)

    def flow_targets(self, summaries):
        from .features import flow_targets

        return flow_targets(summaries.counts, summaries.energy_mev)

    def dequantisation(self, summaries):
        # one point's width for the counts; 0.05 MeV for layer energies (empty layers are exact 0)
        width = np.empty(self.flow_features, np.float32)
        width[:N_LAYERS] = 1 / COUNT_SCALE
        width[N_LAYERS:] = 0.05e-3 / LAYER_ENERGY_SCALE_GEV
        return np.broadcast_to(width, (len(summaries), self.flow_features))
