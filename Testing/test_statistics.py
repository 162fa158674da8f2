"""Statistics checked against independent references: R pROC (stored outputs and, when R is present,
a live rerun), dcurves, statsmodels, scikit-learn, brute-force counting and textbook values."""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from HematomaExpansionLib import evaluation as st
from HematomaExpansionLib.common.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
R_SCRIPT = REPO_ROOT / "tools" / "make_statistics_reference.R"


def _read_commented_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def _load_proc(folder: Path) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, float]]]:
    """Inputs per data set (y, score_a, score_b) and pROC's values per data set and quantity."""
    columns: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in _read_commented_csv(folder / "statistics_proc_inputs.csv"):
        for key in ("y", "score_a", "score_b"):
            columns[row["dataset"]][key].append(float(row[key]))
    inputs = {name: {k: np.array(v) for k, v in cols.items()} for name, cols in columns.items()}
    reference: dict[str, dict[str, float]] = defaultdict(dict)
    for row in _read_commented_csv(folder / "statistics_proc_reference.csv"):
        reference[row["dataset"]][row["quantity"]] = float(row["value"])
    return inputs, dict(reference)


STORED_INPUTS, STORED_REFERENCE = _load_proc(REFERENCE_DIR)


def _assert_matches_proc(data: dict[str, np.ndarray], expected: dict[str, float]) -> None:
    y = data["y"]
    for model in ("a", "b"):
        result = st.delong_ci(y, data[f"score_{model}"])
        assert result.auc == pytest.approx(expected[f"auc_{model}"], abs=1e-12)
        assert result.ci_low == pytest.approx(expected[f"ci_low_{model}"], abs=1e-6)
        assert result.ci_high == pytest.approx(expected[f"ci_high_{model}"], abs=1e-6)
        assert result.se**2 == pytest.approx(expected[f"var_{model}"], abs=1e-9)
        youden = st.youden_threshold(y, data[f"score_{model}"])
        assert youden.threshold == pytest.approx(expected[f"youden_threshold_{model}"], abs=1e-12)
        assert youden.sensitivity == pytest.approx(expected[f"youden_sensitivity_{model}"], abs=1e-12)
        assert youden.specificity == pytest.approx(expected[f"youden_specificity_{model}"], abs=1e-12)
    greater = st.delong_test(y, data["score_a"], data["score_b"], alternative="greater")
    less = st.delong_test(y, data["score_a"], data["score_b"], alternative="less")
    assert greater.covariance[0, 1] == pytest.approx(expected["cov_ab"], abs=1e-9)
    assert greater.z == pytest.approx(expected["z"], abs=1e-6)
    assert greater.p_two_sided == pytest.approx(expected["p_two_sided"], abs=1e-6)
    assert greater.p_one_sided == pytest.approx(expected["p_greater"], abs=1e-6)
    assert less.p_one_sided == pytest.approx(expected["p_less"], abs=1e-6)
    assert greater.one_sided_hypothesis == "H1: AUC_a > AUC_b"
    assert less.one_sided_hypothesis == "H1: AUC_a < AUC_b"
    assert greater.difference_ci_low == pytest.approx(expected["difference_ci_low"], abs=1e-6)
    assert greater.difference_ci_high == pytest.approx(expected["difference_ci_high"], abs=1e-6)


@pytest.mark.parametrize("dataset", sorted(STORED_INPUTS))
def test_matches_stored_proc_reference(dataset: str) -> None:
    _assert_matches_proc(STORED_INPUTS[dataset], STORED_REFERENCE[dataset])


def test_stored_reference_covers_the_intended_cases() -> None:
    assert set(STORED_INPUTS) == {"ties", "small", "unbalanced", "perfect", "correlated"}
    assert STORED_REFERENCE["small"]["auc_b"] < 0.5  # not flipped by direction = "<"
    assert STORED_REFERENCE["perfect"]["auc_a"] == 1.0
    assert STORED_INPUTS["unbalanced"]["y"].sum() == 9
    assert len(np.unique(STORED_INPUTS["ties"]["score_a"])) <= 5


