"""Feature extraction end to end: orientation invariance, the Logic against pyradiomics, bad input, selection.

Every case is a phantom (``phantom.generate_phantom``), so that the anatomy is known in physical
space and the same case can be written axis-permuted, flipped or on a tilted grid.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import featureextractor

from HematomaExpansionLib import mrml
from HematomaExpansionLib.cohort.extraction import extraction_cache_key
from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.features.backbone import load_resnet50
from HematomaExpansionLib.features.families import (
    DEEP_IDENTITY_KEYS,
    FAMILIES,
    FEATURE_FAMILIES,
    RADIOMICS_IDENTITY_KEYS,
    extractor_identity,
    feature_family,
    identity_keys,
)
from HematomaExpansionLib.features.pipeline import ExtractionConfig, extract_features
from HematomaExpansionLib.features.radiomics import default_params_path
from HematomaExpansionLib.imaging import geometry
from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom, write_case

WEIGHTS = "random:0"
# Shape, every texture class, the three LoG sigmas and several wavelet bands, not in pyradiomics' order.
RADIOMICS_NAMES = [
    "wavelet-LLH_firstorder_Mean",
    "original_shape_Sphericity",
    "original_shape_VoxelVolume",
    "log-sigma-2-0-mm-3D_glcm_Contrast",
    "original_firstorder_Mean",
    "original_firstorder_90Percentile",
    "original_glcm_Imc2",
    "original_glrlm_RunEntropy",
    "original_glszm_ZoneEntropy",
    "original_gldm_DependenceEntropy",
    "original_ngtdm_Coarseness",
    "original_shape_Maximum3DDiameter",
    "original_shape_SurfaceArea",
    "original_shape_MajorAxisLength",
    "log-sigma-1-0-mm-3D_firstorder_Entropy",
    "log-sigma-3-0-mm-3D_glszm_ZonePercentage",
    "log-sigma-2-0-mm-3D_gldm_DependenceNonUniformity",
    "wavelet-HHH_glcm_Idmn",
    "wavelet-LLL_glrlm_GrayLevelNonUniformity",
    "wavelet-HLH_ngtdm_Busyness",
    "wavelet-LHL_glszm_GrayLevelVariance",
    "wavelet-LLL_firstorder_Median",
    "wavelet-HLL_gldm_SmallDependenceEmphasis",
    "wavelet-LLL_glcm_JointEntropy",
]
DEEP_NAMES = ["deep_resnet50_mean_2047", "deep_resnet50_mean_0000", "deep_resnet50_mean_1024"]
SHAPE_PREFIX = "original_shape_"

# A 10 mL lobulated hematoma with a smooth density texture (defined in physical space).
CLINICAL_SPEC = HematomaSpec(
    volume_ml=10.0, offset_mm=(-20.0, 5.0, 10.0), lobulation=0.15, heterogeneity_hu=8.0
)
# Seed 1 places it so that the 1-ulp geometry change of Slicer's reader changes pyradiomics' result.
CLINICAL_SEED = 1
# For the tilt: an oblate ellipsoid (no lobulation), whose largest cross-section is its centre
# and whose area profile is peaked enough for z0 to be well defined. The area profile of a
# lobulated hematoma can be flat near its maximum: CLINICAL_SPEC on the thin grid (seed 3) has
# 513.1 mm2 at z = 70.5 mm axially and 514.4 mm2 at 71.7 mm tilted, so z0 moves by 1.25 mm.
TILT_SPEC = HematomaSpec(
    volume_ml=10.0, offset_mm=(-20.0, 5.0, 10.0), semi_axis_ratios=(1.2, 1.5, 0.7), heterogeneity_hu=8.0
)
TILT_DEG = 15.0


@pytest.fixture(scope="module")
def backbone():
    return load_resnet50(WEIGHTS, "cpu")


def extract(phantom, backbone, names):
    config = ExtractionConfig.for_features(names)
    return extract_features(phantom.ct, phantom.mask, config, backbone)


def deep_vector(result) -> np.ndarray:
    return np.array([v for k, v in result.feature_set.features.items() if k.startswith("deep_")])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def crop_corner_and_side_mm(result) -> np.ndarray:
    return np.array([result.crop.x_min_mm, result.crop.y_min_mm, result.crop.side_mm])


# --------------------------------------------------------------------------- orientation


@pytest.fixture(scope="module")
def clinical_phantom():
    return generate_phantom(CLINICAL_SPEC, preset="clinical", seed=CLINICAL_SEED)


@pytest.fixture(scope="module")
def clinical_axial(backbone, clinical_phantom):
    return clinical_phantom, extract(clinical_phantom, backbone, RADIOMICS_NAMES + DEEP_NAMES)


@pytest.mark.parametrize(
    ("axes_order", "flip_axes"),
    [((2, 0, 1), (False, False, False)), ((1, 2, 0), (True, False, True))],
    ids=["permuted", "permuted-and-flipped"],
)
def test_permuted_or_flipped_axes_give_identical_features(backbone, clinical_axial, axes_order, flip_axes):
    """Reorienting is an exact voxel reordering, so every result equals the axial one exactly."""
    axial_phantom, axial = clinical_axial
    phantom = generate_phantom(
        CLINICAL_SPEC, preset="clinical", seed=CLINICAL_SEED, axes_order=axes_order, flip_axes=flip_axes
    )
    assert not np.allclose(phantom.ct.GetDirection(), axial_phantom.ct.GetDirection())
    result = extract(phantom, backbone, RADIOMICS_NAMES + DEEP_NAMES)

    assert (axial.orientation, result.orientation) == ("unchanged", "reoriented")
    assert result.cross_section == axial.cross_section
    assert result.z_positions_mm == axial.z_positions_mm
    assert result.crop == axial.crop
    np.testing.assert_array_equal(result.slice_images, axial.slice_images)
    assert result.feature_set.features == axial.feature_set.features
    assert cosine(deep_vector(result), deep_vector(axial)) >= 0.99
    assert result.feature_set.warnings == axial.feature_set.warnings


@pytest.fixture(scope="module")
def tilt_pair(backbone):
    """The same anatomy on an axial and on a 15-degree tilted 1 mm grid, with deep features.

    Phantom noise is off: it is drawn per voxel of the acquisition grid, so a tilted grid gets
    another noise realisation (a rescan, not the same image), and noise differences would hide
    what orientation handling does. The hematoma's density texture lives in physical space and
    is the same on both grids.
    """
    results = []
    for tilt_deg in (0.0, TILT_DEG):
        phantom = generate_phantom(TILT_SPEC, preset="thin", seed=3, noise_sd_hu=0.0, tilt_deg=tilt_deg)
        results.append((phantom, extract(phantom, backbone, DEEP_NAMES)))
    return results


def test_tilted_scan_gives_the_same_z0_crop_and_deep_features(tilt_pair):
    (axial_phantom, axial), (_, tilted) = tilt_pair
    assert (axial.orientation, tilted.orientation) == ("unchanged", "resampled")
    assert any("tilted" in w for w in tilted.feature_set.warnings)
    slice_mm = axial_phantom.ct.GetSpacing()[2]
    pixel_mm = axial_phantom.ct.GetSpacing()[0]

    # z0: the ellipsoid's largest cross-section is at its centre, within half a slice on both grids.
    centre_z_mm = axial_phantom.truth["centre_mm"][2]
    for result in (axial, tilted):
        assert abs(result.cross_section.z_mm - centre_z_mm) <= slice_mm / 2 + 1e-9
    assert abs(tilted.cross_section.z_mm - axial.cross_section.z_mm) <= slice_mm / 2 + 1e-9
    np.testing.assert_allclose(
        np.subtract(tilted.z_positions_mm, axial.z_positions_mm),
        tilted.cross_section.z_mm - axial.cross_section.z_mm,
        atol=1e-9,
    )
    # The same square crop in mm, within one pixel.
    np.testing.assert_allclose(crop_corner_and_side_mm(tilted), crop_corner_and_side_mm(axial), atol=pixel_mm)

    # What the network saw: the same five images up to interpolation. A 3 mm shift in z or a
    # different hematoma shape gives correlations of about 0.85, a correct tilt about 0.99.
    correlation = np.corrcoef(axial.slice_images.ravel(), tilted.slice_images.ravel())[0, 1]
    assert correlation >= 0.98
    # The criterion. With random:<seed> weights the pooled features are dominated by a
    # common component (different hematomas also reach 0.9998), so the images above carry the test.
    assert cosine(deep_vector(tilted), deep_vector(axial)) >= 0.99


@pytest.fixture(scope="module")
def tilt_radiomics(backbone, tilt_pair):
    """RADIOMICS_NAMES of the axial and of the tilted scan."""
    return [extract(phantom, backbone, RADIOMICS_NAMES).feature_set.features for phantom, _ in tilt_pair]


def radiomics_tolerance(name: str) -> float:
    """The issue's relative tolerance: 0.5% for shape features, 1% for the others."""
    return 0.005 if name.startswith(SHAPE_PREFIX) else 0.01


