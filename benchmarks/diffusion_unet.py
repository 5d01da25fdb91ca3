"""Train-step time and sampling throughput of genjax's UNet against the same network in PyTorch
(diffusers' UNet2DModel, equal parameter count checked), measured in the same process, CPU.

    python benchmarks/diffusion_unet.py [--batch 32] [--size 32] [--ch 64] [--repeats 5] [--threads 2]

Prints one JSON line: seconds per train step (forward + backward + Adam) and images/s of a 20-step
DDIM sampler for each framework, and the ratios genjax / torch (time) and torch / genjax
(throughput's inverse), so > 1 means genjax is slower.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import genjax

genjax.configure_cpu()  # the command line's CPU fast path, before JAX starts


def _timeit(fns: dict, repeats: int) -> dict:
    """Median seconds per call of each function, timed in interleaved rounds so that a change in
    machine load affects every framework alike. Each timed call follows an untimed one of the same
    function: PyTorch's OpenMP threads keep spinning for a while after a parallel region, which
    would otherwise be charged to whatever runs next."""
    for fn in fns.values():
        fn()  # warm-up (and compile)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            fn()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--ch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample_steps", type=int, default=20)
    args = ap.parse_args()

    import diffusers
    import torch

    torch.set_num_threads(args.threads)
    from genjax.diffusion import losses, parameterization, samplers, schedules
    from genjax.nn.unet import UNet

    ch, b, s = args.ch, args.batch, args.size
    mult = (1, 2, 2)
    net = UNet(ch=ch, ch_mult=mult, num_res_blocks=1, attn_resolutions=(s // 2,), dropout=0.0)
    ref = diffusers.UNet2DModel(
        sample_size=s,
        in_channels=3,
        out_channels=3,
        block_out_channels=tuple(ch * m for m in mult),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=None,
        norm_eps=1e-6,
    )
    x = jax.random.normal(jax.random.key(0), (b, s, s, 3))
    t = jnp.full((b,), 500.0)
    params = net.init(jax.random.key(1), x, t)["params"]
    n_jax = sum(math.prod(p.shape) for p in jax.tree.leaves(params))
    n_torch = sum(p.numel() for p in ref.parameters())
    assert n_jax == n_torch, (n_jax, n_torch)

    process = schedules.DDPM()
    tx = optax.adam(2e-4)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, rng):
        def loss(p):
            return jnp.mean(
                losses.denoising_loss(lambda i, c: net.apply({"params": p}, i, c), process, "eps", x, rng)[0]
            )

        value, g = jax.value_and_grad(loss)(params)
        u, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, u), opt_state, value

    state = {"p": params, "o": opt_state}

    def jax_step():
        state["p"], state["o"], v = step(state["p"], state["o"], x, jax.random.key(2))
        v.block_until_ready()

    opt = torch.optim.Adam(ref.parameters(), lr=2e-4)
    xt = torch.randn(b, 3, s, s)
    abar = torch.tensor(process.alpha_bar, dtype=torch.float32)

    def torch_step():
        tt = torch.randint(0, 1000, (b,))
        eps = torch.randn_like(xt)
        a = abar[tt].view(-1, 1, 1, 1)
        noisy = a.sqrt() * xt + (1 - a).sqrt() * eps
        loss = ((ref(noisy, tt).sample - eps) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    k = args.sample_steps

    @jax.jit
    def jax_sample(params, rng):
        d = lambda y, tt: parameterization.denoise(
            lambda i, c: net.apply({"params": params}, i, c),
            "eps",
            process,
            process.alpha_sigma(tt)[0] * y,
            jnp.full((b,), tt),
        )
        return samplers.sample("ddim", d, process, rng, (b, s, s, 3), k)

    def jax_sampling():
        jax_sample(state["p"], jax.random.key(3)).block_until_ready()

    ts = process.sampling_times(k)

    @torch.no_grad()
    def torch_sampling():  # the same DDIM (eta = 0) recursion in x-space
        xs = torch.randn(b, 3, s, s)
        ab = process.alpha_bar
        for i, ti in enumerate(ts):
            a = float(ab[int(ti)])
            a_next = float(ab[int(ts[i + 1])]) if i + 1 < len(ts) else 1.0
            eps = ref(xs, torch.full((b,), int(ti))).sample
            x0 = (xs - math.sqrt(1 - a) * eps) / math.sqrt(a)
            xs = math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * eps

    results = _timeit({"jax_step": jax_step, "torch_step": torch_step}, args.repeats)
    results |= _timeit({"jax_sample": jax_sampling, "torch_sample": torch_sampling}, args.repeats)
    out = {
        "config": vars(args)
        | {"params": n_jax, "device": jax.devices()[0].platform, "xla_flags": os.environ.get("XLA_FLAGS", "")},
        "train_step_s": {"genjax": results["jax_step"], "torch": results["torch_step"]},
        "train_step_ratio_genjax_over_torch": results["jax_step"] / results["torch_step"],
        "sample_images_per_s": {"genjax": b / results["jax_sample"], "torch": b / results["torch_sample"]},
        "sample_time_ratio_genjax_over_torch": results["jax_sample"] / results["torch_sample"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
