"""Evaluation statistics of a risk model: ROC/AUC with DeLong inference, operating-point metrics with
Wilson intervals, decision curves and calibration (numpy and scipy only).

Conventions shared by every function:

- ``y`` holds the outcomes, 1 (event: hematoma expansion) or 0, as integers, floats or booleans.
- ``score``/``prob`` holds one finite number per case; a higher value means a higher risk. Curves
  are never flipped: a model that ranks worse than chance keeps its AUC below 0.5 (this is pROC with
  ``levels = c(0, 1), direction = "<"``; pROC's default ``direction = "auto"`` would flip it).
- A case is called positive at threshold ``t`` when ``prob >= t`` (as the ``dcurves`` package does).

The DeLong results equal pROC 1.18 (``ci.auc``, ``var``, ``cov`` and ``roc.test`` with
``method = "delong", paired = TRUE``) and the decision curves equal ``dcurves``; see
Testing/test_statistics.py and tools/make_statistics_reference.R.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy import special, stats

from HematomaExpansionLib.common.errors import InputError

logger = logging.getLogger(__name__)

#: Probabilities are clipped to [eps, 1 - eps] before taking their logit for calibration.
LOGIT_CLIP_EPS = 1e-12

#: Default decision-curve thresholds 0.01, 0.02, ..., 0.99 (the values ``np.arange`` gives).
DEFAULT_DCA_THRESHOLDS = np.arange(0.01, 1.00, 0.01)
DEFAULT_DCA_THRESHOLDS.setflags(write=False)


class RocCurve(NamedTuple):
    """Empirical ROC curve: one point per distinct score, from threshold +inf (0, 0) down to (1, 1)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class AucResult:
    """AUC with a confidence interval (``method`` "delong" or "bootstrap") and its standard error."""

    auc: float
    ci_low: float
    ci_high: float
    se: float
    level: float
    method: str
    note: str = ""


@dataclass(frozen=True)
class DelongTest:
    """Paired DeLong comparison of two models scored on the same cases (difference = auc_a - auc_b)."""

    auc_a: float
    auc_b: float
    difference: float
    difference_ci_low: float
    difference_ci_high: float
    level: float
    z: float
    p_two_sided: float
    p_one_sided: float
    one_sided_hypothesis: str
    covariance: np.ndarray  # 2x2 DeLong covariance matrix of (auc_a, auc_b)
    note: str = ""


@dataclass(frozen=True)
class Proportion:
    """A proportion numerator/denominator with its Wilson confidence interval; NaN when undefined."""

    value: float
    low: float
    high: float
    numerator: int
    denominator: int
    note: str = ""


