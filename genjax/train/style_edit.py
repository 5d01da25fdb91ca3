"""A style-based GAN's style mixing and truncation grids, and grids along interpretable latent
directions (`genjax.metrics.directions`) of GANs, autoencoders and diffusion models (`genjax edit`).

- Style mixing (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", sec. 3.1 and
  fig. 3): images of source A take the styles of source B at some synthesis layers: B's coarse
  styles (4^2 - 8^2, w indices [0, 4)) bring its pose and shape, the middle ones (16^2 - 32^2,
  [4, 8)) smaller features, the fine ones ([8, num_ws)) colour and micro-structure.
- Truncation (sec. 3.2 and fig. 8): w' = w_avg + psi (w - w_avg); psi = 0 is the average image
  for every z, psi = 1 the untruncated one, psi < 0 the "anti-face".
Noise inputs are off (StyleGAN2's noise_mode "const"), so a grid's cells differ only by style.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from genjax.metrics import directions
from genjax.diffusion import samplers
from genjax.objectives.base import Autoencoder
from genjax.objectives.diffusion import Diffusion
from genjax.objectives.gan import GAN
from genjax.train.edit import Grid, eval_examples, from_diffused, label_array, time_grid

CROSSOVERS = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}  # w indices copied from source B
ATTRIBUTES = {  # measured on images [N, ...] -> [N]
    "brightness": lambda x: x.reshape(len(x), -1).mean(1),
    "contrast": lambda x: x.reshape(len(x), -1).std(1),
}


def _style_gan(run: Any, what: str) -> GAN:
    objective = run.objective
    if not (isinstance(objective, GAN) and objective.nets.style_based):
        raise ValueError(f"`genjax edit {what}` needs a style-based GAN run (objective.arch='stylegan2')")
    return objective


def _labels(objective: GAN, label: int | None, num: int) -> jax.Array | None:
    """A GAN has no null class: unset labels are class 0."""
    return label_array(objective, label, num, unset=0)


def mapped(objective: GAN, variables: dict, z: jax.Array, y: jax.Array | None, psi: float = 1.0) -> jax.Array:
    """ws [B, num_ws, w_dim] = the mapping of z, truncated with psi."""
    return objective.nets.generator.apply(variables, z, y, False, truncation_psi=psi, method="map")


def synthesized(objective: GAN, variables: dict, ws: jax.Array) -> jax.Array:
    """Images [B, ...] in the data range of ws [B, num_ws, w_dim], without noise inputs."""
    x = objective.nets.generator.apply(variables, ws, "const", method="synthesize")
    return x * objective.scale + objective.shift


def style_mix(
    run: Any, num_a: int, num_b: int, crossover: str, seed: int, *, label: int | None = None, ema_index: int | None = 0
) -> Grid:
    """A (num_a + 1) x (num_b + 1) grid: the top row B's images (after an empty cell), then per A
    its image followed by A with B's `crossover` styles (`CROSSOVERS`)."""
    objective = _style_gan(run, "style-mix")
    if crossover not in CROSSOVERS:
        raise ValueError(f"--crossover {crossover!r} is unknown; choose one of {list(CROSSOVERS)}")
    params, state = run.state.sampling_params(ema_index), run.state.model_state
    k_a, k_b = jax.random.split(jax.random.PRNGKey(seed))
    z_a, z_b = jax.random.normal(k_a, (num_a, objective.z_dim)), jax.random.normal(k_b, (num_b, objective.z_dim))

    def grid(p, s, z_a, z_b):
        v = objective.generator_variables(p, s)
        w_a, w_b = (
            mapped(objective, v, z_a, _labels(objective, label, num_a)),
            mapped(objective, v, z_b, _labels(objective, label, num_b)),
        )
        n = w_a.shape[1]
        lo, hi = CROSSOVERS[crossover]
        if lo >= n:
            raise ValueError(
                f"--crossover {crossover} copies w indices >= {lo}; this generator has only {n} (its resolution is too low)"
            )
        from_b = ((jnp.arange(n) >= lo) & (jnp.arange(n) < (hi or n)))[None, None, :, None]
        mixed = jnp.where(from_b, w_b[None], w_a[:, None])  # [A, B, n, d]
        images = synthesized(objective, v, jnp.concatenate([w_a, w_b, mixed.reshape(-1, *w_a.shape[1:])]))
        return (
            images[:num_a],
            images[num_a : num_a + num_b],
            images[num_a + num_b :].reshape(num_a, num_b, *images.shape[1:]),
        )

    with jax.set_mesh(run.mesh):
        a, b, mixed = (np.asarray(v) for v in jax.jit(grid)(params, state, z_a, z_b))
    blank = np.full_like(a[:1], run.metadata.value_range[0])
    rows = [np.concatenate([blank, b])] + [np.concatenate([a[i : i + 1], mixed[i]]) for i in range(num_a)]
    return Grid(np.concatenate(rows), num_b + 1, {"crossover": crossover, "w_indices_from_b": CROSSOVERS[crossover]})


