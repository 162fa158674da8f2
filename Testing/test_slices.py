"""Slice sampling, crop, windowing and resampling for the deep features (no network involved)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from deep_fixtures import blob_case, box_mask, make_image
from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.features.deep_slices import (
    CropBox,
    DeepSliceConfig,
    apply_window,
    crop_box_mm,
    prepare_deep_slices,
    resample_square,
    sample_axial_slices,
    slice_positions_mm,
)
from HematomaExpansionLib.features.families import DEEP_IDENTITY_KEYS
from HematomaExpansionLib.imaging.geometry import largest_axial_cross_section


def test_slice_positions_are_physical_offsets():
    assert slice_positions_mm(-34.5) == (-36.5, -35.5, -34.5, -33.5, -32.5)
    assert slice_positions_mm(10.0, (-3.0, 0.0, 4.5)) == (7.0, 10.0, 14.5)


def test_thin_slices_are_returned_exactly():
    rng = np.random.default_rng(1)
    array = rng.integers(-1000, 2000, size=(16, 9, 11)).astype(np.int16)
    ct = make_image(array, (0.7, 0.6, 1.0), (3.0, -2.0, -7.5))
    z0_mm = -7.5 + 8 * 1.0
    images, warnings = sample_axial_slices(ct, slice_positions_mm(z0_mm))
    assert images.dtype == np.float32 and images.shape == (5, 9, 11)
    assert np.array_equal(images, array[6:11].astype(np.float32))
    assert warnings == []


def test_thick_slices_are_linearly_interpolated_along_z():
    rng = np.random.default_rng(2)
    array = rng.normal(40.0, 30.0, size=(7, 5, 6))
    spacing_z_mm, origin_z_mm = 5.0, -12.0
    ct = make_image(array, (0.5, 0.5, spacing_z_mm), (0.0, 0.0, origin_z_mm))
    z0_mm = origin_z_mm + 3 * spacing_z_mm
    positions = slice_positions_mm(z0_mm)
    images, warnings = sample_axial_slices(ct, positions)
    slice_z_mm = origin_z_mm + spacing_z_mm * np.arange(array.shape[0])
    expected = np.empty_like(images)
    for y, x in np.ndindex(*array.shape[1:]):
        expected[:, y, x] = np.interp(positions, slice_z_mm, array[:, y, x])
    np.testing.assert_allclose(images, expected, rtol=0, atol=1e-4)
    assert np.array_equal(images[2], array[3].astype(np.float32))
    assert len(warnings) == 1 and "interpolated" in warnings[0] and "5.0 mm" in warnings[0]


def test_linear_z_profile_is_reproduced_on_thick_slices():
    z_mm = -20.0 + 5.0 * np.arange(6)
    array = np.broadcast_to((3.0 * z_mm + 7.0)[:, None, None], (6, 4, 4)).copy()
    ct = make_image(array, (1.0, 1.0, 5.0), (0.0, 0.0, -20.0))
    positions = (-13.3, -6.0, 1.2)
    images, _ = sample_axial_slices(ct, positions)
    np.testing.assert_allclose(images[:, 0, 0], 3.0 * np.asarray(positions) + 7.0, rtol=1e-6)


def test_positions_outside_the_volume_use_the_edge_slice_with_a_warning():
    array = np.arange(4 * 3 * 3, dtype=np.float32).reshape(4, 3, 3)
    ct = make_image(array, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    images, warnings = sample_axial_slices(ct, (2.0, 3.0, 4.0, 5.0))
    assert np.array_equal(images[2], array[3]) and np.array_equal(images[3], array[3])
    assert any("outside" in w and "[4.0, 5.0]" in w for w in warnings)


def test_nearest_sampling_picks_the_nearest_slice():
    array = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((5, 2, 2), np.uint8)
    mask = make_image(array, (1.0, 1.0, 5.0), (0.0, 0.0, 0.0))
    images, warnings = sample_axial_slices(mask, (4.0, 6.0, 12.4, 13.0), nearest=True)
    assert images[:, 0, 0].tolist() == [1.0, 1.0, 2.0, 3.0]
    assert warnings == []


def test_non_canonical_image_is_refused():
    ct = make_image(np.zeros((3, 4, 4), np.int16))
    ct.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    with pytest.raises(InputError, match="canonical_axial"):
        sample_axial_slices(ct, (0.0,))


def test_crop_is_a_square_of_bbox_plus_two_margins_centred_on_the_bbox():
    ct = make_image(np.zeros((3, 80, 90), np.int16), (0.5, 0.8, 2.0), (-10.0, 4.0, 0.0))
    mask = box_mask(ct, z=(1, 2), y=(30, 45), x=(20, 40))  # 10 mm wide (x), 12 mm high (y)
    crop = crop_box_mm(mask, 1, margin_mm=5.0)
    assert crop.side_mm == pytest.approx(12.0 + 2 * 5.0)
    assert crop.hematoma_bbox_mm == pytest.approx(
        (-10.0 + 19.5 * 0.5, -10.0 + 39.5 * 0.5, 4.0 + 29.5 * 0.8, 4.0 + 44.5 * 0.8)
    )
    assert crop.x_min_mm + crop.side_mm / 2 == pytest.approx(-10.0 + 29.5 * 0.5)
    assert crop.y_min_mm + crop.side_mm / 2 == pytest.approx(4.0 + 37.0 * 0.8)
    assert not crop.clipped
    assert crop_box_mm(mask, 1, margin_mm=2.5).side_mm == pytest.approx(17.0)


def test_crop_of_a_border_touching_hematoma_is_clipped_and_padded_with_air():
    ct = make_image(np.full((3, 40, 50), 60, np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    mask = box_mask(ct, z=(0, 3), y=(10, 22), x=(0, 8))
    crop = crop_box_mm(mask, 1, margin_mm=5.0)
    assert crop.clipped
    assert crop.side_mm == pytest.approx(12.0 + 10.0)
    assert crop.inside_image_mm[0] == pytest.approx(-0.5) and crop.x_min_mm < -0.5
    assert crop.inside_image_mm[1] == pytest.approx(crop.x_min_mm + crop.side_mm)

    prepared = prepare_deep_slices(ct, mask, largest_axial_cross_section(mask), DeepSliceConfig())
    assert prepared.images.shape == (5, 224, 224)
    assert any("border" in w for w in prepared.warnings)
    centres_x_mm = crop.x_min_mm + (np.arange(224) + 0.5) * crop.side_mm / 224
    outside = centres_x_mm < -1.5  # more than one voxel beyond the image edge
    inside = centres_x_mm > 0.5
    assert outside.any() and np.all(prepared.images[:, :, outside] == 0.0)
    np.testing.assert_allclose(prepared.images[:, :, inside], (60 - 0) / 80, rtol=1e-6)


def test_window_formula():
    hu = np.array([-100.0, 0.0, 20.0, 40.0, 70.0, 80.0, 500.0])
    np.testing.assert_allclose(apply_window(hu, 40.0, 80.0), [0, 0, 0.25, 0.5, 0.875, 1.0, 1.0], rtol=1e-7)
    np.testing.assert_allclose(apply_window(np.array([-50.0, 25.0]), 50.0, 200.0), [0.0, 0.375], rtol=1e-7)
    assert apply_window(hu, 40.0, 80.0).dtype == np.float32


def _crop(x_min_mm, y_min_mm, side_mm) -> CropBox:
    return CropBox(x_min_mm, y_min_mm, side_mm, (0, 0, 0, 0), (0, 0, 0, 0))


def _centres_index(start_mm, side_mm, origin_mm, spacing_mm, size_px):
    return (start_mm + (np.arange(size_px) + 0.5) * side_mm / size_px - origin_mm) / spacing_mm


def test_enlarging_is_bilinear_interpolation_with_air_outside():
    rng = np.random.default_rng(3)
    slices = rng.normal(0.0, 100.0, size=(2, 30, 40)).astype(np.float32)
    ct = make_image(slices, (0.5, 0.7, 1.0), (-3.0, 8.0, 0.0))
    crop = _crop(-5.0, 10.0, 18.0)  # 18 mm -> 64 px: enlarging; the left edge lies outside the image
    out = resample_square(slices, ct, crop, 64, pad_value=-1000.0)
    cx = _centres_index(-5.0, 18.0, -3.0, 0.5, 64)
    cy = _centres_index(10.0, 18.0, 8.0, 0.7, 64)
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    for n in range(2):
        expected = ndimage.map_coordinates(
            slices[n].astype(np.float64), [yy, xx], order=1, mode="grid-constant", cval=-1000.0
        )
        np.testing.assert_allclose(out[n], expected, rtol=1e-5, atol=1e-3)


def test_shrinking_keeps_physical_geometry_and_is_antialiased():
    spacing_mm, origin_mm, size = 0.2, (-40.0, -30.0), 400
    x_mm = origin_mm[0] + spacing_mm * np.arange(size)
    y_mm = origin_mm[1] + spacing_mm * np.arange(size)
    ramp = (0.5 * x_mm[None, :] - 0.25 * y_mm[:, None])[None]
    ct = make_image(ramp, (spacing_mm, spacing_mm, 1.0), (*origin_mm, 0.0))
    crop = _crop(-35.0, -25.0, 70.0)  # 350 px -> 224 px
    out = resample_square(ramp, ct, crop, 224, pad_value=0.0)
    centres_x = -35.0 + (np.arange(224) + 0.5) * 70.0 / 224
    centres_y = -25.0 + (np.arange(224) + 0.5) * 70.0 / 224
    np.testing.assert_allclose(out[0], 0.5 * centres_x[None, :] - 0.25 * centres_y[:, None], atol=1e-3)

    stripes = np.where(np.arange(size) % 2 == 0, 1.0, -1.0)[None, None, :] * np.ones((1, size, 1))
    crop = _crop(-40.1, -30.1, 80.0)  # 400 px -> 100 px: every output pixel spans 4 stripes
    shrunk = resample_square(stripes, ct, crop, 100, pad_value=0.0)
    assert np.abs(shrunk[0, 5:-5, 5:-5]).max() < 0.05  # plain bilinear sampling would alias to +-1


def test_blank_outside_zeroes_pixels_outside_the_hematoma():
    ct, mask = blob_case()
    section = largest_axial_cross_section(mask)
    plain = prepare_deep_slices(ct, mask, section, DeepSliceConfig())
    blanked = prepare_deep_slices(ct, mask, section, DeepSliceConfig(blank_outside=True))
    crop = plain.crop
    (ox, oy, oz), (sx, sy, sz) = mask.GetOrigin(), mask.GetSpacing()
    mask_array = sitk.GetArrayViewFromImage(mask)
    kx = np.floor((crop.x_min_mm + (np.arange(224) + 0.5) * crop.side_mm / 224 - ox) / sx + 0.5).astype(int)
    ky = np.floor((crop.y_min_mm + (np.arange(224) + 0.5) * crop.side_mm / 224 - oy) / sy + 0.5).astype(int)
    for i, z_mm in enumerate(plain.z_positions_mm):
        k = round((z_mm - oz) / sz)
        inside = mask_array[k][np.ix_(ky, kx)] > 0
        assert np.all(blanked.images[i][~inside] == 0.0)
        assert np.array_equal(blanked.images[i][inside], plain.images[i][inside])
        assert inside.any() and (~inside).any()


def test_prepare_leaves_inputs_unchanged_and_gives_unit_range_float32():
    ct, mask = blob_case()
    ct_before, mask_before = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(mask)
    prepared = prepare_deep_slices(
        ct, mask, largest_axial_cross_section(mask), DeepSliceConfig(blank_outside=True)
    )
    assert np.array_equal(sitk.GetArrayViewFromImage(ct), ct_before)
    assert np.array_equal(sitk.GetArrayViewFromImage(mask), mask_before)
    assert prepared.images.dtype == np.float32
    assert prepared.images.min() >= 0.0 and prepared.images.max() <= 1.0


def test_nan_in_the_ct_is_refused():
    ct, mask = blob_case()
    array = sitk.GetArrayFromImage(ct).astype(np.float32)
    array[6, 40, 40] = np.nan
    bad = make_image(array, ct.GetSpacing(), ct.GetOrigin())
    with pytest.raises(InputError, match="NaN"):
        prepare_deep_slices(bad, mask, largest_axial_cross_section(mask), DeepSliceConfig())


def test_ct_and_mask_on_different_grids_are_refused():
    ct, mask = blob_case()
    shifted = sitk.Image(mask)
    shifted.SetOrigin((0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="voxel grid"):
        prepare_deep_slices(ct, shifted, largest_axial_cross_section(mask), DeepSliceConfig())


def test_config_validation_and_provenance_dict():
    config = DeepSliceConfig(offsets_mm=[-1, 0, 1], margin_mm=3, aggregation="concat")
    assert config.as_dict() == {
        "offsets_mm": [-1.0, 0.0, 1.0],
        "margin_mm": 3,
        "window_level_hu": 40.0,
        "window_width_hu": 80.0,
        "size_px": 224,
        "blank_outside": False,
        "aggregation": "concat",
    }
    assert config.window_lower_hu == 0.0
    for bad in ({"aggregation": "max"}, {"window_width_hu": 0}, {"margin_mm": -1}, {"offsets_mm": ()}):
        with pytest.raises(InputError):
            DeepSliceConfig(**bad)


def test_settings_to_provenance_and_back():
    """The deep settings as provenance records them (after a JSON round trip) give the same settings."""
    config = DeepSliceConfig(
        offsets_mm=[-1, 0, 1],
        margin_mm=3,
        window_level_hu=50,
        size_px=64,
        blank_outside=True,
        aggregation="concat",
    )
    provenance = config.to_provenance()
    assert provenance == {
        "slice_offsets_mm": [-1.0, 0.0, 1.0],
        "window": {"level_hu": 50, "width_hu": 80.0},
        "crop_margin_mm": 3,
        "deep_aggregation": "concat",
        "deep_size_px": 64,
        "deep_blank_outside": True,
    }
    assert list(provenance) == [key for key in DEEP_IDENTITY_KEYS if key in provenance]
    assert DeepSliceConfig.from_provenance(json.loads(json.dumps(provenance))) == config
    assert DeepSliceConfig.from_provenance(DeepSliceConfig().to_provenance()) == DeepSliceConfig()
