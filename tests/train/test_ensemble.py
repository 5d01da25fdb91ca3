"""Mixtures of trained generators: the component counts follow the weights (chi-square), each
sample comes from the generator its draw picked, and `genjax sample` with several workdirs;
`--average-ema` of a diffusion run against the objective's averaged sampler."""

import types

import numpy as np
import pytest
from scipy.stats import chisquare

from genjax.cli import main
from genjax.train.ensemble import mixture_components, mixture_weights, sample_mixture


def test_component_counts_follow_the_weights():
    w = np.array([0.2, 0.3, 0.5])
    counts = np.bincount(mixture_components(0, w, 20000), minlength=3)
    assert chisquare(counts, 20000 * w).pvalue > 1e-3
    assert chisquare(counts, 20000 * np.array([0.25, 0.3, 0.45])).pvalue < 1e-6  # the test can tell


def _stand_in(k: int, shape=(2,)):
    """A run whose samples are all k."""
    sample = lambda n, seed, **kw: np.full((n, *shape), float(k))  # noqa: E731
    return types.SimpleNamespace(metadata=types.SimpleNamespace(shape=shape), sample=sample)


def test_each_sample_comes_from_its_component():
    runs = [_stand_in(k) for k in range(3)]
    x = sample_mixture(runs, (1.0, 0.0, 3.0), 4000, seed=7)
    np.testing.assert_array_equal(x[:, 0], mixture_components(7, (0.25, 0.0, 0.75), 4000))
    counts = np.bincount(x[:, 0].astype(int), minlength=3)
    assert counts[1] == 0 and chisquare(counts[[0, 2]], 4000 * np.array([0.25, 0.75])).pvalue > 1e-3


@pytest.mark.parametrize("weights", [(1.0,), (-1.0, 2.0), (0.0, 0.0)])
def test_bad_weights_raise(weights):
    with pytest.raises(ValueError, match="non-negative"):
        mixture_weights(weights, 2)
    with pytest.raises(ValueError, match="share the sample shape"):
        sample_mixture([_stand_in(0), _stand_in(1, (3,))], None, 4, 0)


def _train(path, seed):
    args = ["train", "--config", "ring8_gan:runlocal", "--workdir", str(path)]
    assert main([*args, f"--config.seed={seed}", "--config.train.progress=false"]) == 0


def test_sample_command_mixes_workdirs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _train(a, 0)
    _train(b, 1)
    out = lambda name: str(tmp_path / f"{name}.npz")  # noqa: E731
    mix = ["sample", "--workdir", str(a), "--workdir", str(b), "--num", "12", "--seed", "3"]
    assert main([*mix, "--weights", "1,0", "--out", out("mix_a")]) == 0
    assert main(["sample", "--workdir", str(a), "--num", "12", "--seed", "4", "--out", out("a")]) == 0
    np.testing.assert_array_equal(np.load(out("mix_a"))["x"], np.load(out("a"))["x"])  # run 0 draws with seed + 1
    assert main([*mix, "--out", out("mix")]) == 0
    assert np.load(out("mix"))["x"].shape == (12, 2)
    assert main([*mix, "--weights", "1", "--out", out("bad")]) == 2
    assert main(["sample", "--workdir", str(a), "--average-ema", "--out", out("bad")]) == 2


def test_average_ema_averages_the_denoisers_of_every_ema(tmp_path):
    import jax

    from genjax.train.loop import load_run

    args = ["train", "--config", "grid25_diffusion:runlocal", "--workdir", str(tmp_path / "d")]
    assert (
        main([*args, "--config.train.ema_decays=(0.5,0.9)", "--config.train.steps=4", "--config.train.progress=false"])
        == 0
    )
    out = str(tmp_path / "avg.npz")
    assert main(["sample", "--workdir", str(tmp_path / "d"), "--num", "6", "--average-ema", "--out", out]) == 0
    r = load_run(tmp_path / "d")
    e0, e1 = r.state.ema
    with jax.set_mesh(r.mesh):
        want = r.objective.sample(e0, r.state.model_state, jax.random.PRNGKey(0), 6, ensemble=(e1,))
        one = r.objective.sample(e0, r.state.model_state, jax.random.PRNGKey(0), 6)
    x = np.load(out)["x"]
    np.testing.assert_allclose(x, np.asarray(want), rtol=1e-5, atol=1e-5)
    assert not np.allclose(x, np.asarray(one), atol=1e-4)
