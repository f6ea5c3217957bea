"""Atomic file writes and the model folder format (JSON config + safetensors weights).

A saved model, geometry or calibrator is a folder::

    my-model/
        config.json        {"class": "package.module:ClassName", "format": 1,
                            "calozoo_version": "...", "config": {...}}
        weights.safetensors   named float/int tensors (optional)

Loading checks the class name before anything else, so a folder of one model never loads
silently into another. Nothing is unpickled, ever.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import ModelFolderError

__all__ = [
    "atomic_path",
    "atomic_folder",
    "save_folder",
    "load_folder",
    "class_path",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
FORMAT_VERSION = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    An interrupted write leaves no file at ``path`` (or the previous one untouched), never a
    truncated file that looks complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); a result file gets the user's usual permissions.
    tmp_path.chmod(0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_path` for a folder: fill the yielded folder, then it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        # mkdtemp makes the folder private (0700); shipped weights must be readable by others.
        mask = _umask()
        tmp.chmod(0o777 & ~mask)
        for child in tmp.rglob("*"):
            child.chmod((0o777 if child.is_dir() else 0o666) & ~mask)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def class_path(cls: type) -> str:
    """``"module:QualName"`` of a class, the identity written into and checked on saved folders."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _to_numpy(value: Any):
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(value)


def save_folder(
    path: str | os.PathLike,
    cls: type | str,
    config: Mapping[str, Any],
    tensors: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``config`` (JSON-serialisable) and ``tensors`` (numpy arrays or torch tensors)."""
    from safetensors.numpy import save_file

    from . import __version__

    header = {
        "class": cls if isinstance(cls, str) else class_path(cls),
        "format": FORMAT_VERSION,
        "calozoo_version": __version__,
        "config": dict(config),
    }
    text = json.dumps(header, indent=2, sort_keys=True)
    with atomic_folder(path) as tmp:
        (tmp / CONFIG_NAME).write_text(text + "\n")
        if tensors:
            save_file({k: _to_numpy(v) for k, v in tensors.items()}, str(tmp / WEIGHTS_NAME))
    return Path(path)


def load_folder(path: str | os.PathLike, expected: type | str | None = None) -> tuple[dict, dict]:
    """Read a folder written by :func:`save_folder`: returns ``(config, tensors)``.

    Raises :class:`~calozoo.errors.ModelFolderError` if the folder is missing, the JSON or the
    weights are corrupt, or it holds a different class than ``expected``.
    """
    path = Path(path)
    config_file = path / CONFIG_NAME
    if not path.is_dir():
        raise ModelFolderError(f"{path}: not a folder; a saved model is a folder holding {CONFIG_NAME}")
    if not config_file.is_file():
        raise ModelFolderError(f"{path}: no {CONFIG_NAME} in this folder; is it a saved calozoo model?")
    try:
        header = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFolderError(f"{config_file}: corrupt JSON ({err})") from None
    if not isinstance(header, dict) or "class" not in header or "config" not in header:
        raise ModelFolderError(f"{config_file}: expected the keys 'class' and 'config'")
    if header.get("format", FORMAT_VERSION) > FORMAT_VERSION:
        raise ModelFolderError(
            f"{config_file}: format {header['format']} is newer than this calozoo reads "
            f"({FORMAT_VERSION}); upgrade calozoo"
        )
    if expected is not None:
        want = expected if isinstance(expected, str) else class_path(expected)
        if header["class"] != want:
            raise ModelFolderError(f"{path}: holds a {header['class']}, not a {want}")
    tensors: dict = {}
    weights = path / WEIGHTS_NAME
    if weights.exists():
        from safetensors.numpy import load_file

        try:
            tensors = load_file(str(weights))
        except Exception as err:  # safetensors raises its own error types for corrupt files
            raise ModelFolderError(f"{weights}: corrupt weights file ({err})") from None
    return header["config"], tensors
