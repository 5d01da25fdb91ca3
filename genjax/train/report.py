"""`genjax report WORKDIR [WORKDIR...]`: a run (or several, overlaid) as PNG plots and one HTML
page that needs nothing but its folder.

    <out>/index.html                  the page: plots, sample timelines, final grids
    <out>/plots/<name>.png            loss per player, learning rate, gradient norm, throughput,
                                      each eval metric vs step (± its `_stderr` or `_std`) and
                                      vs wall-clock minutes (`wall_minutes`)
    <out>/plots/modes_<run>.png       2-D point runs: samples over the true modes, with axes
    <out>/samples/<run>/step_*.png    each run's sample grids, in step order (spectrograms for audio)
    <out>/samples/<run>/step_N/*.wav  audio runs: the last step's samples, as <audio controls> players

Rows come from `<workdir>/metrics.jsonl` and `eval.jsonl`; runs are labelled by their workdir's
name. Plots use matplotlib's non-interactive Agg backend.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

PLOTS = {  # name: (title, metric-name prefixes or names of metrics.jsonl)
    "loss": ("loss per player", ("loss/",)),
    "lr": ("learning rate", ("lr/",)),
    "grad_norm": ("gradient norm", ("grad_norm/",)),
    "throughput": ("throughput", ("steps_per_sec", "examples_per_sec")),
}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The JSON rows of a JSONL file (none if it is missing); a torn last line is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot(
    series: dict[str, tuple[list[float], list[float], list[float] | None]],
    title: str,
    path: Path,
    xlabel: str = "train step",
) -> None:
    """One line per label: (x, values, standard errors or None), x the train step by default."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for label, (steps, values, errors) in series.items():
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=label)
        if errors is not None:
            lo, hi = np.subtract(values, errors), np.add(values, errors)
            ax.fill_between(steps, lo, hi, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _matching(rows: list[dict], patterns: tuple[str, ...]) -> list[str]:
    keys = sorted({k for r in rows for k in r if isinstance(r[k], (int, float))})
    return [k for k in keys if any(k == p or (p.endswith("/") and k.startswith(p)) for p in patterns)]


def _series(runs: dict[str, list[dict]], key: str) -> dict[str, tuple]:
    out = {}
    for name, rows in runs.items():
        points = [
            (r["step"], r[key], r.get(f"{key}_stderr", r.get(f"{key}_std")))
            for r in rows
            if isinstance(r.get(key), (int, float))
        ]
        points = [p for p in points if math.isfinite(p[1])]
        if points:
            errors = [p[2] for p in points]
            out[name] = ([p[0] for p in points], [p[1] for p in points], None if None in errors else errors)
    return out


OPTION = "likelihood_option/"  # eval.jsonl keys of `genjax eval --likelihood-option`


def _eval_label(run: str, row: dict) -> str:
    """The series an eval row belongs to: its run, and the likelihood options it was scored with
    (e.g. "vae (k=5000)"), so that rows scored differently are not drawn as one curve."""
    options = ", ".join(f"{k.removeprefix(OPTION)}={v}" for k, v in sorted(row.items()) if k.startswith(OPTION))
    return f"{run} ({options})" if options else run


def eval_series(workdirs: dict[str, Path]) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """({series label: eval rows}, {series label: run name}) of each run's eval.jsonl: the rows of
    training ("eval/nll") and of `genjax eval` ("nll") under one metric name, split by the
    likelihood options they were scored with (`_eval_label`)."""
    evals: dict[str, list[dict]] = {}
    run_of: dict[str, str] = {}
    for name, workdir in workdirs.items():
        for row in read_rows(workdir / "eval.jsonl"):
            row = {k.removeprefix("eval/"): v for k, v in row.items()}
            label = _eval_label(name, row)
            evals.setdefault(label, []).append(row)
            run_of[label] = name
    return evals, run_of


def wall_minutes(rows: list[dict], steps: list[int]) -> list[float] | None:
    """Minutes of wall-clock time from a run's first metrics row to each of `steps`, interpolated
    between the `wall_time`s of its metrics.jsonl `rows` (pauses between resumes included); None
    without two timed rows."""
    timed = sorted((r["step"], r["wall_time"]) for r in rows if isinstance(r.get("wall_time"), (int, float)))
    if len(timed) < 2:
        return None
    at, wall = np.asarray(timed, np.float64).T
    return list((np.interp(steps, at, wall) - wall[0]) / 60.0)


def mode_plot(workdir: Path, path: Path, num: int = 2000) -> bool:
    """For a run of 2-D points: `num` samples over the data's true modes (crosses), with axes;
    False (nothing written) for other runs."""
    from genjax.train.build import load_run

    config = json.loads((workdir / "config.json").read_text())
    if not str(config.get("data", {}).get("source", "")).startswith("builtin:"):
        return False
    run = load_run(workdir)
    meta = run.metadata
    if meta.kind != "points" or meta.shape != (2,):
        return False
    x = run.sample(num, seed=0, ema_index=0 if run.state.ema else None)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, label=f"{num} samples")
    if meta.modes is not None:
        modes = np.asarray(meta.modes)
        ax.scatter(modes[:, 0], modes[:, 1], marker="x", s=60, c="red", label="true modes")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_aspect("equal")
    ax.set_title(f"{workdir.name}: samples at step {run.step}")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def report(workdirs: list[str | Path], out: str | Path) -> Path:
    """Writes the report of `workdirs` into `out` (see the module docstring); returns index.html."""
    workdirs = [Path(w) for w in workdirs]
    for w in workdirs:
        if not (w / "config.json").exists():
            raise FileNotFoundError(f"{w} has no config.json: is it a genjax workdir?")
    names = [w.name for w in workdirs]
    if len(set(names)) != len(names):
        names = [str(w) for w in workdirs]
    out = Path(out)
    if out.exists():
        shutil.rmtree(out / "plots", ignore_errors=True)
        shutil.rmtree(out / "samples", ignore_errors=True)
    metrics = {n: read_rows(w / "metrics.jsonl") for n, w in zip(names, workdirs)}
    evals, run_of = eval_series(dict(zip(names, workdirs)))
    plots: list[tuple[str, str]] = []  # (relative path, caption)
    all_metric_rows = [r for rows in metrics.values() for r in rows]
    for name, (title, patterns) in PLOTS.items():
        for key in _matching(all_metric_rows, patterns):
            series = _series(metrics, key)
            if series:
                rel = f"plots/{name}_{key.replace('/', '_')}.png"
                _plot(series, f"{title}: {key}", out / rel)
                plots.append((rel, key))
    eval_rows = [r for rows in evals.values() for r in rows]
    eval_keys = sorted(
        {k for r in eval_rows for k, v in r.items() if isinstance(v, (int, float)) and not k.startswith(OPTION)}
        - {"step"}
    )
    for key in [k for k in eval_keys if not k.endswith(("_stderr", "_std"))]:
        series = _series(evals, key)
        if series:
            rel = f"plots/eval_{key.replace('/', '_')}.png"
            _plot(series, f"eval: {key}", out / rel)
            plots.append((rel, f"eval {key}"))
            timed = {n: (wall_minutes(metrics[run_of[n]], steps), v, e) for n, (steps, v, e) in series.items()}
            timed = {n: t for n, t in timed.items() if t[0] is not None}
            if timed:
                rel = rel.removesuffix(".png") + "_vs_time.png"
                _plot(timed, f"eval: {key}", out / rel, xlabel="wall-clock minutes since the first logged step")
                plots.append((rel, f"eval {key} vs wall-clock time"))
    sections = []
    for name, workdir in zip(names, workdirs):
        grids = sorted((workdir / "samples").glob("step_*.png"))
        copied = []
        for grid in grids:
            rel = f"samples/{name.replace('/', '_')}/{grid.name}"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(grid, out / rel)
            copied.append((rel, int(grid.stem.split("_")[1])))
        modes_rel = f"plots/modes_{name.replace('/', '_')}.png"
        has_modes = mode_plot(workdir, out / modes_rel)
        sections.append((name, copied, modes_rel if has_modes else None, copy_audio(workdir, out, name)))
    index = out / "index.html"
    index.write_text(_html(names, plots, sections), encoding="utf-8")
    return index


