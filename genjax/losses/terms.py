"""The loss of each player of a GAN-like objective as a list of weighted terms.

A term is a small frozen object: its hyper-parameters, its `weight` w_t, its lazy interval
`every` (k_t) and its metric `name` are fields, and it is called as

    term(io: TermInputs, rng, state) -> TermOutput(value [N], metrics, state)

where `io` holds what the objective computed in this loss evaluation (the discriminator's
outputs and inputs, the latents, ...), `rng` a key for terms that draw, and `state` the term's
own non-trainable collection (`init_state`; path length's running mean). N is the batch B, or
B / m when the value belongs to the discriminator's output on packs of m samples (PacGAN);
values never reduce over the batch. `apply_terms` adds a player's terms in order,

    L = sum_t w_t v_t,    v_t = k_t * value_t on steps divisible by k_t, else 0

(lazy regularisation, Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN", sec. 3.1: the same expected strength at 1 / k_t of the cost; k_t = 1 evaluates the
term on every step), and repeats each pack's value to its m samples.

Shapes: D's inputs `real`, `fake` [N, ...]; its outputs `d_real`, `d_fake` [N]; `critic` is D
in eval mode on inputs like `real` (penalties differentiate it w.r.t. its input, example by
example: output i depends on input i only).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from genjax.losses import regularizers as reg
from genjax.losses.gan import AdversarialLoss, TopK, top_k_weights

Array = jax.Array
Collections = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class TermInputs:
    """What one loss evaluation computed, for its terms; fields a player's terms do not read
    may be None.

    step:            int32 train step.
    d_fake, d_real:  [N] D's raw outputs on generated and real examples (d_real: in the
                     generator's evaluation only when a term `needs_real`).
    real, fake:      [N, ...] the inputs D saw (after its input transforms).
    critic:          D in eval mode, [M, ...] -> [M], on inputs like `real`.
    latents:         (z [B, Z], labels [B] or None) of the generated examples.
    mapping:         a style-based G's mapping, (z, labels) -> w [B, L, W_dim].
    synthesis:       its synthesis, (w, rng) -> images [B, H, W, C].
    pairs:           {name: (output, target)} [B, ...] each, for reconstruction terms
                     (CycleGAN's cycle and identity).
    """

    step: Array
    d_fake: Array | None = None
    d_real: Array | None = None
    real: Array | None = None
    fake: Array | None = None
    critic: Callable[[Array], Array] | None = None
    latents: tuple[Array, Array | None] | None = None
    mapping: Callable[[Array, Array | None], Array] | None = None
    synthesis: Callable[[Array, Array], Array] | None = None
    pairs: Mapping[str, tuple[Array, Array]] = dataclasses.field(default_factory=dict)


class TermOutput(NamedTuple):
    value: Array  # [N] per example (or per pack)
    metrics: Mapping[str, Array] = {}  # further metrics of the term (scalars or [N])
    state: Collections = {}  # the term's new state ({} for stateless terms)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Term:
    """Base of the terms: weight w, lazy interval k (1: every step), metric name."""

    weight: float = 1.0
    every: int = 1
    name: str
    # whether the generator's evaluation must compute D(real) for this term
    needs_real: ClassVar[bool] = False

    def init_state(self) -> Collections:
        """The term's initial state ({}: stateless)."""
        return {}

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiscriminatorLoss(Term):
    """The discriminator's adversarial loss, `loss.discriminator(D(x), D(G(z)))` [N]."""

    loss: AdversarialLoss
    name: str = "adv"

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        return TermOutput(self.loss.discriminator(io.d_real, io.d_fake))


@dataclasses.dataclass(frozen=True, kw_only=True)
class GeneratorLoss(Term):
    """The generator's adversarial loss, `loss.generator(D(G(z)), D(x))` [N]; with `top_k`, times
    the top-k weights of D(G(z)) (Sinha et al. 2020, "Top-k Training of GANs": the mean comes
    from the k most realistic samples only), logging `topk_fraction`."""

    loss: AdversarialLoss
    top_k: TopK | None = None
    name: str = "adv"

    @property
    def needs_real(self) -> bool:  # type: ignore[override]
        return self.loss.needs_real_for_generator

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        value = self.loss.generator(io.d_fake, io.d_real)
        if self.top_k is None:
            return TermOutput(value)
        fraction = self.top_k.fraction(io.step)
        return TermOutput(value * top_k_weights(io.d_fake, fraction), {"topk_fraction": fraction})


@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientPenalty(Term):
    """WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. 3):
    (||grad D(x_hat)||_2 - target)^2 at x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per
    example; target 0 is the zero-centred penalty (Thanh-Tung et al. 2019)."""

    target: float = 1.0
    name: str = "gp"

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        return TermOutput(reg.gradient_penalty(io.critic, io.real, io.fake, rng, self.target))


@dataclasses.dataclass(frozen=True, kw_only=True)
class R1(Term):
    """R1 (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?",
    eq. 9): ||grad_x D(x)||^2 on real data; the paper's gamma / 2 is the weight."""

    name: str = "r1"

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        return TermOutput(reg.r1_penalty(io.critic, io.real))


@dataclasses.dataclass(frozen=True, kw_only=True)
class R2(Term):
    """R2 (Mescheder et al. 2018, eq. 10): ||grad_x D(x)||^2 on generated data; weight gamma / 2."""

    name: str = "r2"

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        return TermOutput(reg.r2_penalty(io.critic, io.fake))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Drift(Term):
    """ProGAN's drift term (Karras et al. 2018, "Progressive Growing of GANs", appendix A.1):
    D(x)^2 on real data, keeping the critic's output near 0; the weight is eps_drift."""

    name: str = "drift"

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        return TermOutput(jnp.square(io.d_real))


@dataclasses.dataclass(frozen=True, kw_only=True)
class PathLength(Term):
    """StyleGAN2's path-length regulariser (Karras et al. 2020, eq. 4): (||J_w^T y||_2 - a)^2
    with y ~ N(0, I) / sqrt(H W) and a the running mean of the lengths, a <- a + decay (mean
    length - a), kept in the term's state {"pl_mean": a}. Needs a style-based generator
    (`io.mapping`, `io.synthesis`); its draws: (synthesis noise, y) = split(rng)."""

    decay: float = 0.01
    name: str = "path_length"

    def init_state(self) -> Collections:
        return {"pl_mean": jnp.zeros((), jnp.float32)}

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        k_syn, k_y = jax.random.split(rng)
        ws = io.mapping(*io.latents)
        pen, pl_mean, _ = reg.path_length_penalty(
            lambda w: io.synthesis(w, k_syn), ws, k_y, state["pl_mean"].astype(ws.dtype), self.decay
        )
        return TermOutput(pen.astype(jnp.float32), state={"pl_mean": pl_mean.astype(jnp.float32)})


class Reconstruction(Term):  # Term's fields, `name` naming the pair
    """L1 reconstruction |output - target|_1, averaged over an example's elements, of the pair
    `io.pairs[name]`: CycleGAN's cycle consistency |F(G(a)) - a| (Zhu et al. 2017, eq. 2) and
    identity |F(a) - a| (sec. 5.2, after Taigman et al. 2017)."""

    def __call__(self, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
        output, target = io.pairs[self.name]
        return TermOutput(jnp.mean(jnp.abs(output - target), axis=tuple(range(1, output.ndim))))


def _evaluate(term: Term, io: TermInputs, rng: Array, state: Collections) -> TermOutput:
    """The term, lazily: every-th step scaled by `every`, else zeros and the state unchanged."""
    if term.every <= 1:
        return term(io, rng, state)

    def on() -> TermOutput:
        out = term(io, rng, state)
        return out._replace(value=term.every * out.value)

    def off() -> TermOutput:
        shapes = jax.eval_shape(lambda: term(io, rng, state))
        zeros = lambda t: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), t)  # noqa: E731
        same = jax.tree.unflatten(jax.tree.structure(shapes.state), jax.tree.leaves(state))
        return TermOutput(zeros(shapes.value), zeros(shapes.metrics), same)

    return jax.lax.cond(io.step % term.every == 0, on, off)


def apply_terms(
    terms: Sequence[Term], io: TermInputs, rng: Array, state: Collections, size: int
) -> tuple[Array, dict[str, Array], dict[str, Collections]]:
    """sum_t w_t v_t over `terms` in order -> (loss [size], metrics, new states).

    Each value of N = size / m entries (one per pack of m samples) is repeated to the m samples
    of its pack, so the loss's mean is the mean over packs. `state` holds the stateful terms'
    states by name; metrics hold each term's unweighted value v_t under its name (per pack)
    and its further metrics."""
    loss, metrics, states = None, {}, {}
    for term in terms:
        out = _evaluate(term, io, rng, state.get(term.name, {}))
        metrics[term.name] = out.value
        metrics.update(out.metrics)
        if out.state:
            states[term.name] = out.state
        weighted = term.weight * out.value
        if len(weighted) != size:
            weighted = jnp.repeat(weighted, size // len(weighted))
        loss = weighted if loss is None else loss + weighted
    return loss, metrics, states
