"""Mutation testing of genjax's core with cosmic-ray: a per-module score of how many mutants the tests kill.

Each source file of the core is mutated one small change at a time (an operator swapped, a constant
nudged, a comparison flipped, a branch negated, ...) by cosmic-ray, and only the test files that
exercise that module run against the mutant (`-x`: the first failure kills it). A mutant the tests
do not notice "survives"; the score is killed / (killed + survived). Timeouts and mutants that
crash on import count as killed, as cosmic-ray reports them.

The run never touches the checkout: the tracked files are copied into `<workdir>/tree` first and
mutated there, and every session is kept in `<workdir>/sessions/*.sqlite`, so an interrupted run
resumes where it stopped (`make mutate` again). Mutants that provably cannot change behaviour
(equivalent mutants) are excluded in the source with `# pragma: no mutate` and a reason.

    python tools/mutate.py                          # every core module, every mutant (hours)
    python tools/mutate.py --area losses --sample 40 --seed 0   # 40 random mutants per file
    python tools/mutate.py --report                 # re-print the table of a finished run

Operators excluded everywhere: swaps to and from the bitwise and shift operators (`|`, `&`, `^`,
`<<`, `>>`), which the core uses only in type hints (not evaluated) and which turn float arithmetic
into type errors that any test kills.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# area -> {source file: the test files that exercise it}. Areas are the "core".
CORE: dict[str, dict[str, list[str]]] = {
    "losses": {
        "genjax/losses/likelihoods.py": ["tests/losses/test_likelihoods.py"],
        "genjax/losses/gan.py": ["tests/losses/test_gan_losses.py", "tests/losses/test_gan_terms.py"],
        "genjax/losses/regularizers.py": ["tests/losses/test_gan_regularizers.py"],
        "genjax/losses/terms.py": ["tests/losses/test_gan_terms.py"],
        "genjax/losses/vector_quantization.py": ["tests/losses/test_vector_quantization.py"],
        "genjax/losses/diffaugment.py": ["tests/losses/test_diffaugment.py"],
    },
    "diffusion": {
        "genjax/diffusion/schedules.py": [
            "tests/diffusion/test_noise_schedules.py",
            "tests/diffusion/test_samplers.py",
        ],
        "genjax/diffusion/losses.py": ["tests/diffusion/test_diffusion_losses.py"],
        "genjax/diffusion/parameterization.py": [
            "tests/diffusion/test_parameterizations.py",
            "tests/diffusion/test_diffusion_losses.py",
        ],
        "genjax/diffusion/samplers.py": ["tests/diffusion/test_samplers.py"],
        "genjax/diffusion/ode.py": ["tests/diffusion/test_likelihood.py"],
        "genjax/diffusion/likelihood.py": ["tests/diffusion/test_likelihood.py"],
    },
    "train": {
        "genjax/train/step.py": ["tests/train/test_step.py"],
        "genjax/train/optim.py": ["tests/test_config.py", "tests/train/test_step.py"],
        "genjax/train/integrity.py": ["tests/train/test_checkpoint_integrity.py"],
    },
    "checkpoint": {
        "genjax/train/checkpoint.py": [
            "tests/train/test_checkpoint_integrity.py",
            "tests/train/test_resume.py",
            "tests/test_faults.py",
        ],
    },
    "parallel": {
        "genjax/parallel/sharding.py": ["tests/parallel/test_sharding.py", "tests/parallel/test_tensor_parallel.py"],
        "genjax/parallel/mesh.py": ["tests/parallel/test_sharding.py"],
    },
    "data": {
        "genjax/data/pipeline.py": [
            "tests/data/test_pipeline.py",
            "tests/data/test_binarization.py",
            "tests/data/test_sources.py",
            "tests/data/test_audio.py",
            "tests/data/test_text.py",
        ],
    },
    "objectives": {
        "genjax/objectives/vae.py": [
            "tests/objectives/test_vae.py",
            "tests/objectives/test_vae_torch_parity.py",
            "tests/objectives/test_iwae.py",
            "tests/objectives/test_hparams.py",
        ],
        "genjax/objectives/iwae.py": ["tests/objectives/test_iwae.py", "tests/objectives/test_hparams.py"],
        "genjax/objectives/observation.py": [
            "tests/objectives/test_vae.py",
            "tests/objectives/test_vae_torch_parity.py",
            "tests/objectives/test_iwae.py",
        ],
        "genjax/objectives/diffusion.py": [
            "tests/diffusion/test_diffusion_objective.py",
            "tests/objectives/test_hparams.py",
        ],
    },
    "metrics": {
        "genjax/metrics/stats.py": ["tests/metrics/test_stats.py"],
        "genjax/metrics/prdc.py": ["tests/metrics/test_prdc.py"],
        "genjax/metrics/twosample.py": ["tests/metrics/test_prdc.py", "tests/metrics/test_api.py"],
    },
}

EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_.*_(RShift|LShift|BitOr|BitAnd|BitXor)$",
    r"core/ReplaceBinaryOperator_(RShift|LShift|BitOr|BitAnd|BitXor)_.*",
]


def session_name(source: str) -> str:
    return source.removeprefix("genjax/").removesuffix(".py").replace("/", ".")


def copy_tree(dst: Path) -> None:
    """Copies the tracked (and modified) files of the checkout into dst, replacing what was there."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    shutil.rmtree(dst, ignore_errors=True)
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dst / name)


