"""Training pipeline: selection, accuracy, leakage, determinism and each step against references."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, spearmanr
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.model.config import TrainingConfig
from HematomaExpansionLib.model.kinds import features_for_kind
from HematomaExpansionLib.model.lasso import lasso_path
from HematomaExpansionLib.model.lasso_svm import LassoSVM, fit_model, fit_on_split
from training_fixtures import FAST_CONFIG, split_arrays, synthetic_cohort

# A cheaper configuration for the small problems below.
SMALL_CONFIG = dataclasses.replace(FAST_CONFIG, lasso_folds=5, n_lambdas=15, svm_folds=3, calibration_folds=3)


def fitted_parameters(model: LassoSVM) -> dict[str, object]:
    """Every number and name a fit produces, for exact comparison."""
    params: dict[str, object] = {
        "features": (model.constant_features_, model.filtered_features_, model.pruned_features_),
        "selected": model.selected_features_,
        "mean": model.scaler_.mean_,
        "scale": model.scaler_.scale_,
        "p": model.univariate_p_,
        "lambdas": model.path_.lambdas,
        "coefs": model.path_.coefs,
        "intercepts": model.path_.intercepts,
        "cv": (model.path_.cv_mean, model.path_.cv_se),
        "lasso": (model.lambda_, model.lasso_weights_, model.lasso_intercept_),
        "svm": (model.svm_params_, model.svm_cv_auc_),
        "threshold": model.threshold_,
        "oof": model.oof_proba_,
    }
    for i, pair in enumerate(model.calibrated_.calibrated_classifiers_):
        svm, (calibrator,) = pair.estimator, pair.calibrators
        params[f"fold{i}"] = (
            svm.support_vectors_,
            svm.dual_coef_,
            svm.intercept_,
            calibrator.a_,
            calibrator.b_,
        )
    return params


def assert_same_parameters(a: LassoSVM, b: LassoSVM) -> None:
    pa, pb = fitted_parameters(a), fitted_parameters(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        left, right = pa[key], pb[key]
        if isinstance(left, tuple):
            for x, y in zip(left, right, strict=True):
                assert np.array_equal(np.asarray(x, dtype=object), np.asarray(y, dtype=object)), key
        else:
            assert np.array_equal(np.asarray(left, dtype=object), np.asarray(right, dtype=object)), key


def parameters_differ(a: LassoSVM, b: LassoSVM) -> bool:
    try:
        assert_same_parameters(a, b)
    except AssertionError:
        return True
    return False


def small_problem(seed: int = 3, n: int = 120, p: int = 12) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p)) * 3 + 10
    logit = 1.5 * (x[:, 0] - 10) / 3 - 1.5 * (x[:, 1] - 10) / 3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y, [f"original_firstorder_F{j}" for j in range(p)]


def test_lasso_selects_the_informative_subset(fitted_synthetic):
    cohort, model = fitted_synthetic
    selected, informative = set(model.selected_features_), set(cohort.informative)
    precision = len(selected & informative) / len(selected)
    recall = len(selected & informative) / len(informative)
    assert precision >= 0.8, model.selected_features_
    assert recall >= 0.8, model.selected_features_
    assert model.lasso_weights_.shape == (len(model.selected_features_),)
    assert np.all(model.lasso_weights_ != 0)


def test_test_auc_is_close_to_the_auc_of_the_true_probabilities(fitted_synthetic):
    cohort, model = fitted_synthetic
    x_test, y_test = split_arrays(cohort, "test")
    true_auc = roc_auc_score(y_test, cohort.true_probability[cohort.table["split"] == "test"])
    model_auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    assert abs(model_auc - true_auc) <= 0.05, (model_auc, true_auc)


def test_test_rows_never_reach_the_fit(fitted_synthetic):
    cohort, model = fitted_synthetic
    table = dict(cohort.table)
    test = table["split"] == "test"
    rng = np.random.default_rng(11)
    label = table["label"].copy()
    label[test] = 1 - label[test][rng.permutation(test.sum())]
    assert not np.array_equal(label, table["label"])
    table["label"] = label
    for name in cohort.feature_names:  # test-row features replaced too: they must not matter
        column = table[name].copy()
        column[test] = rng.normal(0, 1e3, test.sum())
        table[name] = column
    refit = fit_on_split(table, cohort.feature_names, "radiomics", FAST_CONFIG)
    assert_same_parameters(model, refit)


@pytest.fixture(scope="module")
def small_model() -> LassoSVM:
    x, y, names = small_problem()
    return fit_model(x, y, names, "radiomics", SMALL_CONFIG)


def test_same_data_and_seed_give_identical_models_and_another_seed_differs(small_model):
    x, y, names = small_problem()
    x_before = x.copy()
    second = fit_model(x, y, names, "radiomics", SMALL_CONFIG)
    assert np.array_equal(x, x_before)  # the caller's array is not modified
    first = small_model
    assert_same_parameters(first, second)
    other = fit_model(x, y, names, "radiomics", dataclasses.replace(SMALL_CONFIG, seed=99))
    assert parameters_differ(first, other)


def test_the_model_is_a_scikit_learn_classifier(small_model):
    """Parameters only in ``__init__``, fitted attributes end in ``_``, probability columns follow ``classes_``."""
    x, y, names = small_problem()
    estimator = LassoSVM("radiomics", names, SMALL_CONFIG)
    expected = {"kind": "radiomics", "feature_names": names, "config": SMALL_CONFIG, "oof_threshold": True}
    assert estimator.get_params() == expected
    assert clone(estimator).get_params() == expected
    assert not [name for name in vars(estimator) if name.endswith("_")]
    assert [name for name in vars(small_model) if not name.endswith("_")] == list(expected)
    assert list(small_model.classes_) == [0, 1] and small_model.n_features_in_ == len(names)
    proba = small_model.predict_proba(x)
    assert proba.shape == (len(y), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.array_equal(small_model.predict(x), (proba[:, 1] >= small_model.threshold_).astype(int))


def test_out_of_fold_probabilities_are_those_of_refits_on_the_other_outer_folds(small_model):
    x, y, names = small_problem()
    folds = StratifiedKFold(SMALL_CONFIG.svm_folds, shuffle=True, random_state=SMALL_CONFIG.seed)
    for train, held_out in folds.split(x, y):
        refit = LassoSVM("radiomics", names, SMALL_CONFIG, oof_threshold=False).fit(x[train], y[train])
        assert not hasattr(refit, "threshold_")
        np.testing.assert_array_equal(
            small_model.oof_proba_[held_out], refit.predict_proba(x[held_out])[:, 1]
        )


def test_threshold_maximises_youden_j_on_the_out_of_fold_probabilities(fitted_synthetic):
    _, model = fitted_synthetic
    _, y = split_arrays(fitted_synthetic[0], "train")
    oof = model.oof_proba_

    def j(cut: float) -> float:
        predicted = oof >= cut
        return predicted[y == 1].mean() - predicted[y == 0].mean()

    best = max(j(cut) for cut in np.unique(oof))
    assert j(model.threshold_) == pytest.approx(best, abs=1e-12)
    below, above = oof[oof < model.threshold_].max(), oof[oof >= model.threshold_].min()
    assert model.threshold_ == pytest.approx((below + above) / 2)  # midway between distinct values
    assert model.oof_auc_ == pytest.approx(roc_auc_score(y, oof))


def test_out_of_fold_probabilities_come_from_models_that_did_not_see_the_case(small_model):
    """Changing one case's features changes no other out-of-fold probability of its outer fold."""
    x, y, names = small_problem()
    folds = list(
        StratifiedKFold(SMALL_CONFIG.svm_folds, shuffle=True, random_state=SMALL_CONFIG.seed).split(x, y)
    )
    held_out = folds[0][1]
    case, others = held_out[0], held_out[1:]
    moved = x.copy()
    moved[case] += 25.0  # far outside the training distribution: every selection statistic changes
    refit = fit_model(moved, y, names, "radiomics", SMALL_CONFIG)
    np.testing.assert_array_equal(refit.oof_proba_[others], small_model.oof_proba_[others])
    assert refit.oof_proba_[case] != small_model.oof_proba_[case]
    rest = np.setdiff1d(np.arange(len(y)), held_out)
    assert not np.array_equal(refit.oof_proba_[rest], small_model.oof_proba_[rest])


