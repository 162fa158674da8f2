"""Discretise each filtered image once per extraction instead of once per pyradiomics feature class.

pyradiomics bins the grey levels again in every texture and first-order class
(``imageoperations.binImage`` from ``RadiomicsFeaturesBase._applyBinning``): 6 times per image,
72 calls for the 12 images of the default parameter file, about 0.3 s of a 1.3 s extraction on
the sample case (cProfile; its Python ``min``/``max`` over the ROI's voxels is most of it). Inside
:func:`binning_shared` the first call for an image computes the bins and the others get copies of
that result. The key is the content (the grey levels, the ROI and the bin settings), so a result is
shared only where pyradiomics would compute the same one; outside the context, and in other
threads, pyradiomics runs unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from radiomics import imageoperations

from ..common.hashing import sha256_bytes

_PYRADIOMICS_BIN_IMAGE = imageoperations.binImage
_ACTIVE = threading.local()


def _array_key(array: np.ndarray | None) -> tuple:
    if array is None:
        return (None,)
    contiguous = np.ascontiguousarray(array)
    return (contiguous.dtype.str, contiguous.shape, sha256_bytes(contiguous.data))


def _bin_image(parameterMatrix: np.ndarray, parameterMatrixCoordinates: Any = None, **kwargs: Any):  # noqa: N803
    """``imageoperations.binImage`` with pyradiomics' own signature, computed once per content."""
    results = getattr(_ACTIVE, "results", None)
    if results is None:
        return _PYRADIOMICS_BIN_IMAGE(parameterMatrix, parameterMatrixCoordinates, **kwargs)
    key = (
        *_array_key(parameterMatrix),
        *_array_key(parameterMatrixCoordinates),
        kwargs.get("binWidth"),  # the only settings binImage reads; absent ones take its defaults
        kwargs.get("binCount"),
    )
    if key not in results:
        results[key] = _PYRADIOMICS_BIN_IMAGE(parameterMatrix, parameterMatrixCoordinates, **kwargs)
    binned, edges = results[key]
    return binned.copy(), np.array(edges, copy=True)


@contextmanager
def binning_shared() -> Iterator[None]:
    """Within this block (in this thread), each distinct image is binned once; see the module docstring."""
    imageoperations.binImage = _bin_image  # a pass-through wherever no block is active
    outer = getattr(_ACTIVE, "results", None)
    _ACTIVE.results = {} if outer is None else outer
    try:
        yield
    finally:
        _ACTIVE.results = outer
