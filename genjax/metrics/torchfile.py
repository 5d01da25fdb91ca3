"""Read PyTorch files without PyTorch: TorchScript archives and `torch.save` checkpoints.

Both formats are pickles whose tensors point at raw storages by a persistent id:

- zip format (TorchScript `.pt`, `torch.save` since 1.6): `<root>/data.pkl` plus one file
  `<root>/data/<key>` per storage;
- legacy format (`torch.save(..., _use_new_zipfile_serialization=False)`, the pytorch-fid
  weights): magic number, protocol version and system-info pickles, the object pickle, the
  list of storage keys, then each storage as an int64 element count followed by its bytes.

Tensors come back as numpy arrays; TorchScript modules come back as nested dicts of their
attributes (parameters, submodules, ints such as `stride`). Only the classes listed in
`_TorchUnpickler.find_class` are ever constructed.

The file is not trusted. A storage must be one of `_DTYPES` and hold exactly its declared
element count (zip entry of count * itemsize bytes; legacy count equal to the pickled one, all
bytes present). A tensor view must have a non-negative offset, sizes and strides, and every
element it reads must lie inside its storage (see `_check_view`); each tensor is a copy, never
a window onto the file. Anything malformed raises ValueError naming the file.
"""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
import zipfile
from typing import Any, BinaryIO, NamedTuple

import numpy as np

_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Malformed(ValueError):
    """The file breaks the format; `load` prefixes the file name."""


class _Storage(str):
    """Marker for a storage class named in a pickle (its dtype is `_DTYPES[self]`)."""


class _ScriptObject(dict):
    """A TorchScript module or object: its pickled attributes as a dict."""

    def __setstate__(self, state: Any) -> None:
        self.update(state if isinstance(state, dict) else {"__state__": state})


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_view(numel: int, offset: Any, size: Any, stride: Any) -> tuple[tuple, tuple]:
    """Check a view of a storage of `numel` elements; return (size, stride) as int tuples.

    The view reads elements offset + sum(i_k * stride_k) for 0 <= i_k < size_k: offset, sizes
    and strides must be non-negative ints (as torch requires) and, unless some size is 0, the
    furthest element offset + sum((size_k - 1) * stride_k) must be below `numel`.
    """
    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list)) and len(size) == len(stride)):
        raise _Malformed(f"tensor size {size!r} and stride {stride!r} are not two int tuples of one length")
    if not (_is_int(offset) and all(map(_is_int, size)) and all(map(_is_int, stride))):
        raise _Malformed(f"tensor offset {offset!r}, size {size!r} or stride {stride!r} is not an int")
    size, stride = tuple(size), tuple(stride)
    view = f"tensor view (size {size}, stride {stride}, offset {offset})"
    if offset < 0 or min(size, default=0) < 0 or min(stride, default=0) < 0:
        raise _Malformed(f"{view} has a negative offset, size or stride")
    if 0 not in size:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= numel:
            raise _Malformed(f"{view} reaches element {last} of a storage of {numel} elements")
    return size, stride


def _rebuild_tensor(storage: np.ndarray, offset: Any, size: Any, stride: Any) -> np.ndarray:
    """A validated view of a 1-D storage, copied into a new contiguous array."""
    size, stride = _check_view(storage.size, offset, size, stride)
    try:
        if 0 in size:
            return np.zeros(size, storage.dtype)
        strides = tuple(0 if n == 1 else s * storage.itemsize for n, s in zip(size, stride))
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=strides, writeable=False)
        return view.copy()
    except (ValueError, OverflowError, MemoryError) as err:  # sizes too large for memory
        raise _Malformed(f"tensor of size {size} cannot be built: {err}") from None


def _rebuild_parameter(data, *_unused) -> Any:
    return data