def truncation(
    run: Any, num: int, psis: Sequence[float], seed: int, *, label: int | None = None, ema_index: int | None = 0
) -> Grid:
    """One row per latent z, one column per truncation psi."""
    objective = _style_gan(run, "truncation")
    params, state = run.state.sampling_params(ema_index), run.state.model_state
    z = jax.random.normal(jax.random.PRNGKey(seed), (num, objective.z_dim))
    y = _labels(objective, label, num)
    columns = []
    with jax.set_mesh(run.mesh):
        for psi in psis:

            def draw(p, s, z, psi=float(psi)):
                v = objective.generator_variables(p, s)
                return synthesized(objective, v, mapped(objective, v, z, y, psi))

            columns.append(np.asarray(jax.jit(draw)(params, state, z)))
    return Grid(
        np.stack(columns, axis=1).reshape(num * len(psis), *columns[0].shape[1:]), len(psis), {"psis": list(psis)}
    )


def latent_space(
    run: Any, ema_index: int | None, sample_steps: int | None = None
) -> tuple[str, Callable[[jax.Array], jax.Array], Callable[[jax.Array], jax.Array]]:
    """(the space's name, draw(key, n) -> latents [n, D], render(latents [n, D]) -> images) of a
    GAN (a style-based G's W, else Z), an autoencoder (its prior N(0, I) over the flattened
    latent) or a diffusion model (x_T, the initial noise that deterministic DDIM with
    `sample_steps` steps maps to an image: Song et al. 2021, sec. 5.3), all jitted."""
    objective, params, state = run.objective, run.state.sampling_params(ema_index), run.state.model_state
    if isinstance(objective, Diffusion):
        grid, shape = time_grid(objective, sample_steps), objective.shape
        prior_std = objective.process.prior_std(grid.t[0])

        def render_noise(y):
            denoise = objective.denoiser(params, label_array(objective, None, y.shape[0]))
            x = samplers.ddim(denoise, y.reshape(y.shape[0], *shape), grid, jax.random.PRNGKey(0), eta=0.0)
            return from_diffused(objective, state, x)

        def draw_noise(key, n):
            return jax.random.normal(key, (n, int(np.prod(shape)))) * prior_std

        return f"x_T (DDIM, {len(grid.t)} steps)", jax.jit(draw_noise, static_argnums=1), jax.jit(render_noise)
    if isinstance(objective, GAN):
        v = objective.generator_variables(params, state)
        if objective.nets.style_based:
            num_ws = mapped(objective, v, jnp.zeros((1, objective.z_dim)), _labels(objective, None, 1)).shape[1]

            def draw(key, n):
                return mapped(objective, v, jax.random.normal(key, (n, objective.z_dim)), _labels(objective, None, n))[
                    :, 0
                ]

            def render(w):
                return synthesized(objective, v, jnp.broadcast_to(w[:, None], (w.shape[0], num_ws, w.shape[1])))

            return "W", jax.jit(draw, static_argnums=1), jax.jit(render)
        cols = {k: c for k, c in v.items() if k != "params"}

        def render_z(z):
            y = jnp.arange(z.shape[0]) % objective.num_classes if objective.conditional else None
            return objective.nets.sample(params, cols, z, y, jax.random.PRNGKey(0)) * objective.scale + objective.shift

        return (
            "Z",
            jax.jit(lambda key, n: jax.random.normal(key, (n, objective.z_dim)), static_argnums=1),
            jax.jit(render_z),
        )
    if isinstance(objective, Autoencoder):
        shape = jax.eval_shape(lambda x: objective.encode(params, x, state), jnp.asarray(eval_examples(run, 1))).shape[
            1:
        ]
        size = int(np.prod(shape))

        def decode(z):
            return objective.decode(params, z.reshape(z.shape[0], *shape), state)

        return "Z", jax.jit(lambda key, n: jax.random.normal(key, (n, size)), static_argnums=1), jax.jit(decode)
    raise ValueError(
        f"`genjax edit direction` needs a GAN, an autoencoder or a diffusion run; the {run.config.objective.name!r} objective has no latent space to search"
    )


