"""`genjax edit WHAT --workdir W --out FILE.png`: latent editing grids of a trained run, written as
a PNG with what they measured in FILE.json beside it (`genjax.train.edit`, `genjax.train.style_edit`).

  interpolate     rows of paths between pairs of latents (autoencoders, GANs, diffusion)
  invert          eval examples over their DDIM inversion's regeneration; MSE and PSNR (diffusion)
  sdedit          eval examples, then their SDEdits per --strengths (diffusion)
  guidance-sweep  rows of classifier-free guidance --scales, columns of --labels (conditional diffusion)
  style-mix       StyleGAN2 style mixing: A's rows with B's coarse, middle or fine styles
  truncation      StyleGAN2 rows of latents over truncation --psis
  direction       rows moved along a GANSpace (pca) or InterFaceGAN (supervised) direction
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from genjax import argtypes
from genjax.errors import UsageError

EDITS = ("interpolate", "invert", "sdedit", "guidance-sweep", "style-mix", "truncation", "direction")


def register(sub) -> None:
    p = sub.add_parser("edit", help="latent editing grids of a trained workdir (interpolate, invert, sdedit, ...)")
    p.add_argument("what", choices=EDITS, help="the edit: " + ", ".join(EDITS))
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True, help="FILE.png; what the edit measured goes to FILE.json")
    p.add_argument(
        "--num", type=argtypes.count, default=4, help="rows: pairs, examples, latents or A sources (default 4)"
    )
    p.add_argument("--steps", type=argtypes.count, default=8, help="columns of interpolate and direction (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="edit with the raw params, not the EMA")
    p.add_argument("--ema-index", type=int, help="which of config.train.ema_decays (default 0)")
    p.add_argument("--label", type=int, help="the class of a conditional model's images (default: unconditional)")
    p.add_argument("--sampler", help="diffusion: the sampler of sdedit and guidance-sweep (default the run's)")
    p.add_argument("--sample-steps", type=argtypes.count, help="diffusion: sampling steps (default the run's)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        type=argtypes.option,
        metavar="KEY=VALUE",
        help="another sampler keyword",
    )
    p.add_argument(
        "--from-data", action="store_true", help="interpolate (diffusion): between DDIM-inverted eval examples"
    )
    p.add_argument(
        "--fixed-point-iters", type=int, default=0, help="invert: fixed-point iterations per step (exact inversion)"
    )
    p.add_argument(
        "--strengths",
        type=argtypes.floats,
        default=[0.2, 0.4, 0.6, 0.8],
        help="sdedit: t0 as fractions of the time range",
    )
    p.add_argument(
        "--scales", type=argtypes.floats, default=[0.0, 1.0, 2.0, 4.0], help="guidance-sweep: guidance scales"
    )
    p.add_argument(
        "--labels", type=argtypes.ints, help="guidance-sweep: the columns' labels (default the first ten classes)"
    )
    p.add_argument("--psis", type=argtypes.floats, default=[-0.5, 0.0, 0.5, 0.7, 1.0], help="truncation: psi values")
    p.add_argument("--num-b", type=argtypes.count, default=4, help="style-mix: B sources (columns)")
    p.add_argument("--crossover", default="coarse", help="style-mix: B's styles copied: coarse, middle or fine")
    p.add_argument("--method", default="pca", help="direction: pca (GANSpace) or supervised (InterFaceGAN)")
    p.add_argument("--index", type=int, default=0, help="direction: the principal direction (pca, from 0)")
    p.add_argument("--attribute", default="brightness", help="direction: brightness or contrast (supervised labels)")
    p.add_argument("--limit", type=float, default=3.0, help="direction: offsets in standard deviations")
    p.add_argument("--num-fit", type=argtypes.count, default=512, help="direction: latents sampled to find it")
    p.set_defaults(func=cmd_edit)


def cmd_edit(args: argparse.Namespace) -> int:
    from genjax.logging import samples_to_png
    from genjax.train import edit, style_edit
    from genjax.train.build import load_run

    out = Path(args.out)
    if out.suffix != ".png":
        raise UsageError(f"--out must end in .png, got {out}")
    if args.fixed_point_iters < 0:
        raise UsageError(f"--fixed-point-iters must be >= 0, got {args.fixed_point_iters}")
    run = load_run(args.workdir)
    if run.metadata.kind != "image":
        raise UsageError(f"genjax edit draws image grids; this run's data are {run.metadata.kind}")
    ema = None if args.no_ema or (not run.config.sample.use_ema and args.ema_index is None) else args.ema_index or 0
    diffusion = {"sample_steps": args.sample_steps, "ema_index": ema}
    options = {"sampler": args.sampler, **diffusion, **dict(args.option)}
    what = args.what
    if what == "interpolate":
        grid = edit.interpolate(
            run, args.num, args.steps, args.seed, from_data=args.from_data, label=args.label, **diffusion
        )
    elif what == "invert":
        grid = edit.invert(run, args.num, fixed_point_iters=args.fixed_point_iters, label=args.label, **diffusion)
    elif what == "sdedit":
        grid = edit.sdedit(run, args.num, args.strengths, args.seed, label=args.label, **options)
    elif what == "guidance-sweep":
        grid = edit.guidance_sweep(run, args.scales, args.labels, args.seed, **options)
    elif what == "style-mix":
        grid = style_edit.style_mix(
            run, args.num, args.num_b, args.crossover, args.seed, label=args.label, ema_index=ema
        )
    elif what == "truncation":
        grid = style_edit.truncation(run, args.num, args.psis, args.seed, label=args.label, ema_index=ema)
    else:
        grid = style_edit.direction(
            run, args.method, args.index, args.attribute, args.num, args.steps, args.seed,
            num_fit=args.num_fit, limit=args.limit, ema_index=ema, sample_steps=args.sample_steps,
        )  # fmt: skip
    samples_to_png(grid.images, "image", run.metadata.value_range, out, ncol=grid.ncol)
    out.with_suffix(".json").write_text(json.dumps({"edit": what, **grid.info}, indent=1))
    summary = {k: v for k, v in grid.info.items() if not isinstance(v, list) or len(v) <= 10}
    logging.getLogger("genjax").info("edit %s: %s", what, json.dumps(summary))
    print(f"wrote {out} ({len(grid.images) // grid.ncol} x {grid.ncol}) and {out.with_suffix('.json')}")
    if what == "invert":
        print(f"reconstruction: MSE {grid.info['mse']:.6g}, PSNR {grid.info['psnr']:.2f} dB")
    return 0
