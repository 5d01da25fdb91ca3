"""`compute`: the one entry point of evaluation, and the registries of metric and feature-extractor names.

    compute(["fid", "kid", "pr"], fake, real, metadata=meta)  # -> {"fid": .., "kid": .., ...}

fake, real: generated and real examples in the dataset's value range (images [N, H, W, C],
points [N, D], audio [N, T, 1]). Images are compared in the feature space of `features`:
"auto" -> the domain classifier for MNIST / Fashion-MNIST, Inception-v3 for other images;
audio in the spoken-digit classifier's (`genjax.metrics.audio_domain`) when it is 1 s at 8 kHz;
points are compared as they are.
"""

from __future__ import annotations

import logging

from typing import Any, Callable, Sequence

import numpy as np

from genjax.metrics import audio_domain, domain, mixtures, prdc, stats, twosample
from genjax.metrics.features import RAW, Extractor, extract, inception_extractor
from genjax.metrics.reference import reference_features

OPTIONS = {
    "features": "auto",  # auto | inception | raw | mnist | fashion_mnist | spoken_digit
    "batch_size": 32,
    "mesh": None,
    "progress": False,  # progress bar over feature batches
    "real_split": "eval",  # split label of the cached real features; None: no cache
    "train": None,  # training examples, for "memorization"
    "kid_subsets": 100,
    "kid_subset_size": 1000,
    "is_splits": 10,
    "pr_k": 3,
    "dc_k": 5,
    "c2st_classifier": "knn",  # knn (leave-one-out 1-NN) | logistic
    "mode_num_std": 3.0,
    "mode_min_count": 1,
}


def dataset_base_name(name: str) -> str:
    """ "tfds:mnist" -> "mnist", "builtin:ring8?modes=8" -> "ring8"."""
    return name.split(":")[-1].split("?")[0].split("/")[0]


def resolve_features(metadata: Any, features: str = "auto") -> str:
    """Name of the feature space used for `metadata`'s data: "points" for points; for images
    `features`, or with "auto" the domain classifier for 28x28x1 MNIST / Fashion-MNIST and
    Inception-v3 for everything else; for audio the spoken-digit classifier, which needs 1 s at
    8 kHz (other audio: pass features="raw")."""
    if metadata.kind == "points":
        return "points"
    if features != "auto":
        return features
    if metadata.kind == "audio":
        if metadata.sample_rate != audio_domain.SAMPLE_RATE or tuple(metadata.shape) != audio_domain.WAVE_SHAPE:
            raise ValueError(
                f"{metadata.name}: no audio feature extractor for {metadata.shape[0]} samples at {metadata.sample_rate} "
                f"Hz; the spoken_digit classifier takes {audio_domain.WAVE_SHAPE[0]} samples at "
                f"{audio_domain.SAMPLE_RATE} Hz: set data.num_samples and data.sample_rate so, or use features='raw'"
            )
        return "spoken_digit"
    base = dataset_base_name(metadata.name)
    return base if base in domain.DATASETS and tuple(metadata.shape) == domain.IMAGE_SHAPE else "inception"


def get_extractor(name: str) -> Extractor:
    """ "inception", "raw" (flattened pixels in [0, 1]), or a domain classifier ("mnist",
    "fashion_mnist", see `genjax.metrics.domain`)."""
    if name == "inception":
        return inception_extractor()
    if name == "raw":
        return RAW
    if name in domain.DATASETS:
        return domain.extractor(name)
    if name in audio_domain.DATASETS:
        return audio_domain.extractor(name)
    names = ", ".join(domain.DATASETS + audio_domain.DATASETS)
    raise ValueError(f"unknown feature extractor {name!r}; available: inception, raw, {names}")


log = logging.getLogger("genjax")


class _Inputs:
    """Lazily extracted features of fake / real examples, shared by all requested metrics."""

    def __init__(self, fake, real, metadata, opts, rng_seed):
        self.fake, self.real, self.metadata, self.opts, self.rng_seed = fake, real, metadata, opts, rng_seed
        self.space = resolve_features(metadata, opts["features"])
        self._cache: dict[str, dict[str, np.ndarray]] = {}
        self._extractor = None

    def _extract(self, which: str, images: np.ndarray) -> dict[str, np.ndarray]:
        if which not in self._cache:
            if self.space == "points":
                self._cache[which] = {"features": np.asarray(images, np.float64).reshape(len(images), -1)}
            else:
                if self._extractor is None:
                    self._extractor = get_extractor(self.space)
                extractor = self._extractor
                kw = {k: self.opts[k] for k in ("batch_size", "mesh", "progress")}
                vr = tuple(self.metadata.value_range)
                if which == "real" and self.opts["real_split"] is not None and self.space != "raw":
                    self._cache[which] = reference_features(
                        extractor,
                        images,
                        vr,
                        dataset=dataset_base_name(self.metadata.name),
                        split=self.opts["real_split"],
                        **kw,
                    )
                else:
                    self._cache[which] = extract(extractor, images, vr, **kw)
        return self._cache[which]

    def features(self, which: str) -> np.ndarray:
        return self._extract(which, self.fake if which == "fake" else self.real)["features"]

    def logits(self, which: str) -> np.ndarray:
        out = self._extract(which, self.fake if which == "fake" else self.real)
        if "logits" not in out:
            raise ValueError(
                f"metric 'is' needs class logits, which the {self.space!r} feature space lacks; "
                "Inception logits need pytorch-fid's weights (`genjax weights fetch inception --from "
                "pt_inception-2015-12-05-6726825d.pth --force`), or use features='mnist'/'fashion_mnist'"
            )
        return out["logits"]


