"""Atomic, single-writer outputs, and the model folder format (JSON config + safetensors weights).

A saved model, geometry or calibrator is a folder::

    my-model/
        config.json        {"class": "package.module:ClassName", "format": 1,
                            "calozoo_version": "...", "config": {...}}
        weights.safetensors   named float/int tensors (optional; weights of more than
                              16 MiB go into weights-00001-of-0000K.safetensors, ... instead)

Loading checks the class name before anything else, so a folder of one model never loads
silently into another. Nothing is unpickled, ever.

Every output calozoo writes, file or folder, follows one policy (:func:`atomic_path`,
:func:`atomic_folder`):

- it is written under a temporary name beside the output and renamed onto it only once it is
  complete: an interrupted write leaves the previous output untouched;
- an existing output is replaced only when it is a calozoo output of the same kind (a shower
  file by a shower file, a saved ``ToyFlow`` by a saved ``ToyFlow``, a report by a report), or
  an empty file or folder; anything else (a folder holding files calozoo did not write, a file
  another program wrote, a calozoo output of another kind) is refused with
  :class:`~calozoo.errors.OutputError` and left as it was. Nothing calozoo did not write is
  ever deleted;
- one writer per output: a writer holds the lock file ``.NAME.lock`` beside the output while it
  writes, and a second writer is refused at once with :class:`~calozoo.errors.OutputBusyError`.
  The lock is released at the end, also on errors and Ctrl-C; one left behind by a killed
  process is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import glob
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import ModelFolderError, OutputBusyError, OutputError

try:  # POSIX: the kernel drops a lock with the process that held it, however it ended
    import fcntl
except ImportError:  # pragma: no cover - Windows: a lock file holding the writer's pid
    fcntl = None

__all__ = [
    "atomic_path",
    "atomic_folder",
    "output_lock",
    "check_file_replaceable",
    "check_folder_replaceable",
    "folder_kind",
    "save_folder",
    "load_folder",
    "class_path",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "REPORT_KIND",
    "CHECKPOINT_KIND",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
#: The largest weights file a save writes: bigger weights go into ``weights-00001-of-0000K.safetensors``
#: files of at most this size (each whole tensors), so that every file fits where single files are
#: limited (16 MiB: what a GPU job may send back). A single tensor larger than it has a file of its own.
MAX_WEIGHTS_FILE_BYTES = 16 * 2**20
_SHARD_PATTERN = "weights-*-of-*.safetensors"
FORMAT_VERSION = 1

#: The kind of an evaluation report folder (``results.json``, ``index.md``, ``index.html``, ``plots/``).
REPORT_KIND = "evaluation report"
#: The kind of a training checkpoint folder (``state.json``, ``tensors.safetensors``).
CHECKPOINT_KIND = "training checkpoint"
# What calozoo writes into each kind of folder (paths relative to the folder, fnmatch patterns);
# a saved object's kind is its class path. Anything else in an existing folder is someone
# else's, and keeps calozoo from replacing the folder.
_SAVED = "saved"
_FOLDER_FILES = {
    _SAVED: (CONFIG_NAME, WEIGHTS_NAME, _SHARD_PATTERN),
    REPORT_KIND: ("results.json", "index.md", "index.html", "plots", "plots/*.png"),
    CHECKPOINT_KIND: ("state.json", "tensors.safetensors"),
}
_LISTED = 5  # foreign entries named in a refusal


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------------- one writer
def _busy(shown: str | os.PathLike, pid: int | None, lock: Path | None = None) -> OutputBusyError:
    who = "another calozoo process" + (f" (pid {pid})" if pid is not None else "")
    hint = f" (if no calozoo process is writing it, remove {lock})" if lock is not None else ""
    return OutputBusyError(f"{shown} is being written by {who}; wait for it or choose another output{hint}")


def _read_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, run by another user
        return True
    return True


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())


def _lock_flock(lock: Path, shown) -> int | None:
    """Take ``lock`` with flock; ``None`` where the file system cannot lock files."""
    for _ in range(100):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(shown, _read_pid(lock)) from None
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                return None
            raise
        except BaseException:
            os.close(fd)
            raise
        # The writer before us removes the file as it finishes: lock the file that is there now.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            try:
                _write_pid(fd)
            except BaseException:
                os.close(fd)
                raise
            return fd
        os.close(fd)
    raise _busy(shown, _read_pid(lock))  # pragma: no cover - a hundred writers racing


def _lock_exclusive(lock: Path, shown) -> int:
    """Take ``lock`` by creating it (O_EXCL); a lock whose pid no longer runs is stale and taken over."""
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            pid = _read_pid(lock)
            if pid is None or _alive(pid):
                raise _busy(shown, pid, lock) from None
            with contextlib.suppress(FileNotFoundError):  # stale: its writer was killed
                lock.unlink()
            continue
        try:
            _write_pid(fd)
        except BaseException:
            os.close(fd)
            lock.unlink()
            raise
        return fd
    raise _busy(shown, _read_pid(lock), lock)


def _make_parent(path: Path) -> None:
    """Create the folder an output goes into, or say plainly why it cannot be (naming the output)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"{path}: its folder {path.parent} cannot be created ({err.strerror}); nothing was written"
        ) from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: its folder {path.parent} is not writable; nothing was written")


