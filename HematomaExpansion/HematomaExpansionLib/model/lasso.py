"""Step 5 of the LASSO-SVM: the L1-logistic path, its cross-validation and the selected features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from ..common.errors import InputError
from .config import TrainingConfig

# Probabilities are clipped before the deviance is computed, as cv.glmnet does.
_DEVIANCE_CLIP = 1e-5
# liblinear penalises the intercept as a weight on a constant column of this value; a large value
# makes that penalty (|intercept| / scaling) negligible, so the fit matches glmnet's objective.
_INTERCEPT_SCALING = 100.0


@dataclass
class LassoPath:
    """L1-logistic coefficients along a decreasing lambda path with their cross-validation scores.

    ``lambdas`` use glmnet's scale: the objective is mean log-loss + lambda * ||beta||_1.
    ``cv_mean``/``cv_se`` are the fold-size-weighted mean and standard error of the per-fold
    score (deviance: lower is better; AUC: higher is better).
    """

    lambdas: np.ndarray
    coefs: np.ndarray  # (n_lambdas, n_features)
    intercepts: np.ndarray
    cv_mean: np.ndarray
    cv_se: np.ndarray
    score: str
    index_min: int
    index_1se: int


def lasso_path(z: np.ndarray, y: np.ndarray, config: TrainingConfig) -> LassoPath:
    """Fit the L1-logistic path on z-scored ``z`` and cross-validate it (seeded stratified folds).

    The path starts at lambda_max = max_j |z_j . (y - mean(y))| / n, the smallest lambda at which
    every coefficient is zero, and decreases log-linearly to lambda_max * lambda_min_ratio.
    """
    n = len(y)
    lambda_max = float(np.max(np.abs(z.T @ (y - y.mean()))) / n)
    lambdas = lambda_max * np.logspace(0.0, np.log10(config.lambda_min_ratio), config.n_lambdas)
    coefs, intercepts = _fit_path(z, y, lambdas, config)

    folds = StratifiedKFold(config.lasso_folds, shuffle=True, random_state=config.seed)
    fold_scores, fold_sizes = [], []
    for train, held_out in folds.split(z, y):
        fold_coefs, fold_intercepts = _fit_path(z[train], y[train], lambdas, config)
        linear = z[held_out] @ fold_coefs.T + fold_intercepts  # (n_held_out, n_lambdas)
        fold_scores.append(_path_scores(y[held_out], linear, config.lasso_score))
        fold_sizes.append(len(held_out))
    scores = np.asarray(fold_scores)
    weights = np.asarray(fold_sizes, dtype=float)
    cv_mean = np.average(scores, axis=0, weights=weights)
    cv_se = np.sqrt(np.average((scores - cv_mean) ** 2, axis=0, weights=weights) / (len(weights) - 1))

    sign = 1.0 if config.lasso_score == "deviance" else -1.0  # minimise sign * score
    loss = sign * cv_mean
    index_min = int(np.argmin(loss))
    # 1-SE rule: the largest lambda (smallest index) within one standard error of the best.
    index_1se = int(np.flatnonzero(loss <= loss[index_min] + cv_se[index_min])[0])
    return LassoPath(lambdas, coefs, intercepts, cv_mean, cv_se, config.lasso_score, index_min, index_1se)


def _fit_path(
    z: np.ndarray, y: np.ndarray, lambdas: np.ndarray, config: TrainingConfig
) -> tuple[np.ndarray, np.ndarray]:
    coefs = np.zeros((len(lambdas), z.shape[1]))
    intercepts = np.zeros(len(lambdas))
    for i, lam in enumerate(lambdas):
        model = LogisticRegression(
            l1_ratio=1.0,
            C=1.0 / (lam * len(y)),
            solver="liblinear",
            intercept_scaling=_INTERCEPT_SCALING,
            tol=config.lasso_tol,
            max_iter=config.lasso_max_iter,
            random_state=config.seed,
        ).fit(z, y)
        coefs[i] = model.coef_[0]
        intercepts[i] = model.intercept_[0]
    return coefs, intercepts


def _path_scores(y: np.ndarray, linear: np.ndarray, score: str) -> np.ndarray:
    if score == "auc":
        return np.array([roc_auc_score(y, column) for column in linear.T])
    p = np.clip(1.0 / (1.0 + np.exp(-linear)), _DEVIANCE_CLIP, 1.0 - _DEVIANCE_CLIP)
    y = y[:, None]
    return -2.0 * np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=0)


def select_on_path(path: LassoPath, config: TrainingConfig) -> tuple[int, np.ndarray, list[str]]:
    """The lambda index by the configured rule, the selected feature indices, and notes.

    When the rule's lambda selects nothing, the ``fallback_features`` largest coefficients at the
    first lambda of the path with any non-zero coefficient are taken instead.
    """
    lambda_index = path.index_1se if config.lambda_rule == "1se" else path.index_min
    selected = np.flatnonzero(path.coefs[lambda_index])
    if selected.size:
        return lambda_index, selected, []
    lambda_index, selected = _fallback_selection(path, config.fallback_features)
    note = (
        f"the LASSO selected no feature at the {config.lambda_rule} lambda; fell back to the "
        f"{selected.size} largest coefficient(s) at the first lambda of the path with any "
        f"(lambda={path.lambdas[lambda_index]:.4g})"
    )
    return lambda_index, selected, [note]


def _fallback_selection(path: LassoPath, k: int) -> tuple[int, np.ndarray]:
    nonzero_rows = np.flatnonzero(np.any(path.coefs != 0, axis=1))
    if nonzero_rows.size == 0:
        raise InputError("no feature enters the LASSO path: the features carry no signal about the label")
    index = int(nonzero_rows[0])
    coefs = path.coefs[index]
    nonzero = np.flatnonzero(coefs)
    top = nonzero[np.argsort(-np.abs(coefs[nonzero]), kind="stable")[:k]]
    return index, np.sort(top)
