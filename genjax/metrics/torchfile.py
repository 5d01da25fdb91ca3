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
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from typing import Any, BinaryIO, NamedTuple

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Storage(str):
    """Marker for a storage class named in a pickle (its dtype is `_DTYPES[self]`)."""


class _ScriptObject(dict):
    """A TorchScript module or object: its pickled attributes as a dict."""

    def __setstate__(self, state: Any) -> None:
        self.update(state if isinstance(state, dict) else {"__state__": state})


def _rebuild_tensor(storage, offset, size, stride, *_unused) -> np.ndarray:
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    return np.ascontiguousarray(view)


def _rebuild_parameter(data, *_unused) -> np.ndarray:
    return data


class _TorchUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, load_storage):
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_any
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _Storage(name)
        if module == "torch.jit._pickle" and name.startswith("build_"):
            return lambda value: value
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module.startswith("__torch__."):
            return _ScriptObject
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: not a tensor, state dict or TorchScript module"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        return self._load_storage(*pid[1:])


def _dtype(storage_type) -> np.dtype:
    name = str(storage_type)
    if name not in _DTYPES:
        raise ValueError(f"unsupported storage type {name!r}; supported: {sorted(_DTYPES)}")
    return np.dtype(_DTYPES[name])


def _load_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path}: no <root>/data.pkl in the archive; not a PyTorch file")
        root = pickles[0][: -len("data.pkl")]

        def load_storage(storage_type, key, _location, numel):
            data = archive.read(f"{root}data/{key}")
            return np.frombuffer(data, dtype=_dtype(storage_type), count=numel)

        with archive.open(pickles[0]) as f:
            return _TorchUnpickler(io.BytesIO(f.read()), load_storage).load()


class _Deferred(NamedTuple):
    """A legacy-format storage: its bytes come after the object pickle."""

    key: str
    dtype: np.dtype
    view_metadata: tuple | None


class _DeferredTensor(NamedTuple):
    storage: _Deferred
    offset: int
    size: tuple
    stride: tuple


def _rebuild_any(storage, offset, size, stride, *rest):
    if isinstance(storage, _Deferred):
        return _DeferredTensor(storage, offset, tuple(size), tuple(stride))
    return _rebuild_tensor(storage, offset, size, stride, *rest)


def _resolve(obj: Any, storages: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, _DeferredTensor):
        storage = storages[obj.storage.key]
        if obj.storage.view_metadata is not None:
            _, view_offset, view_size = obj.storage.view_metadata
            storage = storage[view_offset : view_offset + view_size]
        return _rebuild_tensor(storage, obj.offset, obj.size, obj.stride)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, storages)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, storages) for v in obj)
    return obj


def _load_legacy(path: str) -> Any:
    with open(path, "rb") as f:
        plain = lambda: _TorchUnpickler(f, None).load()  # noqa: E731  (restricted, no storages)
        try:
            magic = plain()
        except Exception:
            magic = None
        if magic != _LEGACY_MAGIC:
            raise ValueError(f"{path}: not a PyTorch file (no zip archive, no legacy magic number)")
        plain()  # protocol version
        plain()  # system info
        dtypes: dict[str, np.dtype] = {}

        def load_storage(storage_type, key, _location, _numel, view_metadata=None):
            dtypes[key] = _dtype(storage_type)
            return _Deferred(key, dtypes[key], view_metadata)

        obj = _TorchUnpickler(f, load_storage).load()
        storages = {}
        for key in plain():
            (numel,) = struct.unpack("<q", f.read(8))
            dtype = dtypes.get(key, np.dtype(np.uint8))
            storages[key] = np.frombuffer(f.read(numel * dtype.itemsize), dtype=dtype)
    return _resolve(obj, storages)


def load(path: str) -> Any:
    """Load a TorchScript archive or a `torch.save` file (zip or legacy) into numpy.

    Returns the pickled object with every tensor as a contiguous numpy array: a state dict
    (OrderedDict name -> array) for checkpoints, a nested dict of attributes for TorchScript.
    """
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    return _load_legacy(path)


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