def _proc_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('pROC', quietly = TRUE))"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return check.returncode == 0


@pytest.mark.skipif(
    not _proc_available(), reason="Rscript with pROC not installed (apt-get install r-cran-proc)"
)
def test_live_proc_rerun_reproduces_stored_reference(tmp_path: Path) -> None:
    subprocess.run(["Rscript", str(R_SCRIPT), str(tmp_path)], check=True, capture_output=True, timeout=120)
    live_inputs, live_reference = _load_proc(tmp_path)
    assert live_inputs.keys() == STORED_INPUTS.keys()
    for name, data in live_inputs.items():
        for key, values in data.items():
            np.testing.assert_array_equal(values, STORED_INPUTS[name][key])
        assert live_reference[name].keys() == STORED_REFERENCE[name].keys()
        for quantity, value in live_reference[name].items():
            assert value == pytest.approx(STORED_REFERENCE[name][quantity], rel=1e-12, abs=1e-15)
        _assert_matches_proc(data, live_reference[name])


# --------------------------------------------------------------------------------------------------
# AUC and ROC


def _brute_force_auc(y: np.ndarray, score: np.ndarray) -> float:
    cases, controls = score[y == 1][:, None], score[y == 0][None, :]
    return float(np.mean((cases > controls) + 0.5 * (cases == controls)))


def test_auc_properties_and_brute_force() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    assert st.auc(y, y + rng.uniform(0, 0.5, y.size)) == 1.0
    assert st.auc(y, -y - rng.uniform(0, 0.5, y.size)) == 0.0
    assert abs(st.auc(y, rng.normal(size=y.size)) - 0.5) < 0.05
    tied = rng.integers(0, 4, y.size).astype(float) + 0.5 * y
    assert st.auc(y, tied) == pytest.approx(_brute_force_auc(y, tied), abs=1e-12)
    assert st.auc(y.astype(bool), tied) == st.auc(y, tied)


def test_roc_curve_points_match_sklearn() -> None:
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    score = np.round(rng.normal(size=150) + y, 1)
    fpr, tpr, thresholds = st.roc_curve_points(y, score)
    ref_fpr, ref_tpr, ref_thresholds = roc_curve(y, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr, atol=1e-15)
    np.testing.assert_allclose(tpr, ref_tpr, atol=1e-15)
    np.testing.assert_array_equal(thresholds, ref_thresholds)
    assert np.trapezoid(tpr, fpr) == pytest.approx(st.auc(y, score), abs=1e-12)


def test_delong_edge_cases() -> None:
    y = np.array([0, 0, 0, 1, 1])
    score = np.array([0.1, 0.4, 0.3, 0.8, 0.2])
    same = st.delong_test(y, score, score)
    assert same.z == 0.0 and same.p_two_sided == 1.0 and same.difference == 0.0
    single_event = st.delong_ci(np.array([0, 0, 0, 1]), np.array([0.1, 0.5, 0.3, 0.4]))
    assert single_event.auc == pytest.approx(2 / 3)
    assert np.isnan(single_event.se) and np.isnan(single_event.ci_low) and single_event.note
    low_level = st.delong_ci(y, score, level=0.5)
    wide_level = st.delong_ci(y, score, level=0.99)
    assert wide_level.ci_low <= low_level.ci_low <= low_level.ci_high <= wide_level.ci_high
    assert low_level.method == "delong"


# --------------------------------------------------------------------------------------------------
# Wilson intervals and operating-point metrics


def test_wilson_interval_textbook_and_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    # Newcombe (1998), Stat Med 17:857, example 81/263: Wilson score interval 0.2553 to 0.3662.
    low, high = st.wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    for successes, trials in [(0, 10), (1, 10), (5, 10), (10, 10), (29, 29), (3, 250)]:
        for level in (0.9, 0.95, 0.99):
            expected = proportion_confint(successes, trials, alpha=1 - level, method="wilson")
            assert st.wilson_interval(successes, trials, level) == pytest.approx(expected, abs=1e-12)


