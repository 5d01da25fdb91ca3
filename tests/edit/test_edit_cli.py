"""`genjax edit` on a tiny class-conditional diffusion run: the grids' layouts, the inversion's
reported errors, and bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from genjax.cli import main

SIZE = 16  # digits at 16 x 16; grid cells are SIZE + 1 pixels apart


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("edit")
    args = [
        "train", "--config", "digits_ddpm:runlocal", "--workdir", str(workdir), "--config.train.progress=false",
        "--config.train.steps=2", "--config.train.sample_every=0", "--config.train.checkpoint_every=2",
        "--config.objective.conditional=true", "--config.objective.net.ch=8",
    ]  # fmt: skip
    assert main(args) == 0
    return workdir


def _edit(workdir, out, what, *args):
    assert main(["-q", "edit", what, "--workdir", str(workdir), "--out", str(out), *args]) == 0
    picture = np.asarray(Image.open(out))
    return (
        picture.shape[0] // (SIZE + 1),
        picture.shape[1] // (SIZE + 1),
        json.loads(out.with_suffix(".json").read_text()),
    )


def test_invert_reports_its_errors_and_fixed_point_iterations_reduce_them(workdir, tmp_path):
    errors = {}
    for iters in (0, 4):
        rows, cols, info = _edit(workdir, tmp_path / f"inv{iters}.png", "invert", "--num", "3", "--sample-steps", "4",
                                 "--fixed-point-iters", str(iters))  # fmt: skip
        assert (rows, cols) == (2, 3) and info["fixed_point_iters"] == iters and info["steps"] == 4
        mse = np.asarray(info["mse_per_example"])
        np.testing.assert_allclose(info["mse"], mse.mean())
        np.testing.assert_allclose(info["psnr"], np.mean(10 * np.log10(2.0**2 / mse)))  # data in [-1, 1]
        errors[iters] = info["mse"]
    assert errors[4] < 0.1 * errors[0]


def test_sdedit_grid(workdir, tmp_path):
    rows, cols, info = _edit(workdir, tmp_path / "s.png", "sdedit", "--num", "3", "--strengths", "0.3,0.9",
                             "--sample-steps", "4")  # fmt: skip
    assert (rows, cols) == (3, 3) and info["t0"] == [300.0, 899.0]  # DDPM times 0..999


def test_guidance_sweep_grid(workdir, tmp_path):
    rows, cols, info = _edit(workdir, tmp_path / "g.png", "guidance-sweep", "--scales", "0,1,3", "--labels", "1,2",
                             "--sample-steps", "3")  # fmt: skip
    assert (rows, cols) == (3, 2) and info["labels"] == [1, 2]


def test_interpolation_of_inverted_examples(workdir, tmp_path):
    rows, cols, info = _edit(workdir, tmp_path / "i.png", "interpolate", "--num", "2", "--steps", "4", "--from-data",
                             "--sample-steps", "3", "--label", "5")  # fmt: skip
    assert (rows, cols) == (2, 4) and info["space"].startswith("DDIM-inverted")


def test_supervised_direction_in_ddims_initial_noise(workdir, tmp_path):
    """InterFaceGAN in x_T: the brightness direction found on 64 DDIM samples raises the mean
    brightness of the rows' images from one end of the path to the other."""
    rows, cols, info = _edit(workdir, tmp_path / "d.png", "direction", "--method", "supervised", "--num", "3",
                             "--steps", "5", "--num-fit", "64", "--sample-steps", "3")  # fmt: skip
    assert (rows, cols) == (3, 5) and info["space"] == "x_T (DDIM, 3 steps)"
    assert len(info["direction"]) == SIZE * SIZE and abs(np.linalg.norm(info["direction"]) - 1) < 1e-6
    path = info["attribute_along_path"]
    assert path[-1] > path[0], path


@pytest.fixture(scope="module")
def stylegan_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("edit_sg2")
    args = [
        "train", "--config", "fashion_mnist_stylegan2:runlocal", "--workdir", str(workdir),
        "--config.train.progress=false", "--config.train.steps=1", "--config.train.sample_every=0",
        "--config.train.checkpoint_every=1", "--config.data.source=builtin:digits", "--config.data.image_size=16",
        "--config.objective.diffaugment=",
    ]  # fmt: skip
    assert main(args) == 0
    return workdir


@pytest.mark.parametrize(
    "args,shape,key",
    [
        (["style-mix", "--num", "2", "--num-b", "3", "--crossover", "middle"], (3, 4), "crossover"),
        (["truncation", "--num", "2", "--psis=-0.5,0,1"], (2, 3), "psis"),
        (["direction", "--method", "supervised", "--num", "2", "--steps", "5", "--num-fit", "32"], (2, 5), "direction"),
    ],
)
def test_stylegan_grids(stylegan_dir, tmp_path, args, shape, key):
    rows, cols, info = _edit(stylegan_dir, tmp_path / "x.png", *args)
    assert (rows, cols) == shape and key in info


@pytest.mark.parametrize(
    "args,message",
    [
        (["style-mix"], "needs a style-based GAN run"),
        (["direction"], "x_T is isotropic N(0, s^2 I) and has none: use --method supervised"),
        (["sdedit", "--strengths", "1.5"], "strength must lie in (0, 1]"),
        (["guidance-sweep", "--labels", "12"], "outside [0, 10)"),
        (["invert", "--label", "10"], "outside [0, 10)"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(workdir, tmp_path, capsys, args, message):
    out = tmp_path / "x.png"
    assert main(["edit", *args, "--workdir", str(workdir), "--out", str(out), "--sample-steps", "2"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_out_must_be_a_png(workdir, tmp_path, capsys):
    assert main(["edit", "invert", "--workdir", str(workdir), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "--out must end in .png" in capsys.readouterr().err
