"""DDIM and DPM-Solver++(2M) against diffusers' schedulers (an established implementation), run
on the same closed-form model (the exact denoiser of Gaussian data, as epsilon prediction), the
same DDPM linear schedule, the same "trailing" timesteps and the same initial noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.diffusion import samplers, schedules

diffusers = pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")


def _eps_model(process, denoise):
    """eps(x_t, t) = (x_t - alpha_t D(x_t / alpha_t, t)) / sigma_t, as a torch callable."""

    def eps(x_t, t):
        t = jnp.float32(int(t))
        alpha, sigma = process.alpha_sigma(t)
        x = jnp.asarray(x_t.numpy())
        return torch.from_numpy(np.array((x - alpha * denoise(x / alpha, t)) / sigma))

    return eps


def _diffusers_loop(scheduler, eps, x_T, steps):
    scheduler.set_timesteps(steps)
    x = x_T
    for t in scheduler.timesteps:
        x = scheduler.step(eps(x, t), t, x).prev_sample
    return x.numpy()


@pytest.mark.parametrize("name,steps", [("ddim", 10), ("dpmpp_2m", 20), ("dpmpp_2m", 50)])
def test_matches_diffusers(name, steps, gaussian):
    process = schedules.DDPM()  # linear betas 1e-4 .. 0.02, T = 1000
    denoise = gaussian.denoiser(process)
    common = dict(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", timestep_spacing="trailing"
    )
    if name == "ddim":
        scheduler = diffusers.DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True)
    else:  # steps >= 15, where diffusers uses the second-order update up to the final step
        scheduler = diffusers.DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero"
        )
    x_T = np.random.default_rng(0).standard_normal((256, 2)).astype(np.float32)
    theirs = _diffusers_loop(scheduler, _eps_model(process, denoise), torch.from_numpy(x_T), steps)

    grid = samplers.make_grid(process, steps)
    y_T = jnp.asarray(x_T) / process.alpha_sigma(grid.t[0])[0]  # the EDM view: y = x / alpha
    ours = jax.jit(lambda y: samplers.SAMPLERS[name](denoise, y, grid, jax.random.key(0)))(y_T)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)  # measured: <= 1.5e-6
