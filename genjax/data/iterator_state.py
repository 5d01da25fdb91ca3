"""The saved state of a training stream, checked before a restored iterator trusts it.

A state is {"version", "next_batch", **fingerprint}: the position of the next batch and what the
stream depends on (source, split, batch size, process layout, shuffle, seeds, and the stage's
first example for staged streams). A checkpoint's `data` item holds one per process; what was
altered or damaged there is refused here, with a `DataError` saying what is wrong and what to do.
"""

from __future__ import annotations

from typing import Any

from genjax.data.checks import DataError

STATE_VERSION = 1
FINGERPRINT_DEFAULTS = {"start_example": 0}  # fingerprint entries left out of states when default
_HOW = (
    "it was altered or damaged after saving: resume from an earlier checkpoint of the run (move this "
    "step's directory in <workdir>/checkpoints aside) or train into a new --workdir"
)


def invalid_state(problem: str) -> DataError:
    """The error of a saved state that no stream can resume from."""
    return DataError(f"the saved data-iterator state (a checkpoint's `data` item) is invalid: {problem}; {_HOW}")


def state_object(state: Any) -> dict:
    """`state` if it is a JSON object (dict)."""
    if not isinstance(state, dict):
        raise invalid_state(f"expected a JSON object, got {type(state).__name__}")
    return state


def int_in(value: Any, name: str, stop: int) -> int:
    """`value` if it is an int (not a bool) in [0, stop)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < stop:
        raise invalid_state(f"{name} must be an int in [0, {stop}), got {value!r}")
    return value


def restored_position(state: Any, fingerprint: dict, num_batches: int, step: int | None = None) -> int:
    """The position of the next batch that `state` holds, after checking it: a JSON object of this
    version with exactly the keys of a state, the same stream (`fingerprint`, values compared with
    their types), and next_batch an int in [0, num_batches), equal to `step` when given (each train
    step takes one batch, so a checkpoint of `step` steps has consumed `step` batches)."""
    state = state_object(state)
    required = {"version", "next_batch", *fingerprint} - set(FINGERPRINT_DEFAULTS)
    missing, unexpected = sorted(required - set(state)), sorted(set(state) - required - set(FINGERPRINT_DEFAULTS))
    if missing or unexpected:
        problems = [f"{name} keys {ks}" for name, ks in (("missing", missing), ("unexpected", unexpected)) if ks]
        raise invalid_state(" and ".join(problems))
    if type(state["version"]) is not int or state["version"] != STATE_VERSION:
        raise invalid_state(f"version must be {STATE_VERSION}, got {state['version']!r}")
    saved, now = {**FINGERPRINT_DEFAULTS, **state}, {**FINGERPRINT_DEFAULTS, **fingerprint}
    changed = [
        f"{k}: saved {saved.get(k)!r}, now {v!r}"
        for k, v in now.items()
        if type(saved.get(k)) is not type(v) or saved.get(k) != v
    ]
    if changed:
        raise DataError(
            "the saved data-iterator state belongs to a different input stream ("
            + "; ".join(changed)
            + "); restore with the data config and processes it was saved with"
        )
    position = int_in(state["next_batch"], "next_batch", num_batches)
    if step is not None and position != step:
        raise invalid_state(
            f"next_batch={position}, but the checkpoint was saved after {step} train steps on this stream "
            f"(one batch each), so next_batch must be {step}"
        )
    return position
