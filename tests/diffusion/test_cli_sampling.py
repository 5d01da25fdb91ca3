"""`genjax sample` and `genjax eval` on a diffusion run: sampler, steps, explicit timesteps,
sampler options and the EMA to sample from, each against `Run.sample` called directly."""

import jax
import numpy as np
import pytest

from genjax.cli import main
from genjax.train.loop import load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """grid25_diffusion, tiny (an MLP on 2D points, EDM process), with two EMA decays."""
    workdir = tmp_path_factory.mktemp("diffusion_cli")
    assert (
        main(
            [
                "train",
                "--config",
                "grid25_diffusion",
                "--workdir",
                str(workdir),
                "--config.train.progress=false",
                "--config.train.steps=4",
                "--config.train.ema_decays=(0.5, 0.9)",
                "--config.data.batch_size=32",
                "--config.objective.net.hidden=32",
                "--config.objective.net.depth=2",
                "--config.train.sample_every=0",
                "--config.train.checkpoint_every=4",
                "--config.train.log_every=4",
                "--config.optim.lr=0.05",
            ]
        )
        == 0
    )
    return workdir


def _cli(workdir, out, *args):
    assert main(["sample", "--workdir", str(workdir), "--num", "16", "--seed", "3", "--out", str(out), *args]) == 0
    return np.load(out)["x"]


@pytest.mark.parametrize(
    "args,kwargs",
    [
        (["--sampler", "ddim", "--steps", "3", "--option", "eta=0.5"], dict(sampler="ddim", steps=3, eta=0.5)),
        (
            ["--sampler", "heun", "--timesteps", "80,5,0.5,0.01", "--option", "s_churn=10"],
            dict(sampler="heun", timesteps=[80.0, 5.0, 0.5, 0.01], s_churn=10),
        ),
        (["--sampler", "dpmpp_2m", "--steps", "4", "--ema-index", "1"], dict(sampler="dpmpp_2m", steps=4, ema_index=1)),
        (["--sampler", "euler", "--steps", "4", "--no-ema"], dict(sampler="euler", steps=4, ema_index=None)),
    ],
)
def test_sample_flags_reach_the_sampler(run_dir, tmp_path, args, kwargs):
    x = _cli(run_dir, tmp_path / "x.npz", *args)
    r = load_run(str(run_dir))
    kwargs = {"ema_index": 0, **kwargs}
    np.testing.assert_allclose(x, r.sample(16, 3, **kwargs), rtol=1e-6, atol=1e-6)
    other = dict(kwargs, ema_index=0 if kwargs["ema_index"] != 0 else 1)  # another set of params differs
    assert np.abs(x - r.sample(16, 3, **other)).max() > 1e-4


def test_the_two_emas_differ_and_follow_their_decays(run_dir):
    state = load_run(str(run_dir)).state
    ema_fast, ema_slow, raw = (jax.tree.leaves(p) for p in (state.ema[0], state.ema[1], state.params))
    # the 0.5-EMA is closer to the raw params than the 0.9-EMA
    dist = lambda a, b: sum(float(np.sum((np.asarray(x) - np.asarray(y)) ** 2)) for x, y in zip(a, b))  # noqa: E731
    assert 0 < dist(ema_fast, raw) < dist(ema_slow, raw)


def test_eval_uses_the_chosen_ema(run_dir, capsys):
    for index in (0, 1):
        assert (
            main(
                [
                    "eval",
                    "--workdir",
                    str(run_dir),
                    "--metrics",
                    "mode_coverage",
                    "--num",
                    "64",
                    "--sampler",
                    "ddim",
                    "--steps",
                    "3",
                    "--ema-index",
                    str(index),
                ]
            )
            == 0
        )
    first, second = (line for line in capsys.readouterr().out.strip().splitlines()[-2:])
    assert first != second


@pytest.mark.parametrize(
    "args,message",
    [
        (["--ema-index", "2"], "EMA index 2 out of range: the run keeps 2 EMA(s)"),
        (["--sampler", "ddim", "--option", "s_churn=3"], "sampler 'ddim' takes no option(s) ['s_churn']"),
        (["--sampler", "plms"], "sampler 'plms' is unknown"),
        (["--timesteps", "1,5"], "strictly decreasing"),
    ],
)
def test_bad_sampling_flags_are_reported(run_dir, tmp_path, capsys, args, message):
    assert main(["sample", "--workdir", str(run_dir), "--out", str(tmp_path / "x.npz"), *args]) == 2
    assert message in capsys.readouterr().err


def test_malformed_option_is_a_usage_error(run_dir, tmp_path):
    with pytest.raises(SystemExit):
        main(["sample", "--workdir", str(run_dir), "--out", str(tmp_path / "x.npz"), "--option", "eta"])
