"""calozoo: a zoo of generative models for fast calorimeter shower simulation.

>>> import calozoo
>>> [r.name for r in calozoo.list_models()]          # doctest: +SKIP
['toyflow', ...]
>>> model = calozoo.load("toyflow")                  # doctest: +SKIP
>>> showers = model.sample(energy=[10, 50], direction=[0, 0, 1], seed=1)  # doctest: +SKIP

Importing calozoo is cheap: listing what is installed never imports torch or numpy; the heavy
parts load on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import (
    CalozooError,
    FileFormatError,
    InvalidConditionError,
    ModelFolderError,
    PluginLoadError,
    UnknownNameError,
)
from .hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from .interfaces import Calibrator, Geometry, ShowerModel
    from .registry import PluginInfo, Registration

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "hookimpl",
    "load",
    "geometry",
    "calibrator",
    "list_models",
    "list_geometries",
    "list_calibrators",
    "plugins",
    "read_showers",
    "write_showers",
    "Showers",
    "ShowerModel",
    "Geometry",
    "Calibrator",
    "Conditions",
    "CalozooError",
    "FileFormatError",
    "InvalidConditionError",
    "ModelFolderError",
    "PluginLoadError",
    "UnknownNameError",
]

# Lazily imported attributes (PEP 562): name -> module that defines it.
_LAZY = {
    "Showers": "calozoo.showers",
    "ShowerModel": "calozoo.interfaces",
    "Geometry": "calozoo.interfaces",
    "Calibrator": "calozoo.interfaces",
    "CellHits": "calozoo.interfaces",
    "Conditions": "calozoo.conditions",
    "read_showers": "calozoo.io",
    "write_showers": "calozoo.io",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'calozoo' has no attribute {name!r}")


def _registry():
    from .registry import get_registry

    return get_registry()


def list_models() -> list[Registration]:
    """Installed shower models (cheap metadata; nothing heavy is imported)."""
    return _registry().registrations("model")


def list_geometries() -> list[Registration]:
    """Installed geometries."""
    return _registry().registrations("geometry")


def list_calibrators() -> list[Registration]:
    """Installed calibrators."""
    return _registry().registrations("calibrator")


def plugins() -> list[PluginInfo]:
    """Every discovered plugin with its version, status and error (what ``calozoo doctor`` shows)."""
    return list(_registry().plugins.values())


def _create(kind: str, name: str, expected: type, **options: Any):
    from .options import OptionError, check_option_names

    registration = _registry().get(kind, name)
    check_option_names(f"{kind} {name!r}", registration.resolve(), options)
    user_options = {k: v for k, v in options.items() if k not in ("path", "variant") or v is not None}
    try:
        made = registration.create(**options)
    except CalozooError:
        raise
    except TypeError as err:
        if not user_options:
            raise PluginLoadError(f"{kind} {name!r}: its factory failed: TypeError: {err}") from err
        raise OptionError(f"{kind} {name!r} refused the options {sorted(user_options)}: {err}") from err
    except Exception as err:  # the plugin's own failure, reported as such (no traceback in the CLI)
        raise PluginLoadError(
            f"{kind} {name!r} (plugin {registration.plugin!r}): its factory {registration.factory!r} "
            f"failed: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(made, expected):
        raise PluginLoadError(
            f"the factory {registration.factory!r} of {kind} {name!r} returned "
            f"a {type(made).__name__}, not a calozoo.{expected.__name__}"
        )
    return made


def load(
    name: str, path: str | os.PathLike | None = None, *, variant: str | None = None, **options: Any
) -> ShowerModel:
    """Load the model registered as ``name``.

    Args:
        name: a registered model name (``calozoo list-models``).
        path: a folder saved by ``model.save(path)``; ``None`` loads the weights the plugin ships.
        variant: one of the model's registered variants, if it has several.
        **options: passed to the plugin's factory.

    Raises:
        UnknownNameError: no installed plugin registered ``name`` (the message lists close matches).
    """
    from .interfaces import ShowerModel

    if variant is not None:
        variants = _registry().get("model", name).variants
        if variant not in variants:
            raise ValueError(
                f"model {name!r} has no variant {variant!r}; its variants are {list(variants) or 'none'}"
            )
        options["variant"] = variant
    return _create("model", name, ShowerModel, path=path, **options)


def geometry(name: str, **options: Any) -> Geometry:
    """Build the geometry registered as ``name`` (``calozoo list-geometries``)."""
    from .interfaces import Geometry

    return _create("geometry", name, Geometry, **options)


def calibrator(name: str, **options: Any) -> Calibrator:
    """Build an (unfitted) calibrator registered as ``name``."""
    from .interfaces import Calibrator

    return _create("calibrator", name, Calibrator, **options)
