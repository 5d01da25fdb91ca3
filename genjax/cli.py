"""The `genjax` command line: train | sample | eval | edit | report | info | data | fid | weights | detect.

Exit status: 0 on success; 2 on bad input (an unknown config key, a value of the wrong type, a
missing file or dataset, a damaged checkpoint), with one line naming the problem; 1 on a runtime
failure (out of memory, another XLA error, a full disk, a diverged run), in two lines; 130 when interrupted (in
`train`, after saving a checkpoint at the current step). A workdir another process trains or
evaluates in is bad input (exit 2): `train` and `eval` hold `<workdir>/.lock` while they run.
`--debug` (before or after the command) or GENJAX_DEBUG=1 also prints the traceback.
`--import MODULE` (before the command; a module name or a .py file) registers a user's own
objectives before the command runs (see docs/architecture.md, "Add a family").
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Sequence

from genjax import argtypes
from genjax.cpu import configure_cpu
from genjax.config import default_workdir, load_config, split_overrides
from genjax.errors import UsageError
from genjax.logging import configure_logging

DEFAULT_CONFIG = "default"
DEFAULT_WORKDIR = "runs/default"
CONFIG_HELP = "a packaged config NAME[:variant] (e.g. digits_vae:runlocal) or a config file PATH.py[:variant]"


def cmd_train(args: argparse.Namespace) -> int:
    from genjax.train import run

    spec = args.config or DEFAULT_CONFIG
    config = load_config(spec, args.config_overrides)
    if args.quiet:
        config.train.progress = False
    if args.restore_fallback:
        config.train.restore_fallback = True
    workdir = args.workdir or default_workdir(spec)
    state = run(config, workdir, force=args.force)
    print(f"trained to step {int(state.step)} in {workdir}")
    return 0


def _sample_kwargs(args: argparse.Namespace) -> dict:
    kwargs = dict(args.option)
    for name in ("sampler", "steps", "timesteps", "guidance_scale", "label"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    return kwargs


def _ema_index(args: argparse.Namespace, use_ema: bool) -> int | None:
    """The EMA to sample from: --ema-index, or None (raw params) with --no-ema or when the config's
    sample.use_ema / eval.use_ema is false and no --ema-index is given."""
    if args.no_ema or (not use_ema and args.ema_index is None):
        return None
    return args.ema_index or 0


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from genjax.logging import samples_to_png, to_uint8
    from genjax.train.loop import load_run

    out = Path(args.out)
    if out.suffix not in (".png", ".npz", ".txt"):
        raise UsageError(f"--out must end in .png, .npz or .txt (text data), got {out}")
    workdirs = args.workdir or [DEFAULT_WORKDIR]
    if args.weights is not None and len(args.weights) != len(workdirs):
        raise UsageError(f"--weights has {len(args.weights)} numbers for {len(workdirs)} --workdir(s): give one each")
    runs = [load_run(w) for w in workdirs]
    r = runs[0]
    for run in runs:
        run.show_progress = len(runs) == 1
    if (out.suffix == ".txt") != (r.metadata.kind == "text") and out.suffix != ".npz":
        raise UsageError(
            f"--out {out}: write {r.metadata.kind} samples to "
            + (".txt or .npz" if r.metadata.kind == "text" else ".png or .npz")
        )
    kwargs = {**dict(r.config.sample.kwargs), **_sample_kwargs(args)}
    if args.average_ema:
        kwargs["average_ema"] = True
    else:
        kwargs["ema_index"] = _ema_index(args, r.config.sample.use_ema)
    if len(runs) == 1:
        x = r.sample(args.num, args.seed, **kwargs)
    else:
        from genjax.train.ensemble import sample_mixture

        x = sample_mixture(runs, args.weights, args.num, args.seed, **kwargs)
    if out.suffix == ".txt":
        from genjax.data.text import text_samples

        out.write_text(text_samples(x, r.metadata.vocab), encoding="utf-8")
    elif out.suffix == ".npz":
        stored = (
            to_uint8(x, r.metadata.value_range)
            if r.metadata.kind == "image"
            else x.astype(np.int32 if r.metadata.kind == "text" else np.float32)
        )
        np.savez(out, x=stored)
    elif r.metadata.kind == "audio":
        from genjax.train.actions import write_audio_samples

        write_audio_samples(x, r.metadata.sample_rate, out)
        print(f"wrote {args.num} WAV files to {out.with_suffix('')}/")
    else:
        samples_to_png(x, r.metadata.kind, r.metadata.value_range, out)
    print(f"wrote {args.num} samples to {out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Appending to eval.jsonl holds the workdir's lock from the start (fails at once while a run
    trains there); --no-record only prints, and takes no lock."""
    if args.no_record:
        return _eval(args)
    from genjax.train.build import saved_config
    from genjax.train.workdir import lock_workdir

    with lock_workdir(args.workdir, saved_config(args.workdir).distributed):
        return _eval(args)


