"""Hematoma measurements against analytic ellipsoids, hand-made masks and numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.imaging.geometry import canonical_axial
from HematomaExpansionLib.imaging.measurements import axial_diameters, measure_hematoma
from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom

# Analytic mode: a plain ellipsoid with semi-axes in the ratio 1 : 1.3 : 0.9 (L, P, S).
SPEC = HematomaSpec(volume_ml=30.0, offset_mm=(24.0, 0.0, 20.0))


@pytest.fixture(scope="module")
def plain():
    return generate_phantom(SPEC, seed=21)


@pytest.fixture(scope="module")
def tilted():
    return generate_phantom(SPEC, seed=21, tilt_deg=15.0)


def snapshot(image: sitk.Image) -> tuple:
    return (
        sitk.GetArrayFromImage(image).copy(),
        image.GetSpacing(),
        image.GetOrigin(),
        image.GetDirection(),
        image.GetPixelID(),
        {key: image.GetMetaData(key) for key in image.GetMetaDataKeys()},
    )


def assert_unchanged(image: sitk.Image, before: tuple) -> None:
    after = snapshot(image)
    assert np.array_equal(after[0], before[0])
    assert after[1:] == before[1:]


def slice_centres_within(phantom, half_height_mm: float) -> int:
    """Number of (axis-aligned) slice centres within +-half_height of the hematoma centre."""
    z0 = phantom.truth["centre_mm"][2]
    origin_z, sz = phantom.ct.GetOrigin()[2], phantom.ct.GetSpacing()[2]
    z = origin_z + sz * np.arange(phantom.ct.GetSize()[2])
    return int(np.count_nonzero(np.abs(z - z0) <= half_height_mm))


def test_volume_and_abc2_match_the_analytic_ellipsoid(plain):
    m = measure_hematoma(plain.ct, plain.mask)
    a, b, c = plain.truth["semi_axes_mm"]  # L, P, S semi-axes; P is the longest in-plane
    assert m.volume_ml == pytest.approx(4.0 / 3.0 * np.pi * a * b * c / 1000.0, rel=0.02)
    assert m.n_voxels == int(sitk.GetArrayViewFromImage(plain.mask).sum())
    pixel = plain.ct.GetSpacing()[0]
    assert m.a_mm == pytest.approx(2 * b, abs=2 * pixel)
    assert m.b_mm == pytest.approx(2 * a, abs=2 * pixel)
    assert m.n_slices == slice_centres_within(plain, c)
    assert m.c_mm == pytest.approx(m.n_slices * 5.0)
    assert m.abc2_ml == pytest.approx((2 * a) * (2 * b) * m.c_mm / 2.0 / 1000.0, rel=0.02)
    # Against the continuous height 2c, C differs by at most one slice (quantisation of Kothari's C).
    assert abs(m.c_mm - 2 * c) <= 5.0
    assert m.orientation == "unchanged"


def test_largest_cross_section_is_the_slice_nearest_the_centre(plain):
    m = measure_hematoma(plain.ct, plain.mask)
    z0 = plain.truth["centre_mm"][2]
    origin_z, sz = plain.ct.GetOrigin()[2], plain.ct.GetSpacing()[2]
    nearest = round((z0 - origin_z) / sz)
    assert m.max_section_slice_index == nearest
    assert m.max_section_z_mm == pytest.approx(origin_z + nearest * sz)
    a, b, c = plain.truth["semi_axes_mm"]
    dz = m.max_section_z_mm - z0
    assert m.max_section_area_mm2 == pytest.approx(np.pi * a * b * (1.0 - (dz / c) ** 2), rel=0.02)


def test_density_and_components_of_the_phantom(plain):
    m = measure_hematoma(plain.ct, plain.mask)
    values = sitk.GetArrayViewFromImage(plain.ct)[sitk.GetArrayViewFromImage(plain.mask) > 0]
    assert m.mean_hu == pytest.approx(float(np.mean(values)))
    assert m.sd_hu == pytest.approx(float(np.std(values)))
    assert m.mean_hu == pytest.approx(plain.truth["noise_free_mean_hu"], abs=0.2)
    assert m.n_components == 1


def test_tilted_volume_matches_untilted_and_inputs_are_unchanged(plain, tilted):
    before_ct, before_mask = snapshot(tilted.ct), snapshot(tilted.mask)
    m_tilted = measure_hematoma(tilted.ct, tilted.mask)
    assert_unchanged(tilted.ct, before_ct)
    assert_unchanged(tilted.mask, before_mask)
    m_plain = measure_hematoma(plain.ct, plain.mask)
    assert m_tilted.orientation == "resampled"
    assert m_tilted.volume_ml == pytest.approx(m_plain.volume_ml, rel=0.02)
    assert m_tilted.max_section_z_mm == pytest.approx(tilted.truth["centre_mm"][2], abs=5.0)
    assert m_tilted.a_mm == pytest.approx(m_plain.a_mm, rel=0.05)
    assert m_tilted.b_mm == pytest.approx(m_plain.b_mm, rel=0.05)
    # C is counted on the acquired (tilted) slices, so ABC/2 does not grow with the tilt.
    assert m_tilted.slice_thickness_mm == pytest.approx(5.0)
    assert abs(m_tilted.n_slices - m_plain.n_slices) <= 1
    assert m_tilted.abc2_ml == pytest.approx(m_plain.abc2_ml, rel=0.1)
    reused = measure_hematoma(tilted.ct, tilted.mask, canonical=canonical_axial(tilted.ct, tilted.mask))
    assert reused == m_tilted


def test_permuted_axes_give_the_same_measurements(plain):
    shuffled = generate_phantom(SPEC, seed=21, axes_order=(2, 0, 1), flip_axes=(False, True, True))
    m_shuffled = measure_hematoma(shuffled.ct, shuffled.mask).as_dict()
    m_plain = measure_hematoma(plain.ct, plain.mask).as_dict()
    assert m_shuffled.pop("orientation") == "reoriented"
    m_plain.pop("orientation")
    assert m_shuffled == pytest.approx(m_plain)


def small_case(mask_array: np.ndarray, spacing=(0.5, 0.5, 2.0), ct_array: np.ndarray | None = None):
    """A tiny CT (air around, a bone voxel, soft tissue) and a mask on its grid."""
    if ct_array is None:
        ct_array = np.full(mask_array.shape, 40, dtype=np.int16)
        ct_array[0] = -1000
        ct_array[-1, 0, 0] = 1000
    ct = sitk.GetImageFromArray(ct_array)
    ct.SetSpacing(spacing)
    ct.SetOrigin((-10.0, 20.0, 5.0))
    mask = sitk.GetImageFromArray(mask_array.astype(np.uint8))
    mask.CopyInformation(ct)
    return ct, mask


def test_components_use_26_connectivity():
    blobs = np.zeros((6, 20, 20), dtype=np.uint8)
    blobs[1:3, 2:5, 2:5] = 1
    blobs[3:5, 10:14, 10:14] = 1
    ct, mask = small_case(blobs)
    assert measure_hematoma(ct, mask).n_components == 2
    corner = np.zeros((6, 20, 20), dtype=np.uint8)
    corner[2, 5, 5] = corner[3, 6, 6] = 1  # touching only at a corner
    ct, mask = small_case(corner)
    assert measure_hematoma(ct, mask).n_components == 1


def test_mean_and_sd_match_numpy_on_known_values():
    rng = np.random.default_rng(0)
    values = rng.normal(60.0, 12.0, (6, 16, 16)).round().astype(np.int16)
    values[0] = -1000
    mask = np.zeros(values.shape, dtype=np.uint8)
    mask[2:5, 3:12, 4:13] = 1
    ct, mask_image = small_case(mask, ct_array=values)
    m = measure_hematoma(ct, mask_image)
    inside = values[mask > 0].astype(float)
    assert m.mean_hu == pytest.approx(inside.mean(), abs=1e-9)
    assert m.sd_hu == pytest.approx(inside.std(), abs=1e-9)
    assert m.n_voxels == inside.size
    assert m.volume_ml == pytest.approx(inside.size * 0.5 * 0.5 * 2.0 / 1000.0)


def test_diameters_of_simple_shapes():
    row = np.zeros((9, 30), dtype=bool)
    row[4, 3:23] = True  # 20 pixels of 0.5 mm
    d = axial_diameters(row, (0.5, 0.5))
    assert d.a_mm == pytest.approx(10.0)
    assert d.b_mm == pytest.approx(0.5)

    yy, xx = np.mgrid[0:201, 0:201] * 0.4
    ellipse = ((xx - 40.0) / 30.0) ** 2 + ((yy - 40.0) / 18.0) ** 2 <= 1.0
    d = axial_diameters(ellipse, (0.4, 0.4))
    assert d.a_mm == pytest.approx(60.0, abs=0.8)
    assert d.b_mm == pytest.approx(36.0, abs=0.8)
    assert abs(d.a_direction[0]) == pytest.approx(1.0, abs=1e-3)

    rotated = np.zeros((240, 240), dtype=bool)  # the same ellipse rotated by 30 degrees
    yy, xx = np.mgrid[0:240, 0:240] * 0.4
    u = (xx - 48.0) * np.cos(np.pi / 6) + (yy - 48.0) * np.sin(np.pi / 6)
    v = -(xx - 48.0) * np.sin(np.pi / 6) + (yy - 48.0) * np.cos(np.pi / 6)
    rotated[(u / 30.0) ** 2 + (v / 18.0) ** 2 <= 1.0] = True
    d = axial_diameters(rotated, (0.4, 0.4))
    assert d.a_mm == pytest.approx(60.0, abs=1.0)
    assert d.b_mm == pytest.approx(36.0, abs=1.0)
    assert abs(d.a_direction[0] * np.cos(np.pi / 6) + d.a_direction[1] * np.sin(np.pi / 6)) == pytest.approx(
        1.0, abs=1e-3
    )


def test_single_voxel_hematoma():
    one = np.zeros((4, 8, 8), dtype=np.uint8)
    one[2, 4, 4] = 1
    ct, mask = small_case(one)
    m = measure_hematoma(ct, mask)
    assert (m.a_mm, m.b_mm, m.c_mm) == pytest.approx((0.5, 0.5, 2.0))
    assert m.abc2_ml == pytest.approx(0.5 * 0.5 * 2.0 / 2.0 / 1000.0)
    assert m.n_components == 1


def test_bad_inputs_raise_input_error_and_leave_inputs_unchanged():
    blob = np.zeros((6, 20, 20), dtype=np.uint8)
    blob[2:4, 5:9, 5:9] = 1
    ct, mask = small_case(blob)
    shifted = sitk.Image(mask)
    shifted.SetSpacing((0.6, 0.5, 2.0))
    before_ct, before_mask = snapshot(ct), snapshot(shifted)
    with pytest.raises(InputError, match=r"seg-node-7.*spacing"):
        measure_hematoma(ct, shifted, mask_source="seg-node-7")
    assert_unchanged(ct, before_ct)
    assert_unchanged(shifted, before_mask)
    empty = sitk.Image(mask.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(ct)
    with pytest.raises(InputError, match=r"empty\.nrrd.*empty"):
        measure_hematoma(ct, empty, mask_source="empty.nrrd")