def test_threshold_metrics_counts_and_intervals() -> None:
    from statsmodels.stats.proportion import proportion_confint

    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    prob = np.array([0.9, 0.7, 0.5, 0.2, 0.5, 0.4, 0.3, 0.2, 0.1, 0.6])
    metrics = st.threshold_metrics(y, prob, 0.5)  # positives: prob >= 0.5 -> TP 3, FP 2, FN 1, TN 4
    expected_counts = {
        "sensitivity": (3, 4),
        "specificity": (4, 6),
        "accuracy": (7, 10),
        "ppv": (3, 5),
        "npv": (4, 5),
    }
    for name, (numerator, denominator) in expected_counts.items():
        metric = metrics[name]
        assert (metric.numerator, metric.denominator) == (numerator, denominator)
        assert metric.value == numerator / denominator
        expected = proportion_confint(numerator, denominator, method="wilson")
        assert (metric.low, metric.high) == pytest.approx(expected, abs=1e-12)
    nobody_positive = st.threshold_metrics(y, prob, 0.95)
    assert np.isnan(nobody_positive["ppv"].value) and "no predicted positives" in nobody_positive["ppv"].note
    assert nobody_positive["specificity"].value == 1.0
    no_events = st.threshold_metrics(np.zeros(4), np.array([0.1, 0.2, 0.7, 0.9]), 0.5)
    assert np.isnan(no_events["sensitivity"].value) and no_events["sensitivity"].note


def test_youden_tie_takes_lowest_threshold_and_reproduces_operating_point() -> None:
    # Threshold 0.35 gives sens 1, spec 0.5; threshold 0.75 gives sens 0.5, spec 1: both J = 0.5.
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    prob = np.array([0.1, 0.2, 0.5, 0.6, 0.6, 0.7, 0.8, 0.9])
    tied = st.youden_threshold(y, prob)
    assert tied.threshold == pytest.approx(0.35) and tied.youden_j == pytest.approx(0.5)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 80)
    prob = 1 / (1 + np.exp(-(rng.normal(size=80) + 1.5 * y - 0.7)))
    best = st.youden_threshold(y, prob)
    metrics = st.threshold_metrics(y, prob, best.threshold)
    assert (
        metrics["sensitivity"].value == best.sensitivity and metrics["specificity"].value == best.specificity
    )
    all_j = [
        sum(st.threshold_metrics(y, prob, t)[k].value for k in ("sensitivity", "specificity")) - 1
        for t in prob
    ]
    assert best.youden_j == pytest.approx(max(all_j), abs=1e-12)


# --------------------------------------------------------------------------------------------------
# Decision curves


def test_decision_curve_matches_dcurves() -> None:
    from dcurves import dca

    rng = np.random.default_rng(5)
    thresholds = st.DEFAULT_DCA_THRESHOLDS
    # Continuous probabilities, values exactly on the threshold grid (tests >=) and exact 0 and 1.
    prob = np.r_[rng.uniform(size=150), thresholds[::7], 0.0, 1.0, 1.0]
    y = (rng.uniform(size=prob.size) < prob).astype(int)
    curve = st.decision_curve(y, prob)
    reference = dca(
        data=pd.DataFrame({"y": y, "model": prob}), outcome="y", modelnames=["model"], thresholds=thresholds
    )
    for name, ours in (
        ("model", curve.net_benefit_model),
        ("all", curve.net_benefit_all),
        ("none", curve.net_benefit_none),
    ):
        rows = reference[reference["model"] == name]
        np.testing.assert_array_equal(rows["threshold"].to_numpy(), curve.thresholds)
        np.testing.assert_allclose(ours, rows["net_benefit"].to_numpy(), rtol=0, atol=1e-9)
    assert curve.n == prob.size and curve.prevalence == pytest.approx(y.mean())


def test_decision_curve_rejects_thresholds_outside_open_interval() -> None:
    with pytest.raises(InputError, match="thresholds"):
        st.decision_curve([0, 1], [0.2, 0.8], thresholds=[0.0, 0.5])


# --------------------------------------------------------------------------------------------------
# Calibration