def test_out_of_fold_auc_of_pure_noise_is_not_optimistic():
    """Selection is nested: on features unrelated to the label the out-of-fold AUC stays near 0.5.

    Selecting on the whole training set and cross-validating only the SVM (the non-nested way,
    recomputed here from the fitted model's own selection) finds signal in the same noise.
    """
    rng = np.random.default_rng(5)
    n, p = 120, 300
    x = rng.standard_normal((n, p))
    y = np.r_[np.ones(40, int), np.zeros(n - 40, int)][rng.permutation(n)]
    names = [f"original_firstorder_N{j}" for j in range(p)]
    model = fit_model(x, y, names, "radiomics", SMALL_CONFIG)
    assert 0.35 <= model.oof_auc_ <= 0.65, model.oof_auc_

    z_selected = model.selected_zscored(x)
    folds = StratifiedKFold(SMALL_CONFIG.svm_folds, shuffle=True, random_state=SMALL_CONFIG.seed)
    leaky = np.empty(n)
    for train, held_out in folds.split(z_selected, y):
        fold_model = clone(model.calibrated_).fit(z_selected[train], y[train])
        leaky[held_out] = fold_model.predict_proba(z_selected[held_out])[:, 1]
    assert roc_auc_score(y, leaky) >= model.oof_auc_ + 0.15, (roc_auc_score(y, leaky), model.oof_auc_)