def copy_audio(workdir: Path, out: Path, name: str) -> list[str]:
    """The WAV files of the newest `<workdir>/samples/step_N/` folder, copied under `out`; their
    paths relative to `out` (none for runs without audio samples)."""
    folders = sorted(p for p in (workdir / "samples").glob("step_*") if p.is_dir() and any(p.glob("*.wav")))
    if not folders:
        return []
    rels = []
    for wav in sorted(folders[-1].glob("*.wav")):
        rel = f"samples/{name.replace('/', '_')}/{folders[-1].name}/{wav.name}"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wav, out / rel)
        rels.append(rel)
    return rels


STYLE = (
    "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}figure{display:inline-block;"
    "margin:0.5em;text-align:center}img{max-width:640px;border:1px solid #ddd}.timeline img{max-width:200px}"
    "figcaption{font-size:0.8em;color:#444}</style></head><body>"
)


def _html(names: list[str], plots: list[tuple[str, str]], sections: list[tuple]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>genjax report: {esc(', '.join(names))}</title>",
        STYLE,
        f"<h1>genjax report</h1><p>runs: {esc(', '.join(names))}</p><h2>Curves</h2>",
    ]
    parts += [
        f"<figure><img src='{esc(rel)}' alt='{esc(cap)}'><figcaption>{esc(cap)}</figcaption></figure>"
        for rel, cap in plots
    ]
    if not plots:
        parts.append("<p>No metric rows yet.</p>")
    for name, grids, modes, sounds in sections:
        parts.append(f"<h2>{esc(name)}</h2>")
        if sounds:
            step = sounds[0].split("/")[-2].removeprefix("step_").lstrip("0") or "0"
            parts.append(f"<h3>Final samples (step {step}): listen</h3><div class='audio'>")
            parts += [
                f"<figure><audio controls preload='none' src='{esc(r)}'></audio><figcaption>{esc(r.split('/')[-1])}"
                "</figcaption></figure>"
                for r in sounds
            ]
            parts.append("</div>")
        if modes:
            parts.append(
                f"<figure><img src='{esc(modes)}' alt='modes'><figcaption>samples and true modes</figcaption></figure>"
            )
        if grids:
            rel, step = grids[-1]
            parts.append(
                f"<h3>Final samples (step {step})</h3><figure><img src='{esc(rel)}' alt='final samples'></figure>"
            )
            parts.append("<h3>Samples over training</h3><div class='timeline'>")
            parts += [
                f"<figure><img src='{esc(r)}' alt='step {s}'><figcaption>step {s}</figcaption></figure>"
                for r, s in grids
            ]
            parts.append("</div>")
        elif not modes:
            parts.append("<p>No sample grids yet.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
