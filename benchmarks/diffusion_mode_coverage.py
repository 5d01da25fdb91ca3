"""Mode coverage of diffusion on the 25-Gaussian grid, PacGAN protocol (Lin et al. 2018):

2500 samples per run; a sample is high-quality when it lies within 3 std of its nearest mode;
a mode is captured when at least one high-quality sample has it as nearest mode; reverse KL is
KL(nearest-mode histogram || uniform). Each seed is one `genjax.train.run` of the config into a
fresh workdir; the table gives mean +- standard error over seeds.

    python benchmarks/diffusion_mode_coverage.py                          # 3 seeds
    python benchmarks/diffusion_mode_coverage.py --seeds 5 --override train.steps=4000
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


def one_seed(config, seed: int, num: int) -> tuple[dict[str, float], float]:
    """Trains `config` with `seed`, samples `num` points from the first EMA; (metrics, seconds)."""
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
    fake = jax.jit(lambda p, k: objective.sample(p, state.model_state, k, num))(
        params, jax.random.PRNGKey(10_000 + seed)
    )
    secs = time.perf_counter() - t0
    real = load_examples(config.data, num)["x"]
    result = metrics.compute(["mode_coverage"], np.asarray(fake), real, metadata=meta)
    return {k: float(result[k]) for k in KEYS}, secs


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="grid25_diffusion", help="a config NAME[:variant] or PATH.py[:variant]")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--num", type=int, default=2500, help="samples per seed (PacGAN: 2500)")
    p.add_argument("--override", action="append", default=[], help="config override a.b=v")
    args = p.parse_args(argv)
    config = load_config(args.config, args.override)
    rows, secs = [], []
    for seed in range(args.seeds):
        r, s = one_seed(config, seed, args.num)
        rows.append(r)
        secs.append(s)
        print(
            f"seed {seed}: modes {r['modes']:.0f}, high quality {100 * r['high_quality']:.1f} %, "
            f"reverse KL {r['reverse_kl']:.4f}, {s:.0f} s",
            flush=True,
        )
    stat = {}
    for k in KEYS:
        v = np.array([r[k] for r in rows])
        stat[k] = (v.mean(), v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0, v)
    m, hq, kl = stat["modes"], stat["high_quality"], stat["reverse_kl"]
    print("| config | seeds | modes (of 25) | high quality (%) | reverse KL | min modes / min HQ | s per seed |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.config} {' '.join(args.override)} | {args.seeds} | {m[0]:.1f} +- {m[1]:.1f} "
        f"| {100 * hq[0]:.1f} +- {100 * hq[1]:.1f} | {kl[0]:.4f} +- {kl[1]:.4f} "
        f"| {m[2].min():.0f} / {100 * hq[2].min():.1f} | {np.mean(secs):.0f} |"
    )


if __name__ == "__main__":
    main()
