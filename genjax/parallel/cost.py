"""What a compiled, partitioned program costs each device: FLOPs (XLA's cost analysis) and the
bytes its collectives move, read from the optimized HLO text.

Collective bytes count each collective's result per device: an all-gather's gathered array, an
all-reduce's reduced array, a reduce-scatter's scattered block, an all-to-all's outputs (the
`-start` form of an asynchronous collective counts its result, its `-done` nothing).
"""

from __future__ import annotations

import re
from typing import Any

COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all", "collective-permute")
_BYTES = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s16": 2, "u16": 2, "f32": 4, "s32": 4, "u32": 4}
_BYTES |= {"f64": 8, "s64": 8, "u64": 8, "c64": 8, "c128": 16}
_SHAPE = re.compile(r"\b([a-z][a-z0-9]*)\[([0-9,]*)\]")
# `%name = SHAPE op(`; a tuple SHAPE may hold `/*index=5*/` comments
_OP = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(.*?)\s+(" + "|".join(COLLECTIVES) + r")(-start)?\(")


def shape_bytes(text: str) -> int:
    """Bytes of the arrays in an HLO shape, e.g. `f32[8,16]{1,0}` or a tuple `(f32[2], bf16[4,4])`."""
    total = 0
    for dtype, dims in _SHAPE.findall(text):
        if dtype not in _BYTES:
            raise ValueError(f"unknown HLO element type {dtype!r} in {text!r}")
        size = 1
        for d in filter(None, dims.split(",")):
            size *= int(d)
        total += size * _BYTES[dtype]
    return total


def collective_bytes(hlo_text: str) -> dict[str, int]:
    """{collective: bytes of its results per device} over an optimized HLO module's text
    (`jax.jit(f).lower(...).compile().as_text()`). An asynchronous all-gather's `-start` result is
    (operand, result): its last array is counted."""
    out = dict.fromkeys(COLLECTIVES, 0)
    for line in hlo_text.splitlines():
        m = _OP.search(line)
        if m is None:
            continue
        shape, op, start = m.groups()
        if start and op == "all-gather" and shape.startswith("("):
            shape = _SHAPE.findall(shape)[-1]
            shape = f"{shape[0]}[{shape[1]}]"
        out[op] += shape_bytes(shape)
    return out


def compiled_cost(compiled: Any) -> dict[str, float]:
    """{"flops": per-device FLOPs, "<collective>": bytes, "collective_bytes": all-gather +
    all-reduce + reduce-scatter + all-to-all bytes} of a `jax.stages.Compiled`."""
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    moved = collective_bytes(compiled.as_text())
    main = sum(v for k, v in moved.items() if k != "collective-permute")
    return {"flops": float(analysis.get("flops", 0.0)), **moved, "collective_bytes": main}