def test_calibration_regressions_match_statsmodels() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(6)
    prob = rng.beta(2, 5, 400)
    y = (rng.uniform(size=400) < np.clip(prob * 1.3, 0, 1)).astype(int)
    result = st.calibration(y, prob)
    logit = np.log(prob / (1 - prob))
    offset_fit = sm.GLM(y, np.ones((400, 1)), family=sm.families.Binomial(), offset=logit).fit(tol=1e-12)
    slope_fit = sm.Logit(y, sm.add_constant(logit)).fit(disp=0, tol=1e-12)
    assert result.intercept == pytest.approx(offset_fit.params[0], abs=1e-6)
    assert result.slope == pytest.approx(slope_fit.params[1], abs=1e-6)
    assert result.brier == pytest.approx(np.mean((prob - y) ** 2), abs=1e-15)


def test_calibration_of_simulated_calibrated_and_overconfident_models() -> None:
    rng = np.random.default_rng(7)
    prob = rng.beta(1.5, 3, 20000)
    y = rng.uniform(size=prob.size) < prob
    calibrated = st.calibration(y, prob)
    assert calibrated.slope == pytest.approx(1.0, abs=0.08)
    assert calibrated.intercept == pytest.approx(0.0, abs=0.05)
    overconfident = 1 / (1 + np.exp(-2 * np.log(prob / (1 - prob))))  # logit doubled: true slope 0.5
    assert st.calibration(y, overconfident).slope == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_calibration_bins_match_sklearn(strategy: str) -> None:
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(8)
    prob = np.round(rng.beta(2, 3, 300), 2)  # ties on bin edges
    y = (rng.uniform(size=300) < prob).astype(int)
    result = st.calibration(y, prob, n_bins=8, strategy=strategy)
    observed, predicted = calibration_curve(y, prob, n_bins=8, strategy=strategy)
    np.testing.assert_allclose(result.bin_observed_fraction, observed, atol=1e-12)
    np.testing.assert_allclose(result.bin_mean_predicted, predicted, atol=1e-12)
    assert result.bin_count.sum() == 300 and result.strategy == strategy
    assert np.all((result.bin_observed_low <= observed) & (observed <= result.bin_observed_high))


def test_calibration_with_one_class_reports_nan_and_note() -> None:
    result = st.calibration(np.zeros(20), np.linspace(0.05, 0.5, 20), n_bins=4)
    assert np.isnan(result.slope) and np.isnan(result.intercept) and result.notes
    assert result.brier == pytest.approx(np.mean(np.linspace(0.05, 0.5, 20) ** 2))


# --------------------------------------------------------------------------------------------------
# Input checks


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: st.auc([0, 1, 2], [0.1, 0.2, 0.3]), "only 0"),
        (lambda: st.auc([0, 1, 1], [0.1, 0.2]), "one value per outcome"),
        (lambda: st.auc([0, 1], [0.1, np.nan]), "NaN"),
        (lambda: st.auc([1, 1, 1], [0.1, 0.2, 0.3]), "at least one event"),
        (lambda: st.auc(["a", "b"], [0.1, 0.2]), "numbers"),
        (lambda: st.calibration([0, 1], [0.2, 1.2]), "probabilities"),
        (lambda: st.delong_ci([0, 1], [0.2, 0.3], level=1.0), "level"),
        (lambda: st.delong_test([0, 1], [0.2, 0.3], [0.1, 0.4], alternative="two.sided"), "alternative"),
    ],
)
def test_bad_input_raises_input_error(call, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()


def test_inputs_are_not_modified() -> None:
    y = np.array([0, 1, 0, 1, 1, 0], dtype=float)
    prob = np.array([0.0, 0.9, 0.3, 1.0, 0.6, 0.2])
    y_before, prob_before = y.copy(), prob.copy()
    st.delong_test(y, prob, prob[::-1].copy())
    st.calibration(y, prob, n_bins=3)
    st.decision_curve(y, prob)
    st.youden_threshold(y, prob)
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(prob, prob_before)
