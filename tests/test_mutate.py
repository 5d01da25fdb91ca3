"""tools/mutate.py: its table names real files, and one cosmic-ray session on a toy module scores right."""

from __future__ import annotations

import argparse
import importlib.util
import sqlite3
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("cosmic_ray")


def load_tool():
    spec = importlib.util.spec_from_file_location("mutate_tool", ROOT / "tools" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_names_existing_sources_and_tests():
    tool = load_tool()
    for area, modules in tool.CORE.items():
        assert modules, area
        for source, tests in modules.items():
            assert (ROOT / source).is_file(), source
            assert tests and all((ROOT / t).is_file() for t in tests), (source, tests)


def test_session_on_a_toy_module_counts_killed_and_surviving_mutants(tmp_path):
    """`add` is fully tested; `unused_scale` is not, so its mutants survive; a pragma line is excluded."""
    tool = load_tool()
    tree = tmp_path / "tree"
    (tree / "toy").mkdir(parents=True)
    (tree / "toy" / "__init__.py").write_text("")
    (tree / "toy" / "arith.py").write_text(
        textwrap.dedent(
            """\
            def add(a, b):
                return a + b


            def unused_scale(x):
                return x * 3


            LIMIT = 7  # pragma: no mutate (not read anywhere)
            """
        )
    )
    (tree / "test_arith.py").write_text("from toy.arith import add\n\n\ndef test_add():\n    assert add(2, 5) == 7\n")
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    args = argparse.Namespace(timeout=60.0, sample=0, seed=0)
    tool.run_module(tree, sessions, "toy/arith.py", ["test_arith.py"], args)

    result = tool.score(sessions / "toy.arith.sqlite")
    assert result["pending"] == 0
    # `a + b` swapped for -, *, /, //, %, **: every swap changes add(2, 5) == 7.
    assert result["killed"] == 6
    # `x * 3`: six operator swaps and two number changes, none of them tested.
    assert result["survived"] == 8
    assert {m["line"] for m in result["survivors"]} == {6}
    assert result["score"] == pytest.approx(6 / 14)
    # The source in the tree is restored after the session.
    assert "return x * 3" in (tree / "toy" / "arith.py").read_text()
    assert sqlite3.connect(sessions / "toy.arith.sqlite").execute("select count(*) from work_items").fetchone()[0]


def test_sampling_keeps_the_asked_number_of_mutants(tmp_path):
    tool = load_tool()
    tree = tmp_path / "tree"
    (tree / "toy").mkdir(parents=True)
    (tree / "toy" / "__init__.py").write_text("")
    (tree / "toy" / "arith.py").write_text("def f(a, b):\n    return (a + b) * (a - b)\n")
    (tree / "test_arith.py").write_text("from toy.arith import f\n\n\ndef test_f():\n    assert f(3, 1) == 8\n")
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    tool.run_module(
        tree, sessions, "toy/arith.py", ["test_arith.py"], argparse.Namespace(timeout=60.0, sample=4, seed=1)
    )
    result = tool.score(sessions / "toy.arith.sqlite")
    assert result["killed"] + result["survived"] == 4
    assert result["skipped"] > 0 and result["pending"] == 0
