"""Evaluation: FID/KID/IS, precision/recall, density/coverage, two-sample tests, mode coverage,
bits/dim, and the feature extractors they use (FID Inception-v3 in Flax, domain classifiers).

Entry point: `compute(names, fake, real, metadata=...)`; see docs/metrics.md.
"""

from genjax.metrics.api import METRICS, OPTIONS, compute, get_extractor, resolve_features
from genjax.metrics.features import Extractor, extract
from genjax.metrics.likelihood import bits_per_dim
from genjax.metrics.mixtures import mode_coverage
from genjax.metrics.prdc import density_coverage, precision_recall
from genjax.metrics.stats import (
    fid_from_features,
    frechet_distance,
    gaussian_stats,
    inception_score,
    kernel_inception_distance,
)
from genjax.metrics.twosample import c2st_knn, c2st_logistic, memorization

__all__ = [
    "METRICS", "OPTIONS", "Extractor", "bits_per_dim", "c2st_knn", "c2st_logistic", "compute",
    "density_coverage", "extract", "fid_from_features", "frechet_distance", "gaussian_stats",
    "get_extractor", "inception_score", "kernel_inception_distance", "memorization",
    "mode_coverage", "precision_recall", "resolve_features",
]  # fmt: skip
