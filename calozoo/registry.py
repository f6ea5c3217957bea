"""The plugin registry: discovers plugins through entry points and collects their registrations.

Discovery imports only the plugin modules named by entry points in the group ``calozoo`` (they
must be light: no torch at module level) and calls their registration hooks. Every registered
thing is cheap metadata plus a factory import string, resolved on first use. A plugin that
fails to import, or whose hook raises, is recorded as broken with its error and never hides
the others.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import AmbiguousNameError, PluginLoadError, UnknownNameError

__all__ = ["Registration", "PluginInfo", "Registry", "get_registry", "KINDS", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "calozoo"
BUILTIN_PLUGIN = "calozoo"

#: kind -> name of the hook that registers it
KINDS = {
    "model": "calozoo_register_models",
    "geometry": "calozoo_register_geometries",
    "calibrator": "calozoo_register_calibrators",
    "command": "calozoo_register_commands",
}


@dataclass(frozen=True)
class Registration:
    """One registered model, geometry or calibrator: metadata and a lazily imported factory."""

    kind: str
    name: str
    factory: str
    plugin: str
    summary: str = ""
    variants: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def resolve(self) -> Callable[..., Any]:
        """Import the factory (this is where heavy imports such as torch happen)."""
        module_name, _, attribute = self.factory.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except Exception as err:
            raise PluginLoadError(
                f"{self.kind} {self.name!r} (plugin {self.plugin!r}): cannot import its factory "
                f"{self.factory!r}: {type(err).__name__}: {err}"
            ) from err
        return target

    def create(self, *args: Any, **kwargs: Any) -> Any:
        """Import and call the factory."""
        return self.resolve()(*args, **kwargs)

    @property
    def qualified_name(self) -> str:
        """``plugin:name``: the name that stays unique when two plugins register one name."""
        return f"{self.plugin}:{self.name}"

    def __str__(self) -> str:
        return self.name


@dataclass
class PluginInfo:
    """What ``calozoo doctor`` reports about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    registered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        return "ok" if self.ok else "broken"


def _unknown_hooks(plugin: Any) -> list[str]:
    """A ``calozoo_*`` attribute marked as a hook that no hook specification has: a typo, say so."""
    known = set(KINDS.values()) | {n for n in dir(hookspecs) if n.startswith("calozoo_")}
    problems = []
    for attribute in dir(plugin):
        if not attribute.startswith("calozoo_") or attribute in known:
            continue
        if getattr(getattr(plugin, attribute, None), f"{hookspecs.PROJECT}_impl", None) is None:
            continue  # not marked with @calozoo.hookimpl: not meant as a hook
        close = difflib.get_close_matches(attribute, sorted(known), n=1)
        problems.append(
            f"{attribute} is not a calozoo hook"
            + (f" (did you mean {close[0]}?)" if close else "")
            + f"; the hooks are {', '.join(sorted(KINDS.values()))}"
        )
    return problems


def _check_factory(factory: Any) -> str:
    if not isinstance(factory, str) or factory.count(":") != 1 or not all(factory.split(":")):
        raise ValueError(
            f"factory must be an import string 'package.module:callable' (so that listing stays "
            f"cheap), got {factory!r}"
        )
    return factory


