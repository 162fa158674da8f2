"""Input validation: every bad input gives an InputError naming it, and nothing is modified."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.imaging.checks import validate_ct, validate_mask
from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom

SPACING = (0.5, 0.5, 2.0)
ORIGIN = (-12.0, 30.0, 40.0)
HEMATOMA_BOX = np.s_[3:6, 17:23, 18:24]  # (z, y, x): a clot of 65 HU in head_ct(), the mask of hematoma()


def head_ct(shape=(8, 40, 40)) -> np.ndarray:
    """A small CT-like array (z, y, x): air, a bone ring, brain with noise, a clot where hematoma() lies."""
    rng = np.random.default_rng(1)
    _, yy, xx = np.indices(shape)
    radius = np.hypot(yy - shape[1] / 2, xx - shape[2] / 2)
    ct = np.full(shape, -1000.0)
    ct[radius < 18] = 1200.0
    ct[radius < 15] = 30.0 + rng.normal(0.0, 4.0, shape)[radius < 15]
    ct[HEMATOMA_BOX] += 35.0
    return ct.round().astype(np.int16)


def image(array: np.ndarray, spacing=SPACING, origin=ORIGIN) -> sitk.Image:
    out = sitk.GetImageFromArray(array)
    out.SetSpacing(spacing)
    out.SetOrigin(origin)
    return out


def hematoma(shape=(8, 40, 40)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[HEMATOMA_BOX] = 1
    return mask


def snapshot(img: sitk.Image) -> tuple:
    return (sitk.GetArrayFromImage(img).copy(), img.GetSpacing(), img.GetOrigin(), img.GetDirection())


def assert_rejected(call, inputs, *patterns):
    """``call`` raises InputError whose message matches every pattern; ``inputs`` are unchanged."""
    before = [snapshot(i) for i in inputs]
    with pytest.raises(InputError) as error:
        call()
    for pattern in patterns:
        assert pattern in str(error.value), str(error.value)
    for img, old in zip(inputs, before, strict=True):
        new = snapshot(img)
        assert np.array_equal(new[0], old[0], equal_nan=new[0].dtype.kind == "f")
        assert new[1:] == old[1:]
    return str(error.value)


def test_valid_ct_and_mask_pass():
    ct = image(head_ct())
    validate_ct(ct, "head.nrrd")
    validate_mask(image(hematoma()), ct, "hematoma.seg.nrrd", "head.nrrd")


def test_phantom_ct_passes():
    phantom = generate_phantom(HematomaSpec(volume_ml=5.0), seed=1, tilt_deg=10.0)
    validate_ct(phantom.ct, "phantom")
    validate_mask(phantom.mask, phantom.ct, "phantom mask", "phantom")


def test_two_dimensional_and_single_slice_images_are_rejected():
    flat = sitk.GetImageFromArray(head_ct()[4])
    assert_rejected(lambda: validate_ct(flat, "slice.png"), [flat], "slice.png", "2-D")
    one_slice = image(head_ct()[3:4])
    assert_rejected(lambda: validate_ct(one_slice, "one.nrrd"), [one_slice], "one.nrrd", "single slice")


def test_non_finite_values_are_rejected():
    values = head_ct().astype(np.float32)
    values[4, 20, 20] = np.nan
    values[4, 21, 20] = np.inf
    ct = image(values)
    assert_rejected(lambda: validate_ct(ct, "nan.nrrd"), [ct], "nan.nrrd", "2 NaN or infinite")


def test_labelmap_given_as_ct_is_rejected():
    labels = image((hematoma() * 2).astype(np.int16))
    assert_rejected(
        lambda: validate_ct(labels, "Segmentation-label"), [labels], "Segmentation-label", "labelmap"
    )


def test_eight_bit_and_mr_like_images_are_rejected():
    ct = head_ct().astype(float)
    scaled = image(np.clip((ct + 160.0) * 255.0 / 320.0, 0, 255).astype(np.uint8))  # windowed 0-255 export
    assert_rejected(lambda: validate_ct(scaled, "screenshot.nrrd"), [scaled], "screenshot.nrrd", "8-bit")
    rng = np.random.default_rng(2)
    mr = image(rng.uniform(0.0, 1800.0, (8, 40, 40)).astype(np.float32))
    assert_rejected(lambda: validate_ct(mr, "t1.nii.gz"), [mr], "t1.nii.gz", "no negative values")
    raw = image((head_ct().astype(np.int32) + 1024).astype(np.uint16))  # stored values, no intercept
    assert_rejected(lambda: validate_ct(raw, "raw.nrrd"), [raw], "raw.nrrd", "rescale intercept")


def test_ct_without_air_or_bone_is_rejected():
    no_air = image(np.maximum(head_ct(), -300).astype(np.int16))
    assert_rejected(lambda: validate_ct(no_air, "cropped.nrrd"), [no_air], "cropped.nrrd", "no air")
    no_bone = image(np.minimum(head_ct(), 60).astype(np.int16))
    assert_rejected(lambda: validate_ct(no_bone, "soft.nrrd"), [no_bone], "soft.nrrd", "no bone")


def test_vector_and_non_image_inputs_are_rejected():
    rgb = sitk.Compose([image(head_ct())] * 3)
    assert_rejected(lambda: validate_ct(rgb, "colour.nrrd"), [rgb], "colour.nrrd", "3 components")
    with pytest.raises(InputError, match=r"ct\.npy"):
        validate_ct(head_ct(), "ct.npy")


def test_empty_mask_is_rejected():
    ct, empty = image(head_ct()), image(np.zeros((8, 40, 40), dtype=np.uint8))
    assert_rejected(lambda: validate_mask(empty, ct, "Segment_1", "CT 1"), [empty, ct], "Segment_1", "empty")


@pytest.mark.parametrize(
    ("change", "word"),
    [
        (lambda m: m.SetSpacing((0.5, 0.55, 2.0)), "spacing"),
        (lambda m: m.SetOrigin((ORIGIN[0] + 1.0, ORIGIN[1], ORIGIN[2])), "origin"),
        (
            lambda m: m.SetDirection((1, 0, 0, 0, np.cos(0.1), -np.sin(0.1), 0, np.sin(0.1), np.cos(0.1))),
            "direction",
        ),
    ],
)
def test_mask_on_another_grid_names_what_differs(change, word):
    ct, mask = image(head_ct()), image(hematoma())
    change(mask)
    message = assert_rejected(
        lambda: validate_mask(mask, ct, "seg.nrrd", "ct.nrrd"), [mask, ct], "seg.nrrd", word
    )
    assert "ct.nrrd" in message and "reference" in message


def test_mask_of_another_size_and_non_overlapping_mask():
    ct = image(head_ct())
    smaller = image(hematoma((8, 40, 30)))
    assert_rejected(
        lambda: validate_mask(smaller, ct, "crop.seg.nrrd", "ct"), [smaller, ct], "crop.seg.nrrd", "size"
    )
    far = image(hematoma(), origin=(500.0, 30.0, 40.0))
    assert_rejected(
        lambda: validate_mask(far, ct, "other.seg.nrrd", "ct"), [far, ct], "other.seg.nrrd", "overlap"
    )


def test_multi_label_and_air_masks_are_rejected():
    ct = image(head_ct())
    labels = hematoma()
    labels[3, 17, 18] = 2
    two = image(labels)
    assert_rejected(
        lambda: validate_mask(two, ct, "labels.nrrd", "ct"), [two, ct], "labels.nrrd", "2 different labels"
    )
    outside = np.zeros((8, 40, 40), dtype=np.uint8)
    outside[3:5, 0:4, 0:4] = 1  # a corner of the field of view: air
    air = image(outside)
    assert_rejected(
        lambda: validate_mask(air, ct, "flipped.nrrd", "ct"), [air, ct], "flipped.nrrd", "outside the head"
    )
