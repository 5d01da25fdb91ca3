"""shakespeare_char in genjax against a nanoGPT-style PyTorch model of the same size, side by side
on the same batches, CPU; and KV-cache sampling against re-running the full forward pass.

    python benchmarks/shakespeare_char.py --data ../shared/data/shakespeare [--steps 600]
        [--eval_every 100] [--layers 4] [--heads 4] [--dim 128] [--seq_len 64] [--batch 12]
        [--threads 2] [--sample_context 256]

Training: genjax's own train step (`genjax.train.build_run` + `compile_stage` of the
shakespeare_char config: AdamW, cosine schedule, clipping) and a PyTorch transformer written
here with the same layout (pre-norm RMSNorm blocks, RoPE, causal attention, GELU MLP, no biases,
N(0, 0.02) init; parameter count asserted equal), the same optimizer and learning-rate schedule,
fed the same batches in alternation. Every `eval_every` steps both score the same validation
windows (mean next-token cross-entropy, nats/char). Prints a table: median step time and ratio,
validation loss at equal steps, and at equal wall time (each framework's last evaluation within
the faster framework's total train time, `equal_time`); evaluation time is not counted.

Sampling: milliseconds per token of the compiled KV-cache sampler (`genjax.objectives.decoding`) and
of a compiled loop that re-runs the full forward pass over the context for every new token, both
generating `sample_context` tokens from a one-token prompt.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import genjax

genjax.configure_cpu()  # the command line's CPU fast path, before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def torch_model(vocab: int, layers: int, heads: int, dim: int, context: int):
    """nanoGPT's GPT with genjax's choices: RMSNorm, RoPE (rotate-half), no biases."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    half = dim // heads // 2
    freq = 10_000.0 ** (-torch.arange(half, dtype=torch.float32) / half)
    angle = torch.arange(context, dtype=torch.float32)[:, None] * freq[None, :]
    cos, sin = angle.cos()[None, None], angle.sin()[None, None]  # [1, 1, T, D/2]

    def rope(x):  # [B, H, T, D]
        t = x.shape[2]
        x1, x2 = x[..., :half], x[..., half:]
        c, s = cos[:, :, :t], sin[:, :, :t]
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm_attn, self.norm_mlp = nn.RMSNorm(dim, eps=1e-6), nn.RMSNorm(dim, eps=1e-6)
            self.qkv, self.proj = nn.Linear(dim, 3 * dim, bias=False), nn.Linear(dim, dim, bias=False)
            self.fc, self.out = nn.Linear(dim, 4 * dim, bias=False), nn.Linear(4 * dim, dim, bias=False)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.norm_attn(x)).view(b, t, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
            h = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
            x = x + self.proj(h.transpose(1, 2).reshape(b, t, dim))
            return x + self.out(F.gelu(self.fc(self.norm_mlp(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.norm, self.head = nn.RMSNorm(dim, eps=1e-6), nn.Linear(dim, vocab, bias=False)
            for p in self.parameters():
                if p.ndim == 2:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, x):
            h = self.embed(x)
            for block in self.blocks:
                h = block(h)
            return self.head(self.norm(h))

    return GPT()


def equal_time(curves: dict[str, list[tuple[int, float, float]]]) -> tuple[float, dict[str, tuple[int, float]]]:
    """The shorter of the frameworks' total train times, and each one's (step, val loss) at its
    last evaluation within that time. curves: {name: [(step, train seconds, val loss)]}."""
    budget = min(c[-1][1] for c in curves.values())
    return budget, {n: max((s, loss) for s, t, loss in c if t <= budget + 1e-9) for n, c in curves.items()}


def sampling_speed(objective, params, batch: int, context: int, repeats: int = 3) -> dict[str, float]:
    """Seconds per generated token of the KV-cache sampler and of re-running the full forward pass
    over a [batch, context] buffer for each token (greedy, one-token prompt, both compiled), and
    the fraction of equal greedy tokens (1 up to argmax ties broken by rounding)."""
    from genjax.objectives.decoding import generate, next_token

    net = objective.net
    apply = lambda *a: net.apply({"params": params["model"]}, *a)  # noqa: E731
    prompt = jnp.zeros((batch, 1), jnp.int32)
    cached = jax.jit(lambda key: generate(apply, net.init_cache(batch), prompt, context, key, temperature=0.0)[0])

    @jax.jit
    def uncached(key):
        def body(t, tokens):  # the full forward over the buffer; token t from the logits at t - 1
            logits, _ = apply(tokens[:, :-1])
            return tokens.at[:, t].set(next_token(key, logits[:, t - 1], 0.0, 0, 1.0))

        return jax.lax.fori_loop(1, context, body, jnp.zeros((batch, context), jnp.int32))

    out = {}
    for name, fn in (("kv_cache", cached), ("full_forward", uncached)):
        tokens = fn(jax.random.PRNGKey(0)).block_until_ready()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(jax.random.PRNGKey(0)).block_until_ready()
            times.append(time.perf_counter() - t0)
        out[name] = float(np.median(times)) / (context - 1)
        out[f"{name}_tokens"] = np.asarray(tokens)
    same = float(np.mean(out.pop("kv_cache_tokens") == out.pop("full_forward_tokens")))
    return {**out, "same_tokens": same}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="a text file or a folder with train.txt and val.txt")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--eval_every", type=int, default=100)
    ap.add_argument("--eval_windows", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--seq_len", type=int, default=64)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample_context", type=int, default=256)
    ap.add_argument("--sample_batch", type=int, default=4)
    args = ap.parse_args()

    import torch
    from torch.nn import functional as F

    from genjax import data as data_lib
    from genjax.config import load_config
    from genjax.train.build import build_run
    from genjax.train.loop import compile_stage
    from genjax.train.optim import lr_schedule, player_optim_config

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    config = load_config(
        "shakespeare_char",
        [
            f"data.source=text:{args.data}",
            f"data.seq_len={args.seq_len}",
            f"data.batch_size={args.batch}",
            f"objective.num_layers={args.layers}",
            f"objective.num_heads={args.heads}",
            f"objective.dim={args.dim}",
            "objective.dropout=0.0",  # the PyTorch model has none
            f"train.steps={args.steps}",
            "train.async_checkpoint=False",
            "train.progress=False",
        ],
    )
    workdir = tempfile.TemporaryDirectory(prefix="shakespeare_bench_")  # removed when the script ends
    run = build_run(config, workdir.name)
    step_fn = compile_stage(run, run.enter_stage(0))
    vocab = run.metadata.vocab_size
    model = torch_model(vocab, args.layers, args.heads, args.dim, args.seq_len)
    n_jax = sum(x.size for x in jax.tree.leaves(run.state.params))
    n_torch = sum(p.numel() for p in model.parameters())
    assert n_jax == n_torch, (n_jax, n_torch)
    oc = player_optim_config(config, "model")
    schedule = lr_schedule(oc, args.steps)
    opt = torch.optim.AdamW(
        model.parameters(), lr=oc.lr, betas=(oc.b1, oc.b2), eps=oc.eps, weight_decay=oc.weight_decay
    )
    lr_at = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: float(schedule(k)) / oc.lr)

    val = data_lib.load_examples(config.data, args.eval_windows, split="val")["x"]
    val_t = torch.tensor(val, dtype=torch.long)
    objective = run.objective
    jax_val = jax.jit(lambda p, x: objective.loss("model", p, {}, {"x": x}, None, 0).loss.mean())

    def torch_val() -> float:
        with torch.no_grad():
            logits = model(val_t[:, :-1])
            return float(F.cross_entropy(logits.reshape(-1, vocab), val_t[:, 1:].reshape(-1)))

    def torch_step(x: np.ndarray) -> None:
        xt = torch.tensor(x, dtype=torch.long)
        loss = F.cross_entropy(model(xt[:, :-1]).reshape(-1, vocab), xt[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), oc.clip_norm)
        opt.step()
        lr_at.step()

    times = {"genjax": [], "torch": []}
    curves = {"genjax": [(0, 0.0, float(jax_val(run.state.params, val)))], "torch": [(0, 0.0, torch_val())]}
    for step in range(1, args.steps + 1):
        batch = run.next_batch()
        host = np.asarray(batch["x"])
        t0 = time.perf_counter()
        run.state, _ = step_fn(run.state, batch)
        jax.block_until_ready(run.state.params)
        times["genjax"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        torch_step(host)
        times["torch"].append(time.perf_counter() - t0)
        if step % args.eval_every == 0 or step == args.steps:
            curves["genjax"].append((step, sum(times["genjax"]), float(jax_val(run.state.params, val))))
            curves["torch"].append((step, sum(times["torch"]), torch_val()))

    budget, at_time = equal_time(curves)
    median = {n: float(np.median(t[1:])) for n, t in times.items()}  # the first genjax step is warm
    print(
        f"\nshakespeare_char: {args.layers} layers x {args.heads} heads x {args.dim}, context {args.seq_len}, "
        f"batch {args.batch}, {n_jax:,} params, {args.steps} steps, vocab {vocab}, torch threads {args.threads}"
    )
    print("| measure | genjax | PyTorch | genjax / torch |\n|---|---|---|---|")
    print(
        f"| train step (median), ms | {1e3 * median['genjax']:.2f} | {1e3 * median['torch']:.2f} | "
        f"{median['genjax'] / median['torch']:.2f} |"
    )
    print(
        f"| val loss at step {args.steps}, nats/char | {curves['genjax'][-1][2]:.4f} | {curves['torch'][-1][2]:.4f} | |"
    )
    print(
        f"| val loss at equal train time {budget:.1f} s, nats/char (step) | {at_time['genjax'][1]:.4f} "
        f"({at_time['genjax'][0]}) | {at_time['torch'][1]:.4f} ({at_time['torch'][0]}) | |"
    )
    print("\nvalidation curves (step, train s, nats/char):")
    for name, curve in curves.items():
        print(f"  {name}: " + ", ".join(f"({s}, {t:.1f}, {v:.3f})" for s, t, v in curve))

    config.data.seq_len = args.sample_context
    meta = data_lib.load_metadata(config.data)
    from genjax.objectives import make_objective

    sampler_obj = make_objective(config, meta)
    params = {
        "model": sampler_obj.init(jax.random.PRNGKey(0), {"x": jnp.zeros((1, args.sample_context), jnp.int32)})[
            "model"
        ].params
    }
    params = jax.tree.map(
        lambda p: p.unbox() if hasattr(p, "unbox") else p, params, is_leaf=lambda p: hasattr(p, "unbox")
    )
    speed = sampling_speed(sampler_obj, params, args.sample_batch, args.sample_context)
    print(
        f"\nsampling {args.sample_context - 1} tokens at context {args.sample_context}, batch {args.sample_batch}: "
        f"KV cache {1e3 * speed['kv_cache']:.2f} ms/token, full forward per token "
        f"{1e3 * speed['full_forward']:.2f} ms/token, speed-up {speed['full_forward'] / speed['kv_cache']:.1f}x "
        f"(greedy tokens equal: {speed['same_tokens']:.1%})"
    )


if __name__ == "__main__":
    main()
