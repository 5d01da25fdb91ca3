"""Checks of loaded data: real-number dtypes, finite floats, image value ranges, labels and classes.

In-memory sources (npz files, image folders) are checked once when they are opened; streamed TFDS
sources check each batch they read (labels, float images), an O(batch) pass next to the decoding.
Every refusal is a `DataError` saying where (the source, the array, the first bad row and index),
what is wrong and how to fix it.

Classes: a source that declares its class count (TFDS's ClassLabel, a folder's sub-folders, an npz
file's `num_classes`) must have every label below it. Otherwise the count is max(y) + 1, refused
when labels are sparse: more than SPARSE_FLOOR classes and more than twice the distinct labels
(one stray label of 10^7 would otherwise build a model of ten million classes).
"""

from __future__ import annotations

import numpy as np

from genjax.errors import UsageError

INT32_MAX = int(np.iinfo(np.int32).max)
SPARSE_FLOOR = 16
_KINDS = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes", "O": "objects", "V": "records"}


class DataError(UsageError):
    """Data the pipeline refuses: non-finite or non-numeric values, labels out of range, a
    truncated image file, a tampered data-iterator state. The command line exits 2."""


def _where(index: tuple[int, ...], rows: np.ndarray | None) -> str:
    """ "row R, index (i, j, ...)" of an array index; `rows` maps batch rows to split rows."""
    row = int(index[0]) if rows is None else int(rows[index[0]])
    return f"row {row}" + (f", index {tuple(int(i) for i in index)}" if len(index) > 1 else "")


def _first(mask: np.ndarray) -> tuple[int, ...]:
    """The row-major index of the first True of `mask`."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def check_real(x: np.ndarray, what: str, name: str) -> None:
    """Refuses arrays of anything but integers and floats (strings, objects, complex, booleans)."""
    if x.dtype.kind not in "iuf":
        kind = _KINDS.get(x.dtype.kind, "not real numbers")
        raise DataError(
            f"{what}: array {name!r} holds {x.dtype} values ({kind}); it must hold real numbers "
            f"(integers or floats): convert it before saving, e.g. np.asarray({name}, np.float32)"
        )


def finite_float32(x: np.ndarray, what: str, name: str, rows: np.ndarray | None = None) -> np.ndarray:
    """`x` as float32, refusing NaN, infinities and values beyond float32's range."""
    check_real(x, what, name)
    with np.errstate(over="ignore"):
        out = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(out)
    if bad.any():
        i = _first(bad)
        raise DataError(
            f"{what}: array {name!r} holds {x[i]} at {_where(i, rows)}, not a finite float32 number "
            f"({int(bad.sum())} such values in all); remove or repair those examples"
        )
    return out


def float_images(x: np.ndarray, what: str, name: str, rows: np.ndarray | None = None) -> np.ndarray:
    """Float images as float32: finite and in [0, 1]."""
    x = finite_float32(x, what, name, rows)
    bad = (x < 0) | (x > 1)
    if bad.any():
        i = _first(bad)
        raise DataError(
            f"{what}: array {name!r} holds {x[i]} at {_where(i, rows)}, outside [0, 1] (range "
            f"[{x.min()}, {x.max()}]); images must be uint8 in [0, 255] or floats in [0, 1]: rescale them"
        )
    return x


def check_labels(
    y: np.ndarray, n: int, what: str, name: str, *, num_classes: int | None = None, rows: np.ndarray | None = None
) -> np.ndarray:
    """int32 labels [n], checked before the cast: integers in [0, INT32_MAX], below `num_classes`
    when given (the declared count)."""
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise DataError(f"{what}: array {name!r} must hold integer labels of shape [{n}], got {y.dtype} {y.shape}")
    bad = (y < 0) | (y > INT32_MAX)
    if bad.any():
        i = _first(bad)
        raise DataError(
            f"{what}: array {name!r} holds label {y[i]} at {_where(i, rows)}, outside [0, {INT32_MAX}]; labels "
            "are class indices 0..K-1: renumber them, e.g. np.unique(y, return_inverse=True)[1]"
        )
    over = None if num_classes is None else y >= num_classes
    if over is not None and over.any():
        i = _first(over)
        raise DataError(
            f"{what}: array {name!r} holds label {y[i]} at {_where(i, rows)}, not below num_classes={num_classes} "
            "that the source declares; fix the label or the declared class count"
        )
    return y.astype(np.int32)


def class_count(y: np.ndarray, what: str, name: str) -> int:
    """The class count of labels without a declared one: max(y) + 1, unless the labels are sparse
    (see the module docstring)."""
    count = int(y.max(initial=-1)) + 1
    distinct = len(np.unique(y))
    if count > max(SPARSE_FLOOR, 2 * distinct):
        i = _first(y == count - 1)
        raise DataError(
            f"{what}: array {name!r} holds label {count - 1} at {_where(i, None)}, which makes {count} classes, "
            f"but only {distinct} distinct labels occur; labels are class indices 0..K-1: renumber them "
            "(np.unique(y, return_inverse=True)[1]), or, if there really are that many classes, declare "
            f"them: np.savez(path, x=x, y=y, num_classes={count})"
        )
    return count


def declared_classes(value: np.ndarray, what: str) -> int:
    """An npz file's `num_classes` array: one integer in [1, INT32_MAX]."""
    if value.shape != () or value.dtype.kind not in "iu" or not 1 <= int(value) <= INT32_MAX:
        raise DataError(
            f"{what}: array 'num_classes' must be one integer >= 1 (the class count), got {value.dtype} "
            f"{value.tolist()!r}; e.g. np.savez(path, x=x, y=y, num_classes=10)"
        )
    return int(value)
