"""Deep features end to end on small synthetic cases, with a seeded random ResNet50."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from PIL import Image

from deep_fixtures import blob_case
from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.features.backbone import FEATURE_DIM, load_resnet50
from HematomaExpansionLib.features.deep import extract_deep_features, save_slice_pngs
from HematomaExpansionLib.features.deep_slices import DeepSliceConfig

PROVENANCE_KEYS = {
    "backbone_id",
    "backbone_fingerprint",
    "backbone_weights_sha256",
    "slice_offsets_mm",
    "window",
    "crop_margin_mm",
    "deep_aggregation",
    "deep_size_px",
    "deep_blank_outside",
    "device",
    "deep_precision",
    "torch_version",
    "torchvision_version",
}


@pytest.fixture(scope="module")
def backbone():
    return load_resnet50("random:0", device="cpu")


@pytest.fixture(scope="module")
def case():
    return blob_case(centre_slice=6)  # 1 mm slices, origin z -40 mm: z0 = -34 mm


@pytest.fixture(scope="module")
def mean_result(backbone, case):
    ct, mask = case
    ct_before, mask_before = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(mask)
    result = extract_deep_features(ct, mask, backbone)
    assert np.array_equal(sitk.GetArrayViewFromImage(ct), ct_before)
    assert np.array_equal(sitk.GetArrayViewFromImage(mask), mask_before)
    return result


def test_mean_features_are_named_in_order(mean_result):
    names = list(mean_result.feature_set.features)
    assert names == [f"deep_resnet50_mean_{i:04d}" for i in range(FEATURE_DIM)]
    assert all(np.isfinite(v) for v in mean_result.feature_set.features.values())


def test_slice_images_are_what_the_network_saw(mean_result):
    images = mean_result.slice_images
    assert images.shape == (5, 224, 224) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert mean_result.z_positions_mm == pytest.approx((-36.0, -35.0, -34.0, -33.0, -32.0))
    assert all(not np.array_equal(images[i], images[i + 1]) for i in range(4))
    assert mean_result.crop.side_mm == pytest.approx(max(24.5, 16.5) + 10.0)  # bbox 49 x 33 voxels of 0.5 mm
    assert mean_result.warnings == []


def test_provenance_identifies_the_extractor(mean_result, backbone):
    provenance = mean_result.feature_set.provenance
    assert set(provenance) == PROVENANCE_KEYS
    assert provenance["backbone_id"] == "random:0"
    assert provenance["backbone_fingerprint"] == backbone.fingerprint
    assert provenance["backbone_weights_sha256"] is None
    assert provenance["slice_offsets_mm"] == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert provenance["window"] == {"level_hu": 40.0, "width_hu": 80.0}
    assert provenance["crop_margin_mm"] == 5.0 and provenance["deep_aggregation"] == "mean"
    assert provenance["device"] == "cpu" and provenance["deep_precision"] == "float64"


def test_same_input_gives_bitwise_identical_features(mean_result, backbone, case):
    again = extract_deep_features(*case, backbone)
    assert again.feature_set.features == mean_result.feature_set.features
    assert np.array_equal(again.slice_images, mean_result.slice_images)


def test_features_do_not_depend_on_the_torch_thread_count(backbone, case):
    """Issue 16: in float32 the features of 1 and 2 torch threads differed (about 1e-7 relative)."""
    threads = torch.get_num_threads()
    features = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            features.append(extract_deep_features(*case, backbone).feature_set.features)
    finally:
        torch.set_num_threads(threads)
    assert features[0] == features[1]


def test_concat_keeps_every_slice_and_mean_averages_them_on_thick_slices(backbone):
    ct, mask = blob_case(n_slices=5, spacing_xyz=(0.5, 0.5, 5.0), centre_slice=2)
    concat = extract_deep_features(ct, mask, backbone, DeepSliceConfig(size_px=64, aggregation="concat"))
    names = list(concat.feature_set.features)
    assert names == [f"deep_resnet50_concat_{i:04d}" for i in range(5 * FEATURE_DIM)]
    assert names[-1] == "deep_resnet50_concat_10239"
    per_slice = np.array(list(concat.feature_set.features.values())).reshape(5, FEATURE_DIM)
    np.testing.assert_array_equal(per_slice, backbone.embed(concat.slice_images))
    assert any("interpolated" in w and "5.0 mm" in w for w in concat.warnings)
    assert concat.feature_set.provenance["deep_aggregation"] == "concat"

    mean = extract_deep_features(ct, mask, backbone, DeepSliceConfig(size_px=64))
    np.testing.assert_array_equal(np.array(list(mean.feature_set.features.values())), per_slice.mean(axis=0))


def test_empty_mask_is_refused(backbone, case):
    ct, mask = case
    empty = sitk.Image(mask.GetSize(), mask.GetPixelID())
    empty.CopyInformation(mask)
    with pytest.raises(InputError, match="empty"):
        extract_deep_features(ct, empty, backbone)


def test_slice_pngs_name_the_offset_and_hold_the_images(mean_result, tmp_path):
    paths = save_slice_pngs(mean_result.slice_images, tmp_path / "pngs", prefix="case7_")
    assert [p.name for p in paths] == [
        "case7_slice_z-2mm.png",
        "case7_slice_z-1mm.png",
        "case7_slice_z+0mm.png",
        "case7_slice_z+1mm.png",
        "case7_slice_z+2mm.png",
    ]
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == sorted(p.name for p in paths)
    for path, image in zip(paths, mean_result.slice_images, strict=True):
        with Image.open(path) as png:
            assert png.mode == "L"
            stored = np.asarray(png)
        assert np.array_equal(stored, np.rint(image * 255.0).astype(np.uint8))
    with pytest.raises(InputError, match="per offset"):
        save_slice_pngs(mean_result.slice_images[:3], tmp_path)
