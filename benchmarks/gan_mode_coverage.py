"""Mode coverage of GANs on the 2D ring and grid mixtures, PacGAN protocol (Lin et al. 2018):

2500 samples per run; a sample is high-quality when it lies within 3 std of its nearest mode;
a mode is captured when at least one high-quality sample has it as nearest mode; reverse KL is
KL(nearest-mode histogram || uniform). 10 seeds, mean +- standard error.

Each config is trained with the training core's step (`genjax.train.make_train_step`), the
seeds one after another, batches drawn uniformly from the training split on device.

    python benchmarks/gan_mode_coverage.py                      # recipe + baseline, both sets
    python benchmarks/gan_mode_coverage.py --runs ring8 --seeds 3 --override objective.pack=4
    python benchmarks/gan_mode_coverage.py --runs ring12,grid49 --which recipe   # other mixtures
    python benchmarks/gan_mode_coverage.py --runs ring8 --which baseline --mixture   # + 2-generator mixtures
    python benchmarks/gan_mode_coverage.py --runs ring8 --which baseline --baseline_override objective.num_discriminators=2

`--mixture` also evaluates the equal-weight mixture of the generators of seeds 2i and 2i+1
(`genjax.train.ensemble`, as `genjax sample --workdir A --workdir B` draws it): each of the
2500 samples comes from one of the two, picked with probability 1/2.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from genjax.config import load_config
from genjax.data import load_examples, load_metadata
from genjax.metrics.mixtures import mode_coverage
import genjax.objectives.gan  # noqa: F401  (registers "gan")
from genjax.objectives import make_objective
from genjax.parallel import make_mesh
from genjax.train.init import init_train_state
from genjax.train.optim import make_optimizers
from genjax.train.ensemble import mixture_components
from genjax.train.step import make_train_step

# name -> (config, overrides). The last two check that the recipe is not tuned to the benchmark's
# mode positions: the same configs on mixtures they were never run on while the recipe was chosen.
RUNS = {
    "ring8": ("ring8_gan", []),
    "grid25": ("grid25_gan", []),
    "ring12": ("ring8_gan", ["data.source=builtin:ring?modes=12&radius=3&std=0.03"]),
    "grid49": ("grid25_gan", ["data.source=builtin:grid?modes=49&spacing=1.5&std=0.04"]),
}
# PacGAN (Lin et al. 2018), Table 1 (2D-grid): modes, high-quality %, reverse KL.
PUBLISHED = {
    "grid25": [
        ("GAN (PacGAN paper, Table 1)", "17.3 +- 0.8", "94.8 +- 0.7", "0.70 +- 0.07"),
        ("PacGAN4 (PacGAN paper, Table 1)", "24.8 +- 0.2", "93.6 +- 0.6", "0.04 +- 0.01"),
    ],
}


def train_seeds(config, seeds: list[int], chunk: int = 500, report_every: int = 0, keeps: tuple[float, ...] = (1.0,)):
    """Trains one run per seed, one after another with one compiled program; returns
    ({keep: samples [S, num, 2]}, metadata, seconds of training): for each of `keeps` the samples
    of Jacobian-based truncation (GAN.sample's jacobian_keep; 1.0 = none) from the same trained
    generators, with the same sampling key.

    (Seeds run in sequence, not under `jax.vmap`: on the CPU the vmapped step's batched matmuls
    were several times slower than the seeds one by one.) With `report_every`, also prints the
    protocol's numbers every that many steps."""
    meta = load_metadata(config.data)
    objective = make_objective(config, meta)
    data = load_examples(config.data, meta.num_examples, split=config.data.split)
    x_all = jnp.asarray(data["x"], jnp.float32)
    y_all = jnp.asarray(data["y"]) if "y" in data and meta.num_classes else None
    txs = make_optimizers(config, objective.players)
    mesh = make_mesh(config.mesh)
    b = config.data.batch_size
    spec = {"x": jax.ShapeDtypeStruct((b, *meta.shape), jnp.float32)}
    if y_all is not None:
        spec["y"] = jax.ShapeDtypeStruct((b,), jnp.int32)
    ema = tuple(config.train.ema_decays)
    step = make_train_step(objective, compute_dtype_name=config.train.compute_dtype)

    def one(state, key):
        idx = jax.random.randint(jax.random.fold_in(key, state.step), (b,), 0, x_all.shape[0])
        batch = {"x": x_all[idx]} if y_all is None else {"x": x_all[idx], "y": y_all[idx]}
        return step(state, batch)[0]

    @partial(jax.jit, static_argnums=2)
    def run_chunk(state, key, n):
        return jax.lax.scan(lambda s, _: (one(s, key), None), state, None, length=n)[0]

    use_ema = config.eval.use_ema and bool(ema)

    @partial(jax.jit, static_argnums=2)
    def sample(s, key, keep):
        params = s.ema[0] if use_ema else s.params
        return objective.sample(params, s.model_state, key, config.eval.num, jacobian_keep=keep)

    def draw(s, key, keep):
        return np.asarray(sample(s, key, keep))

    total = config.train.steps
    chunk = min(chunk, report_every) if report_every else chunk
    samples, secs = {keep: [] for keep in keeps}, 0.0
    for seed in seeds:
        state = init_train_state(
            objective,
            txs,
            jax.random.PRNGKey(seed),
            spec,
            mesh,
            rules=tuple(tuple(r) for r in config.sharding.rules),
            min_fsdp_size=config.sharding.min_fsdp_size,
            ema_decays=ema,
        )[0]
        data_key, sample_key = jax.random.PRNGKey(10_000 + seed), jax.random.PRNGKey(20_000 + seed)
        t0 = time.time()
        for start in range(0, total, chunk):
            state = run_chunk(state, data_key, min(chunk, total - start))
            done = min(start + chunk, total)
            if report_every and done % report_every == 0 and done < total:
                line = f"  seed {seed} step {done}"
                for keep in keeps:
                    r = evaluate(draw(state, sample_key, keep)[None], meta)
                    line += f"; jacobian_keep={keep}: modes={r['modes'][0]:.0f} hq={r['high_quality'][0]:.4f}"
                print(line, flush=True)
        jax.block_until_ready(state)
        secs += time.time() - t0
        for keep in keeps:
            samples[keep].append(draw(state, sample_key, keep))
    return {keep: np.stack(s) for keep, s in samples.items()}, meta, secs


def evaluate(samples, meta) -> dict[str, tuple[float, float, list[float]]]:
    rows = [mode_coverage(s, np.asarray(meta.modes), meta.mode_std, num_std=3.0) for s in samples]
    out = {}
    for k in ("modes", "high_quality", "reverse_kl"):
        v = np.array([r[k] for r in rows])
        out[k] = (v.mean(), v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0, v.tolist())
    return out


def mixtures(samples: np.ndarray, seed: int = 0) -> np.ndarray:
    """[S, num, d] samples of S generators -> [S // 2, num, d]: the equal-weight mixture of
    generators 2i and 2i+1, sample j taken from the generator its draw picks (the generators'
    samples are i.i.d., so position j of the picked one is a draw from it)."""
    pairs = []
    for i in range(len(samples) // 2):
        k = mixture_components(seed + i, (0.5, 0.5), samples.shape[1])
        pairs.append(np.where(k[:, None] == 0, samples[2 * i], samples[2 * i + 1]))
    return np.stack(pairs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="ring8,grid25")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first_seed", type=int, default=0, help="seeds first_seed, ..., first_seed + seeds - 1")
    p.add_argument("--which", default="recipe,baseline")
    p.add_argument("--report_every", type=int, default=0, help="also report every N steps")
    p.add_argument(
        "--jacobian_keep",
        default="",
        help="also evaluate Jacobian-based truncation keeping these fractions, comma-separated "
        "(recipe rows; e.g. 0.9,0.8); the configs' own sample.kwargs.jacobian_keep and no "
        "truncation are always evaluated",
    )
    p.add_argument("--override", action="append", default=[], help="config override a.b=v (recipe only)")
    p.add_argument("--baseline_override", action="append", default=[], help="config override a.b=v of the baseline")
    p.add_argument("--mixture", action="store_true", help="also the mixtures of two generators (seeds 2i, 2i+1)")
    p.add_argument("--steps", type=int, default=0, help="train steps of every run (0: the config's)")
    args = p.parse_args(argv)
    lines = [
        "| data | run | modes | high quality (%) | reverse KL | min modes / min HQ over seeds | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in args.runs.split(","):
        if run not in RUNS:
            raise SystemExit(f"unknown run {run!r}; known: {', '.join(RUNS)}")
        config_name, data_overrides = RUNS[run]
        for which, spec in (("recipe", config_name), ("baseline (plain NS-GAN)", f"{config_name}:baseline")):
            if which.split()[0] not in args.which:
                continue
            steps = [f"train.steps={args.steps}"] if args.steps else []
            config = load_config(
                spec, [*data_overrides, *steps, *(args.override if which == "recipe" else args.baseline_override)]
            )
            own = float(config.sample.kwargs.get("jacobian_keep", 1.0))
            extra = tuple(float(k) for k in args.jacobian_keep.split(",") if k) if which == "recipe" else ()
            samples, meta, secs = train_seeds(
                config,
                list(range(args.first_seed, args.first_seed + args.seeds)),
                report_every=args.report_every,
                keeps=tuple(dict.fromkeys((own, 1.0, *extra))),
            )
            if args.mixture:
                samples = {**samples, "mixture": mixtures(samples[own])}
            for keep, s in samples.items():
                name = (
                    f"{which}, mixture of 2 generators"
                    if keep == "mixture"
                    else (
                        which
                        if keep == own
                        else f"{which}, Jacobian truncation keep {keep}"
                        if keep < 1
                        else f"{which}, without truncation"
                    )
                )
                r = evaluate(s, meta)
                m, hq, kl = r["modes"], r["high_quality"], r["reverse_kl"]
                line = (
                    f"| {run} | {name} | {m[0]:.1f} +- {m[1]:.1f} | {100 * hq[0]:.1f} +- {100 * hq[1]:.1f} "
                    f"| {kl[0]:.3f} +- {kl[1]:.3f} | {min(m[2]):.0f} / {100 * min(hq[2]):.1f} | {secs:.0f} |"
                )
                print(line, flush=True)
                print(f"  per seed modes={m[2]} hq={[round(v, 4) for v in hq[2]]}", flush=True)
                lines.append(line)
        for name, *vals in PUBLISHED.get(run, []):
            lines.append(f"| {run} | {name} | {vals[0]} | {vals[1]} | {vals[2]} | | |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
