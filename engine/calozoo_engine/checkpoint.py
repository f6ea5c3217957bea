"""Read the CaloClouds3 authors' published checkpoints without running any of their pickled code.

The authors' distilled point-diffusion checkpoint is a ``torch.save`` file holding::

    {"args": <their config object>, "state_dict": {...},
     "others": {"model_ema": {...}, "model_teacher": {...}, "optimizer": {...}}}

The network weights are 33 tensors per state dict, named ``diffusion.inner_model.`` +
``timestep_embed.{0,1}...`` and ``layers.{k}._layer/_hyper_bias/_hyper_gate...`` for ``k = 0..5``:
exactly the names of our :class:`~.pointnet.PointwiseNet`, so the mapping is one to one.
Sampling uses the EMA weights (``others["model_ema"]``), or ``state_dict`` when there are none.

**The file format.** The modern format (torch >= 1.6) is a zip archive with one top folder
(``archive/``, or whatever name the file was saved under) holding ``data.pkl``, a pickle of the
object, and ``data/<key>``, one raw little-endian (see the ``byteorder`` record) byte record per
tensor storage. Inside the pickle a tensor is a call to ``torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, requires_grad, hooks)`` whose ``storage`` is a *persistent id*
``("storage", <torch.FloatStorage etc.>, key, location, numel)`` naming a ``data/<key>`` record.
The legacy format (``_use_new_zipfile_serialization=False``) is a run of pickles in one file: a
magic number, a protocol version, a system-info dict, the object (persistent ids
``("storage", type, key, location, numel, view)``), the list of storage keys, then per key an
int64 element count and the raw little-endian bytes. The pre-1.0 tar format is refused.

**Why no pickled code runs.** A pickle is a small program: ``GLOBAL module name`` imports
anything, and ``REDUCE`` calls it with arguments from the file, so ``torch.load`` on an untrusted
file can run ``os.system``. ``torch.load(weights_only=True)`` closes that hole but refuses the
checkpoint outright, because ``args`` is an object of the authors' own config class. Here
:class:`RestrictedUnpickler` resolves every global itself, from a fixed table, and never
imports anything:

- the tensor rebuild functions (re-implemented here: they only accept storages that
  :meth:`~RestrictedUnpickler.persistent_load` made from the file's bytes), torch's storage
  types and dtypes, ``torch.Size``, ``torch.device``, ``collections.OrderedDict``, and a few
  builtin data types (``set``, ``frozenset``, ``slice``, ``complex``, ``bytes``, ...);
- every other name, class or function alike (the config class, ``numpy`` scalars, but also
  ``os.system``, ``builtins.eval`` or ``subprocess.Popen``), becomes a fresh subclass of
  :class:`Placeholder`. Calling it, as ``REDUCE`` or ``NEWOBJ`` do, makes an inert instance that
  records the arguments; ``BUILD`` records the state; list and dict items are recorded too.
  No method of the named class is ever looked up, so no code from the file runs.

The result is the checkpoint with real CPU tensors and placeholders for everything else.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

import torch

from calozoo.errors import FileFormatError

from .pointnet import CC3_WIDTHS, PointwiseNet

__all__ = [
    "NETWORK_PREFIX",
    "Placeholder",
    "RestrictedUnpickler",
    "authors_network_shapes",
    "load_authors_point_network",
    "placeholder_classes",
    "read_checkpoint",
]

#: Prefix of the point network's weights in the authors' state dicts.
NETWORK_PREFIX = "diffusion.inner_model."
#: Wrapper prefixes tolerated in front of it (``DataParallel``, ``torch.compile``).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

#: torch's magic number and protocol version opening a legacy (non-zip) ``torch.save`` file.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
_LATIN1 = ("latin1", "latin-1", "iso-8859-1")


# --------------------------------------------------------------------------------------------
# Placeholders
# --------------------------------------------------------------------------------------------


class Placeholder:
    """An inert stand-in for an object of a class (or the result of a function) not on the allow list.

    :meth:`RestrictedUnpickler.find_class` answers every unknown ``module.name`` with a fresh
    subclass whose :attr:`module_name` and :attr:`class_name` record it. Whatever the pickle
    does with it only stores data: ``args``/``kwargs`` (what it was called with), ``state``
    (``BUILD``, usually the instance ``__dict__``), ``listitems`` and ``dictitems``.
    """

    module_name: ClassVar[str] = ""
    class_name: ClassVar[str] = ""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any
    listitems: list[Any]
    dictitems: dict[Any, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        self = object.__new__(cls)
        self.args = args
        self.kwargs = kwargs
        self.state = None
        self.listitems = []
        self.dictitems = {}
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Does nothing: everything was recorded by ``__new__``."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.listitems.append(item)

    def extend(self, items: Any) -> None:
        self.listitems.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.dictitems[key] = value

    @classmethod
    def qualified_name(cls) -> str:
        """``module.name`` of the global this placeholder stands for."""
        return f"{cls.module_name}.{cls.class_name}"

    def __repr__(self) -> str:
        return f"<placeholder {self.qualified_name()}>"


def _placeholder_type(module: str, name: str) -> type[Placeholder]:
    attrs = {"module_name": module, "class_name": name, "__module__": __name__}
    return type(f"Placeholder[{module}.{name}]", (Placeholder,), attrs)


def placeholder_classes(obj: Any) -> list[str]:
    """The sorted ``module.name`` of every placeholder (and placeholder class) reachable from ``obj``."""
    found: set[str] = set()
    for item in _walk(obj):
        if isinstance(item, type) and issubclass(item, Placeholder):
            found.add(item.qualified_name())
        elif isinstance(item, Placeholder):
            found.add(item.qualified_name())
    return sorted(found)


def _walk(obj: Any) -> Iterator[Any]:
    """Every object reachable through containers and placeholders (iterative, cycle-safe)."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, Placeholder):
            stack.extend([*item.args, *item.kwargs.values(), item.state, *item.listitems])
            stack.extend([*item.dictitems.keys(), *item.dictitems.values()])