def test_tilted_scan_shape_and_intensity_radiomics_match_the_axial_scan(tilt_radiomics):
    """Features defined in physical space without a direction: shape (0.5%) and original first order (1%)."""
    axial, tilted = tilt_radiomics
    checked = [n for n in RADIOMICS_NAMES if n.startswith((SHAPE_PREFIX, "original_firstorder_"))]
    assert len(checked) == 7
    for name in checked:
        assert tilted[name] == pytest.approx(axial[name], rel=radiomics_tolerance(name)), name


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "not met for 7 of 24 features: wavelet sub-bands are taken along the voxel axes, which a "
        "tilted scan turns by 15 degrees (wavelet-HLH_ngtdm_Busyness +102%, wavelet-LHL_glszm_"
        "GrayLevelVariance -42%), and zone and neighbourhood features depend on where the 1 mm grid "
        "falls (log-sigma-3-0-mm-3D_glszm_ZonePercentage +27%, original_glszm_ZoneEntropy +2.6%)"
    ),
)
def test_tilted_scan_radiomics_within_one_percent(tilt_radiomics):
    axial, tilted = tilt_radiomics
    for name in RADIOMICS_NAMES:
        assert tilted[name] == pytest.approx(axial[name], rel=radiomics_tolerance(name)), name


def test_tilted_scan_with_permuted_axes_gives_the_same_radiomics_grid(tilt_pair):
    """Radiomics use the acquired voxels in LPS axis order: an exact reordering, never interpolated."""
    (_, _), (tilted, _) = tilt_pair
    shuffled = generate_phantom(
        TILT_SPEC,
        preset="thin",
        seed=3,
        noise_sd_hu=0.0,
        tilt_deg=TILT_DEG,
        axes_order=(2, 0, 1),
        flip_axes=(True, False, True),
    )
    for image in (shuffled.ct, tilted.ct):
        assert not geometry.is_axis_aligned(image)
    expected = (tilted.ct, tilted.mask)
    for image, reference in zip(
        geometry.acquisition_grid_lps(shuffled.ct, shuffled.mask), expected, strict=True
    ):
        np.testing.assert_array_equal(
            sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(reference)
        )
        np.testing.assert_allclose(image.GetDirection(), reference.GetDirection(), atol=1e-12)
        np.testing.assert_allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-9)
        assert image.GetSpacing() == reference.GetSpacing()


