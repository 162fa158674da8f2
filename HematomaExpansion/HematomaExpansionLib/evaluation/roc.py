"""ROC curve, AUC and DeLong inference: the AUC's confidence interval and the paired test of two AUCs.

The DeLong results equal pROC 1.18 (``ci.auc``, ``var``, ``cov`` and ``roc.test`` with
``method = "delong", paired = TRUE``); see Testing/test_statistics.py and
tools/make_statistics_reference.R.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy import stats

from ..common.errors import InputError
from . import inputs

logger = logging.getLogger(__name__)


class RocCurve(NamedTuple):
    """Empirical ROC curve: one point per distinct score, from threshold +inf (0, 0) down to (1, 1)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class AucResult:
    """AUC with its DeLong confidence interval (``method`` "delong") and standard error."""

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


def roc_curve_points(y: object, score: object) -> RocCurve:
    """Empirical ROC curve (fpr, tpr, thresholds); a case is positive when ``score >= threshold``.

    Thresholds are the distinct scores in decreasing order, preceded by +inf (the point (0, 0)).
    """
    events = inputs.outcomes(y)
    values = inputs.scores(score, events.size, "score")
    inputs.require_both_classes(events, "A ROC curve")
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


def _delong(events: np.ndarray, score_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and DeLong covariance matrix (k, k) of k score rows on the same cases.

    The covariance is S10/m + S01/n with the sample covariances (denominator m-1, n-1) of the placement
    values, as in DeLong et al. (1988) and pROC; it is NaN when there are fewer than 2 events or non-events.
    """
    v10, v01 = _placements(score_rows[:, events], score_rows[:, ~events])
    aucs = v10.mean(axis=1)
    m, n = v10.shape[1], v01.shape[1]
    k = score_rows.shape[0]
    if m < 2 or n < 2:
        return aucs, np.full((k, k), np.nan)
    centred10 = v10 - aucs[:, None]
    centred01 = v01 - aucs[:, None]
    s10 = centred10 @ centred10.T / (m - 1)
    s01 = centred01 @ centred01.T / (n - 1)
    return aucs, s10 / m + s01 / n


def auc(y: object, score: object) -> float:
    """Area under the empirical ROC curve = P(score of an event > score of a non-event) + 0.5 P(tie)."""
    events = inputs.outcomes(y)
    values = inputs.scores(score, events.size, "score")
    inputs.require_both_classes(events, "The AUC")
    v10, _ = _placements(values[events][None, :], values[~events][None, :])
    return float(v10.mean())


def delong_ci(y: object, score: object, level: float = 0.95) -> AucResult:
    """AUC with DeLong's standard error and normal-approximation CI clipped to [0, 1] (pROC ``ci.auc``).

    With fewer than two events or non-events the SE and CI are NaN (pROC returns NA).
    """
    level = inputs.check_level(level)
    events = inputs.outcomes(y)
    values = inputs.scores(score, events.size, "score")
    inputs.require_both_classes(events, "The AUC")
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


def _z_statistic(difference: float, se: float) -> tuple[float, str]:
    """Z of an AUC difference and a note; NaN without an SE, 0 or +-inf when the SE is 0 (pROC)."""
    if np.isnan(se):
        note = "DeLong test needs at least 2 events and 2 non-events"
        logger.warning("%s; Z and p are NaN.", note)
        return np.nan, note
    if se == 0.0:
        return (0.0 if difference == 0.0 else float(np.copysign(np.inf, difference))), ""
    return difference / se, ""


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
    level = inputs.check_level(level)
    if alternative not in ("greater", "less"):
        raise InputError(f"alternative must be 'greater' or 'less'; got {alternative!r}.")
    events = inputs.outcomes(y)
    values_a = inputs.scores(score_a, events.size, "score_a")
    values_b = inputs.scores(score_b, events.size, "score_b")
    inputs.require_both_classes(events, "The DeLong test")
    aucs, covariance = _delong(events, np.vstack([values_a, values_b]))
    difference = float(aucs[0] - aucs[1])
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    se = float(np.sqrt(max(variance, 0.0))) if np.isfinite(variance) else np.nan
    z, note = _z_statistic(difference, se)
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
