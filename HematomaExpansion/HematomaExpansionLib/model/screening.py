"""Steps 1-4 of the LASSO-SVM: constant features, z-score, univariate filter, correlation pruning."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import mannwhitneyu, rankdata
from sklearn.preprocessing import StandardScaler

from ..common.errors import InputError
from .config import TrainingConfig


@dataclass
class Screening:
    """What the screening steps kept of the training features, and why the others went.

    ``univariate_p`` is the Mann-Whitney p of each of ``kept_features`` (the non-constant ones,
    z-scored by ``scaler``); ``z_candidates`` holds the z-scores of ``candidate_features``.
    """

    constant_features: list[str]
    kept_features: list[str]
    scaler: StandardScaler
    univariate_p: np.ndarray
    filtered_features: list[str]
    pruned_features: list[str]
    candidate_features: list[str]
    z_candidates: np.ndarray
    notes: list[str] = field(default_factory=list)


def screen_features(x: np.ndarray, y: np.ndarray, names: list[str], config: TrainingConfig) -> Screening:
    """Drop constant features, z-score the others, filter by Mann-Whitney p and prune correlated ones."""
    notes: list[str] = []
    constant = np.ptp(x, axis=0) == 0
    constant_features = [n for n, c in zip(names, constant, strict=True) if c]
    kept_features = [n for n, c in zip(names, constant, strict=True) if not c]
    if not kept_features:
        raise InputError("every feature is constant on the training set; there is nothing to learn from")
    if constant_features:
        notes.append(f"dropped {len(constant_features)} feature(s) constant on the training set")
    scaler = StandardScaler().fit(x[:, ~constant])
    z = scaler.transform(x[:, ~constant])

    p_values = np.atleast_1d(mannwhitneyu(z[y == 1], z[y == 0], alternative="two-sided", axis=0).pvalue)
    after_filter = np.ones(len(kept_features), dtype=bool)
    if config.univariate_filter:
        after_filter = p_values < config.univariate_alpha
        if not after_filter.any():
            notes.append(
                f"no feature passed the Mann-Whitney U filter (p < {config.univariate_alpha}); "
                "the filter was skipped"
            )
            after_filter[:] = True
    keep = after_filter
    if config.correlation_prune:
        keep = _prune_correlated(z, p_values, after_filter, config.correlation_threshold)
    candidates = np.flatnonzero(keep)
    return Screening(
        constant_features=constant_features,
        kept_features=kept_features,
        scaler=scaler,
        univariate_p=p_values,
        filtered_features=[n for n, k in zip(kept_features, after_filter, strict=True) if not k],
        pruned_features=[n for n, a, k in zip(kept_features, after_filter, keep, strict=True) if a and not k],
        candidate_features=[kept_features[i] for i in candidates],
        z_candidates=z[:, candidates],
        notes=notes,
    )


def _prune_correlated(z: np.ndarray, p_values: np.ndarray, keep: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy pruning in order of increasing p: a feature is kept unless |rho| > threshold with a kept one."""
    candidates = np.flatnonzero(keep)
    ranks = rankdata(z[:, candidates], axis=0)
    rho = np.atleast_2d(np.corrcoef(ranks, rowvar=False))
    order = np.lexsort((candidates, p_values[candidates]))  # by p, ties by input order
    chosen: list[int] = []
    for i in order:
        if all(abs(rho[i, j]) <= threshold for j in chosen):
            chosen.append(i)
    result = np.zeros_like(keep)
    result[candidates[chosen]] = True
    return result
