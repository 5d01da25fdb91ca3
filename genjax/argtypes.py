"""argparse value types shared by the command lines (`genjax.cli`, `genjax.train.edit_cli`):
each parses one option's text or raises `argparse.ArgumentTypeError`, which argparse reports as
a usage error (exit 2) naming the option."""

from __future__ import annotations

import argparse
import json


def count(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def floats(text: str) -> list[float]:
    """Comma-separated numbers, at least one: "0,0.5,1" -> [0.0, 0.5, 1.0]."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    return values


def ints(text: str) -> list[int]:
    """Comma-separated whole numbers, at least one."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}")
    return values


def option(text: str) -> tuple[str, object]:
    """KEY=VALUE, VALUE read as JSON when it is JSON ("eta=0.5" -> ("eta", 0.5)), else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a keyword name, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
