"""The base of every flow + point-network model: its parts, saving and loading, seeded generation.

A model of the CaloClouds family is a :class:`~.flow.ShowerFlow` ``flow`` (how many points and
how much energy in each layer), a one-step :class:`~.pointnet.PointwiseNet` ``net`` (the points),
the point normalisation ``scaler`` and its :class:`~.recipe.Recipe` (what differs between the
models). :class:`FlowPointModel` saves them as ``flow.*`` and ``net.*`` tensors beside a JSON
config, loads a folder or the weights shipped in the plugin, and draws every shower's randomness
from that shower's own seed (:func:`shower_generators`), so the random numbers of a shower do not
depend on the batch size. The arithmetic of the networks does, at the level of float rounding
(a matrix product rounds a row differently for different numbers of rows): showers of one seed
agree to about 1e-6 between batch sizes, except that a count that sits on an integer may differ
by one. Loaded with ``batch_invariant=True`` a model evaluates every per-shower network one
shower per call (:data:`~.pointnet.ROW_BLOCK`), in storage of its own, and its showers are
bit-identical for any batch size, at a cost (docs/engine.md). A model subclass adds its
calibration and the :meth:`generate` chain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from calozoo.errors import ModelFolderError
from calozoo.interfaces import ShowerModel

from .features import PointScaler
from .flow import ShowerFlow
from .pointnet import ROW_BLOCK, PointwiseNet
from .recipe import Recipe

__all__ = ["FlowPointModel", "load_module_state", "shower_generators", "per_shower_normal"]


def shower_generators(seeds) -> list[torch.Generator]:
    """One CPU ``torch.Generator`` per shower seed (:mod:`calozoo.seeding`)."""
    return [torch.Generator().manual_seed(int(s)) for s in np.asarray(seeds, dtype=np.uint64).reshape(-1)]


def per_shower_normal(generators: list[torch.Generator], counts, width: int) -> torch.Tensor:
    """``(sum counts, width)`` standard normals, the rows of shower ``i`` drawn from ``generators[i]``."""
    parts = [torch.randn(int(n), width, generator=g) for g, n in zip(generators, counts)]
    return torch.cat(parts, 0) if parts else torch.zeros(0, width)


def per_shower_uniform(generators: list[torch.Generator], counts) -> torch.Tensor:
    """``(sum counts,)`` uniforms in ``[0, 1)``, shower ``i``'s drawn from ``generators[i]``."""
    parts = [torch.rand(int(n), generator=g) for g, n in zip(generators, counts)]
    return torch.cat(parts, 0) if parts else torch.zeros(0)


class FlowPointModel(ShowerModel):
    """What every flow + point-network model shares (see the module docstring).

    A subclass sets :attr:`recipe_type` and :attr:`shipped`, implements :meth:`generate`,
    :meth:`calibration_config` (its calibration, saved in the config) and :meth:`from_parts`.
    """

    recipe_type: ClassVar[type[Recipe]]
    #: the folder of the trained weights inside the installed plugin
    shipped: ClassVar[Path]
    #: further shipped weights by variant name (e.g. ``{"endcap": folder}``); the default
    #: variant, :attr:`default_variant`, is :attr:`shipped`
    variants: ClassVar[dict[str, Path]] = {}
    default_variant: ClassVar[str | None] = None

    flow: ShowerFlow
    net: PointwiseNet
    scaler: PointScaler
    recipe: Recipe
    extrapolate: bool
    training: dict[str, Any]
    #: evaluate per-shower networks in fixed blocks of rows (bit-identical for any batch size)
    batch_invariant: bool = False

    @property
    def row_block(self) -> int:
        """Rows per block of the per-shower networks: :data:`~.pointnet.ROW_BLOCK` when batch
        invariant, else 0 (the whole batch in one product, fastest)."""
        return ROW_BLOCK if self.batch_invariant else 0

    def _same_settings(self, other: FlowPointModel) -> FlowPointModel:
        """``other`` (a copy with new calibration) with this model's evaluation settings."""
        other.batch_invariant = self.batch_invariant
        return other

    def parts_config(self) -> dict[str, Any]:
        """The config of the shared parts: flow settings, network widths, point scaler, recipe."""
        return {
            "flow": self.flow.settings,
            "net": {"widths": list(self.net.widths), "context_features": self.net.context_features},
            "scaler": self.scaler.to_dict(),
            "recipe": self.recipe.to_dict(),
        }

    def calibration_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**self.parts_config(), **self.calibration_config(), "training": self.training}

    @classmethod
    def from_parts(cls, flow, net, scaler, recipe, config: dict[str, Any], extrapolate: bool = False):
        raise NotImplementedError

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, np.ndarray], extrapolate: bool = False):
        try:
            flow = ShowerFlow(**config["flow"])
            net = PointwiseNet(tuple(config["net"]["widths"]), config["net"]["context_features"])
            load_module_state(flow, "flow", tensors)
            load_module_state(net, "net", tensors)
            scaler = PointScaler(config["scaler"]["mean"], config["scaler"]["std"])
            recipe = cls.recipe_type().restore(config.get("recipe"))
            return cls.from_parts(flow, net, scaler, recipe, config, extrapolate)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelFolderError(
                f"saved {cls.name} does not fit this version's architecture: {err}"
            ) from err

    def get_tensors(self) -> dict[str, Any]:
        tensors = {f"flow.{k}": v for k, v in self.flow.state_dict().items()}
        tensors.update({f"net.{k}": v for k, v in self.net.state_dict().items()})
        return tensors

    @classmethod
    def load(cls, path: str | os.PathLike, extrapolate: bool = False, batch_invariant: bool = False):
        from calozoo.serialization import load_folder

        config, tensors = load_folder(path, expected=cls)
        model = cls.from_saved(config, tensors, extrapolate=extrapolate)
        model.batch_invariant = bool(batch_invariant)
        return model

    @classmethod
    def load_pretrained(
        cls,
        path: str | os.PathLike | None = None,
        extrapolate: bool = False,
        batch_invariant: bool = False,
        variant: str | None = None,
    ):
        """The weights in ``path``, or those shipped in the plugin (:attr:`shipped`, or the
        :attr:`variants` folder of ``variant``) when ``None``.

        ``extrapolate``: accept energies beyond the training range, at the user's risk;
        ``batch_invariant``: showers bit-identical for any batch size (slower, see the module).
        """
        if path is not None and variant is not None:
            raise ModelFolderError(
                f"give a saved folder or a shipped variant of {cls.name}, not both "
                f"(variant {variant!r} with {str(path)!r})"
            )
        if variant is not None and variant != cls.default_variant and variant not in cls.variants:
            known = [v for v in (cls.default_variant, *cls.variants) if v]
            raise ModelFolderError(f"{cls.name} has no variant {variant!r}; its variants are {known}")
        shipped = cls.variants.get(variant, cls.shipped) if variant else cls.shipped
        folder = shipped if path is None else Path(path)
        if path is None and not (folder / "config.json").exists():
            raise ModelFolderError(
                f"the shipped {cls.name} weights are missing from {str(folder)!r}; "
                f"reinstall calozoo-{cls.name}"
            )
        return cls.load(folder, extrapolate=extrapolate, batch_invariant=batch_invariant)


def load_module_state(module: torch.nn.Module, prefix: str, tensors: dict[str, np.ndarray]) -> None:
    """Load the ``prefix.*`` tensors into ``module``, refusing missing or unexpected names."""
    state = {
        k[len(prefix) + 1 :]: torch.as_tensor(np.asarray(v))
        for k, v in tensors.items()
        if k.startswith(prefix + ".")
    }
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{prefix} weights: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
