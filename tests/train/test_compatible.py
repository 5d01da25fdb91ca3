"""A workdir's checkpoints resume only the experiment that wrote them (genjax/train/compatible.py)."""

import pytest

from genjax import config as config_lib
from genjax.cli import main
from genjax.train import run
from genjax.train.compatible import WorkdirConfigMismatch, config_differences

VAE = "digits_vae:runlocal"
QUIET = ["--config.train.progress=false", "--config.train.sample_every=0", "--config.train.steps=2"]


def _config(*overrides):
    return config_lib.load_config(VAE, [*QUIET, *overrides])


def test_training_length_logging_and_mesh_may_change():
    base = _config()
    same = _config("--config.train.steps=50", "--config.train.log_every=7", "--config.mesh.data=1")
    same.eval.metrics = ("kid",)
    assert config_differences(base, same) == []


def test_the_experiment_may_not():
    base = _config()
    other = _config("--config.objective.latent_dim=3", "--config.optim.lr=0.5", "--config.seed=4")
    assert config_differences(base, other) == [
        ("objective.latent_dim", base.objective.latent_dim, 3),
        ("optim.lr", base.optim.lr, 0.5),
        ("seed", 0, 4),
    ]
    other.objective.extra = 1  # a key only one side has
    assert ("objective.extra", None, 1) in config_differences(base, other)
    other = config_lib.load_config("digits_ddpm:runlocal", QUIET)
    assert ("objective.name", "vae", "diffusion") in config_differences(base, other)


def test_another_experiment_is_refused_and_force_resumes(tmp_path, capsys):
    workdir = tmp_path / "run"
    run(_config(), workdir)
    run(_config("--config.train.steps=3"), workdir)  # trained longer: resumes
    with pytest.raises(WorkdirConfigMismatch, match=r"differs in optim.lr \(0.001 -> 0.5\)"):
        run(_config("--config.train.steps=4", "--config.optim.lr=0.5"), workdir)
    capsys.readouterr()
    args = ["train", "--config", VAE, "--workdir", str(workdir), *QUIET, "--config.objective.latent_dim=3"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"genjax train: error: {workdir} holds the checkpoints of another experiment: its config ")
    assert "objective.latent_dim" in err and "--force" in err and len(err.splitlines()) == 1
    state = run(_config("--config.train.steps=4", "--config.optim.lr=0.5"), workdir, force=True)
    assert int(state.step) == 4
