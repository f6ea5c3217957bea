"""A :class:`Recipe`: the one small, static description of what a flow + point-network model is.

The training stages (:mod:`.training`), the data set (:mod:`.data`), the flow (:mod:`.flow`),
the point network (:mod:`.pointnet`) and the assembly chain (:mod:`.points`) are shared by every
model of the CaloClouds family. A model plugin says in one recipe class what its networks see:

- the flow's conditioning and targets (CaloClouds3: ``[E/127, p]`` and 60 per-layer numbers;
  CaloClouds2: ``[E/100]`` and 65 shower-level and normalised per-layer numbers),
- the point network's conditioning and widths,
- the flow's architecture (block pattern, number of blocks, MLP widths),
- how the flow targets are dequantised while training (integer counts, empty layers),
- and which model class the trained parts make (:meth:`Recipe.build`).

A recipe may hold statistics of the training set (CaloClouds2 standardises the centre of
gravity): :meth:`Recipe.fit` computes them, :meth:`Recipe.to_dict` / :meth:`Recipe.from_dict`
store them with checkpoints and models. Nothing is looked up by name at import time: a plugin
hands its recipe to the engine, and a checkpoint of another model is refused
(:meth:`Recipe.restore`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from calozoo.errors import ModelFolderError

from .features import ShowerSummaries

__all__ = ["Recipe"]


class Recipe:
    """The model-specific half of a flow + point-network model (see the module docstring).

    Subclasses set the class attributes and implement :meth:`flow_context`,
    :meth:`point_context`, :meth:`flow_targets`, :meth:`dequantisation` and :meth:`build`.
    """

    #: the model's registered name (checkpoints remember it)
    name: ClassVar[str]
    #: layers of the calorimeter the model's ``z`` spans (a recipe that can take another
    #: detector's count sets it per instance: :meth:`for_geometry`)
    n_layers: int = 30
    #: flow sizes and architecture (keyword arguments of :class:`~.flow.ShowerFlow`)
    flow_features: ClassVar[int]
    flow_context_features: ClassVar[int]
    flow_architecture: ClassVar[dict[str, Any]]
    #: point network: widths and conditioning size
    point_widths: ClassVar[tuple[int, ...]]
    point_context_features: ClassVar[int]
    #: the constructor's options and their accepted values (``calozoo train --recipe KEY=VALUE``)
    options: ClassVar[dict[str, tuple[str, ...]]] = {}

    def for_geometry(self, geometry: Any) -> Recipe:
        """This recipe for a detector of ``geometry.n_layers`` layers (``calozoo train --geometry``).

        By default a recipe's layer count is fixed, and another is refused; a recipe whose targets
        are per layer (CaloClouds3) returns a copy with the geometry's count.
        """
        n_layers = int(geometry.n_layers)
        if n_layers != self.n_layers:
            raise ModelFolderError(
                f"{self.name} is made for {self.n_layers} layers; geometry "
                f"{getattr(geometry, 'name', geometry)!r} has {n_layers}"
            )
        return self

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

    def build(self, flow, net, scaler, training: dict[str, Any]):
        """The (uncalibrated) model from trained parts: what ``--stage assemble`` writes."""
        raise NotImplementedError

    def flow_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~.flow.ShowerFlow` (sizes and architecture)."""
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

    def unrecorded(self) -> Recipe:
        """The recipe of a file that stored none (written before recipes were saved): ``self``;
        a recipe whose defaults changed since returns the old ones."""
        return self

    def restore(self, data: dict[str, Any] | None) -> Recipe:
        """The recipe a checkpoint stored (:meth:`unrecorded` for files that stored none), checked
        to be this recipe's model: a work folder of one model cannot be continued as another."""
        if data is None:
            return self.unrecorded()
        if data.get("name") != self.name:
            raise ModelFolderError(
                f"the work folder was started for {data.get('name')}, not {self.name}: use another --work"
            )
        return type(self).from_dict(data)