# --------------------------------------------------------------------------- Logic and pyradiomics


@pytest.fixture(scope="module")
def clinical_files(tmp_path_factory, clinical_phantom):
    return write_case(clinical_phantom, tmp_path_factory.mktemp("extraction"), "case")


@pytest.fixture(scope="module")
def pyradiomics_on_files(clinical_files):
    """pyradiomics' own extractor on the CT file and the mask that SimpleITK reads from the .seg.nrrd."""
    extractor = featureextractor.RadiomicsFeatureExtractor(str(default_params_path()))
    result = extractor.execute(str(clinical_files["ct"]), sitk.ReadImage(str(clinical_files["hematoma"])))
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


@pytest.fixture(scope="module")
def file_images(clinical_files):
    return sitk.ReadImage(str(clinical_files["ct"])), sitk.ReadImage(str(clinical_files["hematoma"]))


@pytest.fixture(scope="module")
def full_on_files(backbone, file_images):
    return extract_features(*file_images, ExtractionConfig(backbone_weights=WEIGHTS), backbone).feature_set


def assert_radiomics_equal(features: dict[str, float], expected: dict[str, float]) -> None:
    radiomics = {k: v for k, v in features.items() if not k.startswith("deep_")}
    assert list(radiomics) == list(expected)
    assert len(radiomics) == 1118
    for name, value in expected.items():
        assert radiomics[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_core_radiomics_on_the_files_equal_pyradiomics(full_on_files, pyradiomics_on_files):
    assert_radiomics_equal(full_on_files.features, pyradiomics_on_files)


def test_logic_images_hold_the_files_voxels(runtime, clinical_files, file_images):
    """The Logic sees the files' voxels; the geometry equals the files' to the adapter's 1e-10 mm."""
    volume = mrml.load_volume(runtime, clinical_files["ct"])
    segmentation = mrml.load_segmentation(runtime, clinical_files["hematoma"])
    inputs = HematomaExpansionLogicBase(runtime).hematoma_inputs(volume, segmentation)
    for image, from_file in zip((inputs.ct, inputs.mask), file_images, strict=True):
        np.testing.assert_array_equal(
            sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(from_file)
        )
        for a, b in (
            (image.GetOrigin(), from_file.GetOrigin()),
            (image.GetSpacing(), from_file.GetSpacing()),
        ):
            np.testing.assert_allclose(a, b, rtol=0, atol=10.0**-mrml.GEOMETRY_DECIMALS_MM)
        assert image.GetDirection() == from_file.GetDirection()


def test_logic_radiomics_equal_pyradiomics_on_the_same_files(runtime, clinical_files, pyradiomics_on_files):
    volume = mrml.load_volume(runtime, clinical_files["ct"])
    segmentation = mrml.load_segmentation(runtime, clinical_files["hematoma"])
    result = HematomaExpansionLogicBase(runtime).extract_features(
        volume, segmentation, config=ExtractionConfig(families=("radiomics",))
    )
    assert_radiomics_equal(result.feature_set.features, pyradiomics_on_files)


def test_radiomics_of_a_tilted_scan_equal_pyradiomics_on_the_same_files(backbone, tilt_pair, tmp_path):
    """A tilted scan is interpolated once, by pyradiomics' own resampling, as when it reads the files.

    Through the Logic the values differ slightly (wavelet-LLH_firstorder_Mean by 0.16%): Slicer's
    reader gives the tilted direction cosines 1 ulp away from ITK's, and a 1 ulp change of an
    oblique direction moves pyradiomics' 1 mm grid enough to change 12 of 10 000 mask voxels.
    """
    (_, _), (tilted, _) = tilt_pair
    files = write_case(tilted, tmp_path, "tilted")
    extractor = featureextractor.RadiomicsFeatureExtractor(str(default_params_path()))
    extractor.disableAllImageTypes()
    extractor.enableImageTypes(Original={}, LoG={"sigma": [3.0]}, Wavelet={})
    expected = extractor.execute(str(files["ct"]), sitk.ReadImage(str(files["hematoma"])))
    names = [n for n in RADIOMICS_NAMES if not n.startswith("log-sigma-") or n.startswith("log-sigma-3-")]
    ct, mask = sitk.ReadImage(str(files["ct"])), sitk.ReadImage(str(files["hematoma"]))
    result = extract(SimpleNamespace(ct=ct, mask=mask), backbone, names)
    assert result.orientation == "resampled"
    assert result.feature_set.provenance["radiomics_grid"] == "acquisition-lps"
    for name in names:
        assert result.feature_set.features[name] == pytest.approx(
            float(expected[name]), rel=1e-9, abs=1e-9
        ), name


# --------------------------------------------------------------------------- bad input


def _mask_like(ct: sitk.Image, array: np.ndarray) -> sitk.Image:
    mask = sitk.GetImageFromArray(array.astype(np.uint8))
    mask.CopyInformation(ct)
    return mask


def test_hematoma_below_the_pyradiomics_minimum_roi_is_refused(backbone, clinical_phantom):
    """5 x 5 pixels on 2 slices is about 51 mm3: fewer than the 125 voxels at 1 mm pyradiomics needs."""
    mask_array = sitk.GetArrayFromImage(clinical_phantom.mask)
    k, j, i = (int(np.median(a)) for a in np.nonzero(mask_array))
    tiny = np.zeros_like(mask_array)
    tiny[k : k + 2, j : j + 5, i : i + 5] = 1
    mask = _mask_like(clinical_phantom.ct, tiny)
    config = ExtractionConfig.for_features(RADIOMICS_NAMES)
    with pytest.raises(InputError, match="too small") as info:
        extract_features(clinical_phantom.ct, mask, config, backbone)
    assert "50 voxels" in str(info.value)
    assert "125" in str(info.value)


def test_hematoma_touching_the_image_border_gives_a_clipped_crop_with_a_warning(backbone, clinical_phantom):
    """The CT is cut through the hematoma's centre in x, so the hematoma touches the image border."""
    mask_array = sitk.GetArrayViewFromImage(clinical_phantom.mask)
    cut = int(np.median(np.nonzero(mask_array)[2]))
    size = list(clinical_phantom.ct.GetSize())
    ct = sitk.RegionOfInterest(clinical_phantom.ct, [size[0] - cut, *size[1:]], [cut, 0, 0])
    mask = sitk.RegionOfInterest(clinical_phantom.mask, [size[0] - cut, *size[1:]], [cut, 0, 0])
    assert sitk.GetArrayViewFromImage(mask)[:, :, 0].any()

    result = extract_features(ct, mask, ExtractionConfig.for_features(DEEP_NAMES), backbone)

    assert result.slice_images.shape == (5, 224, 224)
    crop = result.crop
    assert crop.clipped
    image_left_mm = ct.GetOrigin()[0] - ct.GetSpacing()[0] / 2
    assert crop.inside_image_mm[0] == pytest.approx(image_left_mm)
    assert crop.x_min_mm < image_left_mm
    assert any("border" in w for w in result.feature_set.warnings)
    # Columns whose pixels lie wholly left of the first voxel's interpolation support (its centre
    # minus one spacing) are padding: the window's lower bound, 0 after windowing.
    support_left_mm = ct.GetOrigin()[0] - ct.GetSpacing()[0]
    outside_px = int(np.floor((support_left_mm - crop.x_min_mm) / crop.side_mm * 224))
    assert outside_px > 0
    assert not result.slice_images[:, :, :outside_px].any()
    assert result.slice_images[:, :, outside_px + 1 :].any()
    assert list(result.feature_set.features) == DEEP_NAMES


def test_ct_with_nan_is_refused(backbone, clinical_phantom):
    ct = sitk.Cast(clinical_phantom.ct, sitk.sitkFloat32)
    ct[100, 200, 10] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        extract_features(ct, clinical_phantom.mask, ExtractionConfig.for_features(DEEP_NAMES), backbone)


# --------------------------------------------------------------------------- selective extraction


def test_selective_extraction_returns_the_requested_names_and_the_full_values(
    backbone, file_images, full_on_files
):
    names = [*RADIOMICS_NAMES[:12], DEEP_NAMES[0], *RADIOMICS_NAMES[12:], *DEEP_NAMES[1:]]
    config = ExtractionConfig.for_features(names)
    assert config.families == ("radiomics", "deep")
    assert ExtractionConfig.for_features(DEEP_NAMES).families == ("deep",)
    assert ExtractionConfig.for_features(RADIOMICS_NAMES).families == ("radiomics",)

    selected = extract_features(*file_images, config, backbone).feature_set

    assert list(selected.features) == names
    assert len(full_on_files.features) == 1118 + 2048
    for name in names:
        assert selected.features[name] == pytest.approx(full_on_files.features[name], rel=1e-9, abs=1e-9), (
            name
        )
    assert selected.provenance["extractor_identity"] == full_on_files.provenance["extractor_identity"]


def test_feature_families_are_one_registry():
    assert FAMILIES == ("radiomics", "deep") and tuple(FEATURE_FAMILIES) == (*FAMILIES, "clinical")
    assert all(feature_family(name) == "deep" for name in DEEP_NAMES)
    assert all(feature_family(name) == "radiomics" for name in RADIOMICS_NAMES)
    assert identity_keys(("deep", "radiomics")) == RADIOMICS_IDENTITY_KEYS + DEEP_IDENTITY_KEYS
    assert identity_keys(("radiomics",)) == RADIOMICS_IDENTITY_KEYS and identity_keys(()) == ()
    assert extractor_identity({"backbone_id": "random:0", "other": 1}, ("deep",)) == {
        **dict.fromkeys(DEEP_IDENTITY_KEYS),
        "backbone_id": "random:0",
    }
    config = ExtractionConfig(
        families=("deep", "radiomics"), feature_names=(DEEP_NAMES[0], RADIOMICS_NAMES[0])
    )
    assert [family.name for family in config.selected_families()] == ["radiomics", "deep"]
    assert config.names_for(FEATURE_FAMILIES["deep"]) == [DEEP_NAMES[0]]
    assert ExtractionConfig().names_for(FEATURE_FAMILIES["radiomics"]) is None
    with pytest.raises(InputError, match="feature families must be among"):
        ExtractionConfig(families=("genomic",))


def test_deep_precision_keys_the_cache_but_not_the_extractor_identity():
    """Cached float32 deep features are recomputed; models trained on float32 ones accept float64 ones."""
    key = extraction_cache_key(ExtractionConfig(families=("deep",), backbone_weights=WEIGHTS, device="cpu"))
    assert key["deep_precision"] == "float64" and key["backbone_id"] == WEIGHTS
    assert "deep_precision" not in DEEP_IDENTITY_KEYS
    assert "deep_precision" not in extractor_identity({**key, "deep_precision": "float32"}, FAMILIES)


def test_importing_the_features_package_loads_no_extractor():
    """The Slicer module imports parts of the Lib before torch and pyradiomics are installed."""
    script = """
import sys
heavy = {"numpy", "SimpleITK", "torch", "radiomics"}
import HematomaExpansionLib.features as features
print(sorted(heavy & set(sys.modules)))
config = features.ExtractionConfig()
assert config.backbone_weights == features.DEFAULT_WEIGHTS == "imagenet1k_v1"
print(sorted(heavy & set(sys.modules)))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(geometry.__file__).parents[2])}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["[]", "['SimpleITK', 'numpy']"]