class _TorchUnpickler(pickle.Unpickler):
    """Unpickles one pickle from `file`, which is parsed first (`pickletools.genops`) and is
    refused when truncated or when it stores to a memo slot beyond its own length: the C
    unpickler would allocate a memo of that size."""

    def __init__(self, file: BinaryIO, load_storage=None):
        super().__init__(file)
        self._file = file
        self._load_storage = load_storage

    def load(self):
        start = self._file.tell()
        for n, (op, arg, _) in enumerate(pickletools.genops(self._file)):
            if "PUT" in op.name and arg > n:
                raise _Malformed(f"pickle stores to memo slot {arg} after {n} opcodes")
        self._file.seek(start)
        return super().load()

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_any
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name.endswith("Storage"):
            return _Storage(name)  # checked against _DTYPES when a tensor uses it
        if module == "torch.jit._pickle" and name.startswith("build_"):
            return lambda value: value
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module.startswith("__torch__."):
            return _ScriptObject
        raise _Malformed(f"refusing to load {module}.{name}: not a tensor, state dict or TorchScript module")

    def persistent_load(self, pid):
        if not (self._load_storage and isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise _Malformed(f"unsupported persistent id {pid!r}")
        return self._load_storage(*pid[1:])


def _storage_spec(storage_type: Any, key: Any, numel: Any) -> tuple[np.dtype, str, int]:
    """Validate a storage reference ('storage', type, key, location, numel, ...): dtype, key, numel."""
    if not (isinstance(storage_type, _Storage) and storage_type in _DTYPES):
        raise _Malformed(f"unsupported storage type {storage_type!r}; supported: {sorted(_DTYPES)}")
    if not isinstance(key, str) or not _is_int(numel) or numel < 0:
        raise _Malformed(f"storage key {key!r} / element count {numel!r}: need a str and an int >= 0")
    return np.dtype(_DTYPES[storage_type]), key, numel


class _StorageTable:
    """Storages by key; every reference to one key must agree on its type and size."""

    def __init__(self):
        self.specs: dict[str, tuple[np.dtype, int]] = {}

    def declare(self, storage_type, key, numel) -> tuple[np.dtype, str, int]:
        dtype, key, numel = _storage_spec(storage_type, key, numel)
        seen = self.specs.setdefault(key, (dtype, numel))
        if seen != (dtype, numel):
            raise _Malformed(f"storage {key!r} declared as {seen} and as {(dtype, numel)} (dtype, elements)")
        return dtype, key, numel


def _load_zip(file: BinaryIO) -> Any:
    archive = zipfile.ZipFile(file)
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise _Malformed("no single <root>/data.pkl in the zip archive; not a PyTorch file")
    root = pickles[0][: -len("data.pkl")]
    table = _StorageTable()

    def load_storage(storage_type, key, _location, numel):  # read per tensor: the bytes go with it
        dtype, key, numel = table.declare(storage_type, key, numel)
        name = f"{root}data/{key}"
        try:
            nbytes = archive.getinfo(name).file_size
        except KeyError:
            raise _Malformed(f"storage {key!r}: no {name} in the archive") from None
        if nbytes != numel * dtype.itemsize:
            raise _Malformed(
                f"storage {key!r}: {name} holds {nbytes} bytes, "
                f"but {numel} elements of {storage_type} need {numel * dtype.itemsize}"
            )
        return np.frombuffer(archive.read(name), dtype)  # read() checks the CRC

    return _TorchUnpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()


class _Deferred(NamedTuple):
    """A legacy-format storage: its bytes come after the object pickle."""

    key: str
    view_metadata: Any


class _DeferredTensor(NamedTuple):
    storage: _Deferred
    offset: Any
    size: Any
    stride: Any


def _rebuild_any(storage, offset, size, stride, *_unused):
    if isinstance(storage, _Deferred):
        return _DeferredTensor(storage, offset, size, stride)
    if not isinstance(storage, np.ndarray):
        raise _Malformed(f"tensor storage is {type(storage).__name__}, not a storage")
    return _rebuild_tensor(storage, offset, size, stride)


def _resolve(obj: Any, storages: dict[str, np.ndarray]) -> Any:
    """Replace the legacy placeholders in dicts, lists and tuples by arrays."""
    if isinstance(obj, _DeferredTensor):
        return _rebuild_tensor(_storage_view(obj.storage, storages), obj.offset, obj.size, obj.stride)
    if isinstance(obj, _Deferred):
        return _storage_view(obj, storages).copy()
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, storages)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, storages) for v in obj)
    return obj


