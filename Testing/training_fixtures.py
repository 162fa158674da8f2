"""Synthetic feature tables whose label depends on a known sparse subset of the features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from HematomaExpansionLib.model.config import TrainingConfig

# Small grids keep the tests fast; the pipeline is the same as with the defaults.
FAST_CONFIG = TrainingConfig(
    n_lambdas=30,
    c_grid=(0.3, 3.0, 30.0),
    gamma_factors=(0.1, 0.3, 1.0),
)


@dataclass
class SyntheticCohort:
    """A feature table (column -> array) with its ground truth."""

    table: dict[str, np.ndarray]
    feature_names: list[str]
    informative: list[str]
    true_probability: np.ndarray


def synthetic_cohort(
    n: int = 235,
    n_features: int = 60,
    seed: int = 0,
    coefficients: tuple[float, ...] = (1.2, -1.2, 1.2, -1.2, 1.2),
    intercept: float = -0.9,
    cluster_size: int = 5,
    cluster_rho: float = 0.95,
) -> SyntheticCohort:
    """Label ~ Bernoulli(logistic(intercept + x_S . beta)) for a sparse informative subset S.

    The first ``len(coefficients)`` features are informative and independent; the others are
    distractors without effect on the label, in clusters of ``cluster_size`` features correlated
    with rho = ``cluster_rho`` (redundant families, as radiomics features come). Every feature
    gets an arbitrary offset and scale so that z-scoring matters. ``split`` is a stratified 80/20
    train/test split.
    """
    rng = np.random.default_rng(seed)
    k = len(coefficients)
    base = rng.standard_normal((n, n_features))
    for j in range(k, n_features):
        head = k + (j - k) // cluster_size * cluster_size
        if j != head:
            base[:, j] = cluster_rho * base[:, head] + np.sqrt(1 - cluster_rho**2) * base[:, j]
    probability = 1.0 / (1.0 + np.exp(-(intercept + base[:, :k] @ np.asarray(coefficients))))
    label = (rng.random(n) < probability).astype(int)
    values = base * np.exp(rng.uniform(-2, 3, n_features)) + rng.uniform(-50, 50, n_features)

    names = [f"original_synthetic_Feature{j:02d}" for j in range(n_features)]
    train, _ = train_test_split(np.arange(n), test_size=0.2, stratify=label, random_state=seed)
    split = np.full(n, "test", dtype=object)
    split[train] = "train"
    table: dict[str, np.ndarray] = {name: values[:, j] for j, name in enumerate(names)}
    table["label"] = label
    table["split"] = split
    return SyntheticCohort(table, names, names[:k], probability)


def split_arrays(cohort: SyntheticCohort, rows: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of one split, features in ``cohort.feature_names`` order."""
    mask = cohort.table["split"] == rows
    x = np.column_stack([cohort.table[name][mask] for name in cohort.feature_names])
    return x, cohort.table["label"][mask]