def _fid(x: _Inputs) -> dict[str, float]:
    real = x._extract("real", x.real)
    mu_r, sigma_r = (real["mu"], real["sigma"]) if "mu" in real else stats.gaussian_stats(real["features"])
    return {"fid": stats.frechet_distance(*stats.gaussian_stats(x.features("fake")), mu_r, sigma_r)}


def _kid(x: _Inputs) -> dict[str, float]:
    mean, std = stats.kernel_inception_distance(
        x.features("fake"), x.features("real"), x.opts["kid_subsets"], x.opts["kid_subset_size"], x.rng_seed
    )
    return {"kid": mean, "kid_std": std}


def _is(x: _Inputs) -> dict[str, float]:
    logits = x.logits("fake").astype(np.float64)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    mean, std = stats.inception_score(probs / probs.sum(1, keepdims=True), x.opts["is_splits"])
    return {"is": mean, "is_std": std}


def _pr(x: _Inputs) -> dict[str, float]:
    p, r = prdc.precision_recall(x.features("fake"), x.features("real"), x.opts["pr_k"])
    return {"precision": p, "recall": r}


def _dc(x: _Inputs) -> dict[str, float]:
    d, c = prdc.density_coverage(x.features("fake"), x.features("real"), x.opts["dc_k"])
    return {"density": d, "coverage": c}


def _c2st(x: _Inputs) -> dict[str, float]:
    kind = x.opts["c2st_classifier"]
    if kind not in ("knn", "logistic"):
        raise ValueError(f"c2st_classifier must be 'knn' or 'logistic', got {kind!r}")
    fn = twosample.c2st_knn if kind == "knn" else lambda f, r: twosample.c2st_logistic(f, r, x.rng_seed)
    return {"c2st": fn(x.features("fake"), x.features("real"))}


def _memorization(x: _Inputs) -> dict[str, float]:
    if x.opts["train"] is None:
        raise ValueError("metric 'memorization' needs train=<training examples>; `real` is taken as held-out data")
    train = x._extract("train", np.asarray(x.opts["train"]))["features"]
    out = twosample.memorization(x.features("fake"), train, x.features("real"))
    return {f"memorization_{k}": v for k, v in out.items()}


def _mode_coverage(x: _Inputs) -> dict[str, float]:
    modes = getattr(x.metadata, "modes", None)
    if x.metadata.kind != "points" or modes is None:
        raise ValueError(
            f"metric 'mode_coverage' needs a points dataset with metadata.modes; {x.metadata.name!r} has none"
        )
    return mixtures.mode_coverage(
        x.features("fake"),
        np.asarray(modes),
        float(x.metadata.mode_std),
        x.opts["mode_num_std"],
        x.opts["mode_min_count"],
    )


METRICS: dict[str, Callable[[_Inputs], dict[str, float]]] = {
    "fid": _fid,
    "kid": _kid,
    "is": _is,
    "pr": _pr,
    "dc": _dc,
    "c2st": _c2st,
    "memorization": _memorization,
    "mode_coverage": _mode_coverage,
}


def compute(
    names: Sequence[str],
    fake: np.ndarray,
    real: np.ndarray,
    *,
    metadata: Any,
    rng_seed: int = 0,
    **opts: Any,
) -> dict[str, float]:
    """Evaluate metrics `names` of generated `fake` against `real` examples.

    Keys: fid; kid, kid_std; is, is_std; precision, recall; density, coverage; c2st;
    memorization_z_u, memorization_ratio; modes, high_quality, reverse_kl. Options (with
    defaults) are listed in `OPTIONS`.
    """
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; available: {sorted(METRICS)}")
    bad = sorted(set(opts) - set(OPTIONS))
    if bad:
        raise ValueError(f"unknown option(s) {bad}; available: {sorted(OPTIONS)}")
    fake, real = np.asarray(fake), np.asarray(real)
    shape = tuple(metadata.shape)
    for label, arr in (("fake", fake), ("real", real)):
        if arr.shape[1:] != shape or len(arr) < 2:
            raise ValueError(
                f"{label} must be [N >= 2, *{shape}] (metadata.shape of {metadata.name!r}), got {arr.shape}"
            )
    inputs = _Inputs(fake, real, metadata, {**OPTIONS, **opts}, rng_seed)
    out: dict[str, float] = {}
    for name in names:
        out.update(METRICS[name](inputs))
    for message in unreliable(out, inputs):
        log.warning("%s", message)
    return out


def unreliable(out: dict[str, float], x: _Inputs) -> list[str]:
    """Why values in `out` mean little statistically: a KID whose subsets all hold the same
    examples (a spread of ~0 is no spread estimate), an FID from fewer examples than feature
    dimensions (a singular covariance: FID is biased upward, strongly at small N; Chong & Forsyth
    2020, "Effectively Unbiased FID and Inception Score")."""
    notes = []
    n = min(len(x.fake), len(x.real))
    if "kid_std" in out and out["kid_std"] <= 1e-12 * max(1.0, abs(out["kid"])):
        notes.append(
            f"kid_std is ~0: with {n} examples per set every KID subset (kid_subset_size "
            f"{x.opts['kid_subset_size']}) holds the same examples, so the spread says nothing; "
            "raise --num well above kid_subset_size"
        )
    if "fid" in out:
        dims = x.features("fake").shape[1]
        if n < dims:
            notes.append(
                f"fid from {n} examples of {dims}-dimensional features: the covariance is singular and FID is "
                f"biased upward; compare FIDs only at equal N, and use N >= {dims} (10,000 for published numbers)"
            )
    return notes
