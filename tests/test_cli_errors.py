"""The command line's config arguments and its error boundary, with `genjax.train.run` replaced by
a stand-in that records the config or fails: exit status 2 and one line for bad input, 1 and two
lines for a runtime failure, 130 for an interrupt; `--debug` or GENJAX_DEBUG=1 add the traceback."""

import errno
import types

import jax
import pytest

import genjax.train
from genjax.cli import main
from genjax.config import load_config


@pytest.fixture
def trained(monkeypatch):
    """The configs `genjax train` ran with; `trained.error`, when set, is raised instead."""
    record = types.SimpleNamespace(configs=[], workdirs=[], forced=[], error=None)

    def run(config, workdir, force=False):
        if record.error is not None:
            raise record.error
        record.configs.append(config)
        record.workdirs.append(str(workdir))
        record.forced.append(force)
        return types.SimpleNamespace(step=config.train.steps)

    monkeypatch.setattr(genjax.train, "run", run)
    monkeypatch.delenv("GENJAX_DEBUG", raising=False)
    return record


def _train(tmp_path, *args: str) -> int:
    return main(["train", "--workdir", str(tmp_path / "run"), *args])


def test_both_override_forms_give_the_same_config(trained, tmp_path):
    assert (
        _train(
            tmp_path,
            "--config",
            "digits_vae:runlocal",
            "--config.train.steps=7",
            "--config.optim.lr=0.5",
            "--config.objective.hidden=(8,4)",
            "--config.train.progress=false",
        )
        == 0
    )
    assert (
        _train(
            tmp_path,
            "--config.train.steps",
            "7",
            "--config",
            "digits_vae:runlocal",
            "--config.optim.lr",
            "0.5",
            "--config.objective.hidden",
            "(8,4)",
            "--noconfig.train.progress",
        )
        == 0
    )
    first, second = trained.configs
    assert first.to_dict() == second.to_dict()
    assert first.train.steps == 7 and first.optim.lr == 0.5 and first.objective.hidden == (8, 4)
    assert first.to_dict() != load_config("digits_vae:runlocal").to_dict()


def test_restore_fallback_flag_sets_the_config_field(trained, tmp_path):
    assert _train(tmp_path, "--config", "digits_vae", "--restore-fallback") == 0
    assert _train(tmp_path, "--config", "digits_vae") == 0
    assert _train(tmp_path, "--config", "digits_vae", "--config.train.restore_fallback=true") == 0
    assert [c.train.restore_fallback for c in trained.configs] == [True, False, True]


def test_the_default_config_and_packaged_names_do_not_depend_on_the_working_directory(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    assert _train(tmp_path) == 0
    assert _train(tmp_path, "--config", "digits_vae") == 0
    default, vae = trained.configs
    assert default.to_dict() == load_config("default").to_dict() and default.objective.name == "diffusion"
    assert vae.objective.name == "vae" and vae.train.steps == 3000


def test_without_workdir_a_run_goes_to_runs_config_name(trained, tmp_path):
    for args in ([], ["--config", "digits_vae"], ["--config", "digits_vae:runlocal", "--force"]):
        assert main(["train", *args]) == 0
    f = tmp_path / "mine.py"
    f.write_text("from genjax.configs.digits_vae import get_config\n")
    assert main(["train", "--config", f"{f}:runlocal"]) == 0
    assert trained.workdirs == ["runs/default", "runs/digits_vae", "runs/digits_vae-runlocal", "runs/mine-runlocal"]
    assert trained.forced == [False, False, True, False]


def test_a_config_file_with_a_variant(trained, tmp_path):
    f = tmp_path / "my_config.py"
    f.write_text(
        "from genjax.config import variants\n"
        "from genjax.configs import digits_vae\n"
        "def get_config(arg=None):\n"
        "    return variants(digits_vae.get_config(), arg, short=lambda c: c.train.update(steps=3))\n"
    )
    assert _train(tmp_path, "--config", f"{f}:short", "--config.train.log_every=1") == 0
    (config,) = trained.configs
    assert config.train.steps == 3 and config.train.log_every == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--config.train.stepz=1"],
            "genjax train: error: unknown config key 'train.stepz'; did you mean 'train.steps'?",
        ),
        (["--config.train.stepz", "1"], "genjax train: error: unknown config key 'train.stepz'"),
        (["--config.train.steps=many"], "genjax train: error: --config.train.steps=many: expected int\n"),
        (
            ["--config.train.progress=maybe"],
            "genjax train: error: --config.train.progress=maybe: expected true or false\n",
        ),
        (
            ["--config", "digits_vae:huge"],
            "genjax train: error: config 'digits_vae:huge': unknown variant 'huge'; known: iwae, runlocal\n",
        ),
        (["--config", "nope"], "genjax train: error: no packaged config 'nope' (known: "),
        (["--config", "missing/file.py"], "genjax train: error: config file 'missing/file.py' does not exist\n"),
    ],
)
def test_bad_input_exits_2_with_one_line(trained, tmp_path, capsys, args, message):
    assert _train(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not trained.configs


def test_errors_of_the_run_are_classified(trained, tmp_path, capsys):
    from genjax.train.checkpoint import CheckpointError

    for error, status, line in [
        (ValueError("config.data.batch_size=6: not divisible"), 2, "error: config.data.batch_size=6: not divisible"),
        (FileNotFoundError("tfds:mnist is not prepared"), 2, "error: tfds:mnist is not prepared"),
        (CheckpointError("checkpoint 10 is damaged"), 2, "error: checkpoint 10 is damaged"),
        (KeyError("no sampler 'ddimm'"), 2, "error: no sampler 'ddimm'"),
        (
            jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00TiB.\nmore"),
            1,
            "runtime error: JaxRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00TiB.",
        ),
        (MemoryError(), 1, "runtime error: MemoryError: out of memory"),
        (OSError(errno.ENOSPC, "No space left on device"), 1, "runtime error: OSError: [Errno 28] No space left"),
        (FloatingPointError("every step ... non-finite"), 1, "runtime error: FloatingPointError: every step"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ]:
        trained.error = error
        assert _train(tmp_path) == status, error
        err = capsys.readouterr().err
        assert err.startswith(f"genjax train: {line}") and "Traceback" not in err, err
        assert err.count("\n") == (2 if status == 1 else 1), err
        if status == 1:
            assert err.endswith("rerun with --debug (or GENJAX_DEBUG=1) for the traceback\n")


def test_debug_prints_the_traceback_and_keeps_the_status(trained, tmp_path, capsys, monkeypatch):
    trained.error = MemoryError("cannot allocate")
    for args in (["--debug", "train"], ["train", "--debug"]):
        assert main([*args, "--workdir", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "MemoryError: cannot allocate" in err
        assert err.rstrip().endswith("genjax train: runtime error: MemoryError: cannot allocate")
    trained.error = ValueError("bad batch")
    monkeypatch.setenv("GENJAX_DEBUG", "1")
    assert _train(tmp_path) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("genjax train: error: bad batch")


def test_a_bug_is_not_hidden(trained, tmp_path):
    trained.error = TypeError("unsupported operand")
    with pytest.raises(TypeError, match="unsupported operand"):
        _train(tmp_path)


def test_unrecognized_arguments_are_usage_errors(trained, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        _train(tmp_path, "digits_vae")
    assert e.value.code == 2 and "unrecognized arguments: digits_vae" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", "--workdir", str(tmp_path), "--out", "x.png", "--config.train.steps=3"])
