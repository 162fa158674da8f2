"""Fit one LASSO-SVM model (radiomics-only, deep-only or fused) on a training set.

The pipeline follows Lu et al. (2024) and uses only the training rows it is given:

1. drop features that are constant on the training set;
2. z-score with the training mean and population standard deviation;
3. optional univariate filter (two-sided Mann-Whitney U, p < alpha);
4. optional correlation pruning (|Spearman rho| > threshold; of a correlated pair the feature with
   the lower Mann-Whitney p is kept, ties go to the earlier feature);
5. L1-penalised logistic regression over a lambda path, lambda chosen by stratified K-fold CV
   (binomial deviance as glmnet's ``cv.glmnet`` uses by default, or AUC) with the 1-SE rule
   (option: the minimum). The non-zero coefficients select the features; their weights are kept
   for the feature table;
6. an RBF SVM on the selected z-scored features, C and gamma by stratified K-fold CV maximising AUC;
7. probabilities by sigmoid (Platt) calibration fitted with cross-validation; the model predicts
   the mean of the calibrated fold models (scikit-learn's ``CalibratedClassifierCV``);
8. decision threshold by Youden's J on nested out-of-fold training probabilities
   (:func:`statistics.youden_threshold`: pROC's midpoints between distinct probabilities).

The out-of-fold probabilities are nested: for each of ``svm_folds`` outer folds, steps 1-7 run
again on the other folds only, so a case's probability never depends on its own label (selecting
features on the whole training set and cross-validating only the SVM reached an out-of-fold AUC
above the cohort's ceiling on the synthetic cohort). The LASSO's and the SVM's own CV scores
(``path_.cv_mean``, ``svm_cv_auc_``) are computed after the selection steps before them and stay
optimistic. No test-set row ever reaches :func:`fit_model`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.stats import mannwhitneyu, rankdata
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..common.errors import InputError
from ..evaluation.metrics import youden_threshold
from ..features.featureset import feature_family
from ..model.bundle import FAMILIES_BY_KIND, MODEL_KINDS

logger = logging.getLogger(__name__)


# Probabilities are clipped before the deviance is computed, as cv.glmnet does.
_DEVIANCE_CLIP = 1e-5
# liblinear penalises the intercept as a weight on a constant column of this value; a large value
# makes that penalty (|intercept| / scaling) negligible, so the fit matches glmnet's objective.
_INTERCEPT_SCALING = 100.0


@dataclass(frozen=True)
class TrainingConfig:
    """Every choice of the training pipeline; recorded in the model card with :meth:`as_dict`.

    ``gamma_factors`` are multiples of 1 / (number of selected features), the RBF width that
    suits z-scored inputs (scikit-learn's ``gamma="scale"``).
    """

    seed: int = 2024
    univariate_filter: bool = True
    univariate_alpha: float = 0.05
    correlation_prune: bool = True
    correlation_threshold: float = 0.9
    lasso_folds: int = 10
    lasso_score: Literal["deviance", "auc"] = "deviance"
    lambda_rule: Literal["1se", "min"] = "1se"
    n_lambdas: int = 100
    lambda_min_ratio: float = 0.01
    lasso_tol: float = 1e-6
    lasso_max_iter: int = 1000
    fallback_features: int = 5
    svm_folds: int = 5
    c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    gamma_factors: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)
    calibration_folds: int = 5

    def __post_init__(self) -> None:
        problems = []
        if self.lasso_score not in ("deviance", "auc"):
            problems.append(f"lasso_score must be 'deviance' or 'auc', not {self.lasso_score!r}")
        if self.lambda_rule not in ("1se", "min"):
            problems.append(f"lambda_rule must be '1se' or 'min', not {self.lambda_rule!r}")
        for name in ("lasso_folds", "svm_folds", "calibration_folds"):
            if getattr(self, name) < 2:
                problems.append(f"{name} must be at least 2")
        if self.n_lambdas < 2:
            problems.append("n_lambdas must be at least 2")
        if not 0.0 < self.lambda_min_ratio < 1.0:
            problems.append("lambda_min_ratio must lie in (0, 1)")
        if not 0.0 < self.univariate_alpha <= 1.0:
            problems.append("univariate_alpha must lie in (0, 1]")
        if not 0.0 < self.correlation_threshold <= 1.0:
            problems.append("correlation_threshold must lie in (0, 1]")
        if self.fallback_features < 1:
            problems.append("fallback_features must be at least 1")
        if not self.c_grid or min(self.c_grid) <= 0:
            problems.append("c_grid must hold positive values")
        if not self.gamma_factors or min(self.gamma_factors) <= 0:
            problems.append("gamma_factors must hold positive values")
        if problems:
            raise InputError("invalid training configuration: " + "; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy of the configuration."""
        values = asdict(self)
        values["c_grid"] = list(self.c_grid)
        values["gamma_factors"] = list(self.gamma_factors)
        return values


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


@dataclass
class FittedModel:
    """A fitted model and everything the report and the bundle need.

    ``feature_names`` are the model's inputs (columns of ``x`` in :meth:`predict_proba`);
    ``selected_features`` are those the LASSO kept, in input order, with ``lasso_weights_``.
    ``scaler_`` standardises the non-constant features (``kept_features``); ``calibrated_`` is the
    fitted ``CalibratedClassifierCV`` on the selected z-scored features.
    """

    kind: str
    config: TrainingConfig
    feature_names: list[str]
    constant_features: list[str]
    kept_features: list[str]
    univariate_p: np.ndarray  # Mann-Whitney p of each kept feature
    filtered_features: list[str]
    pruned_features: list[str]
    candidate_features: list[str]
    scaler_: StandardScaler
    path_: LassoPath
    lambda_index_: int
    lambda_: float
    selected_features: list[str]
    lasso_weights_: np.ndarray
    lasso_intercept_: float
    svm_params_: dict[str, float]
    svm_cv_auc_: float
    calibrated_: CalibratedClassifierCV
    threshold_: float
    oof_proba_: np.ndarray
    oof_auc_: float
    n_train: int
    n_positive: int
    warnings: list[str] = field(default_factory=list)

    def selected_zscored(self, x: np.ndarray) -> np.ndarray:
        """The z-scored selected features of rows given in ``feature_names`` order."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise InputError(
                f"expected an array of shape (n, {len(self.feature_names)}) in the model's feature "
                f"order, got shape {x.shape}"
            )
        column = {name: i for i, name in enumerate(self.feature_names)}
        z = self.scaler_.transform(x[:, [column[name] for name in self.kept_features]])
        position = {name: i for i, name in enumerate(self.kept_features)}
        return z[:, [position[name] for name in self.selected_features]]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of expansion for rows of ``x`` (all ``feature_names``, in order), shape (n,)."""
        return self.calibrated_.predict_proba(self.selected_zscored(x))[:, 1]


def features_for_kind(names: Sequence[str], kind: str) -> list[str]:
    """The feature columns a model of ``kind`` uses: deep ones (``deep_*``), the others, or all."""
    _check_kind(kind)
    return [n for n in names if feature_family(n) in FAMILIES_BY_KIND[kind]]


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


def fit_model(
    x: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str],
    kind: str,
    config: TrainingConfig | None = None,
) -> FittedModel:
    """Fit the whole pipeline on training rows ``x`` (n, p) with labels ``y`` (0/1).

    Only training data may be passed: every statistic (constant check, z-score, filter,
    pruning, LASSO, SVM, calibration, threshold) is computed from these rows alone. The
    threshold comes from nested out-of-fold probabilities (see the module docstring).
    """
    config = config or TrainingConfig()
    x, y, names = _validated_training_data(x, y, feature_names, kind, config)
    parts, notes = _fit_pipeline(x, y, names, kind, config)

    oof = np.empty(len(y))
    outer = StratifiedKFold(config.svm_folds, shuffle=True, random_state=config.seed)
    for fold, (train, held_out) in enumerate(outer.split(x, y)):
        fold_parts, fold_notes = _fit_pipeline(x[train], y[train], names, kind, config)
        for note in fold_notes:
            logger.debug("%s model, outer fold %d: %s", kind, fold, note)
        oof[held_out] = _without_threshold(fold_parts).predict_proba(x[held_out])
    youden = youden_threshold(y, oof)
    threshold = float(np.clip(youden.threshold, 0.0, 1.0))
    if youden.youden_j <= 0:
        notes.append("no threshold beats chance on the out-of-fold probabilities; every case is called high")

    for note in notes:
        logger.warning("%s model: %s", kind, note)
    return FittedModel(
        **parts,
        threshold_=threshold,
        oof_proba_=oof,
        oof_auc_=float(roc_auc_score(y, oof)),
        warnings=notes,
    )


