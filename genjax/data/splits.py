"""TFDS split strings ("train", "train[:90%]", "test[100:200]") for the local sources.

Percent boundaries round to the closest example, as TFDS's default `rounding="closest"` does, so
"train[:90%]" selects the same examples from a local source as from a TFDS source of equal size.
"""

from __future__ import annotations

import re

_SPLIT_RE = re.compile(r"^(?P<name>[\w.-]+)(\[(?P<start>-?[\d.]*%?)?:(?P<stop>-?[\d.]*%?)?\])?$")


def _boundary(text: str | None, n: int, split: str) -> int | None:
    if not text:
        return None
    if text.endswith("%"):
        pct = float(text[:-1])
        if not -100 <= pct <= 100:
            raise ValueError(f"data.split {split!r}: percent boundary {text} is outside [-100%, 100%]")
        value = int(round(pct * n / 100.0))
    else:
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(f"data.split {split!r}: boundary {text!r} must be an integer or a percent")
        value = int(text)
    return value


def resolve_split(split: str, sizes: dict[str, int]) -> tuple[str, int, int]:
    """(split name, start, stop) of a split string over splits of the given sizes.

    Args:
      split: e.g. "train", "train[:90%]", "train[-1000:]", "test[10:20]".
      sizes: the source's splits and their number of examples, e.g. {"train": 60000}.
    """
    m = _SPLIT_RE.match(split.replace(" ", ""))
    if m is None:
        raise ValueError(
            f"data.split {split!r} is not a split string; use a name with an optional slice, "
            "e.g. 'train', 'train[:90%]' or 'test[100:200]' (unions with '+' are not supported)"
        )
    name = m.group("name")
    if name not in sizes:
        raise ValueError(f"data.split {split!r}: this source has no split {name!r}; it has {sorted(sizes)}")
    n = sizes[name]
    start, stop, _ = slice(_boundary(m.group("start"), n, split), _boundary(m.group("stop"), n, split)).indices(n)
    if stop <= start:
        raise ValueError(f"data.split {split!r} selects no examples of the {n} in {name!r}")
    return name, start, stop