@dataclass(frozen=True)
class YoudenPoint:
    """Threshold maximising Youden's J = sensitivity + specificity - 1, with its operating point."""

    threshold: float
    sensitivity: float
    specificity: float
    youden_j: float


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit of the model, of treating everyone and of treating no one, per threshold."""

    thresholds: np.ndarray
    net_benefit_model: np.ndarray
    net_benefit_all: np.ndarray
    net_benefit_none: np.ndarray
    n: int
    prevalence: float


@dataclass(frozen=True)
class CalibrationResult:
    """Brier score, logistic calibration intercept and slope, and the binned calibration curve.

    Only non-empty bins are listed; ``bin_edges`` holds all ``n_bins + 1`` edges.
    """

    brier: float
    intercept: float
    slope: float
    strategy: str
    bin_edges: np.ndarray
    bin_mean_predicted: np.ndarray
    bin_observed_fraction: np.ndarray
    bin_observed_low: np.ndarray
    bin_observed_high: np.ndarray
    bin_count: np.ndarray
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Input checks


def _outcomes(y: object, name: str = "y") -> np.ndarray:
    """Return ``y`` as a new boolean array (True = event), or raise InputError."""
    array = np.asarray(y)
    if array.ndim != 1 or array.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D array of 0/1 outcomes; got shape {array.shape}.")
    if array.dtype == bool:
        return array.copy()
    if not np.issubdtype(array.dtype, np.number):
        raise InputError(f"{name} must hold numbers 0 and 1 (or booleans); got dtype {array.dtype}.")
    unexpected = np.setdiff1d(np.unique(array), [0, 1])
    if unexpected.size:
        raise InputError(
            f"{name} must contain only 0 (no event) and 1 (event); found {unexpected[:5].tolist()}. "
            "Recode the outcome column as 0/1."
        )
    return array == 1


def _scores(score: object, n: int, name: str) -> np.ndarray:
    """Return ``score`` as a float array of length ``n`` with finite values, or raise InputError."""
    try:
        array = np.asarray(score, dtype=float)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} must be numeric: {error}") from error
    if array.shape != (n,):
        raise InputError(f"{name} must be a 1-D array with one value per outcome ({n}); got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} contains NaN or infinite values; remove or impute those cases first.")
    return array


def _probabilities(prob: object, n: int, name: str = "prob") -> np.ndarray:
    array = _scores(prob, n, name)
    if array.min() < 0.0 or array.max() > 1.0:
        raise InputError(
            f"{name} must be probabilities in [0, 1]; got values from {array.min():g} to {array.max():g}."
        )
    return array


def _require_both_classes(events: np.ndarray, what: str) -> None:
    n_events = int(events.sum())
    if n_events == 0 or n_events == events.size:
        raise InputError(
            f"{what} needs at least one event (y=1) and one non-event (y=0); "
            f"got {n_events} events among {events.size} cases."
        )


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise InputError(f"Confidence level must lie strictly between 0 and 1; got {level}.")
    return float(level)


# --------------------------------------------------------------------------------------------------
# ROC and AUC


def roc_curve_points(y: object, score: object) -> RocCurve:
    """Empirical ROC curve (fpr, tpr, thresholds); a case is positive when ``score >= threshold``.

    Thresholds are the distinct scores in decreasing order, preceded by +inf (the point (0, 0)).
    """
    events = _outcomes(y)
    values = _scores(score, events.size, "score")
    _require_both_classes(events, "A ROC curve")
    order = np.argsort(-values, kind="stable")
    sorted_values, sorted_events = values[order], events[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(sorted_values) != 0), sorted_values.size - 1]
    true_positives = np.cumsum(sorted_events)[last_of_group]
    false_positives = last_of_group + 1 - true_positives
    tpr = np.r_[0.0, true_positives / events.sum()]
    fpr = np.r_[0.0, false_positives / (~events).sum()]
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=np.r_[np.inf, sorted_values[last_of_group]])


def _placements(cases: np.ndarray, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong placement values for k models at once, by midranks (Sun and Xu 2014), O(N log N).

    ``cases`` is (k, m) and ``controls`` (k, n). Returns ``v10`` (k, m): for each case the fraction of
    controls scored lower (ties count 1/2), and ``v01`` (k, n): for each control the fraction of cases
    scored higher (ties 1/2). The AUC of model i is ``v10[i].mean() == v01[i].mean()``.
    """
    m, n = cases.shape[1], controls.shape[1]
    combined_ranks = stats.rankdata(np.hstack([cases, controls]), axis=1)
    case_ranks = stats.rankdata(cases, axis=1)
    control_ranks = stats.rankdata(controls, axis=1)
    v10 = (combined_ranks[:, :m] - case_ranks) / n
    v01 = 1.0 - (combined_ranks[:, m:] - control_ranks) / m
    return v10, v01