# --------------------------------------------------------------------------------------------
# The allowed globals
# --------------------------------------------------------------------------------------------


class _StorageType:
    """What ``torch.FloatStorage`` and friends unpickle to: only the dtype is needed."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: torch.dtype):
        self.name = name
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"<storage type {self.name}>"


_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}


def _check_ints(what: str, values: Any) -> tuple[int, ...]:
    if not isinstance(values, tuple | list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        raise pickle.UnpicklingError(f"tensor {what} {values!r} is not a tuple of non-negative ints")
    return tuple(values)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> torch.Tensor:
    """A CPU tensor viewing a storage read from the file (``torch.set_`` checks the bounds)."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError(f"a tensor refers to {storage!r}, not to a storage of the file")
    (offset,) = _check_ints("offset", (storage_offset,))
    shape, strides = _check_ints("size", size), _check_ints("stride", stride)
    if len(shape) != len(strides):
        raise pickle.UnpicklingError(f"tensor size {shape} and stride {strides} differ in length")
    untyped = storage._untyped_storage
    if not isinstance(untyped, torch.UntypedStorage):
        raise pickle.UnpicklingError("a tensor's storage was tampered with")
    return torch.empty((0,), dtype=storage.dtype).set_(untyped, offset, shape, strides)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    metadata: Any = None,
) -> torch.Tensor:
    """torch's ``_rebuild_tensor_v2`` without the hooks and metadata (never set on a saved tensor)."""
    tensor = _rebuild_tensor(storage, storage_offset, size, stride)
    if requires_grad is True:
        tensor.requires_grad_(True)
    return tensor


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None) -> torch.Tensor:
    """torch's ``_rebuild_parameter`` (and ``..._with_state``, whose extra state is dropped)."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"a parameter wraps {data!r}, not a tensor")
    return torch.nn.Parameter(data, requires_grad=requires_grad is True)


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """How protocol-2 pickles spell ``bytes``: ``_codecs.encode(text, "latin1")``."""
    if not isinstance(text, str) or encoding not in _LATIN1:
        raise pickle.UnpicklingError(f"_codecs.encode({text!r}, {encoding!r}) is not a pickled bytes object")
    return text.encode("latin1")


def _bytes(*args: Any) -> bytes:
    """``bytes()`` as pickled (empty), or from a latin-1 string; never ``bytes(n)``."""
    return bytes(_bytearray(*args))


def _bytearray(*args: Any) -> bytearray:
    """``bytearray`` as pickled: empty, from bytes, or from a latin-1 string."""
    if not args:
        return bytearray()
    if len(args) == 1 and isinstance(args[0], bytes | bytearray):
        return bytearray(args[0])
    if len(args) == 2 and isinstance(args[0], str) and args[1] in _LATIN1:
        return bytearray(args[0], "latin1")
    raise pickle.UnpicklingError(f"bytearray{args!r} is not a pickled byte string")


_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("_codecs", "encode"): _codecs_encode,
    ("builtins", "bytes"): _bytes,
    ("builtins", "bytearray"): _bytearray,
    # The builtin values a pickle builds with REDUCE (the others have their own opcodes).
    **{("builtins", t.__name__): t for t in (set, frozenset, slice, complex)},
    # torch pickles a dtype as the global ``torch.float32``; vars() does not trigger lazy imports.
    **{("torch", name): value for name, value in vars(torch).items() if isinstance(value, torch.dtype)},
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
    ("torch.storage", "UntypedStorage"): _StorageType("UntypedStorage", torch.uint8),
}


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol 0/1 objects): only ever builds a placeholder."""
    if isinstance(cls, type) and issubclass(cls, Placeholder):
        return cls() if state is None else cls(state)
    return _placeholder_type("copyreg", "_reconstructor")(cls, base, state)


