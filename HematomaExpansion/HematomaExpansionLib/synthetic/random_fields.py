"""Random fields of the phantom: smooth density texture and CT-like correlated noise."""

from __future__ import annotations

import numpy as np


def fourier_field(rng: np.random.Generator, points_mm: np.ndarray, length_mm: float) -> np.ndarray:
    """Smooth random field at ``points_mm`` (n, 3): random Fourier features with Gaussian spectrum.

    Defined in physical space, so the same seed gives the same texture at any slice thickness.
    """
    n_modes = 48
    omega = (rng.standard_normal((n_modes, 3)) / length_mm).astype(np.float32)
    phase = rng.uniform(0.0, 2.0 * np.pi, n_modes).astype(np.float32)
    return np.cos(points_mm.astype(np.float32) @ omega.T + phase).sum(axis=1)


def correlated_noise(rng: np.random.Generator, shape: tuple[int, int, int], sd_hu: float) -> np.ndarray:
    """Gaussian noise smoothed in-plane by a [1 2 1]/4 kernel (CT-like texture), SD ``sd_hu``."""
    white = rng.standard_normal(shape, dtype=np.float32)
    for axis in (1, 2):
        out = white * np.float32(0.5)
        lower, upper, first, last = ([slice(None)] * 3 for _ in range(4))
        lower[axis], upper[axis], first[axis], last[axis] = slice(0, -1), slice(1, None), 0, -1
        out[tuple(upper)] += np.float32(0.25) * white[tuple(lower)]
        out[tuple(lower)] += np.float32(0.25) * white[tuple(upper)]
        out[tuple(first)] += np.float32(0.25) * white[tuple(first)]  # reflect at the borders
        out[tuple(last)] += np.float32(0.25) * white[tuple(last)]
        white = out
    white *= np.float32(sd_hu / 0.375)  # the 2-D kernel keeps 0.375 of the SD of white noise
    return white
