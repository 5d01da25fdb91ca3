"""The results table: train each family to a stated budget, score its samples against the real-data floor.

For every row (a packaged config, a step budget and one or more samplers) this script trains, or
resumes, the config in `<root>/<row>`, draws `--num` samples with each sampler, and computes in the
feature space of `--features` (the domain classifier of the row's dataset by default, Inception
with `--features inception`):

- FID and KID of the samples against `--num` test examples;
- precision / recall (Kynkaanniemi et al. 2019) and the nearest-training-neighbour memorization
  test (Meehan et al. 2020) against `--num` training examples;
- the real-data floor: the same FID and KID between `--num` training examples and the test set,
  the score a perfect generator would get at this N, so each FID is also stated as a ratio to it.

Each (row, sampler) appends one JSON line to `<root>/results.jsonl` (config, steps, wall time,
NFE, metrics, floor, the exact command), and `docs/results.md`'s table is rendered from all of them
with a sample grid per row (small PNGs under `docs/results/`).

    python benchmarks/results.py --rows ddpm,dcgan --num 10000          # the stated budgets
    python benchmarks/results.py --rows all --runlocal --num 16 --features raw   # the pipeline, tiny
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from genjax import config as config_lib
from genjax import data as data_lib
from genjax import metrics as metrics_lib
from genjax.logging import samples_to_png
from genjax.train import run as train_run
from genjax.train.build import load_run
from genjax.train.evaluate import sample

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    config: str
    steps: int  # the training budget: 1 hour on a 2-core CPU (hvae: about 95 min, its NLL benchmark's budget)
    samplers: tuple[dict, ...] = ({},)  # sample kwargs (sampler, steps, ...); {} = the config's default


SAMPLER_SWEEP = (
    {"sampler": "ddpm", "steps": 1000},
    {"sampler": "ddim", "steps": 10},
    {"sampler": "ddim", "steps": 20},
    {"sampler": "ddim", "steps": 50},
    {"sampler": "dpmpp_2m", "steps": 10},
    {"sampler": "dpmpp_2m", "steps": 20},
    {"sampler": "heun", "steps": 18},
)

ROWS = {
    r.name: r
    for r in (
        Row("ddpm", "mnist_ddpm", 6000, SAMPLER_SWEEP),
        Row("edm", "fashion_mnist_edm", 6000, ({"sampler": "heun", "steps": 18},)),
        Row("dit", "mnist_dit", 6000),
        Row("latent_diffusion", "digits_latent_diffusion", 4000),
        Row("dcgan", "mnist_dcgan", 6000),
        Row("wgan_gp", "mnist_wgan_gp", 4000),
        Row("sngan", "fashion_mnist_sngan", 6000),
        Row("stylegan2", "fashion_mnist_stylegan2", 4000),
        Row("progan", "mnist_progan", 6000),
        # binarized data: the default sample is p(x|z)'s mean (grey), a draw is binary like the data
        Row("vae", "mnist_vae", 10000, ({}, {"draw": True})),
        Row("hvae", "mnist_binarized_hvae:mlp", 100_000, ({}, {"draw": True})),
        Row("pixelcnn", "mnist_binarized_pixelcnn", 3000),
        Row("vq_transformer", "mnist_vq_transformer", 4000),
    )
}


def nfe(kwargs: dict, default_steps: int | None) -> int | None:
    """Network evaluations per sample: Heun's method evaluates twice per step but the last."""
    steps = kwargs.get("steps", default_steps)
    if steps is None:
        return None
    return 2 * steps - 1 if kwargs.get("sampler") == "heun" else steps


def spec(row: Row, runlocal: bool) -> str:
    """The row's config spec, with the runlocal variant appended when asked."""
    return config_lib.with_variant(row.config, "runlocal") if runlocal else row.config


def train(row: Row, workdir: Path, runlocal: bool, extra: list[str]) -> tuple[int, float, str]:
    """Trains (or resumes) row into workdir; (steps, cumulative train seconds, the command)."""
    spec_ = spec(row, runlocal)
    overrides = ([] if runlocal else [f"train.steps={row.steps}"]) + extra
    command = f"genjax train --config {spec_} --workdir {workdir}" + "".join(f" --config.{o}" for o in overrides)
    clock = workdir / "train_seconds.json"
    spent = json.loads(clock.read_text())["seconds"] if clock.exists() else 0.0
    cfg = config_lib.load_config(spec_, overrides)
    start = time.perf_counter()
    state = train_run(cfg, workdir)
    spent += time.perf_counter() - start
    clock.write_text(json.dumps({"seconds": spent}))
    return int(state.step), spent, command