def _eval(args: argparse.Namespace) -> int:
    from genjax.logging import MetricWriter
    from genjax.parallel import to_host
    from genjax.train.loop import load_run

    r = load_run(args.workdir)
    r.show_progress = True
    names = [m for m in (args.metrics or ",".join(r.config.eval.metrics)).split(",") if m]
    if not names:
        raise UsageError("no metrics: pass --metrics a,b or set config.eval.metrics")
    ema_index = _ema_index(args, r.config.eval.use_ema)
    results = r.evaluate(
        names,
        args.num or r.config.eval.num,
        args.seed,
        ema_index=ema_index,
        likelihood_options=dict(args.likelihood_option),
        **_sample_kwargs(args),
    )
    step = int(to_host(r.state.step))
    results |= {f"likelihood_option/{k}": v for k, v in args.likelihood_option}  # which k, solver... scored
    record = {"step": step, **results}
    print(json.dumps(record))
    if r.is_chief and not args.no_record:
        MetricWriter(args.workdir, tensorboard=False).write(step, results, file="eval.jsonl")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import importlib.metadata as md

    import jax

    from genjax.parallel import make_mesh

    info = {
        "devices": [str(d) for d in jax.devices()],
        "process": f"{jax.process_index()} of {jax.process_count()}",
        "backend": jax.default_backend(),
        "versions": {
            p: _version(md, p) for p in ("genjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain")
        },
    }
    config = load_config(args.config or DEFAULT_CONFIG, args.config_overrides)
    mesh = make_mesh(config.mesh)
    info["mesh"] = dict(mesh.shape)
    print(json.dumps(info, indent=2))
    return 0


