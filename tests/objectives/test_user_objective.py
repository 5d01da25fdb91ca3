"""A family defined in a user's own module trains, samples and resumes through the CLI
(`genjax --import FILE.py ...`), as docs/architecture.md's "Add a family" describes."""

import json
import textwrap

import numpy as np
import pytest

from genjax.cli import main
from genjax.config import load_config
from genjax.data import load_examples

FAMILY = textwrap.dedent('''
    """A Gaussian with a learnable mean: loss(x) = |x - mu|^2 / 2, samples mu + N(0, I)."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from genjax.objectives import register
    from genjax.objectives.base import LossOutput, PlayerVariables


    @dataclasses.dataclass(frozen=True)
    class MeanShift:
        dim: int
        players: tuple = ("model",)
        schedule: tuple = ("model",)

        def init(self, rng, batch):
            return {"model": PlayerVariables({"mu": jnp.full((self.dim,), 3.0)}, {})}

        def loss(self, player, params, state, batch, rng, step):
            err = batch["x"] - params["model"]["mu"]
            return LossOutput(0.5 * jnp.sum(err**2, axis=-1), {}, {})

        def sample(self, params, state, rng, num, **kwargs):
            return params["model"]["mu"] + jax.random.normal(rng, (num, self.dim))


    @register("mean_shift")
    def make(cfg, metadata):
        return MeanShift(dim=metadata.shape[0])
''')

CONFIG = textwrap.dedent("""
    from genjax.config import base_config

    def get_config(arg=None):
        c = base_config()
        c.data.update(source="builtin:ring8", batch_size=64)
        c.objective.name = "mean_shift"
        c.optim.update(name="sgd", lr=0.1, b1=0.0, schedule="constant", warmup_steps=0)
        c.train.update(steps=60, log_every=20, sample_every=0, checkpoint_every=30, ema_decays=(),
                       progress=False, async_checkpoint=False)
        return c
""")


def test_a_users_objective_trains_through_the_cli(tmp_path, capsys):
    (tmp_path / "mean_shift_family.py").write_text(FAMILY)
    (tmp_path / "mean_shift_config.py").write_text(CONFIG)
    family, config, workdir = (
        str(tmp_path / "mean_shift_family.py"),
        str(tmp_path / "mean_shift_config.py"),
        tmp_path / "run",
    )
    # without the import, the objective is unknown: bad input, exit 2
    assert main(["train", "--config", config, "--workdir", str(workdir)]) == 2
    assert "mean_shift" in capsys.readouterr().err
    assert (
        main(["--import", family, "train", "--config", config, "--workdir", str(workdir), "--config.train.steps=30"])
        == 0
    )
    assert main(["--import", family, "train", "--config", config, "--workdir", str(workdir)]) == 0  # resumes
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [20, 30, 40, 60]
    # SGD on |x - mu|^2 / 2 takes mu from 3 to the data mean (|mu - mean| shrinks by 0.9 a step), where
    # the expected loss is half the data's total variance
    data = load_examples(load_config(config).data, 4096, split="train")["x"].astype(np.float64)
    losses = [r["loss/model"] for r in rows]
    assert losses[0] > losses[-1] == pytest.approx(0.5 * data.var(axis=0).sum(), rel=0.2)
    out = tmp_path / "s.npz"
    assert main(["--import", family, "sample", "--workdir", str(workdir), "--num", "4000", "--out", str(out)]) == 0
    x = np.load(out)["x"]
    assert x.shape == (4000, 2)
    np.testing.assert_allclose(x.mean(axis=0), data.mean(axis=0), atol=0.1)
    assert main(["--import", str(tmp_path / "missing.py"), "info"]) == 2