class Registry:
    """Models, geometries and calibrators registered by the installed plugins."""

    def __init__(self) -> None:
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.problems: list[str] = []
        # kind -> name -> every registration of that name (more than one: an ambiguous name)
        self._things: dict[str, dict[str, list[Registration]]] = {kind: {} for kind in KINDS}

    # ------------------------------------------------------------------ discovery
    def discover(self, entry_points: bool = True) -> Registry:
        """Register the built-ins, then every plugin named by an entry point in group ``calozoo``."""
        from . import builtins

        self.add_plugin(builtins, BUILTIN_PLUGIN, distribution="calozoo")
        if entry_points:
            for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                self._load_entry_point(ep)
        return self

    def _load_entry_point(self, ep: metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
        )
        if ep.name in self.plugins:
            self.problems.append(
                f"plugin name {ep.name!r} is used by two entry points; "
                f"kept {self.plugins[ep.name].module}, ignored {ep.value}"
            )
            return
        try:
            # A plugin that prints on import must not corrupt calozoo's own output (--json).
            with contextlib.redirect_stdout(sys.stderr):
                module = ep.load()
        except BaseException as err:  # a plugin's import must never take calozoo down with it
            if isinstance(err, KeyboardInterrupt):
                raise
            info.error = f"import failed: {type(err).__name__}: {err}"
            self.plugins[ep.name] = info
            return
        self.add_plugin(module, ep.name, info=info)

    def add_plugin(
        self,
        plugin: ModuleType | object,
        name: str,
        *,
        distribution: str | None = None,
        info: PluginInfo | None = None,
    ) -> PluginInfo:
        """Register a plugin object (a module with hook implementations) and collect what it registers."""
        if info is None:
            version = None
            if distribution:
                try:
                    version = metadata.version(distribution)
                except metadata.PackageNotFoundError:
                    version = None
            module = getattr(plugin, "__name__", type(plugin).__name__)
            info = PluginInfo(name=name, module=module, distribution=distribution, version=version)
        self.plugins[name] = info
        try:
            self.plugin_manager.register(plugin, name=name)
        except Exception as err:
            info.error = f"invalid hook implementations: {type(err).__name__}: {err}"
            return info
        typos = _unknown_hooks(plugin)
        if typos:
            info.error = "; ".join(typos)
        for kind, hook_name in KINDS.items():
            hook = getattr(self.plugin_manager.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin_name != name:
                    continue
                try:
                    impl.function(register=self._register_callback(kind, name, info))
                except Exception as err:
                    info.error = f"{hook_name} raised {type(err).__name__}: {err}"
        return info

    def _register_callback(self, kind: str, plugin: str, info: PluginInfo) -> Callable[..., None]:
        def register(name: str, factory: str, *, summary: str = "", variants=(), **meta: Any) -> None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
            if ":" in name:
                raise ValueError(f"{kind} name {name!r} must not contain ':' (it separates plugin:name)")
            registration = Registration(
                kind, name, _check_factory(factory), plugin, summary, tuple(variants), dict(meta)
            )
            same = self._things[kind].setdefault(name, [])
            if any(r.plugin == plugin for r in same):
                raise ValueError(f"{kind} {name!r} is registered twice by plugin {plugin!r}")
            same.append(registration)
            if len(same) > 1:
                # Never resolved silently: the plain name is refused until the user picks one.
                self.problems.append(
                    f"{kind} {name!r} is registered by {' and '.join(repr(r.plugin) for r in same)}; "
                    f"the plain name is refused, use {' or '.join(r.qualified_name for r in same)}"
                )
            info.registered.append(f"{kind}:{name}")

        return register

    # ------------------------------------------------------------------ look-up
    def names(self, kind: str) -> list[str]:
        """Every name of ``kind``; a name two plugins registered appears as each ``plugin:name``."""
        return sorted(
            r.name if len(same) == 1 else r.qualified_name
            for same in self._things[kind].values()
            for r in same
        )

    def registrations(self, kind: str) -> list[Registration]:
        """Every registration of ``kind``, sorted by name and plugin."""
        return sorted(
            (r for same in self._things[kind].values() for r in same), key=lambda r: (r.name, r.plugin)
        )

    def is_ambiguous(self, kind: str, name: str) -> bool:
        """Whether two or more plugins registered ``name`` as ``kind``."""
        return len(self._things[kind].get(name, ())) > 1

    def get(self, kind: str, name: str) -> Registration:
        """The registration of ``name`` or ``plugin:name``.

        Raises:
            AmbiguousNameError: two plugins registered ``name`` (the message names both and
                their qualified names).
            UnknownNameError: no plugin registered it (the message lists close matches).
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
        things = self._things[kind]
        plugin, sep, plain = str(name).rpartition(":")
        if sep:
            for registration in things.get(plain, ()):
                if registration.plugin == plugin:
                    return registration
        elif name in things:
            same = things[name]
            if len(same) > 1:
                raise AmbiguousNameError(kind, name, [r.plugin for r in same])
            return same[0]
        known = self.names(kind)
        lowered = {k.lower(): k for k in known}
        suggestions = [
            lowered[m] for m in difflib.get_close_matches(str(name).lower(), lowered, n=3, cutoff=0.5)
        ]
        raise UnknownNameError(kind, name, known, suggestions)

    def find(self, name: str) -> Registration:
        """Look ``name`` (or ``plugin:name``) up among all kinds (models first)."""
        plain = str(name).rpartition(":")[2]
        for kind in KINDS:
            if plain in self._things[kind]:
                return self.get(kind, name)
        everything = sorted({n for kind in KINDS for n in self.names(kind)})
        suggestions = difflib.get_close_matches(name, everything, n=3, cutoff=0.5)
        raise UnknownNameError("name", name, everything, suggestions)


_REGISTRY: Registry | None = None


def get_registry(refresh: bool = False) -> Registry:
    """The process-wide registry, discovered on first use (``refresh=True`` rediscovers)."""
    global _REGISTRY
    if _REGISTRY is None or refresh:
        if refresh:
            importlib.invalidate_caches()
        _REGISTRY = Registry().discover()
    return _REGISTRY
