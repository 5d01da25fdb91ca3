"""The `label` option of the samplers of class-conditional likelihood models (PixelCNN, WaveNet)."""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp


def sample_labels(rng: jax.Array, num: int, num_classes: int | None, options: Mapping[str, Any], family: str):
    """[num] int32 labels for sampling, or None for an unconditional model (num_classes None).

    A conditional model takes the option `label=k` (every sample of class k), else draws labels
    uniformly; an unconditional one takes no options. Anything else is a ValueError that says so.
    """
    if num_classes is None:
        if options:
            raise ValueError(
                f"the sampler of an unconditional {family} takes no options, got {sorted(options)} "
                "(objective.conditional=true on labelled data makes a class-conditional one)"
            )
        return None
    unknown = sorted(set(options) - {"label"})
    if unknown:
        raise ValueError(f"the {family} sampler takes only the option label, got {unknown}")
    label = options.get("label")
    if label is None:
        return jax.random.randint(rng, (num,), 0, num_classes)
    if not 0 <= int(label) < num_classes:
        raise ValueError(f"label={label} is outside [0, {num_classes})")
    return jnp.full((num,), int(label), jnp.int32)


class ClassLabels:
    """The `Conditional` label methods of a class-conditional likelihood model (a dataclass with a
    `num_classes` field); `family` names it in errors."""

    family: str
    num_classes: int

    def _labels(self, y: jax.Array | None) -> jax.Array:
        if y is None:
            raise ValueError(f"a class-conditional {self.family} scores labelled batches: the batch has no 'y'")
        return y.astype(jnp.int32)

    def sample_labels(self, rng: jax.Array, num: int) -> jax.Array:
        """[num] labels drawn uniformly from the classes (`Conditional`)."""
        return jax.random.randint(rng, (num,), 0, self.num_classes)