_SAFE_GLOBALS[("copyreg", "_reconstructor")] = _reconstructor


# --------------------------------------------------------------------------------------------
# The unpickler
# --------------------------------------------------------------------------------------------


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle reader that imports nothing and calls only the allow-listed functions.

    Args:
        file: the binary stream of the pickle.
        storage_loader: answers the ``("storage", ...)`` persistent ids with
            ``torch.storage.TypedStorage`` objects read from the file; without one, a pickle
            that refers to a storage is refused.
    """

    def __init__(self, file: IO[bytes], storage_loader: Callable[[tuple[Any, ...]], Any] | None = None):
        super().__init__(file)
        self._storage_loader = storage_loader
        self._placeholders: dict[tuple[str, str], type[Placeholder]] = {}

    def find_class(self, module: str, name: str) -> Any:
        """An allow-listed object, or an inert :class:`Placeholder` subclass; never an import."""
        # Protocol-2 pickles (the torch.save default) use Python 2 names such as ``__builtin__``;
        # translate them as pickle itself does (a plain table lookup, no import).
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        safe = _SAFE_GLOBALS.get((module, name))
        if safe is not None:
            return safe
        key = (str(module), str(name))
        if key not in self._placeholders:
            self._placeholders[key] = _placeholder_type(*key)
        return self._placeholders[key]

    def persistent_load(self, pid: Any) -> Any:
        if self._storage_loader is None:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if not isinstance(pid, tuple) or not pid or _ascii(pid[0]) not in ("storage", "module"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        return self._storage_loader(pid)


def _ascii(value: Any) -> Any:
    return value.decode("ascii") if isinstance(value, bytes) else value


def _storage_fields(pid: tuple[Any, ...], n: int) -> tuple[torch.dtype, str, int]:
    """Check a ``("storage", type, key, location, numel[, view])`` id; its dtype, key and numel."""
    if len(pid) != n:
        raise pickle.UnpicklingError(f"storage id {pid!r} does not have {n} fields")
    storage_type, key, numel = pid[1], _ascii(pid[2]), pid[4]
    if not isinstance(storage_type, _StorageType):
        raise pickle.UnpicklingError(f"storage id {pid!r} names {storage_type!r}, not a torch storage type")
    if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
        raise pickle.UnpicklingError(f"storage id {pid!r} has a malformed key or size")
    return storage_type.dtype, key, numel


def _typed(untyped: torch.UntypedStorage, dtype: torch.dtype) -> torch.storage.TypedStorage:
    return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


# --------------------------------------------------------------------------------------------
# The two file formats
# --------------------------------------------------------------------------------------------


#: What a malformed pickle can raise while being read (all become :class:`FileFormatError`).
_UNPICKLE_ERRORS: tuple[type[Exception], ...] = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    RuntimeError,
    struct.error,
    OverflowError,
)


def _read_zip(path: Path) -> Any:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FileFormatError(path, None, f"is a corrupt or truncated zip archive ({exc})") from None
    with archive:
        names = set(archive.namelist())
        pickles = [n for n in sorted(names) if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise FileFormatError(
                path, "data.pkl", "is missing: the zip archive is not a torch.save checkpoint"
            )
        root = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if root + "byteorder" in names:
            byteorder = _read_record(path, archive, root + "byteorder").decode("ascii", "replace")
            if byteorder not in ("little", "big"):
                raise FileFormatError(path, "byteorder", f"unknown byte order {byteorder!r}")
        loaded: dict[str, torch.UntypedStorage] = {}

        def load_storage(pid: tuple[Any, ...]) -> Any:
            dtype, key, numel = _storage_fields(pid, 5)
            if key not in loaded:
                record = f"data/{key}"
                if root + record not in names:
                    raise FileFormatError(path, record, "storage record is missing (incomplete archive)")
                data = _read_record(path, archive, root + record)
                nbytes = numel * dtype.itemsize
                if len(data) != nbytes:
                    raise FileFormatError(
                        path, record, f"storage record holds {len(data)} bytes, the pickle expects {nbytes}"
                    )
                untyped = _untyped_from_bytes(data)
                if byteorder != sys.byteorder and dtype.itemsize > 1:
                    untyped.byteswap(dtype)
                loaded[key] = untyped
            return _typed(loaded[key], dtype)

        data_pkl = _read_record(path, archive, pickles[0])
        return _unpickle(path, "data.pkl", RestrictedUnpickler(io.BytesIO(data_pkl), load_storage))


def _read_record(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as exc:
        key = name.split("/", 1)[-1]
        raise FileFormatError(path, key, f"record is corrupt ({exc})") from None


def _untyped_from_bytes(data: bytes | bytearray) -> torch.UntypedStorage:
    if not data:
        return torch.UntypedStorage(0)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).untyped_storage()


def _unpickle(path: Path, key: str, unpickler: RestrictedUnpickler) -> Any:
    try:
        return unpickler.load()
    except FileFormatError:
        raise
    except _UNPICKLE_ERRORS as exc:
        raise FileFormatError(path, key, f"cannot be unpickled safely: {type(exc).__name__}: {exc}") from None


def _read_legacy(path: Path) -> Any:
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        magic = _unpickle(path, "magic number", RestrictedUnpickler(f))
        if magic != _LEGACY_MAGIC:
            raise FileFormatError(path, None, "is a pickle but not a torch.save checkpoint (no magic number)")
        version = _unpickle(path, "protocol version", RestrictedUnpickler(f))
        if version != _LEGACY_PROTOCOL:
            raise FileFormatError(path, "protocol version", f"is {version!r}, expected {_LEGACY_PROTOCOL}")
        _unpickle(path, "system info", RestrictedUnpickler(f))

        roots: dict[str, tuple[torch.UntypedStorage, torch.dtype]] = {}
        views: dict[str, torch.UntypedStorage] = {}

        def load_storage(pid: tuple[Any, ...]) -> Any:
            if _ascii(pid[0]) == "module":  # a whole nn.Module saved with its source: keep the placeholder
                return pid[1] if len(pid) > 1 else None
            dtype, key, numel = _storage_fields(pid, 6)
            nbytes = numel * dtype.itemsize
            if nbytes > file_size:
                raise FileFormatError(
                    path, f"storage {key}", f"claims {nbytes} bytes, more than the file holds"
                )
            if key not in roots:
                roots[key] = (torch.UntypedStorage(nbytes), dtype)
            untyped = roots[key][0]
            view = pid[5]
            if view is None:
                return _typed(untyped, dtype)
            if not isinstance(view, tuple) or len(view) != 3:
                raise pickle.UnpicklingError(f"malformed storage view {view!r}")
            view_key, view_offset, view_numel = _ascii(view[0]), *_check_ints("view", view[1:])
            if view_key not in views:
                start = view_offset * dtype.itemsize
                stop = start + view_numel * dtype.itemsize
                if stop > untyped.nbytes():
                    raise pickle.UnpicklingError(f"storage view {view!r} runs past its storage")
                views[view_key] = untyped[start:stop]
            return _typed(views[view_key], dtype)

        result = _unpickle(path, "object", RestrictedUnpickler(f, load_storage))
        keys = _unpickle(path, "storage keys", RestrictedUnpickler(f))
        if not isinstance(keys, list) or not all(isinstance(_ascii(k), str) for k in keys):
            raise FileFormatError(path, "storage keys", f"is {type(keys).__name__}, not a list of keys")
        for key in map(_ascii, keys):
            if key not in roots:
                raise FileFormatError(path, f"storage {key}", "has data but no tensor refers to it")
            untyped, dtype = roots.pop(key)
            header = f.read(8)
            if len(header) != 8:
                raise FileFormatError(path, f"storage {key}", "is missing: the file is truncated")
            (numel,) = struct.unpack("<q", header)
            nbytes = numel * dtype.itemsize
            if nbytes != untyped.nbytes():
                raise FileFormatError(
                    path, f"storage {key}", f"holds {nbytes} bytes, the pickle expects {untyped.nbytes()}"
                )
            data = f.read(nbytes)
            if len(data) != nbytes:
                raise FileFormatError(path, f"storage {key}", "is cut short: the file is truncated")
            if nbytes:
                # Legacy storages are always little-endian on disk.
                source = _untyped_from_bytes(data)
                if sys.byteorder != "little" and dtype.itemsize > 1:
                    source.byteswap(dtype)
                untyped.copy_(source)
        if roots:
            missing = ", ".join(sorted(roots))
            raise FileFormatError(
                path, f"storage {missing}", "storage record is missing (the file is incomplete)"
            )
    return result


def _read_any(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """The unpickled object and the format (``"zip"`` or ``"legacy"``)."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(path, None, "no such file")
    if not path.is_file():
        raise FileFormatError(path, None, "is not a file (a directory?)")
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        raise FileFormatError(path, None, "is empty (0 bytes), not a PyTorch checkpoint")
    if head.startswith(_ZIP_SIGNATURES) or zipfile.is_zipfile(path):
        return _read_zip(path), "zip"
    if head[257:262] == b"ustar":
        raise FileFormatError(
            path,
            None,
            "is in PyTorch's pre-1.0 tar format, which is not supported: "
            "load and re-save it with torch.save in a trusted environment",
        )
    if head[:1] == b"\x80":
        return _read_legacy(path), "legacy"
    raise FileFormatError(path, None, "is not a PyTorch checkpoint (neither a zip archive nor a pickle)")


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Unpickle a ``torch.save`` checkpoint without running its code.

    Tensors come back as real CPU tensors; objects of any other class (and the results of any
    other function) as :class:`Placeholder` instances.

    Raises:
        FileFormatError: ``path`` is not a file, not a ``torch.save`` zip or legacy pickle, is
            truncated or corrupt, lacks a storage record, or does not hold a dict.
    """
    obj, _ = _read_any(path)
    if not isinstance(obj, dict):
        raise FileFormatError(path, None, f"holds a {type(obj).__name__}, not a checkpoint dict")
    return obj


# --------------------------------------------------------------------------------------------
# The point network
# --------------------------------------------------------------------------------------------


def authors_network_shapes(
    widths: tuple[int, ...] = CC3_WIDTHS, context_features: int = 4, embed_features: int = 64
) -> dict[str, tuple[int, ...]]:
    """The names (without :data:`NETWORK_PREFIX`) and shapes of the authors' point network.

    For CaloClouds3, 33 tensors: the Fourier frequencies ``(32, 1)``, the embedding layer
    ``(64, 64)`` and ``(64,)``, and per concat-squash layer ``k`` of ``a -> b`` inputs and outputs
    ``_layer`` ``(b, a)``/``(b,)``, ``_hyper_bias`` ``(b, 68)``, ``_hyper_gate`` ``(b, 68)``/``(b,)``.
    """
    dim_ctx = embed_features + context_features
    shapes: dict[str, tuple[int, ...]] = {
        "timestep_embed.0.weight": (embed_features // 2, 1),
        "timestep_embed.1.weight": (embed_features, embed_features),
        "timestep_embed.1.bias": (embed_features,),
    }
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"layers.{k}._layer.weight"] = (b, a)
        shapes[f"layers.{k}._layer.bias"] = (b,)
        shapes[f"layers.{k}._hyper_bias.weight"] = (b, dim_ctx)
        shapes[f"layers.{k}._hyper_gate.weight"] = (b, dim_ctx)
        shapes[f"layers.{k}._hyper_gate.bias"] = (b,)
    return shapes


def _pick_state_dict(path: Path, ckpt: dict[str, Any]) -> tuple[Any, str]:
    """``others["model_ema"]`` when there is one, else ``state_dict``; and which was used."""
    others = ckpt.get("others")
    if isinstance(others, Mapping) and others.get("model_ema") is not None:
        return others["model_ema"], "others.model_ema"
    if ckpt.get("state_dict") is not None:
        return ckpt["state_dict"], "state_dict"
    keys = ", ".join(repr(k) for k in ckpt)
    raise FileFormatError(
        path, "state_dict", f"is missing, and so is others['model_ema'] (the checkpoint holds {keys})"
    )


def _listed(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _strip_wrappers(key: str) -> tuple[str, str]:
    """``key`` without leading ``module.``/``_orig_mod.`` wrappers, and the wrappers."""
    wrappers = ""
    while key.startswith(WRAPPER_PREFIXES):
        cut = len(next(p for p in WRAPPER_PREFIXES if key.startswith(p)))
        wrappers, key = wrappers + key[:cut], key[cut:]
    return key, wrappers


def _network_weights(path: Path, where: str, state: Any) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The 33 weights (our names, float32) of a state dict, and the key prefixes seen; strict."""
    if not isinstance(state, Mapping):
        raise FileFormatError(path, where, f"is a {type(state).__name__}, not a state dict")
    expected = authors_network_shapes()
    found: dict[str, Any] = {}
    prefixes: set[str] = set()
    unexpected: list[str] = []
    for raw in state:
        key, wrappers = _strip_wrappers(raw) if isinstance(raw, str) else (repr(raw), "")
        name = key[len(NETWORK_PREFIX) :] if key.startswith(NETWORK_PREFIX) else None
        if name not in expected or name in found:
            unexpected.append(str(raw))
            continue
        found[name] = state[raw]
        prefixes.add(wrappers + NETWORK_PREFIX)
    missing = [NETWORK_PREFIX + n for n in expected if n not in found]
    bad: list[str] = []
    for name, value in found.items():
        if not isinstance(value, torch.Tensor):
            bad.append(f"{name} is a {type(value).__name__}, not a tensor")
        elif tuple(value.shape) != expected[name]:
            bad.append(f"{name} has shape {tuple(value.shape)}, expected {expected[name]}")
        elif not value.is_floating_point():
            bad.append(f"{name} has dtype {value.dtype}, not a floating-point one")
        elif not bool(torch.isfinite(value).all()):
            bad.append(f"{name} holds NaN or infinite values")
    if missing or unexpected or bad:
        hint = _width_hint(found)
        problems = [f"is not the CaloClouds3 point network ({len(expected)} tensors '{NETWORK_PREFIX}*')"]
        if hint:
            problems.append(hint)
        if missing:
            problems.append(f"{len(missing)} missing: {_listed(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected: {_listed(unexpected)}")
        if bad:
            problems.append(f"{len(bad)} wrong: {_listed(bad)}")
        raise FileFormatError(path, where, "; ".join(problems))
    weights = {name: value.detach().to(torch.float32) for name, value in found.items()}
    return weights, sorted(prefixes)


