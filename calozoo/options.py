"""Options for a plugin's factory, checked and typed from the factory's own signature.

``calozoo generate -O extrapolate=no`` must switch extrapolation *off*: a value given as text is
converted to the type the factory declares (``bool``, ``int``, ``float``, ``str``, or ``None``
for an optional one), and an option the factory does not take is an error that lists those it
does. Python callers pass typed values; their names are checked the same way.
"""

from __future__ import annotations

import inspect
import json
import math
import typing
from collections.abc import Callable, Mapping
from typing import Any

from .errors import CalozooError

__all__ = ["OptionError", "factory_options", "check_option_names", "parse_option_values", "split_options"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
#: Parameters every factory takes that are not user options.
_RESERVED = {"path", "variant"}


class OptionError(CalozooError, ValueError):
    """An option a factory does not take, or a value that is not of its type."""


def split_options(options, flag: str = "--option") -> dict[str, str]:
    """``("per_layer=true",)`` -> ``{"per_layer": "true"}``, values still text (typed later by
    :func:`parse_option_values`); a malformed or repeated key is a ``click.UsageError`` naming ``flag``."""
    import click

    parsed: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.isidentifier():
            raise click.UsageError(f"{flag} takes KEY=VALUE with KEY a name, got {option!r}")
        if key in parsed:
            raise click.UsageError(f"{flag} {key} given twice")
        parsed[key] = value
    return parsed


def factory_options(factory: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """The factory's options (name -> parameter), their resolved types, and whether it takes ``**kwargs``."""
    signature = inspect.signature(factory)
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # an annotation that cannot be resolved: fall back to the defaults' types
        hints = {}
    params, any_keyword = {}, False
    for name, param in signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            any_keyword = True
        elif param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            if name not in _RESERVED:
                params[name] = param
    types = {}
    for name, param in params.items():
        hint = hints.get(name, inspect.Parameter.empty)
        if hint is inspect.Parameter.empty and param.default not in (inspect.Parameter.empty, None):
            hint = type(param.default)
        types[name] = hint
    return params, types, any_keyword


def _describe(params: Mapping[str, inspect.Parameter], types: Mapping[str, Any]) -> str:
    if not params:
        return "it takes no options"
    parts = []
    for name, param in params.items():
        hint = types[name]
        type_name = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
        default = "" if param.default is inspect.Parameter.empty else f", default {param.default!r}"
        parts.append(f"{name} ({type_name}{default})")
    return "it takes " + ", ".join(parts)


def check_option_names(what: str, factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Raise :class:`OptionError` for an option ``factory`` does not take, listing those it does."""
    params, types, any_keyword = factory_options(factory)
    unknown = [name for name in options if name not in params and name not in _RESERVED]
    if unknown and not any_keyword:
        raise OptionError(
            f"{what} has no option {', '.join(repr(u) for u in unknown)}; {_describe(params, types)}"
        )


def _convert(text: str, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in arguments:
        if text.strip().lower() in ("none", "null", ""):
            return None
        rest = [a for a in arguments if a is not type(None)]
        return _convert(text, rest[0] if len(rest) == 1 else Any, key)
    if hint is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise OptionError(f"option {key}: expected true or false (yes/no, on/off, 1/0), got {text!r}")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise OptionError(f"option {key}: expected a whole number, got {text!r}") from None
    if hint is float:
        try:
            value = float(text)
        except ValueError:
            raise OptionError(f"option {key}: expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise OptionError(f"option {key}: expected a finite number, got {text!r}")
        return value
    if hint is str:
        return text
    try:  # no usable type: a JSON value if it is one, else the text
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_option_values(what: str, factory: Callable[..., Any], options: Mapping[str, str]) -> dict[str, Any]:
    """``{"extrapolate": "no"}`` -> ``{"extrapolate": False}``, typed by ``factory``'s signature.

    Raises:
        OptionError: an option the factory does not take (the message lists those it does), or
            a value that is not of the option's type.
    """
    check_option_names(what, factory, options)
    _, types, _ = factory_options(factory)
    return {key: _convert(value, types.get(key, Any), key) for key, value in options.items()}