def write_config(path: Path, source: Path, tests: list[str], timeout: float) -> None:
    command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:randomly " + " ".join(tests)
    lines = [
        "[cosmic-ray]",
        f'module-path = "{source}"',
        f"timeout = {timeout}",
        "excluded-modules = []",
        f"test-command = {json.dumps(command)}",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "[cosmic-ray.filters.operators-filter]",
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}",
    ]
    path.write_text("\n".join(lines) + "\n")


def sample_jobs(db_path: Path, sample: int, seed: int) -> None:
    """Marks all but `sample` pending mutants (chosen with `seed`) as skipped."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(db_path), WorkDB.Mode.open) as db:
        done = {job_id for job_id, _ in db.results}
        pending = sorted(item.job_id for item in db.work_items if item.job_id not in done)
        keep = set(random.Random(seed).sample(pending, min(sample, len(pending))))
        skip = [job for job in pending if job not in keep]
        if skip:
            db.set_multiple_results(skip, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="not sampled"))


def run_module(tree: Path, sessions: Path, source: str, tests: list[str], args: argparse.Namespace) -> None:
    name = session_name(source)
    config, db = sessions / f"{name}.toml", sessions / f"{name}.sqlite"
    write_config(config, tree / source, tests, args.timeout)
    # The copy, not the installed checkout, is what the tests import (PYTHONPATH comes before it).
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1", "JAX_PLATFORMS": "cpu"}
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(sessions.parent / "xla-cache"))

    def cr(tool: str, *rest: str) -> None:
        subprocess.run([str(BIN / tool), *rest], cwd=tree, env=env, check=True)

    if not db.exists():
        cr("cosmic-ray", "init", str(config), str(db))
        cr("cr-filter-operators", str(db), str(config))
        cr("cr-filter-pragma", str(db))
        if args.sample:
            sample_jobs(db, args.sample, args.seed)
    print(f"[mutate] {source}: running {' '.join(tests)}", flush=True)
    cr("cosmic-ray", "exec", str(config), str(db))


def score(db_path: Path) -> dict:
    """killed / survived / skipped counts of one session and the surviving mutants' diffs."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    killed, survived, skipped, pending = 0, [], 0, 0
    with use_db(str(db_path), WorkDB.Mode.open) as db:
        items = {item.job_id: item for item in db.work_items}
        results = dict(db.results)
        for job_id, item in items.items():
            result = results.get(job_id)
            if result is None:
                pending += 1
            elif result.worker_outcome == WorkerOutcome.SKIPPED:
                skipped += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                mutation = item.mutations[0]
                survived.append(
                    {"line": mutation.start_pos[0], "operator": mutation.operator_name, "diff": result.diff or ""}
                )
            else:
                killed += 1
    tested = killed + len(survived)
    return {
        "killed": killed,
        "survived": len(survived),
        "skipped": skipped,
        "pending": pending,
        "score": killed / tested if tested else None,
        "survivors": survived,
    }


def report(sessions: Path, areas: list[str]) -> dict:
    rows = {}
    for area in areas:
        for source in CORE[area]:
            db = sessions / f"{session_name(source)}.sqlite"
            if db.exists():
                rows[source] = {"area": area, **score(db)}
    print("| area | module | killed | survived | score |\n|---|---|---|---|---|")
    for area in areas:
        mine = [r for s, r in rows.items() if r["area"] == area]
        for source, r in rows.items():
            if r["area"] == area and r["score"] is not None:
                print(f"| {area} | {source} | {r['killed']} | {r['survived']} | {r['score']:.0%} |")
        k, s = sum(r["killed"] for r in mine), sum(r["survived"] for r in mine)
        if k + s:
            print(f"| **{area}** | all | {k} | {s} | **{k / (k + s):.0%}** |")
    for source, r in rows.items():
        for m in r["survivors"]:
            print(f"\nsurvived: {source}:{m['line']} {m['operator']}\n{m['diff'].strip()}")
    (sessions.parent / "scores.json").write_text(json.dumps(rows, indent=1))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--area", action="append", choices=sorted(CORE), help="areas to mutate (default: all)")
    parser.add_argument("--sample", type=int, default=0, help="random mutants per module (default: all of them)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one mutant's tests may take")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "mutation")
    parser.add_argument("--fresh", action="store_true", help="forget earlier sessions and start over")
    parser.add_argument("--report", action="store_true", help="only print the table of the sessions so far")
    args = parser.parse_args(argv)
    areas = args.area or list(CORE)
    sessions = args.workdir / "sessions"
    if args.fresh:
        shutil.rmtree(sessions, ignore_errors=True)
    sessions.mkdir(parents=True, exist_ok=True)
    if not args.report:
        tree = args.workdir / "tree"
        copy_tree(tree)
        for area in areas:
            for source, tests in CORE[area].items():
                run_module(tree, sessions, source, tests, args)
    report(sessions, areas)


if __name__ == "__main__":
    main()
