"""The documentation builds (mkdocs, strict: broken links and missing pages fail) and the
notebooks in notebooks/ execute."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build(tmp_path):
    mkdocs = shutil.which("mkdocs", path=os.path.dirname(sys.executable)) or shutil.which("mkdocs")
    assert mkdocs, "mkdocs is part of the test extra: pip install -e '.[test]'"
    proc = subprocess.run(
        [mkdocs, "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "architecture" / "index.html").exists()
    # The landing page carries the README's overview, Quickstart and commands (pymdownx snippets).
    import html
    import re

    landing = html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "index.html").read_text()))
    readme = (ROOT / "README.md").read_text()
    for section in ("overview", "quickstart", "commands"):
        body = readme.split(f"--8<-- [start:{section}] -->")[1].split(f"<!-- --8<-- [end:{section}]")[0]
        lines = [line for line in body.splitlines() if line.startswith(("make ", "genjax "))]
        lines = lines or [" ".join(body.split()[:8])]
        for line in lines:
            assert line.split("#")[0].strip() in landing, (section, line)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_notebook_executes(notebook, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def _documented_commands() -> list[tuple[str, str]]:
    """Every `genjax <command> ...` line of the README's and docs/' code blocks and of the
    docstrings of genjax/configs/ and benchmarks/ (indented example lines), continuation lines
    joined, without its trailing comment."""
    files = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "genjax" / "configs").glob("*.py")),
        *sorted((ROOT / "benchmarks").glob("*.py")),
    ]
    found = []
    for path in files:
        lines, fenced, pending = path.read_text().splitlines(), False, ""
        for line in lines:
            if line.startswith("```"):
                fenced = not fenced
                continue
            code = fenced if path.suffix == ".md" else line.startswith("    ")
            text = pending + line.strip() if pending else line.strip()
            head = text.split(" genjax ")[0].split() if " genjax " in text else []
            env_prefixed = bool(head) and all("=" in word for word in head)  # XLA_FLAGS=... genjax train
            if pending or (code and (text.startswith("genjax ") or env_prefixed)):
                if text.endswith("\\"):
                    pending = text[:-1]
                    continue
                pending = ""
                command = text[text.index("genjax ") :].split(" #")[0].strip()
                found.append((f"{path.relative_to(ROOT)}: {command}", command))
    return found


@pytest.mark.parametrize("where,command", _documented_commands(), ids=lambda v: v if " " not in v else None)
def test_documented_commands_parse(where, command):
    """Each documented command line is accepted by the CLI's parser (flags, values, overrides,
    nothing unrecognized)."""
    import shlex

    from genjax.cli import build_parser, parse_args

    if "..." in command or "[--" in command:
        pytest.skip("an elided example or usage notation")
    parser = build_parser()
    parser.exit = lambda status=0, message=None: pytest.fail(f"{where}\n{message}")
    parse_args(parser, shlex.split(command)[1:])