def remove_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary ``.NAME.*.partial`` files and folders a killed writer left beside ``path``.

    Only the holder of ``path``'s :func:`output_lock` writes them, so once it is held any that
    exist were left by a writer killed with ``kill -9`` (or a power cut). Nothing else is touched.
    """
    path = Path(path)
    removed = []
    # tempfile's names: the prefix, 8 random characters (no dots), the suffix
    for stale in path.parent.glob(f".{glob.escape(path.name)}.{'?' * 8}.partial"):
        if "." in stale.name[len(path.name) + 2 : -len(".partial")]:
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


@contextlib.contextmanager
def output_lock(path: str | os.PathLike, shown: str | os.PathLike | None = None) -> Iterator[Path]:
    """Hold the right to write the output ``path`` (a file or a folder) for the block.

    The lock is the file ``.NAME.lock`` beside ``path``, holding the writer's pid; it is removed
    at the end of the block, also on errors and Ctrl-C. One left by a process that no longer runs
    (killed with ``kill -9``) is stale and taken over.

    Raises:
        OutputBusyError: another writer (another process, or another writer in this one) holds it.
    """
    path = Path(path)
    shown = path if shown is None else shown
    lock = path.with_name(f".{path.name}.lock")
    fd = _lock_flock(lock, shown) if fcntl is not None else None
    if fd is None:
        fd = _lock_exclusive(lock, shown)
    try:
        yield lock
    finally:
        try:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # still holding it, so the next writer finds a fresh one
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------- what is there
def check_file_replaceable(
    path: str | os.PathLike, kind: str | None = None, recognise: Callable[[Path], bool] | None = None
) -> Path:
    """Refuse to write the file ``path`` where that would delete what calozoo did not write.

    A missing or empty file may be written. An existing one may be replaced only if
    ``recognise(path)`` says it is an output of ``kind`` (e.g. ``"a shower file written by
    calozoo"``); without ``recognise`` the caller vouches that whatever is there is its own.

    Raises:
        OutputError: ``path`` is a folder, a symbolic link, or a file ``recognise`` refuses.
    """
    path = Path(path)
    if path.is_symlink():
        raise OutputError(
            f"{path}: is a symbolic link (to {os.readlink(path)}); calozoo moves a finished file onto "
            "the name, which would replace the link, so nothing was changed: give the path it points "
            "to, or another output"
        )
    if not path.exists():
        return path
    if path.is_dir():
        raise OutputError(f"{path}: exists and is a folder; nothing was changed: give a file name")
    if recognise is None or path.stat().st_size == 0 or recognise(path):
        return path
    raise OutputError(
        f"{path}: exists and is not {kind or 'a file calozoo wrote'}; calozoo replaces only an output "
        "of the same kind that it wrote itself, so nothing was changed: delete it yourself if you no "
        "longer need it, or choose another output"
    )


def folder_kind(path: str | os.PathLike) -> str | None:
    """The kind of calozoo folder ``path`` is, or ``None`` for anything else.

    The class path (``"module:Class"``) of a folder written by :func:`save_folder` (its
    ``config.json`` names it), :data:`REPORT_KIND` for an evaluation report (it holds
    ``results.json``), :data:`CHECKPOINT_KIND` for a training checkpoint (``state.json`` and
    ``tensors.safetensors``).
    """
    path = Path(path)
    config = path / CONFIG_NAME
    if config.is_file():
        try:
            header = json.loads(config.read_text())
        except (OSError, ValueError):
            return None
        ok = isinstance(header, dict) and isinstance(header.get("class"), str) and "config" in header
        return header["class"] if ok else None
    if (path / "results.json").is_file():
        return REPORT_KIND
    if (path / "state.json").is_file() and (path / "tensors.safetensors").is_file():
        return CHECKPOINT_KIND
    return None


def _describe(kind: str | None) -> str:
    if kind is None:
        return "a folder of no kind calozoo knows"
    return f"a saved {kind}" if ":" in kind else f"a calozoo {kind}"


def _entries(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def _foreign(folder: Path, patterns: Iterable[str], known: set[str]) -> list[str]:
    """Entries of ``folder`` matching none of ``patterns`` nor ``known`` (a foreign folder counts once)."""
    patterns = tuple(patterns)

    def ours(rel: str) -> bool:
        return rel in known or any(fnmatch.fnmatchcase(rel, p) for p in patterns)

    found = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        for name in sorted(dirs):
            rel = (base / name).as_posix()
            if not ours(rel):
                found.append(rel + "/")
                dirs.remove(name)
        found.extend(rel for rel in ((base / n).as_posix() for n in files) if not ours(rel))
    return sorted(found)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def check_folder_replaceable(
    path: str | os.PathLike, kind: str | None = None, new: str | os.PathLike | None = None
) -> Path:
    """Refuse to write the folder ``path`` where that would delete what calozoo did not write.

    A missing or empty folder may be written. An existing one may be replaced only if it is a
    calozoo folder (:func:`folder_kind`) of ``kind`` (``None``: any kind, checked again once the
    new folder is written) holding nothing but what calozoo writes into that kind of folder.
    ``new`` is the finished new folder, whose entries count as calozoo's too.

    Raises:
        OutputError: ``path`` is a file or a link, holds files calozoo did not write, or is a
            calozoo folder of another kind. The message names the folder and what it holds.
    """
    path = Path(path)
    if path.is_symlink():
        raise OutputError(
            f"{path}: is a symbolic link (to {os.readlink(path)}); calozoo moves a finished folder onto "
            "the name, which would replace the link, so nothing was changed: give the folder it "
            "points to, or another output"
        )
    if not path.exists():
        return path
    if not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder; nothing was changed: choose another output")
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not entries:
        return path
    existing = folder_kind(path)
    if existing is None:
        raise OutputError(
            f"{path}: exists and holds files calozoo did not write ({_listing(entries)}); calozoo "
            "replaces only a folder it wrote itself, so nothing was changed: choose a new or empty folder"
        )
    if (new is not None or kind is not None) and existing != kind:
        raise OutputError(
            f"{path}: holds {_describe(existing)}, not {_describe(kind)}; calozoo replaces only a "
            "folder of the same kind, so nothing was changed: choose another folder (or delete this "
            "one yourself if you no longer need it)"
        )
    patterns = _FOLDER_FILES[_SAVED if ":" in existing else existing]
    foreign = _foreign(path, patterns, set() if new is None else _entries(Path(new)))
    if foreign:
        raise OutputError(
            f"{path}: holds {_describe(existing)} and also files calozoo did not write "
            f"({_listing(foreign)}); replacing it would delete them, so nothing was changed: move them "
            "elsewhere or choose another folder"
        )
    return path


# ---------------------------------------------------------------------------------- writers
@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, kind: str | None = None, recognise: Callable[[Path], bool] | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    An interrupted write leaves no file at ``path`` (or the previous one untouched), never a
    truncated file that looks complete. The output is locked while the block runs (see
    :func:`output_lock`), and an existing file is replaced only as :func:`check_file_replaceable`
    allows (``kind`` and ``recognise`` are passed on).

    Raises:
        OutputBusyError: another writer is writing ``path``.
        OutputError: ``path`` holds something that is not an output of ``kind``.
    """
    path = Path(path)
    _make_parent(path)
    with output_lock(path):
        check_file_replaceable(path, kind, recognise)
        remove_stale_partials(path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        except OSError as err:  # name the user's output, not the hidden temporary file
            raise OutputError(f"{path}: cannot be written ({err.strerror}); nothing was changed") from None
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            # mkstemp makes the file private (0600); a result file gets the user's usual permissions.
            tmp_path.chmod(0o666 & ~_umask())
            yield tmp_path
            check_file_replaceable(path, kind, recognise)  # again: it may have appeared meanwhile
            os.replace(tmp_path, path)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, kind: str | None = None) -> Iterator[Path]:
    """Like :func:`atomic_path` for a folder: fill the yielded folder, then it replaces ``path``.

    ``kind`` is the kind of calozoo folder being written (:func:`folder_kind`: the class path of
    a saved object, :data:`REPORT_KIND`, :data:`CHECKPOINT_KIND`); ``None`` takes it from the
    finished folder. An existing folder is replaced only as :func:`check_folder_replaceable`
    allows, checked before the block runs and again before the swap; the previous folder stays
    in place until the new one is complete.

    Raises:
        OutputBusyError: another writer is writing ``path``.
        OutputError: ``path`` exists and is not an empty folder or a calozoo folder of ``kind``.
    """
    shown = Path(path)
    path = Path(os.path.abspath(path))
    _make_parent(path)
    with output_lock(path, shown):
        check_folder_replaceable(shown, kind)
        remove_stale_partials(path)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
        except OSError as err:  # name the user's output, not the hidden temporary folder
            raise OutputError(f"{shown}: cannot be written ({err.strerror}); nothing was changed") from None
        try:
            yield tmp
            check_folder_replaceable(shown, kind or folder_kind(tmp), new=tmp)
            # mkdtemp makes the folder private (0700); shipped weights must be readable by others.
            mask = _umask()
            tmp.chmod(0o777 & ~mask)
            for child in tmp.rglob("*"):
                child.chmod((0o777 if child.is_dir() else 0o666) & ~mask)
            if path.exists():
                # What goes is calozoo's own folder, checked above; it stays until the new one is in.
                old = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
                os.replace(path, old)
                try:
                    os.replace(tmp, path)
                except BaseException:
                    os.replace(old, path)
                    raise
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
    """Write ``config`` (JSON-serialisable) and ``tensors`` (numpy arrays or torch tensors).

    ``path`` may be new, an empty folder or a folder saved earlier for the same class, which is
    replaced atomically; anything else is refused (:func:`atomic_folder`).

    Raises:
        OutputError: ``path`` holds files calozoo did not write, or a calozoo folder of another kind.
        OutputBusyError: another writer is writing ``path``.
    """
    from safetensors.numpy import save_file

    from . import __version__

    header = {
        "class": cls if isinstance(cls, str) else class_path(cls),
        "format": FORMAT_VERSION,
        "calozoo_version": __version__,
        "config": dict(config),
    }
    text = json.dumps(header, indent=2, sort_keys=True)
    with atomic_folder(path, kind=header["class"]) as tmp:
        (tmp / CONFIG_NAME).write_text(text + "\n")
        if tensors:
            shards = _shards({k: _to_numpy(v) for k, v in tensors.items()}, MAX_WEIGHTS_FILE_BYTES)
            if len(shards) == 1:
                save_file(shards[0], str(tmp / WEIGHTS_NAME))
            else:
                for i, part in enumerate(shards):
                    save_file(part, str(tmp / f"weights-{i + 1:05d}-of-{len(shards):05d}.safetensors"))
    return Path(path)


def _shards(arrays: dict, limit: int) -> list[dict]:
    """Tensors in order, cut into groups whose data stays under ``limit`` bytes (less a margin for
    the file's header); a tensor larger than that alone is a group of its own."""
    budget = limit - 2**20
    groups: list[dict] = [{}]
    used = 0
    for name, value in arrays.items():
        if groups[-1] and used + value.nbytes > budget:
            groups.append({})
            used = 0
        groups[-1][name] = value
        used += value.nbytes
    return groups


def _weights_files(path: Path) -> list[Path]:
    """The folder's weights files: ``weights.safetensors``, or a complete set of shards."""
    if (path / WEIGHTS_NAME).exists():
        return [path / WEIGHTS_NAME]
    shards = sorted(path.glob(_SHARD_PATTERN))
    if not shards:
        return []
    name = re.compile(r"weights-(\d{5})-of-(\d{5})\.safetensors")
    found = [name.fullmatch(f.name) for f in shards]
    total = {int(m.group(2)) for m in found if m}
    numbers = sorted(int(m.group(1)) for m in found if m)
    if len(total) != 1 or numbers != list(range(1, next(iter(total)) + 1)):
        raise ModelFolderError(
            f"{path}: the weights files are incomplete or mixed: {[f.name for f in shards]} "
            "(a save writes weights-00001-of-0000K.safetensors ... -0000K-of-0000K)"
        )
    return shards


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
    for weights in _weights_files(path):
        from safetensors.numpy import load_file

        try:
            part = load_file(str(weights))
        except Exception as err:  # safetensors raises its own error types for corrupt files
            raise ModelFolderError(f"{weights}: corrupt weights file ({err})") from None
        import numpy as np

        twice = sorted(set(part) & set(tensors))
        if twice:
            raise ModelFolderError(
                f"{weights}: the tensor(s) {', '.join(twice[:5])} are in two weights files"
            )
        broken = [
            name
            for name, value in part.items()
            if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value))
        ]
        if broken:
            raise ModelFolderError(
                f"{weights}: the tensor(s) {', '.join(sorted(broken)[:5])} hold NaN or infinite values "
                "(a diverged training run?); a model with them would generate garbage"
            )
        tensors.update(part)
    return header["config"], tensors