def test_lasso_path_starts_at_the_smallest_lambda_that_zeroes_every_coefficient():
    x, y, _ = small_problem(p=8)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    path = lasso_path(z, y, SMALL_CONFIG)
    assert np.all(path.coefs[0] == 0)
    assert np.all(np.diff(path.lambdas) < 0)
    assert path.lambdas[-1] / path.lambdas[0] == pytest.approx(SMALL_CONFIG.lambda_min_ratio)

    def n_nonzero(lam: float) -> int:
        fit = LogisticRegression(
            l1_ratio=1.0, C=1 / (lam * len(y)), solver="liblinear", intercept_scaling=100
        )
        return int(np.count_nonzero(fit.fit(z, y).coef_))

    assert n_nonzero(path.lambdas[0] * 1.001) == 0
    assert n_nonzero(path.lambdas[0] * 0.97) > 0


@pytest.mark.parametrize("score", ["deviance", "auc"])
def test_cross_validated_score_and_one_se_rule(score):
    x, y, _ = small_problem(p=8)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    config = dataclasses.replace(SMALL_CONFIG, lasso_score=score)
    path = lasso_path(z, y, config)
    i = len(path.lambdas) // 2
    folds = StratifiedKFold(config.lasso_folds, shuffle=True, random_state=config.seed)
    scores, sizes = [], []
    for train, held_out in folds.split(z, y):
        fit = LogisticRegression(
            l1_ratio=1.0,
            C=1 / (path.lambdas[i] * len(train)),
            solver="liblinear",
            intercept_scaling=100,
            tol=1e-8,
        ).fit(z[train], y[train])
        p = fit.predict_proba(z[held_out])[:, 1]
        scores.append(2 * log_loss(y[held_out], p) if score == "deviance" else roc_auc_score(y[held_out], p))
        sizes.append(len(held_out))
    assert path.cv_mean[i] == pytest.approx(np.average(scores, weights=sizes), abs=1e-4)
    spread = np.sqrt(np.average((np.array(scores) - path.cv_mean[i]) ** 2, weights=sizes) / (len(sizes) - 1))
    assert path.cv_se[i] == pytest.approx(spread, abs=1e-4)

    loss = path.cv_mean if score == "deviance" else -path.cv_mean  # lower is better
    best = int(np.argmin(loss))
    assert path.index_min == best
    within = loss <= loss[best] + path.cv_se[best]
    assert within[path.index_1se] and not within[: path.index_1se].any()
    assert path.lambdas[path.index_1se] >= path.lambdas[best]


