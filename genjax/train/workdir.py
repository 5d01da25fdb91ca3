"""One writer per workdir, and logs that agree with the checkpoint a run resumes from.

`lock_workdir(workdir, distributed)` holds an exclusive `fcntl.flock` on `<workdir>/.lock` for the
life of a `with` block; the file names the holder (`{"pid", "host", "argv"}`, one JSON line). A
second holder fails at once with `WorkdirBusy` (a ValueError: the command line exits 2) naming the
holder's PID and host. The kernel drops the lock when the holder's process dies, however it dies,
so a lock left by a killed run is taken over by the next one without any cleanup.

Multi-process runs: only process 0 writes the workdir's files (config.json, the logs, samples;
`Run.is_chief`), so only process 0 takes the lock, and every process learns whether it got it, so
all of them stop together. On a filesystem without flock support (ENOLCK, EOPNOTSUPP) there is a
warning and no lock. A process forked by the holder (without exec) shares the lock until it exits.

`reconcile_logs(workdir, step)` makes metrics.jsonl and eval.jsonl hold only what the run at
`step` wrote: complete, parseable rows with `step <= step`, each file rewritten atomically (temp
file in the same folder, fsync, os.replace) and only when something is dropped. Rows of one step
are not deduplicated (`genjax eval` may add rows for a step the run already evaluated).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import jax
import numpy as np

from genjax.errors import UsageError
from genjax.parallel import maybe_initialize

log = logging.getLogger("genjax")

LOCK_FILE = ".lock"
LOG_FILES = ("metrics.jsonl", "eval.jsonl")
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


class WorkdirBusy(UsageError):
    """Another live process holds the workdir's lock."""


class WorkdirLock:
    """An exclusive flock on `<workdir>/.lock` (created, with the workdir, when missing)."""

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir)
        self.path = self.workdir / LOCK_FILE
        self._file = None

    def acquire(self) -> None:
        """Takes the lock or raises WorkdirBusy at once; never waits."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # not "w": the file is not ours to truncate before we hold the lock
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(f)
            f.close()
            raise WorkdirBusy(self._busy_message(holder)) from None
        except OSError as e:
            f.close()
            if e.errno not in _NO_FLOCK:
                raise
            log.warning("%s: this filesystem has no flock (%s); the workdir is not locked", self.path, e.strerror)
            return
        f.seek(0)
        f.truncate()
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "argv": sys.argv}
        f.write(json.dumps(holder) + "\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        """Empties the file and drops the lock (a no-op when not held)."""
        if self._file is not None:
            f, self._file = self._file, None
            with contextlib.suppress(OSError):
                f.truncate(0)
                f.flush()
            f.close()  # closing the last descriptor drops the flock

    @property
    def held(self) -> bool:
        return self._file is not None

    def _busy_message(self, holder: dict[str, Any]) -> str:
        who = f"PID {holder['pid']} on host {holder.get('host', '?')}" if "pid" in holder else "another process"
        return (
            f"workdir {self.workdir} is in use by {who} (it holds {self.path}): another genjax train or eval "
            "writes there; wait for it to finish or stop it, or use another --workdir"
        )

    def __enter__(self) -> WorkdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_holder(f: Any) -> dict[str, Any]:
    """The holder's JSON line; it may be a moment late (written right after the flock)."""
    for _ in range(20):
        f.seek(0)
        text = f.read().strip()
        if text:
            with contextlib.suppress(ValueError):
                holder = json.loads(text.splitlines()[0])
                if isinstance(holder, dict):
                    return holder
        time.sleep(0.025)
    return {}


@contextlib.contextmanager
def lock_workdir(workdir: str | Path, distributed: Any = None) -> Iterator[WorkdirLock]:
    """Holds the workdir's lock on process 0 for the block; raises WorkdirBusy on every process
    when process 0 cannot take it. `distributed` (config.distributed) initialises a multi-process
    job first, as `jax.process_index()` needs."""
    if distributed is not None:
        maybe_initialize(distributed)
    lock = WorkdirLock(workdir)
    error = None
    if jax.process_index() == 0:
        try:
            lock.acquire()
        except WorkdirBusy as e:
            error = e
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        busy = np.asarray(multihost_utils.process_allgather(np.int32(error is not None)))
        if error is None and int(busy.reshape(-1)[0]):
            error = WorkdirBusy(f"workdir {workdir} is in use: process 0 could not lock {lock.path}")
    if error is not None:
        raise error
    try:
        yield lock
    finally:
        lock.release()


def reconcile_logs(workdir: str | Path, step: int) -> dict[str, int]:
    """Keeps the rows of metrics.jsonl and eval.jsonl up to `step`; returns {file: lines dropped}."""
    dropped = {name: keep_rows_through(Path(workdir) / name, step) for name in LOG_FILES}
    for name, n in dropped.items():
        if n:
            log.warning("%s: dropped %d row(s) past step %d or torn, written after the checkpoint", name, n, step)
    return dropped


def keep_rows_through(path: Path, step: int) -> int:
    """Rewrites `path` (atomically, when anything goes) with only its complete, parseable JSON rows
    whose `step` is at most `step`, in their order; returns how many lines went."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    lines = data.split(b"\n")
    torn = lines.pop()  # after the last newline: b"" unless the last row was cut off
    kept = [line for line in lines if _row_step(line) <= step]
    dropped = len(lines) - len(kept) + (1 if torn else 0)
    if dropped:
        _atomic_write(path, b"".join(line + b"\n" for line in kept))
    return dropped


def _row_step(line: bytes) -> float:
    """The row's step; infinity for a line that is no JSON object with an integer step."""
    try:
        row = json.loads(line)
    except ValueError:  # UnicodeDecodeError included
        return float("inf")
    step = row.get("step") if isinstance(row, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else float("inf")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OSError(e.errno, f"cannot rewrite {path} (left unchanged): {e.strerror or e}") from e
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
