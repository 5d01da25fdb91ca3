"""Mode coverage of diffusion on the 25-Gaussian grid, PacGAN protocol (Lin et al. 2018):

2500 samples per run; a sample is high-quality when it lies within 3 std of its nearest mode;
a mode is captured when at least one high-quality sample has it as nearest mode; reverse KL is
KL(nearest-mode histogram || uniform). Each seed is one `genjax.train.run` of the config into a
fresh workdir; the table gives mean +- standard error over seeds.

    python benchmarks/diffusion_mode_coverage.py                          # 3 seeds
    python benchmarks/diffusion_mode_coverage.py --seeds 5 --override train.steps=4000
    python benchmarks/diffusion_mode_coverage.py --average_ema --override "train.ema_decays=(0.99,0.999)"

`--average_ema` also samples with the average of every EMA's denoiser (`genjax sample
--average-ema`, `Diffusion.sample(..., ensemble=...)`), from the same key, as a second row.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import jax
import numpy as np

from genjax import metrics
from genjax.config import load_config
from genjax.data import load_examples, load_metadata
from genjax.objectives import make_objective
from genjax.train import run

KEYS = ("modes", "high_quality", "reverse_kl")


def one_seed(config, seed: int, num: int, average_ema: bool = False) -> tuple[dict[str, dict[str, float]], float]:
    """Trains `config` with `seed`, samples `num` points from the first EMA (and, with
    `average_ema`, from the average of every EMA's denoiser); ({row: metrics}, seconds)."""
    config = config.copy_and_resolve_references()
    config.seed = seed
    config.train.sample_every = 0
    config.train.eval_every = 0
    config.train.progress = False
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        state = run(config, workdir)
    meta = load_metadata(config.data)
    objective = make_objective(config, meta)
    params = state.sampling_params(0 if state.ema else None)
    key = jax.random.PRNGKey(10_000 + seed)
    draw = jax.jit(lambda p, e, k: objective.sample(p, state.model_state, k, num, ensemble=e))
    fakes = {"": draw(params, (), key)}
    if average_ema:
        fakes["averaged EMAs"] = draw(state.ema[0], tuple(state.ema[1:]), key)
    secs = time.perf_counter() - t0
    real = load_examples(config.data, num)["x"]
    out = {}
    for row, fake in fakes.items():
        result = metrics.compute(["mode_coverage"], np.asarray(fake), real, metadata=meta)
        out[row] = {k: float(result[k]) for k in KEYS}
    return out, secs


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="grid25_diffusion", help="a config NAME[:variant] or PATH.py[:variant]")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--num", type=int, default=2500, help="samples per seed (PacGAN: 2500)")
    p.add_argument("--override", action="append", default=[], help="config override a.b=v")
    p.add_argument("--average_ema", action="store_true", help="also sample with every EMA's denoiser averaged")
    args = p.parse_args(argv)
    config = load_config(args.config, args.override)
    rows, secs = {}, []
    for seed in range(args.seeds):
        out, s = one_seed(config, seed, args.num, args.average_ema)
        secs.append(s)
        for row, r in out.items():
            rows.setdefault(row, []).append(r)
            print(
                f"seed {seed}{', ' + row if row else ''}: modes {r['modes']:.0f}, high quality "
                f"{100 * r['high_quality']:.1f} %, reverse KL {r['reverse_kl']:.4f}, {s:.0f} s",
                flush=True,
            )
    print("| config | seeds | modes (of 25) | high quality (%) | reverse KL | min modes / min HQ | s per seed |")
    print("|---|---|---|---|---|---|---|")
    for row, results in rows.items():
        stat = {}
        for k in KEYS:
            v = np.array([r[k] for r in results])
            stat[k] = (v.mean(), v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0, v)
        m, hq, kl = stat["modes"], stat["high_quality"], stat["reverse_kl"]
        print(
            f"| {args.config} {' '.join(args.override)}{', ' + row if row else ''} | {args.seeds} "
            f"| {m[0]:.1f} +- {m[1]:.1f} | {100 * hq[0]:.1f} +- {100 * hq[1]:.1f} | {kl[0]:.4f} +- {kl[1]:.4f} "
            f"| {m[2].min():.0f} / {100 * hq[2].min():.1f} | {np.mean(secs):.0f} |"
        )


if __name__ == "__main__":
    main()