def _storage_view(deferred: _Deferred, storages: dict[str, np.ndarray]) -> np.ndarray:
    """A legacy storage, or the (view key, offset, size) slice of it written by old torch."""
    storage = storages[deferred.key]
    if deferred.view_metadata is None:
        return storage
    meta = deferred.view_metadata
    if not (isinstance(meta, tuple) and len(meta) == 3 and _is_int(meta[1]) and _is_int(meta[2])):
        raise _Malformed(f"storage {deferred.key!r}: bad view metadata {meta!r}")
    _, start, n = meta
    if start < 0 or n < 0 or start + n > storage.size:
        raise _Malformed(f"storage view {meta!r} reaches past storage {deferred.key!r} of {storage.size} elements")
    return storage[start : start + n]


def _load_legacy(data: bytes) -> Any:
    f = io.BytesIO(data)
    try:
        magic = _TorchUnpickler(f).load()
    except Exception:
        magic = None
    if magic != _LEGACY_MAGIC:
        raise _Malformed("not a PyTorch file (no zip archive, no legacy magic number)")
    if (version := _TorchUnpickler(f).load()) != 1001:
        raise _Malformed(f"legacy protocol version {version!r}, expected 1001")
    _TorchUnpickler(f).load()  # system info
    table = _StorageTable()

    def load_storage(storage_type, key, _location, numel, view_metadata=None):
        return _Deferred(table.declare(storage_type, key, numel)[1], view_metadata)

    obj = _TorchUnpickler(f, load_storage).load()
    keys = _TorchUnpickler(f).load()
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys) and sorted(keys) == sorted(table.specs)):
        raise _Malformed(f"storage list {keys!r} does not match the storages the tensors use {sorted(table.specs)}")
    storages, pos = {}, f.tell()
    for key in keys:
        dtype, numel = table.specs[key]
        count = int.from_bytes(data[pos : pos + 8], "little", signed=True) if pos + 8 <= len(data) else None
        if count != numel:
            raise _Malformed(f"storage {key!r}: element count {count} in the file, {numel} in its tensor pickle")
        pos, end = pos + 8, pos + 8 + numel * dtype.itemsize
        if end > len(data):
            raise _Malformed(
                f"storage {key!r}: {numel} elements need {end - pos} bytes, the file has {len(data) - pos}"
            )
        storages[key], pos = np.frombuffer(data, dtype, numel, offset=pos), end
    return _resolve(obj, storages)


def load(path: str) -> Any:
    """Load a TorchScript archive or a `torch.save` file (zip or legacy) into numpy.

    Returns the pickled object with every tensor as a contiguous numpy array (a copy): a state
    dict (OrderedDict name -> array) for checkpoints, a nested dict of attributes for TorchScript.
    Raises OSError when the file cannot be opened, ValueError (naming the file) when it is not a
    well-formed PyTorch file: see the module docstring for what is checked.
    """
    with open(path, "rb") as f:
        try:
            is_zip = f.read(4) == b"PK\x03\x04" or zipfile.is_zipfile(f)  # a cut zip still starts with PK
            f.seek(0)
            return _load_zip(f) if is_zip else _load_legacy(f.read())
        except _Malformed as err:
            raise ValueError(f"{path}: {err}") from None
        except MemoryError:
            raise
        except Exception as err:  # corrupt zip / pickle: BadZipFile, EOFError, UnpicklingError, bad seek, ...
            raise ValueError(f"{path}: malformed PyTorch file ({type(err).__name__}: {err})") from err


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts of a TorchScript module into {"a.b.weight": value}."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