def test_constant_features_are_dropped_and_correlated_ones_pruned_by_univariate_p():
    x, y, names = small_problem(n=150, p=6)
    rng = np.random.default_rng(5)
    twin = x[:, 0] + rng.normal(0, 0.4, len(y))  # |Spearman| with feature 0 above 0.9
    constant = np.full(len(y), 7.0)
    x = np.column_stack([x, twin, constant])
    names = [*names, "original_firstorder_Twin", "original_firstorder_Constant"]
    assert abs(spearmanr(x[:, 0], twin).statistic) > 0.9
    config = dataclasses.replace(SMALL_CONFIG, univariate_filter=False, lambda_rule="min")
    model = fit_model(x, y, names, "radiomics", config)
    assert model.lambda_index_ == model.path_.index_min

    assert model.constant_features_ == ["original_firstorder_Constant"]
    assert "original_firstorder_Constant" not in model.kept_features_
    p0 = mannwhitneyu(x[y == 1, 0], x[y == 0, 0]).pvalue
    p_twin = mannwhitneyu(x[y == 1, -2], x[y == 0, -2]).pvalue
    weaker = names[0] if p0 > p_twin else "original_firstorder_Twin"
    assert model.pruned_features_ == [weaker]
    assert weaker not in model.candidate_features_
    assert any("constant" in w for w in model.warnings_)


def test_univariate_filter_keeps_exactly_the_features_with_p_below_alpha(fitted_synthetic):
    _, model = fitted_synthetic
    cohort = fitted_synthetic[0]
    x, y = split_arrays(cohort, "train")
    p = mannwhitneyu(x[y == 1], x[y == 0], axis=0).pvalue
    expected_filtered = [n for n, pv in zip(cohort.feature_names, p, strict=True) if pv >= 0.05]
    assert model.filtered_features_ == expected_filtered
    assert np.allclose(model.univariate_p_, p, rtol=1e-10)
    survivors = set(cohort.feature_names) - set(expected_filtered)
    assert set(model.candidate_features_) | set(model.pruned_features_) == survivors


def test_falls_back_to_the_first_features_on_the_path_when_nothing_is_selected():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 10))
    y = rng.permutation(np.repeat([0, 1], 60))  # labels unrelated to the features
    names = [f"original_firstorder_N{j}" for j in range(10)]
    config = dataclasses.replace(SMALL_CONFIG, univariate_filter=False, fallback_features=1)
    model = fit_model(x, y, names, "radiomics", config)
    assert model.path_.index_1se == 0  # the 1-SE rule chose the empty model
    first = int(np.flatnonzero(np.any(model.path_.coefs != 0, axis=1))[0])
    coefs = model.path_.coefs[first]
    assert model.lambda_index_ == first
    assert model.selected_features_ == [model.candidate_features_[int(np.argmax(np.abs(coefs)))]]
    assert any("fell back" in w for w in model.warnings_)


def test_features_for_kind_and_kind_checks():
    names = ["original_shape_Sphericity", "deep_resnet50_mean_0000", "deep_resnet50_mean_0001"]
    assert features_for_kind(names, "radiomics") == ["original_shape_Sphericity"]
    assert features_for_kind(names, "deep") == names[1:]
    assert features_for_kind(names, "fused") == names
    x, y, _ = small_problem(p=3)
    with pytest.raises(InputError, match="deep model cannot use"):
        fit_model(x, y, names, "deep", SMALL_CONFIG)
    with pytest.raises(InputError, match="kind"):
        features_for_kind(names, "genomic")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x, y: (x, y + 1), "labels must be 0 or 1"),
        (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), y), "non-finite"),
        (lambda x, y: (x[:, :2], y), "shape"),
        (lambda x, y: (x, np.r_[np.ones(len(y) - 3, int), np.zeros(3, int)]), "smaller class"),
    ],
)
def test_bad_training_input_is_refused(change, message):
    x, y, names = small_problem(p=3)
    x, y = change(x, y)
    with pytest.raises(InputError, match=message):
        fit_model(x, y, names, "radiomics", SMALL_CONFIG)


def test_bad_configuration_and_table_are_refused():
    with pytest.raises(InputError, match="lambda_rule"):
        TrainingConfig(lambda_rule="2se")
    with pytest.raises(InputError, match="lasso_folds"):
        TrainingConfig(lasso_folds=1)
    cohort = synthetic_cohort(n=60, n_features=6)
    with pytest.raises(InputError, match="lacks column"):
        fit_on_split(cohort.table, cohort.feature_names, "radiomics", label_column="expanded")
    with pytest.raises(InputError, match="no row"):
        fit_on_split(cohort.table, cohort.feature_names, "radiomics", train_value="training")
    assert TrainingConfig().as_dict()["c_grid"] == list(TrainingConfig().c_grid)