def direction(
    run: Any,
    method: str,
    index: int,
    attribute: str,
    rows: int,
    steps: int,
    seed: int,
    *,
    num_fit: int = 512,
    limit: float = 3.0,
    ema_index: int | None = 0,
    sample_steps: int | None = None,
) -> Grid:
    """Rows of `rows` latents moved along one direction, in `steps` offsets from -limit to +limit
    standard deviations of the latents' projection on it: method "pca" the `index`-th principal
    direction of `num_fit` sampled latents (GANSpace), "supervised" the unit normal separating
    them by the rendered images' `attribute` above its median (InterFaceGAN). info: the method,
    the space, and the attribute's mean over the rows at each offset. A diffusion model's x_T is
    N(0, s^2 I), isotropic: it has no principal directions, only supervised ones."""
    if method not in ("pca", "supervised"):
        raise ValueError(f"--method {method!r} is unknown; choose pca or supervised")
    if attribute not in ATTRIBUTES:
        raise ValueError(f"--attribute {attribute!r} is unknown; choose one of {list(ATTRIBUTES)}")
    if method == "pca" and isinstance(run.objective, Diffusion):
        raise ValueError(
            "--method pca finds the directions a learned latent distribution varies most along; a diffusion "
            "model's initial noise x_T is isotropic N(0, s^2 I) and has none: use --method supervised"
        )
    space, draw, render = latent_space(run, ema_index, sample_steps)
    with jax.set_mesh(run.mesh):
        fit = np.asarray(draw(jax.random.PRNGKey(seed), num_fit), np.float64)
        starts = draw(jax.random.PRNGKey(seed + 1), rows)
        info: dict = {"method": method, "space": space, "attribute": attribute}
        if method == "pca":
            v, variances = directions.pca_directions(fit, index + 1)
            d, info["variance"] = v[index], float(variances[index])
        else:
            chunk = run.config.sample.batch_size
            images = np.concatenate(
                [np.asarray(render(jnp.asarray(fit[i : i + chunk], jnp.float32))) for i in range(0, num_fit, chunk)]
            )
            d = directions.supervised_direction(fit, directions.median_labels(ATTRIBUTES[attribute](images)))
        offsets = np.linspace(-limit, limit, steps) * float(np.std(fit @ d))
        path = directions.move(np.asarray(starts), d, offsets).reshape(rows * steps, -1)
        images = np.asarray(render(jnp.asarray(path, jnp.float32)))
    info["attribute_along_path"] = ATTRIBUTES[attribute](images).reshape(rows, steps).mean(0).tolist()
    info["direction"] = d.tolist()
    return Grid(images, steps, info)
