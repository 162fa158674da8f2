"""Small synthetic CT volumes and hematoma masks for the deep-feature tests."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def make_image(array_zyx: np.ndarray, spacing_xyz=(1.0, 1.0, 1.0), origin_xyz=(0.0, 0.0, 0.0)) -> sitk.Image:
    """A canonical (identity-direction) image holding a copy of ``array_zyx``."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_zyx))
    image.SetSpacing([float(s) for s in spacing_xyz])
    image.SetOrigin([float(o) for o in origin_xyz])
    return image


def box_mask(reference: sitk.Image, z: tuple[int, int], y: tuple[int, int], x: tuple[int, int]) -> sitk.Image:
    """A UInt8 mask on ``reference``'s grid that is 1 on the index box [z0, z1) x [y0, y1) x [x0, x1)."""
    array = np.zeros(sitk.GetArrayViewFromImage(reference).shape, dtype=np.uint8)
    array[z[0] : z[1], y[0] : y[1], x[0] : x[1]] = 1
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(reference)
    return mask


def blob_case(
    size_xy: int = 96, n_slices: int = 12, spacing_xyz=(0.5, 0.5, 1.0), seed: int = 0, centre_slice: int = 6
) -> tuple[sitk.Image, sitk.Image]:
    """Brain-like CT (about 30 HU, noise) with an ellipsoidal 65 HU hematoma; largest slice = ``centre_slice``."""
    rng = np.random.default_rng(seed)
    sx, sy, sz = spacing_xyz
    z, y, x = np.meshgrid(
        (np.arange(n_slices) - centre_slice) * sz,
        (np.arange(size_xy) - size_xy / 2) * sy,
        (np.arange(size_xy) - size_xy / 2 + 4) * sx,
        indexing="ij",
    )
    inside = (x / 12.0) ** 2 + (y / 8.0) ** 2 + (z / 4.5) ** 2 <= 1.0
    ct = 30.0 + 6.0 * rng.standard_normal(inside.shape) + 0.2 * x
    ct[inside] += 35.0
    ct_image = make_image(np.round(ct).astype(np.int16), spacing_xyz, (-20.0, 15.0, -40.0))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(ct_image)
    return ct_image, mask
