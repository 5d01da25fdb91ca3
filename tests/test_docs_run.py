"""Every `genjax ...` command of README.md and of each docs/*.md page runs, in order, as written.

Each page runs in its own fresh working directory (README first), so its relative `runs/...`
paths are its own, with an empty weights cache (`$GENJAX_CACHE`); commands go through the real entry point, `genjax.cli.main(argv)`, in this
process (an `ENV=VALUE genjax ...` line in a subprocess with that environment) and must exit 0.

A command line may end with a marker comment, after any explanatory comment:

    genjax train --config digits_vae --workdir runs/vae   # train   # test: --config.train.steps=2
    genjax data prepare mnist --from DIR                            # test: skip (DIR: your idx files)

`# test: [NAME=VALUE ...] ARGS` appends ARGS to the command when the test runs it (tiny step
counts; the CLI takes the last value of a repeated option or override) and runs it with the
environment variables NAME=VALUE (e.g. XLA_FLAGS faking several CPU devices); `{tfds}` in ARGS is a prepared TFDS data dir
of tiny random `mnist` and `fashion_mnist` datasets, `{text}` a data dir whose `shakespeare`
folder holds a small stand-in corpus (train.txt, val.txt), `{audio}` one whose
`spoken_digit/recordings` holds a few FSDD-like WAV files. `# test: skip (REASON)` does not run the
command (a placeholder path, another machine, hours of training); every skip names its reason
and is printed.
"""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"#\s*test:\s*(.*)$")
SKIP = re.compile(r"skip \((.+)\)$")
ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
SLOW = {
    "README.md",
    "docs/autoregressive.md",
    "docs/benchmarks.md",
    "docs/diffusion.md",
    "docs/scaling.md",
    "docs/vae.md",
}


def page_commands(path: Path) -> list[tuple[str, str]]:
    """(command, marker) of every `genjax ...` line of the page's fenced code blocks, in order;
    continuation lines joined, comments removed; marker is the text after `# test:` or ""."""
    found, fenced, pending = [], False, ""
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced, pending = not fenced, ""
            continue
        if not fenced:
            continue
        text = pending + " " + line.strip() if pending else line.strip()
        words = text.split(" genjax ")[0].split() if " genjax " in text else []
        if not (pending or text.startswith("genjax ") or words and all(ENV.match(w) for w in words)):
            continue
        if text.endswith("\\"):
            pending = text[:-1].strip()
            continue
        pending, marker = "", MARKER.search(text)
        command = (text[: marker.start()] if marker else text).split(" #")[0].strip()
        found.append((command, marker.group(1).strip() if marker else ""))
    return found


def _split_env(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    env = {}
    while argv and ENV.match(argv[0]):
        key, value = argv.pop(0).split("=", 1)
        env[key] = value
    return env, argv


def _run(argv: list[str], env: dict[str, str]) -> int:
    """genjax argv [1:], in this process or, with an environment, in a subprocess."""
    if not env:
        from genjax.cli import main

        return main(argv[1:])
    code = "import sys; from genjax.cli import main; sys.exit(main(sys.argv[1:]))"
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code, *argv[1:]], env=full_env, capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr[-3000:])
    return proc.returncode


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """Tiny TFDS `mnist` and `fashion_mnist` (random 28x28 pixels), written like `prepare` does."""
    from genjax.data.prepare import write_tfds

    data_dir = tmp_path_factory.mktemp("tfds")
    rng = np.random.default_rng(0)
    for name in ("mnist", "fashion_mnist"):
        arrays = {
            split: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n))
            for split, n in (("train", 32), ("test", 16))
        }
        write_tfds(name, arrays, data_dir=str(data_dir))
    return str(data_dir)


SAMPLE_PAGE = """
```bash
genjax train --config a --workdir runs/a   # train it  # test: --config.train.steps=2
genjax sample --workdir runs/a --out s.png # a comment
```
genjax info   # outside a code block: prose
```
X=1 genjax info  # test: skip (a reason)
genjax train --config b --workdir runs/b \\
    --config.x=1
```
"""


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    """A data dir with `shakespeare/train.txt` and `val.txt`: a few play-like lines, repeated."""
    data_dir = tmp_path_factory.mktemp("text")
    lines = ["ROMEO:\nBut soft, what light through yonder window breaks?\n", "JULIET:\nO Romeo, Romeo!\n"]
    (data_dir / "shakespeare").mkdir()
    (data_dir / "shakespeare" / "train.txt").write_text("".join(lines) * 80)
    (data_dir / "shakespeare" / "val.txt").write_text("".join(lines[::-1]) * 20)
    return str(data_dir)


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    from genjax.testing import write_spoken_digits

    return str(write_spoken_digits(tmp_path_factory.mktemp("audio")))


def test_markers_parse(tmp_path):
    """Every marker is ARGS or `skip (REASON)` with a reason; the parser finds continuation lines
    and env-prefixed lines."""
    for page in PAGES:
        for command, marker in page_commands(ROOT / page):
            assert command.startswith("genjax ") or ENV.match(command), (page, command)
            if marker.startswith("skip"):
                assert SKIP.fullmatch(marker) and SKIP.fullmatch(marker).group(1).strip(), (page, command, marker)
    (tmp_path / "page.md").write_text(SAMPLE_PAGE)
    commands = page_commands(tmp_path / "page.md")
    assert commands == [
        ("genjax train --config a --workdir runs/a", "--config.train.steps=2"),
        ("genjax sample --workdir runs/a --out s.png", ""),
        ("X=1 genjax info", "skip (a reason)"),
        ("genjax train --config b --workdir runs/b --config.x=1", ""),
    ]


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if p in SLOW else p for p in PAGES])
def test_page_commands_run(page, tmp_path, monkeypatch, tfds_dir, text_dir, audio_dir, capsys):
    """The page's commands, in order, in a fresh working directory: each exits 0."""
    commands = page_commands(ROOT / page)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENJAX_CACHE", str(tmp_path / "cache"))  # a fresh machine's: no cached weights
    skipped, timings = [], []
    for command, marker in commands:
        if marker.startswith("skip"):
            skipped.append(f"{command}  ({SKIP.fullmatch(marker).group(1)})")
            continue
        env, argv = _split_env(shlex.split(command))
        stand_ins = {"{tfds}": tfds_dir, "{text}": text_dir, "{audio}": audio_dir}
        for name, folder in stand_ins.items():
            marker = marker.replace(name, folder)
        extra_env, extra = _split_env(shlex.split(marker))
        env, argv = {**env, **extra_env}, argv + extra
        start = time.perf_counter()
        status = _run(argv, env)
        timings.append((time.perf_counter() - start, command))
        assert status == 0, f"{page}: `{command}` (run with `{marker}`) exited {status}"
    with capsys.disabled():
        print(f"\n{page}: {len(commands) - len(skipped)} commands run, {len(skipped)} skipped")
        for line in skipped:
            print(f"  skipped: {line}")
        for seconds, command in sorted(timings, reverse=True)[:3]:
            print(f"  {seconds:6.1f} s: {command}")
