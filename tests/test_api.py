"""genjax.fit: the notebook entry point, and registering a family again."""

import pytest

import genjax
from genjax import config as config_lib
from genjax import objectives
from genjax.objectives import make_objective, register, registered

QUIET = ["train.progress=false", "train.sample_every=0"]


def test_fit_a_registered_objective_on_a_data_source(tmp_path):
    state = genjax.fit("vae", "builtin:moons", steps=3, workdir=tmp_path / "vae", overrides=QUIET)
    assert int(state.step) == 3
    saved = config_lib.from_json((tmp_path / "vae" / "config.json").read_text())
    assert saved.objective.name == "vae" and saved.data.source == "builtin:moons" and saved.mesh.data == -1
    # a config dict, trained longer in the same workdir: it resumes
    state = genjax.fit(saved, steps=5, workdir=tmp_path / "vae")
    assert int(state.step) == 5


def test_fit_a_packaged_config_into_runs_config_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = genjax.fit("digits_vae:runlocal", steps=2, overrides=QUIET)
    assert int(state.step) == 2 and (tmp_path / "runs" / "digits_vae-runlocal" / "checkpoints" / "2").is_dir()


def test_registering_a_family_again_replaces_it_only_when_it_is_the_same_factory(monkeypatch):
    monkeypatch.setattr(objectives, "_REGISTRY", dict(objectives._REGISTRY))  # leave no trace
    monkeypatch.setattr(objectives, "_COMPONENTS", dict(objectives._COMPONENTS))

    def tiny(cfg, metadata):
        return ("first", cfg.name)

    register("genjax_test_tiny")(tiny)
    register("genjax_test_tiny")(tiny)  # the same object: fine

    def tiny(cfg, metadata):  # noqa: F811 - a re-run notebook cell: same module and name
        return ("second", cfg.name)

    register("genjax_test_tiny")(tiny)
    config = config_lib.base_config()
    config.objective.name = "genjax_test_tiny"
    assert make_objective(config, None) == ("second", "genjax_test_tiny")

    def other(cfg, metadata):
        return None

    with pytest.raises(ValueError, match=r"'genjax_test_tiny' is already registered by .*tiny; choose another"):
        register("genjax_test_tiny")(other)
    assert "genjax_test_tiny" in registered()
