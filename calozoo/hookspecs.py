"""The pluggy hook specifications a calozoo plugin implements.

A plugin is a module named by an entry point in the group ``calozoo``::

    [project.entry-points.calozoo]
    myplugin = "my_package.plugin"

and implements any of these hooks with ``@calozoo.hookimpl``. Each receives a ``register``
callback; call it once per thing, with cheap metadata and a *lazily imported* factory given as
an import string, so that listing never imports torch::

    @calozoo.hookimpl
    def calozoo_register_models(register):
        register("mymodel", "my_package.model:load_pretrained",
                 summary="what it is", energy_gev=(1, 100))
"""

from __future__ import annotations

import pluggy

__all__ = [
    "hookspec",
    "hookimpl",
    "PROJECT",
    "calozoo_register_models",
    "calozoo_register_geometries",
    "calozoo_register_calibrators",
]

PROJECT = "calozoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def calozoo_register_models(register):
    """Register shower models: ``register(name, factory, *, summary="", variants=(), **metadata)``.

    ``factory`` is ``"module:callable"``; calling it (with ``path=`` a saved folder or ``None``
    for shipped weights, plus user options) returns a :class:`calozoo.ShowerModel`.
    """


@hookspec
def calozoo_register_geometries(register):
    """Register geometries: ``register(name, factory, *, summary="", **metadata)``.

    Calling the factory with no arguments returns a :class:`calozoo.Geometry`.
    """


@hookspec
def calozoo_register_calibrators(register):
    """Register calibrators: ``register(name, factory, *, summary="", **metadata)``.

    Calling the factory (with options) returns an unfitted :class:`calozoo.Calibrator`.
    """


@hookspec
def calozoo_register_commands(register):
    """Register CLI sub-commands: ``register(name, "module:command", *, summary="")``.

    ``command`` is a ``click.Command`` object, imported only when the sub-command runs;
    ``summary`` is what ``calozoo --help`` shows without importing it. ``name`` is a new
    sub-command (``"evaluate"``), or ``"VERB MODEL"`` for a model's own sub-command that the
    core's ``calozoo VERB MODEL ...`` hands the rest of the line to (``"train caloclouds3"``,
    ``"import caloclouds3"``). This hook is the one way a plugin adds a command.
    """
