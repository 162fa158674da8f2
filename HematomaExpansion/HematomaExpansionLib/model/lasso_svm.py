"""The LASSO-SVM (radiomics-only, deep-only or fused) as a scikit-learn classifier.

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
   (:func:`evaluation.thresholds.youden_threshold`: pROC's midpoints between distinct probabilities).

The out-of-fold probabilities are nested: ``cross_val_predict`` refits a clone (steps 1-7, no
threshold) on the other ``svm_folds - 1`` outer folds, so a case's probability never depends on its
own label (selecting features on the whole training set and cross-validating only the SVM reached
an out-of-fold AUC above the cohort's ceiling on the synthetic cohort). The LASSO's and the SVM's
own CV scores (``path_.cv_mean``, ``svm_cv_auc_``) are computed after the selection steps before
them and stay optimistic. No test-set row ever reaches :meth:`LassoSVM.fit`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.svm import SVC

from ..common.errors import InputError
from ..evaluation.thresholds import youden_threshold
from .config import TrainingConfig
from .kinds import features_for_kind
from .lasso import lasso_path, select_on_path
from .screening import screen_features

logger = logging.getLogger(__name__)


class LassoSVM(ClassifierMixin, BaseEstimator):
    """LASSO feature selection, RBF SVM and Platt calibration on named features of one ``kind``.

    ``feature_names`` name the columns of ``x`` (all of one ``kind``); ``config`` holds every
    choice of the pipeline (None: the defaults). ``oof_threshold`` fits the decision threshold on
    nested out-of-fold probabilities; the outer-fold refits turn it off.

    Fitted attributes: ``constant_features_``, ``kept_features_`` (z-scored by ``scaler_``),
    ``univariate_p_`` (Mann-Whitney p of each kept feature), ``filtered_features_``,
    ``pruned_features_``, ``candidate_features_``, ``path_``, ``lambda_index_``, ``lambda_``,
    ``selected_features_`` (in input order, with ``lasso_weights_`` and ``lasso_intercept_``),
    ``svm_params_``, ``svm_cv_auc_``, ``calibrated_`` (the ``CalibratedClassifierCV`` on the
    selected z-scored features), ``threshold_``, ``oof_proba_``, ``oof_auc_``, ``n_train_``,
    ``n_positive_``, ``warnings_``, ``config_``, ``classes_`` and ``n_features_in_``.
    """

    def __init__(
        self,
        kind: str = "fused",
        feature_names: Sequence[str] = (),
        config: TrainingConfig | None = None,
        oof_threshold: bool = True,
    ) -> None:
        self.kind = kind
        self.feature_names = feature_names
        self.config = config
        self.oof_threshold = oof_threshold

    def fit(self, x: np.ndarray, y: np.ndarray) -> LassoSVM:
        """Fit steps 1-7 (and 8 with ``oof_threshold``) on training rows ``x`` (n, p), labels 0/1."""
        config = self.config if self.config is not None else TrainingConfig()
        x, y, names = _validated_training_data(
            x, y, self.feature_names, self.kind, config, self.oof_threshold
        )
        self.config_ = config
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(names)
        self.n_train_ = len(y)
        self.n_positive_ = int(y.sum())
        z_selected, notes = self._fit_selection(x, y, names, config)
        self._fit_classifier(z_selected, y, config)
        if self.oof_threshold:
            notes += self._fit_threshold(x, y, config)
            for note in notes:
                logger.warning("%s model: %s", self.kind, note)
        else:
            for note in notes:
                logger.debug("%s model, outer-fold refit: %s", self.kind, note)
        self.warnings_ = notes
        return self

    def _fit_selection(
        self, x: np.ndarray, y: np.ndarray, names: list[str], config: TrainingConfig
    ) -> tuple[np.ndarray, list[str]]:
        """Steps 1-5: the screening and LASSO attributes; returns the selected z-scores and notes."""
        screening = screen_features(x, y, names, config)
        notes = list(screening.notes)
        self.constant_features_ = screening.constant_features
        self.kept_features_ = screening.kept_features
        self.scaler_ = screening.scaler
        self.univariate_p_ = screening.univariate_p
        self.filtered_features_ = screening.filtered_features
        self.pruned_features_ = screening.pruned_features
        self.candidate_features_ = screening.candidate_features
        logger.info(
            "%s model: %d features, %d constant, %d filtered, %d pruned, %d LASSO candidates",
            self.kind,
            len(names),
            len(self.constant_features_),
            len(self.filtered_features_),
            len(self.pruned_features_),
            len(self.candidate_features_),
        )

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            path = lasso_path(screening.z_candidates, y, config)
        n_unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        if n_unconverged:
            notes.append(
                f"{n_unconverged} LASSO fit(s) did not converge within {config.lasso_max_iter} iterations"
            )
        lambda_index, selected, selection_notes = select_on_path(path, config)
        notes += selection_notes
        self.path_ = path
        self.lambda_index_ = lambda_index
        self.lambda_ = float(path.lambdas[lambda_index])
        self.selected_features_ = [self.candidate_features_[i] for i in selected]
        self.lasso_weights_ = path.coefs[lambda_index][selected].copy()
        self.lasso_intercept_ = float(path.intercepts[lambda_index])
        return screening.z_candidates[:, selected], notes

    def _fit_classifier(self, z_selected: np.ndarray, y: np.ndarray, config: TrainingConfig) -> None:
        """Steps 6-7: C and gamma by cross-validated AUC, then the sigmoid-calibrated SVM."""
        n_selected = z_selected.shape[1]
        grid = GridSearchCV(
            SVC(kernel="rbf"),
            {"C": list(config.c_grid), "gamma": [f / n_selected for f in config.gamma_factors]},
            scoring="roc_auc",
            cv=StratifiedKFold(config.svm_folds, shuffle=True, random_state=config.seed),
            refit=False,
        ).fit(z_selected, y)
        self.svm_params_ = {"C": float(grid.best_params_["C"]), "gamma": float(grid.best_params_["gamma"])}
        self.svm_cv_auc_ = float(grid.best_score_)
        self.calibrated_ = CalibratedClassifierCV(
            SVC(kernel="rbf", **self.svm_params_),
            method="sigmoid",
            cv=StratifiedKFold(config.calibration_folds, shuffle=True, random_state=config.seed),
            ensemble=True,
        ).fit(z_selected, y)

    def _fit_threshold(self, x: np.ndarray, y: np.ndarray, config: TrainingConfig) -> list[str]:
        """Step 8: Youden's threshold on nested out-of-fold probabilities; returns notes."""
        refit = clone(self).set_params(config=config, oof_threshold=False)
        outer = StratifiedKFold(config.svm_folds, shuffle=True, random_state=config.seed)
        oof = cross_val_predict(refit, x, y, cv=outer, method="predict_proba")[:, 1]
        youden = youden_threshold(y, oof)
        self.threshold_ = float(np.clip(youden.threshold, 0.0, 1.0))
        self.oof_proba_ = oof
        self.oof_auc_ = float(roc_auc_score(y, oof))
        if youden.youden_j <= 0:
            return ["no threshold beats chance on the out-of-fold probabilities; every case is called high"]
        return []

    def selected_zscored(self, x: np.ndarray) -> np.ndarray:
        """The z-scored selected features of rows given in ``feature_names`` order."""
        x = np.asarray(x, dtype=float)
        names = list(self.feature_names)
        if x.ndim != 2 or x.shape[1] != len(names):
            raise InputError(
                f"expected an array of shape (n, {len(names)}) in the model's feature "
                f"order, got shape {x.shape}"
            )
        column = {name: i for i, name in enumerate(names)}
        z = self.scaler_.transform(x[:, [column[name] for name in self.kept_features_]])
        position = {name: i for i, name in enumerate(self.kept_features_)}
        return z[:, [position[name] for name in self.selected_features_]]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (n, 2) of no expansion and expansion (``classes_`` 0, 1) for rows of ``x``."""
        return self.calibrated_.predict_proba(self.selected_zscored(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """1 (expansion) where the probability reaches ``threshold_``, else 0."""
        return self.classes_[(self.predict_proba(x)[:, 1] >= self.threshold_).astype(int)]


def fit_model(
    x: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str],
    kind: str,
    config: TrainingConfig | None = None,
) -> LassoSVM:
    """Fit a :class:`LassoSVM` of ``kind`` on training rows ``x`` (n, p) with labels ``y`` (0/1).

    Only training data may be passed: every statistic (constant check, z-score, filter,
    pruning, LASSO, SVM, calibration, threshold) is computed from these rows alone.
    """
    return LassoSVM(kind, list(feature_names), config).fit(x, y)


def fit_on_split(
    table: Mapping[str, Sequence[Any]],
    feature_columns: Sequence[str],
    kind: str,
    config: TrainingConfig | None = None,
    label_column: str = "label",
    split_column: str = "split",
    train_value: str = "train",
) -> LassoSVM:
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


def _validated_training_data(
    x: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str],
    kind: str,
    config: TrainingConfig,
    nested: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A float copy of ``x``, integer labels and the feature names, or InputError saying what is wrong.

    ``nested``: the fit refits the pipeline on each outer fold, so the smaller class must be large
    enough for the inner cross-validation within (svm_folds - 1) / svm_folds of the cases.
    """
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
    y = _validated_labels(y, x.shape[0])
    smallest = int(min(y.sum(), len(y) - y.sum()))
    inner = max(config.lasso_folds, config.svm_folds, config.calibration_folds)
    needed = int(np.ceil(inner * config.svm_folds / (config.svm_folds - 1))) if nested else inner
    if smallest < needed:
        raise InputError(
            f"the training set has {smallest} case(s) in its smaller class; the configured "
            f"cross-validation needs at least {needed}: add cases or reduce the fold counts"
        )
    return x, y, names


def _validated_labels(y: np.ndarray, n_rows: int) -> np.ndarray:
    y_raw = np.asarray(y)
    if y_raw.shape != (n_rows,):
        raise InputError(f"y must have one label per row ({n_rows}), got shape {y_raw.shape}")
    try:
        labels = y_raw.astype(float)
    except (TypeError, ValueError) as error:
        raise InputError("labels must be 0 (no expansion) or 1 (expansion)") from error
    if not np.isin(labels, (0.0, 1.0)).all():
        raise InputError(f"labels must be 0 or 1, found {sorted(set(y_raw.tolist()))[:10]}")
    return labels.astype(int)