def _version(md, name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genjax", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="also log every library's INFO messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only: no start banner, no progress bar")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of a failure (also after the command, or GENJAX_DEBUG=1)",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module (name or .py file) that registers your own objectives; repeatable",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a config into a workdir (resumes from its latest checkpoint)")
    p.add_argument("--config", help=f"{CONFIG_HELP} (default {DEFAULT_CONFIG})")
    p.add_argument("--workdir", help="where the run lives (default runs/<config name>[-<variants>])")
    p.add_argument(
        "--force",
        action="store_true",
        help="resume a workdir whose checkpoints come from a config that differs in more than training length, "
        "logging and the mesh",
    )
    p.add_argument(
        "--restore-fallback",
        action="store_true",
        help="when the latest checkpoint is damaged, resume from the newest one that verifies "
        "(config.train.restore_fallback=true)",
    )
    p.set_defaults(func=cmd_train, takes_overrides=True)

    p = sub.add_parser("sample", help="draw samples from a trained workdir, or a mixture of several")
    p.add_argument(
        "--workdir",
        action="append",
        help=f"a trained run (default {DEFAULT_WORKDIR}); repeat it to sample a mixture of the runs' generators",
    )
    p.add_argument(
        "--weights",
        type=argtypes.floats,
        help="mixture weights, one per --workdir (default equal): each sample comes from run k with probability w_k",
    )
    p.add_argument(
        "--average-ema",
        action="store_true",
        help="diffusion: average the x0-predictions of every EMA decay's params inside the sampler",
    )
    p.add_argument("--num", type=argtypes.count, default=64, help="samples, drawn config.sample.batch_size at a time")
    p.add_argument(
        "--out",
        required=True,
        help="FILE.png (grid; audio: spectrograms, and the WAV files in FILE/) or FILE.npz (array x)",
    )
    p.add_argument("--seed", type=int, default=0)
    _add_sampling_args(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="evaluate a trained workdir; appends to eval.jsonl")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR)
    p.add_argument("--metrics", help="comma-separated metric names (default config.eval.metrics)")
    p.add_argument("--num", type=argtypes.count, help="samples or examples (default config.eval.num)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-record", action="store_true", help="only print: no row in eval.jsonl, no workdir lock (while it trains)"
    )
    _add_sampling_args(p)
    p.add_argument(
        "--likelihood-option",
        dest="likelihood_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=argtypes.option,
        help="a keyword of the family's log_likelihood for nll and bits_per_dim, e.g. k=5000 (importance samples "
        "of the VAEs), solver=heun (diffusion)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("report", help="plots and one HTML page of one or more workdirs (overlaid)")
    p.add_argument("workdirs", nargs="+", metavar="WORKDIR")
    p.add_argument("--out", help="the report's folder (default <first workdir>/report)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("info", help="devices, mesh and versions")
    p.add_argument("--config", help=f"{CONFIG_HELP} whose mesh to show (default {DEFAULT_CONFIG})")
    p.set_defaults(func=cmd_info, takes_overrides=True)

    _register_optional(sub)
    from genjax.metrics.detect_cli import register as register_detect

    register_detect(sub, load=_image_set)
    return parser


def _image_set(path: str, num: int = 0, seed: int = 0):
    """An image set for `genjax detect`: a trained workdir (a folder with config.json) gives `num`
    samples (0: 1000) drawn with `seed` from its EMA params as `genjax sample` would; anything else
    is read as `genjax fid` reads it."""
    from genjax.metrics.detect_cli import load_image_set

    if not (Path(path) / "config.json").is_file():
        return load_image_set(path, num, seed)
    from genjax.logging import to_uint8
    from genjax.train.loop import load_run

    r = load_run(path)
    if r.metadata.kind != "image":
        raise UsageError(f"{path}: a detector reads images, this workdir models {r.metadata.kind}")
    ema_index = 0 if r.config.sample.use_ema else None
    x = r.sample(num or 1000, seed, ema_index=ema_index, **dict(r.config.sample.kwargs))
    return to_uint8(x, r.metadata.value_range)


def cmd_report(args: argparse.Namespace) -> int:
    from genjax.train.report import report

    index = report(args.workdirs, args.out or Path(args.workdirs[0]) / "report")
    print(f"wrote {index}")
    return 0


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    """The sampling options of `sample` and `eval`: which params, and the family's sampler kwargs."""
    p.add_argument("--no-ema", action="store_true", help="sample from the raw params, not the EMA")
    p.add_argument(
        "--ema-index",
        type=int,
        help="which of config.train.ema_decays to use (default 0, or none when "
        "the config's sample.use_ema / eval.use_ema is false)",
    )
    p.add_argument("--sampler", help="sampler of the model family (e.g. ddpm, ddim, dpmpp_2m, euler, heun)")
    p.add_argument("--steps", type=int, help="sampling steps")
    p.add_argument(
        "--timesteps", type=argtypes.floats, help="explicit sampling times, noisiest first (e.g. 999,600,300,0)"
    )
    p.add_argument("--guidance-scale", dest="guidance_scale", type=float)
    p.add_argument("--label", type=int, help="class label for conditional models")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=argtypes.option,
        help="another keyword of the family's sampler, e.g. eta=0.5, s_churn=40, truncation_psi=0.7",
    )


def _register_optional(sub) -> None:
    """Sub-commands contributed by genjax.data, genjax.metrics and genjax.train.edit_cli (each sets
    `func(args)`)."""
    for module in ("genjax.data.cli", "genjax.metrics.cli", "genjax.train.edit_cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        mod.register(sub)


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """argparse's options, then `--debug` and the config overrides (`args.config_overrides`) of the
    words after the command that argparse left; any other word is a usage error."""
    args, rest = parser.parse_known_args(argv)
    args.debug = args.debug or "--debug" in rest
    args.config_overrides, unknown = split_overrides(word for word in rest if word != "--debug")
    if unknown or (args.config_overrides and not getattr(args, "takes_overrides", False)):
        parser.error(f"unrecognized arguments: {' '.join(unknown or args.config_overrides)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns its exit status (see the module's docstring)."""
    args = parse_args(build_parser(), list(sys.argv[1:] if argv is None else argv))
    debug = args.debug or os.environ.get("GENJAX_DEBUG", "0") not in ("", "0")
    configure_logging(1 if args.verbose else -1 if args.quiet else 0)
    applied = configure_cpu()
    logging.getLogger("genjax").debug(  # -v shows it
        "CPU fast path (genjax.configure_cpu): XLA:CPU flag %s, oneDNN kernels %s",
        "set" if applied["xla_flags"] else "not set",
        "enabled" if applied["onednn"] else "off",
    )
    try:
        if args.imports:
            from genjax.objectives import import_family

            for spec in args.imports:
                import_family(spec)
        result = args.func(args)
    except (Exception, KeyboardInterrupt) as e:
        status = exit_status(e)
        if status is None:  # not bad input nor a known runtime failure: a bug, shown with its traceback
            raise
        if debug:
            traceback.print_exception(e)
        sub = next(
            (getattr(args, a) for a in ("data_command", "weights_command", "detect_command") if getattr(args, a, None)),
            None,
        )
        print(_summary(f"genjax {args.command}" + (f" {sub}" if sub else ""), e, status, debug), file=sys.stderr)
        return status
    return result if isinstance(result, int) else 0


def exit_status(error: BaseException) -> int | None:
    """2 for bad input, 1 for a runtime failure, 130 for an interrupt; None for anything else."""
    checkpoint = sys.modules.get("genjax.train.checkpoint")  # not imported: the error is no CheckpointError
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, (ValueError, KeyError, FileNotFoundError)) or (
        checkpoint is not None and isinstance(error, checkpoint.CheckpointError)
    ):
        return 2
    if isinstance(error, (RuntimeError, MemoryError, OSError, FloatingPointError)):  # XLA errors included
        return 1
    return None


def _summary(where: str, error: BaseException, status: int, debug: bool) -> str:
    """One line for bad input and interrupts; for a runtime failure, a second line on --debug."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = line if len(line) <= 400 else line[:400] + " ..."
    if line.startswith((where + " ", where + ":")):  # the message names the command already (prepare's)
        line = line[len(where) :].lstrip(" :")
    if status == 130:
        return f"{where}: interrupted" + (f"; {line}" if line else "")
    if status == 2:
        return f"{where}: error: {line or type(error).__name__}"
    what = "out of memory" if isinstance(error, MemoryError) and not line else line
    hint = "" if debug else "\nrerun with --debug (or GENJAX_DEBUG=1) for the traceback"
    return f"{where}: runtime error: {type(error).__name__}: {what or 'no message'}{hint}"


if __name__ == "__main__":
    sys.exit(main())