def _delong(events: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and DeLong covariance matrix (k, k) of k score rows on the same cases.

    The covariance is S10/m + S01/n with the sample covariances (denominator m-1, n-1) of the placement
    values, as in DeLong et al. (1988) and pROC; it is NaN when there are fewer than 2 events or non-events.
    """
    v10, v01 = _placements(scores[:, events], scores[:, ~events])
    aucs = v10.mean(axis=1)
    m, n = v10.shape[1], v01.shape[1]
    k = scores.shape[0]
    if m < 2 or n < 2:
        return aucs, np.full((k, k), np.nan)
    centred10 = v10 - aucs[:, None]
    centred01 = v01 - aucs[:, None]
    s10 = centred10 @ centred10.T / (m - 1)
    s01 = centred01 @ centred01.T / (n - 1)
    return aucs, s10 / m + s01 / n


def auc(y: object, score: object) -> float:
    """Area under the empirical ROC curve = P(score of an event > score of a non-event) + 0.5 P(tie)."""
    events = _outcomes(y)
    values = _scores(score, events.size, "score")
    _require_both_classes(events, "The AUC")
    v10, _ = _placements(values[events][None, :], values[~events][None, :])
    return float(v10.mean())


def delong_ci(y: object, score: object, level: float = 0.95) -> AucResult:
    """AUC with DeLong's standard error and normal-approximation CI clipped to [0, 1] (pROC ``ci.auc``).

    With fewer than two events or non-events the SE and CI are NaN (pROC returns NA).
    """
    level = _check_level(level)
    events = _outcomes(y)
    values = _scores(score, events.size, "score")
    _require_both_classes(events, "The AUC")
    aucs, covariance = _delong(events, values[None, :])
    area, se = float(aucs[0]), float(np.sqrt(covariance[0, 0]))
    note = ""
    if np.isnan(se):
        note = "DeLong SE needs at least 2 events and 2 non-events"
        logger.warning("%s; the AUC has no confidence interval.", note)
    z = stats.norm.ppf(0.5 + level / 2)
    low, high = np.clip([area - z * se, area + z * se], 0.0, 1.0)
    return AucResult(
        auc=area, ci_low=float(low), ci_high=float(high), se=se, level=level, method="delong", note=note
    )


def _chunk_sizes(total_rows: int, row_length: int, max_values: int = 1_000_000) -> list[int]:
    """Split ``total_rows`` rows of ``row_length`` values into chunks of at most ``max_values`` values."""
    per_chunk = max(1, max_values // row_length)
    return [min(per_chunk, total_rows - start) for start in range(0, total_rows, per_chunk)]


def _bootstrap_aucs(
    events: np.ndarray, values: np.ndarray, n_boot: int, rng: np.random.Generator, stratified: bool
) -> np.ndarray:
    """AUCs of bootstrap resamples; unstratified resamples lacking a class are left out."""
    cases, controls = values[events], values[~events]
    if stratified:  # vectorised: one row per resample, in chunks of bounded memory
        chunks = []
        for rows in _chunk_sizes(n_boot, values.size):
            boot_cases = cases[rng.integers(0, cases.size, (rows, cases.size))]
            boot_controls = controls[rng.integers(0, controls.size, (rows, controls.size))]
            chunks.append(_placements(boot_cases, boot_controls)[0].mean(axis=1))
        return np.concatenate(chunks)
    aucs = []
    for _ in range(n_boot):
        drawn = rng.integers(0, values.size, values.size)
        boot_cases, boot_controls = values[drawn][events[drawn]], values[drawn][~events[drawn]]
        if boot_cases.size and boot_controls.size:
            aucs.append(_placements(boot_cases[None, :], boot_controls[None, :])[0].mean())
    return np.array(aucs)


def bootstrap_auc_ci(
    y: object,
    score: object,
    n_boot: int = 2000,
    seed: int = 0,
    stratified: bool = True,
    level: float = 0.95,
) -> AucResult:
    """AUC with a percentile bootstrap CI; ``se`` is the standard deviation of the bootstrap AUCs.

    Stratified resampling draws events and non-events separately (their counts stay fixed, as in
    pROC's default). Without stratification, resamples that lack one class are skipped (and logged).
    """
    level = _check_level(level)
    if n_boot < 2:
        raise InputError(f"n_boot must be at least 2; got {n_boot}.")
    events = _outcomes(y)
    values = _scores(score, events.size, "score")
    _require_both_classes(events, "The AUC")
    aucs = _bootstrap_aucs(events, values, n_boot, np.random.default_rng(seed), stratified)
    skipped = n_boot - aucs.size
    note = f"{skipped} of {n_boot} resamples lacked one class and were skipped" if skipped else ""
    if note:
        logger.info("Bootstrap AUC: %s.", note)
    if aucs.size < 2:
        raise InputError("Too few bootstrap resamples contain both classes; use stratified=True.")
    alpha = 1.0 - level
    low, high = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return AucResult(
        auc=auc(events, values),
        ci_low=float(low),
        ci_high=float(high),
        se=float(np.std(aucs, ddof=1)),
        level=level,
        method="bootstrap",
        note=note,
    )


def delong_test(
    y: object,
    score_a: object,
    score_b: object,
    alternative: Literal["greater", "less"] = "greater",
    level: float = 0.95,
) -> DelongTest:
    """Paired DeLong test of AUC_a = AUC_b for two models scored on the same cases.

    Z = (AUC_a - AUC_b) / sqrt(var_a + var_b - 2 cov_ab); the two-sided p and the CI of the
    difference equal pROC ``roc.test(method = "delong", paired = TRUE)``. The one-sided p tests the
    hypothesis chosen beforehand by ``alternative`` ("greater": H1 AUC_a > AUC_b, pROC's
    ``alternative = "greater"``). Z is 0 when both difference and SE are 0 (pROC's convention).
    """
    level = _check_level(level)
    if alternative not in ("greater", "less"):
        raise InputError(f"alternative must be 'greater' or 'less'; got {alternative!r}.")
    events = _outcomes(y)
    values_a = _scores(score_a, events.size, "score_a")
    values_b = _scores(score_b, events.size, "score_b")
    _require_both_classes(events, "The DeLong test")
    aucs, covariance = _delong(events, np.vstack([values_a, values_b]))
    difference = float(aucs[0] - aucs[1])
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    se = float(np.sqrt(max(variance, 0.0))) if np.isfinite(variance) else np.nan
    note = ""
    if np.isnan(se):
        note = "DeLong test needs at least 2 events and 2 non-events"
        logger.warning("%s; Z and p are NaN.", note)
        z = np.nan
    elif se == 0.0:
        z = 0.0 if difference == 0.0 else float(np.copysign(np.inf, difference))
    else:
        z = difference / se
    p_greater, p_less = float(stats.norm.sf(z)), float(stats.norm.cdf(z))
    critical = float(stats.norm.ppf(0.5 + level / 2))
    return DelongTest(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        difference=difference,
        difference_ci_low=difference - critical * se,
        difference_ci_high=difference + critical * se,
        level=level,
        z=float(z),
        p_two_sided=float(2 * stats.norm.sf(abs(z))),
        p_one_sided=p_greater if alternative == "greater" else p_less,
        one_sided_hypothesis="H1: AUC_a > AUC_b" if alternative == "greater" else "H1: AUC_a < AUC_b",
        covariance=covariance,
        note=note,
    )


# --------------------------------------------------------------------------------------------------
# Operating point


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927; Newcombe 1998, method 3)."""
    level = _check_level(level)
    if trials <= 0 or not 0 <= successes <= trials:
        raise InputError(
            f"Wilson interval needs 0 <= successes <= trials, trials > 0; got {successes}/{trials}."
        )
    z = stats.norm.ppf(0.5 + level / 2)
    z2 = z * z
    centre = (successes + z2 / 2) / (trials + z2)
    half_width = z * np.sqrt(successes * (trials - successes) / trials + z2 / 4) / (trials + z2)
    return float(max(centre - half_width, 0.0)), float(min(centre + half_width, 1.0))


def _proportion(numerator: int, denominator: int, undefined_note: str, level: float) -> Proportion:
    if denominator == 0:
        return Proportion(np.nan, np.nan, np.nan, numerator, denominator, undefined_note)
    low, high = wilson_interval(numerator, denominator, level)
    return Proportion(numerator / denominator, low, high, numerator, denominator)


def threshold_metrics(
    y: object, prob: object, threshold: float, level: float = 0.95
) -> dict[str, Proportion]:
    """Sensitivity, specificity, accuracy, PPV and NPV at ``prob >= threshold``, with Wilson CIs.

    A metric whose denominator is 0 (no events, no predicted positives, ...) is NaN with a note.
    """
    level = _check_level(level)
    if np.isnan(threshold):
        raise InputError("threshold is NaN; pass the model's decision threshold.")
    events = _outcomes(y)
    predicted = _scores(prob, events.size, "prob") >= threshold
    tp = int(np.sum(predicted & events))
    fp = int(np.sum(predicted & ~events))
    fn = int(np.sum(~predicted & events))
    tn = int(np.sum(~predicted & ~events))
    return {
        "sensitivity": _proportion(tp, tp + fn, "no events: sensitivity undefined", level),
        "specificity": _proportion(tn, tn + fp, "no non-events: specificity undefined", level),
        "accuracy": _proportion(tp + tn, events.size, "no cases", level),
        "ppv": _proportion(tp, tp + fp, "no predicted positives: PPV undefined", level),
        "npv": _proportion(tn, tn + fn, "no predicted negatives: NPV undefined", level),
    }


def youden_threshold(y: object, prob: object) -> YoudenPoint:
    """Threshold that maximises Youden's J = sensitivity + specificity - 1 (pROC ``coords(x = "best")``).

    Candidate thresholds are pROC's: the midpoints between consecutive distinct scores, plus -inf and
    +inf. J is compared exactly (integer arithmetic); among tied maxima the lowest threshold is
    returned (the most sensitive choice). If no threshold beats chance, J = 0 and the threshold is -inf.
    """
    events = _outcomes(y)
    values = _scores(prob, events.size, "prob")
    _require_both_classes(events, "Youden's threshold")
    distinct = np.unique(values)
    thresholds = np.r_[-np.inf, (distinct[:-1] + distinct[1:]) / 2, np.inf]
    # Candidate k calls positive the scores >= distinct[k] (none for k = len(distinct)).
    boundaries = np.r_[distinct, np.inf]
    m, n = int(events.sum()), int((~events).sum())
    true_positives = m - np.searchsorted(np.sort(values[events]), boundaries, side="left")
    true_negatives = np.searchsorted(np.sort(values[~events]), boundaries, side="left")
    j_times_mn = true_positives * n + true_negatives * m - m * n
    best = int(np.flatnonzero(j_times_mn == j_times_mn.max())[0])
    if j_times_mn[best] <= 0:
        logger.warning("No threshold separates the classes better than chance (Youden's J <= 0).")
    return YoudenPoint(
        threshold=float(thresholds[best]),
        sensitivity=float(true_positives[best] / m),
        specificity=float(true_negatives[best] / n),
        youden_j=float(j_times_mn[best] / (m * n)),
    )


# --------------------------------------------------------------------------------------------------
# Decision curve analysis


def decision_curve(y: object, prob: object, thresholds: object = DEFAULT_DCA_THRESHOLDS) -> DecisionCurve:
    """Net benefit NB(t) = TP/n - FP/n * t / (1 - t), positives being ``prob >= t`` (as ``dcurves``).

    Treat-all is every case positive (NB = prevalence - (1 - prevalence) t / (1 - t)); treat-none
    is 0. Thresholds must lie strictly between 0 and 1.
    """
    events = _outcomes(y)
    values = _probabilities(prob, events.size)
    grid = np.asarray(thresholds, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or not np.all((grid > 0) & (grid < 1)):
        raise InputError("Decision-curve thresholds must be a non-empty 1-D array of values in (0, 1).")
    n = events.size
    odds = grid / (1 - grid)
    case_scores, control_scores = np.sort(values[events]), np.sort(values[~events])
    true_positives = case_scores.size - np.searchsorted(case_scores, grid, side="left")
    false_positives = control_scores.size - np.searchsorted(control_scores, grid, side="left")
    prevalence = case_scores.size / n
    return DecisionCurve(
        thresholds=grid.copy(),
        net_benefit_model=true_positives / n - false_positives / n * odds,
        net_benefit_all=prevalence - (1 - prevalence) * odds,
        net_benefit_none=np.zeros_like(grid),
        n=n,
        prevalence=prevalence,
    )


# --------------------------------------------------------------------------------------------------
# Calibration


def _logistic_fit(design: np.ndarray, events: np.ndarray, offset: np.ndarray) -> np.ndarray | None:
    """Maximum-likelihood logistic regression by Newton-Raphson; None if it does not converge."""
    beta = np.zeros(design.shape[1])
    target = events.astype(float)
    for _ in range(100):
        mu = special.expit(design @ beta + offset)
        gradient = design.T @ (target - mu)
        hessian = design.T @ (design * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if not np.all(np.isfinite(beta)):
            return None
        if np.max(np.abs(step)) < 1e-10:
            return beta
    return None


def calibration(
    y: object,
    prob: object,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
    level: float = 0.95,
) -> CalibrationResult:
    """Brier score, calibration intercept and slope, and a binned calibration curve.

    - Intercept (calibration-in-the-large): logistic regression of y with logit(prob) as offset and
      the slope fixed at 1; 0 when calibrated.
    - Slope: logistic regression of y on logit(prob) (with its own intercept); 1 when calibrated.
      Probabilities are clipped to [1e-12, 1 - 1e-12] before the logit; a fit without a maximum
      (one class only, or separation) gives NaN with a note.
    - Bins: "quantile" (default; edges at the quantiles of prob, about equal counts) or "uniform"
      (equal widths on [0, 1]). Bins are closed on the right, the first also on the left (as
      scikit-learn's ``calibration_curve``); empty bins are left out. The observed fraction of each
      bin has a Wilson CI.
    """
    level = _check_level(level)
    if n_bins < 1:
        raise InputError(f"n_bins must be at least 1; got {n_bins}.")
    if strategy not in ("quantile", "uniform"):
        raise InputError(f"strategy must be 'quantile' or 'uniform'; got {strategy!r}.")
    events = _outcomes(y)
    values = _probabilities(prob, events.size)
    notes = []

    clipped = np.clip(values, LOGIT_CLIP_EPS, 1 - LOGIT_CLIP_EPS)
    if np.any(clipped != values):
        notes.append(
            f"{int(np.sum(clipped != values))} probabilities of exactly 0 or 1 were clipped for the logit"
        )
    logit = special.logit(clipped)
    ones = np.ones((events.size, 1))
    intercept_fit = _logistic_fit(ones, events, logit)
    slope_fit = _logistic_fit(np.hstack([ones, logit[:, None]]), events, np.zeros(events.size))
    if intercept_fit is None or slope_fit is None:
        notes.append("calibration regression has no maximum-likelihood estimate (one class or separation)")
    for note in notes:
        logger.warning("Calibration: %s.", note)

    if strategy == "quantile":
        edges = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_index = np.searchsorted(edges[1:-1], values, side="left")
    count = np.bincount(bin_index, minlength=n_bins)
    observed = np.bincount(bin_index, weights=events.astype(float), minlength=n_bins)
    predicted_sum = np.bincount(bin_index, weights=values, minlength=n_bins)
    filled = count > 0
    intervals = np.array(
        [wilson_interval(int(k), int(c), level) for k, c in zip(observed[filled], count[filled], strict=True)]
    )
    return CalibrationResult(
        brier=float(np.mean((values - events) ** 2)),
        intercept=float(intercept_fit[0]) if intercept_fit is not None else np.nan,
        slope=float(slope_fit[1]) if slope_fit is not None else np.nan,
        strategy=strategy,
        bin_edges=edges,
        bin_mean_predicted=predicted_sum[filled] / count[filled],
        bin_observed_fraction=observed[filled] / count[filled],
        bin_observed_low=intervals[:, 0],
        bin_observed_high=intervals[:, 1],
        bin_count=count[filled],
        notes=tuple(notes),
    )