def _width_hint(found: dict[str, Any]) -> str:
    """What network the layer shapes suggest, when they are not CaloClouds3's."""
    widths: list[str] = []
    for k in range(len(CC3_WIDTHS) - 1):
        w = found.get(f"layers.{k}._layer.weight")
        if not isinstance(w, torch.Tensor) or w.ndim != 2:
            break
        widths.append(str(w.shape[0]) if widths else f"{w.shape[1]} -> {w.shape[0]}")
    if not widths or " -> ".join(widths) == " -> ".join(map(str, CC3_WIDTHS)):
        return ""
    seen = " -> ".join(widths)
    first = found["layers.0._layer.weight"].shape[0]
    cc3 = " -> ".join(map(str, CC3_WIDTHS))
    if first == 128:
        return f"this looks like a CaloClouds2 network (widths {seen}; CaloClouds3 uses {cc3})"
    return f"the layer widths are {seen} (CaloClouds3 uses {cc3})"


def load_authors_point_network(path: str | os.PathLike[str]) -> tuple[PointwiseNet, dict[str, Any]]:
    """Our :class:`PointwiseNet` holding the weights of an authors' CaloClouds3 checkpoint.

    Uses the EMA weights (``others["model_ema"]``), or ``state_dict`` when there are none; the
    names must be exactly the 33 under ``diffusion.inner_model.`` (a leading ``module.`` is
    tolerated) with CaloClouds3's shapes. Nothing from the file is executed.

    Returns:
        The network (float32, CPU, eval mode) and an info dict: ``path``, ``format``
        (``"zip"``/``"legacy"``), ``source`` (``"others.model_ema"`` or ``"state_dict"``),
        ``key_prefixes``, ``source_dtypes``, ``n_values`` (numbers in the 33 tensors),
        ``top_level_keys``,
        ``others_keys``, ``args_class`` (the config's ``module.name``), ``args_state`` (its
        recorded attributes, or ``None``) and ``placeholder_classes`` (every unknown global met).

    Raises:
        FileFormatError: the file cannot be read (see :func:`read_checkpoint`) or does not hold
            the CaloClouds3 point network; the message lists the missing, unexpected and
            wrong-shaped names.
    """
    obj, fmt = _read_any(path)
    if not isinstance(obj, dict):
        raise FileFormatError(path, None, f"holds a {type(obj).__name__}, not a checkpoint dict")
    state, source = _pick_state_dict(Path(path), obj)
    weights, prefixes = _network_weights(Path(path), source, state)
    net = PointwiseNet()
    net.load_state_dict(weights, strict=True)
    net.eval()
    args = obj.get("args")
    others = obj.get("others")
    info: dict[str, Any] = {
        "path": str(path),
        "format": fmt,
        "source": source,
        "key_prefixes": prefixes,
        "source_dtypes": sorted({str(state_value.dtype) for state_value in _tensors(state)}),
        "n_values": sum(w.numel() for w in weights.values()),
        "top_level_keys": [str(k) for k in obj],
        "others_keys": [str(k) for k in others] if isinstance(others, Mapping) else [],
        "args_class": args.qualified_name() if isinstance(args, Placeholder) else type(args).__name__,
        "args_state": args.state if isinstance(args, Placeholder) else None,
        "placeholder_classes": placeholder_classes(obj),
    }
    return net, info


def _tensors(state: Mapping[Any, Any]) -> Iterator[torch.Tensor]:
    return (v for v in state.values() if isinstance(v, torch.Tensor))
