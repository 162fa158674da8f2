"""Calibration of predicted probabilities: Brier score, logistic intercept and slope, binned curve."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy import special

from ..common.errors import InputError
from . import inputs
from .thresholds import wilson_interval

logger = logging.getLogger(__name__)

#: Probabilities are clipped to [eps, 1 - eps] before taking their logit for calibration.
LOGIT_CLIP_EPS = 1e-12


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


class _Bins(NamedTuple):
    """The non-empty bins of a calibration curve."""

    edges: np.ndarray
    mean_predicted: np.ndarray
    observed_fraction: np.ndarray
    observed_low: np.ndarray
    observed_high: np.ndarray
    count: np.ndarray


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


def _intercept_and_slope(events: np.ndarray, values: np.ndarray, notes: list[str]) -> tuple[float, float]:
    """Calibration intercept (slope fixed at 1) and slope of logit(prob); NaN, with a note, without a fit."""
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
    intercept = float(intercept_fit[0]) if intercept_fit is not None else np.nan
    slope = float(slope_fit[1]) if slope_fit is not None else np.nan
    return intercept, slope


def _bins(events: np.ndarray, values: np.ndarray, n_bins: int, strategy: str, level: float) -> _Bins:
    """Observed fraction (Wilson CI) and mean predicted probability of each non-empty bin."""
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
    return _Bins(
        edges=edges,
        mean_predicted=predicted_sum[filled] / count[filled],
        observed_fraction=observed[filled] / count[filled],
        observed_low=intervals[:, 0],
        observed_high=intervals[:, 1],
        count=count[filled],
    )


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
    level = inputs.check_level(level)
    if n_bins < 1:
        raise InputError(f"n_bins must be at least 1; got {n_bins}.")
    if strategy not in ("quantile", "uniform"):
        raise InputError(f"strategy must be 'quantile' or 'uniform'; got {strategy!r}.")
    events = inputs.outcomes(y)
    values = inputs.probabilities(prob, events.size)
    notes: list[str] = []
    intercept, slope = _intercept_and_slope(events, values, notes)
    for note in notes:
        logger.warning("Calibration: %s.", note)
    bins = _bins(events, values, n_bins, strategy, level)
    return CalibrationResult(
        brier=float(np.mean((values - events) ** 2)),
        intercept=intercept,
        slope=slope,
        strategy=strategy,
        bin_edges=bins.edges,
        bin_mean_predicted=bins.mean_predicted,
        bin_observed_fraction=bins.observed_fraction,
        bin_observed_low=bins.observed_low,
        bin_observed_high=bins.observed_high,
        bin_count=bins.count,
        notes=tuple(notes),
    )
