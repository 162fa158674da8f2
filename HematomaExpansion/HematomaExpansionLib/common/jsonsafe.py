"""Plain JSON values from the numpy arrays, numpy scalars, paths and dataclasses that results hold."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import PurePath
from typing import Any

import numpy as np


def json_safe(value: Any, *, non_finite_as_none: bool = False) -> Any:
    """A copy of ``value`` made of dicts, lists, strings, numbers, booleans and None.

    Dataclasses become dicts, tuples and arrays lists, numpy scalars Python numbers and paths
    strings; other objects are returned as they are (``json.dumps`` then names them). With
    ``non_finite_as_none``, NaN and infinities become None (strict JSON has no NaN).
    """
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, non_finite_as_none=non_finite_as_none) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v, non_finite_as_none=non_finite_as_none) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, PurePath):
        return str(value)
    if non_finite_as_none and isinstance(value, float) and not math.isfinite(value):
        return None
    return value