def floor(cfg, num: int, features: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """FID/KID between `num` training and `num` test examples, and those two sets."""
    real_train = data_lib.load_examples(cfg.data, num, split=cfg.data.split)["x"]
    real_test = data_lib.load_examples(cfg.data, num)["x"]
    metadata = data_lib.load_metadata(cfg.data)
    out = metrics_lib.compute(["fid", "kid"], real_train, real_test, metadata=metadata, features=features)
    return out, real_train, real_test


def evaluate_row(row: Row, args: argparse.Namespace) -> list[dict]:
    workdir = args.root / row.name
    steps, seconds, command = train(row, workdir, args.runlocal, args.set)
    run = load_run(workdir)
    if steps < run.config.train.steps:  # stopped early (a signal): score only finished budgets
        raise SystemExit(
            f"{row.name}: training stopped at step {steps} of {run.config.train.steps}; run again to resume"
        )
    cfg = run.config
    floor_metrics, real_train, real_test = floor(cfg, args.num, args.features)
    rows = []
    for asked in row.samplers:
        kwargs = {**dict(cfg.sample.kwargs), **asked}
        if args.runlocal and "steps" in kwargs:
            kwargs["steps"] = min(kwargs["steps"], 3)  # the pipeline, not the figure
        start = time.perf_counter()
        fake = sample(run, args.num, args.seed, **kwargs)
        sample_seconds = time.perf_counter() - start
        metrics = metrics_lib.compute(
            ["fid", "kid", "pr", "memorization"],
            fake,
            real_test,
            metadata=run.metadata,
            features=args.features,
            train=real_train,
        )
        label = " ".join(str(v) if k in ("sampler", "steps") else f"{k}={v}" for k, v in asked.items()) or "default"
        grid = args.docs / "results" / f"{row.name}_{label.replace(' ', '').replace('=', '-')}.png"
        samples_to_png(np.asarray(fake[:64]), run.metadata.kind, run.metadata.value_range, grid, ncol=8)
        rows.append(
            {
                "row": row.name,
                "config": spec(row, args.runlocal),
                "steps": steps,
                "train_seconds": round(seconds, 1),
                "sample_seconds": round(sample_seconds, 1),
                "sampler": label,
                "nfe": nfe(kwargs, getattr(run.objective, "sample_steps", None)),
                "num": args.num,
                "features": args.features,
                "metrics": metrics,
                "floor": floor_metrics,
                "fid_over_floor": metrics["fid"] / max(floor_metrics["fid"], 1e-12),
                "grid": str(grid.relative_to(args.docs)),
                "command": command,
                "eval_command": "python benchmarks/results.py " + shlex.join(sys.argv[1:]),
            }
        )
    return rows


def render(rows: list[dict]) -> str:
    """docs/results.md's table and grids from the JSON rows (the last row of each row+sampler wins)."""
    latest = {(r["row"], r["sampler"]): r for r in rows}
    columns = "row config steps train sampler~(NFE) N FID floor FID/floor KID precision recall memorization~z_u"
    lines = ["| " + " | ".join(c.replace("~", " ") for c in columns.split()) + " |", "|---" * 13 + "|"]
    for r in latest.values():
        m, f = r["metrics"], r["floor"]
        lines.append(
            f"| {r['row']} | `{r['config']}` | {r['steps']} | {r['train_seconds'] / 60:.0f} min"
            f" | {r['sampler']} ({r['nfe'] or '-'}) | {r['num']} | {m['fid']:.2f} | {f['fid']:.2f}"
            f" | {r['fid_over_floor']:.2f} | {m['kid']:.4f} | {m['precision']:.2f} | {m['recall']:.2f}"
            f" | {m['memorization_z_u']:.2f} |"
        )
    lines.append("")
    for r in latest.values():
        lines += [f"### {r['row']} ({r['sampler']} sampler)", "", f"    {r['command']}", f"    {r['eval_command']}", ""]
        lines += [f"![{r['row']} samples]({r['grid']})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="all", help=f"comma-separated rows or 'all': {', '.join(ROWS)}")
    parser.add_argument("--num", type=int, default=10_000, help="samples, test and training examples per metric")
    parser.add_argument("--features", default="auto", help="auto (the domain classifier) | inception | raw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runlocal", action="store_true", help="the runlocal variants: checks the pipeline")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a config override for every row"
    )
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "results", help="workdirs and results.jsonl")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where results.md and its grids go")
    args = parser.parse_args(argv)
    names = list(ROWS) if args.rows == "all" else args.rows.split(",")
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {unknown}; choose from {list(ROWS)}")
    args.root.mkdir(parents=True, exist_ok=True)
    log = args.root / "results.jsonl"
    for name in names:
        for row in evaluate_row(ROWS[name], args):
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: row[k] for k in ("row", "sampler", "nfe", "fid_over_floor")}), flush=True)
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    (args.docs / "results.md").write_text(HEADER + render(rows) + "\n")


HEADER = """# Results

Sample quality of each family on real data, trained on a 2-core CPU within the stated budget, and
the real-data floor: the same metric between two real sets of the same size (training examples vs
the test set), the best any generator can score at this N. Rendered by `benchmarks/results.py`
from `results.jsonl`; under each row's grid, its training command and the command that scored it.
Features: the domain classifier of MNIST-like data, Inception-v3 for other images (the built-in
digits); at N below 2,048 Inception's FID is biased upward, for the samples and the floor alike,
so compare a row with its floor (FID/floor), not with published FIDs. A row whose config reads a
frozen component (latent diffusion's VAE run) needs that run first: the config's docstring has its
command.

"""


if __name__ == "__main__":
    main()
