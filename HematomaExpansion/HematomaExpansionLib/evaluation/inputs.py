"""Checks of the inputs every evaluation statistic takes: outcomes, scores, probabilities, levels."""

from __future__ import annotations

import numpy as np

from ..common.errors import InputError


def outcomes(y: object, name: str = "y") -> np.ndarray:
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


def scores(score: object, n: int, name: str) -> np.ndarray:
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


def probabilities(prob: object, n: int, name: str = "prob") -> np.ndarray:
    """Return ``prob`` as checked scores (see :func:`scores`) that also lie in [0, 1]."""
    array = scores(prob, n, name)
    if array.min() < 0.0 or array.max() > 1.0:
        raise InputError(
            f"{name} must be probabilities in [0, 1]; got values from {array.min():g} to {array.max():g}."
        )
    return array


def require_both_classes(events: np.ndarray, what: str) -> None:
    """Raise InputError unless ``events`` holds at least one event and one non-event."""
    n_events = int(events.sum())
    if n_events == 0 or n_events == events.size:
        raise InputError(
            f"{what} needs at least one event (y=1) and one non-event (y=0); "
            f"got {n_events} events among {events.size} cases."
        )


def check_level(level: float) -> float:
    """The confidence level as a float strictly between 0 and 1, or InputError."""
    if not 0.0 < level < 1.0:
        raise InputError(f"Confidence level must lie strictly between 0 and 1; got {level}.")
    return float(level)