def _without_threshold(parts: dict[str, Any]) -> FittedModel:
    """A fitted outer-fold model: it only predicts probabilities, so it has no threshold."""
    return FittedModel(**parts, threshold_=float("nan"), oof_proba_=np.empty(0), oof_auc_=float("nan"))


def _fit_pipeline(
    x: np.ndarray, y: np.ndarray, names: list[str], kind: str, config: TrainingConfig
) -> tuple[dict[str, Any], list[str]]:
    """Steps 1-7 on validated rows: the FittedModel fields except the threshold, and notes."""
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
    keep = np.ones(len(kept_features), dtype=bool)
    if config.univariate_filter:
        keep = p_values < config.univariate_alpha
        if not keep.any():
            notes.append(
                f"no feature passed the Mann-Whitney U filter (p < {config.univariate_alpha}); "
                "the filter was skipped"
            )
            keep[:] = True
    filtered_features = [n for n, k in zip(kept_features, keep, strict=True) if not k]
    after_filter = keep
    if config.correlation_prune:
        keep = _prune_correlated(z, p_values, after_filter, config.correlation_threshold)
    pruned_features = [n for n, a, k in zip(kept_features, after_filter, keep, strict=True) if a and not k]
    candidates = np.flatnonzero(keep)
    candidate_features = [kept_features[i] for i in candidates]
    z_candidates = z[:, candidates]
    logger.info(
        "%s model: %d features, %d constant, %d filtered, %d pruned, %d LASSO candidates",
        kind,
        len(names),
        len(constant_features),
        len(filtered_features),
        len(pruned_features),
        len(candidate_features),
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        path = lasso_path(z_candidates, y, config)
    n_unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    if n_unconverged:
        notes.append(
            f"{n_unconverged} LASSO fit(s) did not converge within {config.lasso_max_iter} iterations"
        )
    lambda_index = path.index_1se if config.lambda_rule == "1se" else path.index_min
    coefs = path.coefs[lambda_index]
    intercept = float(path.intercepts[lambda_index])
    selected = np.flatnonzero(coefs)
    if selected.size == 0:
        lambda_index, selected = _fallback_selection(path, config.fallback_features)
        coefs = path.coefs[lambda_index]
        intercept = float(path.intercepts[lambda_index])
        notes.append(
            f"the LASSO selected no feature at the {config.lambda_rule} lambda; fell back to the "
            f"{selected.size} largest coefficient(s) at the first lambda of the path with any "
            f"(lambda={path.lambdas[lambda_index]:.4g})"
        )
    selected_features = [candidate_features[i] for i in selected]
    z_selected = z_candidates[:, selected]

    svm_folds = StratifiedKFold(config.svm_folds, shuffle=True, random_state=config.seed)
    grid = GridSearchCV(
        SVC(kernel="rbf"),
        {"C": list(config.c_grid), "gamma": [f / len(selected) for f in config.gamma_factors]},
        scoring="roc_auc",
        cv=svm_folds,
        refit=False,
    ).fit(z_selected, y)
    svm_params = {"C": float(grid.best_params_["C"]), "gamma": float(grid.best_params_["gamma"])}
    calibrated = CalibratedClassifierCV(
        SVC(kernel="rbf", **svm_params),
        method="sigmoid",
        cv=StratifiedKFold(config.calibration_folds, shuffle=True, random_state=config.seed),
        ensemble=True,
    )
    calibrated.fit(z_selected, y)
    parts = {
        "kind": kind,
        "config": config,
        "feature_names": names,
        "constant_features": constant_features,
        "kept_features": kept_features,
        "univariate_p": p_values,
        "filtered_features": filtered_features,
        "pruned_features": pruned_features,
        "candidate_features": candidate_features,
        "scaler_": scaler,
        "path_": path,
        "lambda_index_": lambda_index,
        "lambda_": float(path.lambdas[lambda_index]),
        "selected_features": selected_features,
        "lasso_weights_": coefs[selected].copy(),
        "lasso_intercept_": intercept,
        "svm_params_": svm_params,
        "svm_cv_auc_": float(grid.best_score_),
        "calibrated_": calibrated,
        "n_train": len(y),
        "n_positive": int(y.sum()),
    }
    return parts, notes


def fit_on_split(
    table: Mapping[str, Sequence[Any]],
    feature_columns: Sequence[str],
    kind: str,
    config: TrainingConfig | None = None,
    label_column: str = "label",
    split_column: str = "split",
    train_value: str = "train",
) -> FittedModel:
    """Fit a model of ``kind`` on the rows of ``table`` whose split is ``train_value``.

    ``table`` maps column names to equal-length columns (a dict of arrays or a pandas
    DataFrame). Of ``feature_columns`` the model uses those that suit its kind
    (:func:`features_for_kind`); rows of any other split never reach the fit.
    """
    missing = [c for c in (label_column, split_column, *feature_columns) if c not in table]
    if missing:
        raise InputError(f"the feature table lacks column(s) {missing[:10]}; check the column options")
    split = np.asarray(table[split_column]).astype(str)
    train = split == train_value
    if not train.any():
        raise InputError(
            f"no row of the feature table has {split_column}={train_value!r}; "
            f"values found: {sorted(set(split.tolist()))[:10]}"
        )
    names = features_for_kind(feature_columns, kind)
    if not names:
        raise InputError(f"none of the feature columns suits a {kind} model (deep features are 'deep_*')")
    x = np.column_stack([np.asarray(table[c], dtype=float)[train] for c in names])
    labels = np.asarray(table[label_column])[train]
    return fit_model(x, labels, names, kind, config)


def _check_kind(kind: str) -> None:
    if kind not in MODEL_KINDS:
        raise InputError(f"model kind must be one of {MODEL_KINDS}, not {kind!r}")


def _validated_training_data(
    x: np.ndarray, y: np.ndarray, feature_names: Sequence[str], kind: str, config: TrainingConfig
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    names = list(feature_names)
    suitable = set(features_for_kind(names, kind))
    if not names:
        raise InputError(f"no feature columns for a {kind} model")
    wrong_kind = [n for n in names if n not in suitable]
    if wrong_kind:
        raise InputError(f"a {kind} model cannot use feature(s) {wrong_kind[:5]}")
    if len(set(names)) != len(names):
        raise InputError("feature names must be unique")
    x = np.array(x, dtype=float)  # a copy: the caller's array is never modified
    if x.ndim != 2 or x.shape[1] != len(names):
        raise InputError(f"x must have shape (n, {len(names)}) to match the feature names, got {x.shape}")
    bad = [n for n, ok in zip(names, np.isfinite(x).all(axis=0), strict=True) if not ok]
    if bad:
        raise InputError(
            f"{len(bad)} feature(s) have missing or non-finite training values, e.g. {bad[:5]}; "
            "remove or impute them before training"
        )
    y_raw = np.asarray(y)
    if y_raw.shape != (x.shape[0],):
        raise InputError(f"y must have one label per row ({x.shape[0]}), got shape {y_raw.shape}")
    try:
        y = y_raw.astype(float)
    except (TypeError, ValueError) as error:
        raise InputError("labels must be 0 (no expansion) or 1 (expansion)") from error
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError(f"labels must be 0 or 1, found {sorted(set(y_raw.tolist()))[:10]}")
    y = y.astype(int)
    smallest = int(min(y.sum(), len(y) - y.sum()))
    # Each outer fold refits the pipeline on (svm_folds - 1) / svm_folds of the cases, and that fit
    # cross-validates the LASSO, the SVM and the calibration within them.
    inner = max(config.lasso_folds, config.svm_folds, config.calibration_folds)
    needed = int(np.ceil(inner * config.svm_folds / (config.svm_folds - 1)))
    if smallest < needed:
        raise InputError(
            f"the training set has {smallest} case(s) in its smaller class; the configured "
            f"cross-validation needs at least {needed}: add cases or reduce the fold counts"
        )
    return x, y, names


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


def _fallback_selection(path: LassoPath, k: int) -> tuple[int, np.ndarray]:
    nonzero_rows = np.flatnonzero(np.any(path.coefs != 0, axis=1))
    if nonzero_rows.size == 0:
        raise InputError("no feature enters the LASSO path: the features carry no signal about the label")
    index = int(nonzero_rows[0])
    coefs = path.coefs[index]
    nonzero = np.flatnonzero(coefs)
    top = nonzero[np.argsort(-np.abs(coefs[nonzero]), kind="stable")[:k]]
    return index, np.sort(top)
