"""The exceptions calozoo raises, so callers can catch them by meaning."""

from __future__ import annotations

__all__ = [
    "CalozooError",
    "InvalidConditionError",
    "FileFormatError",
    "UnknownNameError",
    "AmbiguousNameError",
    "PluginLoadError",
    "ModelFolderError",
    "OutputError",
    "OutputBusyError",
]


class CalozooError(Exception):
    """Base class of every error calozoo raises on purpose."""


class InvalidConditionError(CalozooError, ValueError):
    """Incident conditions (energy, direction, particle) a model does not accept."""


class FileFormatError(CalozooError, ValueError):
    """A shower file that is missing a key, has a wrong shape or holds invalid values.

    The message always names the file, the key and the problem.
    """

    def __init__(self, path, key: str | None, problem: str):
        self.path = str(path)
        self.key = key
        self.problem = problem
        where = f"{self.path}" + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {problem}")


class UnknownNameError(CalozooError, KeyError):
    """A model, geometry or calibrator name that no installed plugin registered."""

    def __init__(self, kind: str, name: str, known: list[str], suggestions: list[str]):
        self.kind = kind
        self.name = name
        self.known = known
        self.suggestions = suggestions
        plural = {"geometry": "geometries"}.get(kind, f"{kind}s")
        message = f"unknown {kind} {name!r}."
        if suggestions:
            message += " Did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
        if known:
            message += f" Installed {plural}: {', '.join(known)}."
        else:
            message += f" No {plural} are installed."
        message += " Run `calozoo doctor` to see plugins that failed to load."
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return self.args[0]


class AmbiguousNameError(CalozooError, KeyError):
    """A name that two or more installed plugins registered: refused until the user picks one."""

    def __init__(self, kind: str, name: str, plugins: list[str]):
        self.kind = kind
        self.name = name
        self.plugins = plugins
        super().__init__(
            f"{kind} {name!r} is registered by {len(plugins)} plugins "
            f"({', '.join(repr(p) for p in plugins)}); say which one: "
            + " or ".join(f"{p}:{name}" for p in plugins)
        )

    def __str__(self) -> str:
        return self.args[0]


class PluginLoadError(CalozooError, ImportError):
    """A registered factory could not be imported or called."""


class ModelFolderError(CalozooError, ValueError):
    """A saved model folder that is missing, corrupt or holds a different model class."""


class OutputError(CalozooError, OSError):
    """An output calozoo refuses to write, because writing it would delete what calozoo did not write.

    The output exists and is not a calozoo output of the kind being written (a folder holding
    other files, a file another program wrote, a saved model where a report is to go). The
    message names the output and what it holds; nothing was changed.
    """


class OutputBusyError(OutputError):
    """An output that another calozoo process (or writer) is writing at this moment."""
