"""Radiomics extraction: equality with pyradiomics' own extractor, analytic shape and intensity checks."""

from __future__ import annotations

import hashlib
import logging
import math

import numpy as np
import pytest
import radiomics
import SimpleITK as sitk
from radiomics import featureextractor, imageoperations

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.common.hashing import sha256_file
from HematomaExpansionLib.features.radiomics import (
    RADIOMICS_GRID,
    available_feature_names,
    default_params_path,
    extract_radiomics,
    radiomics_identity,
)

# Names spanning shape, every texture class, the three LoG sigmas and several wavelet bands,
# deliberately not in pyradiomics' output order.
SELECTED = [
    "wavelet-LLH_firstorder_Mean",
    "original_shape_Sphericity",
    "log-sigma-2-0-mm-3D_glcm_Contrast",
    "original_firstorder_Kurtosis",
    "original_glcm_Imc2",
    "original_glrlm_RunEntropy",
    "original_glszm_ZoneEntropy",
    "original_gldm_DependenceEntropy",
    "original_ngtdm_Busyness",
    "original_shape_Maximum3DDiameter",
    "log-sigma-1-0-mm-3D_firstorder_Skewness",
    "log-sigma-3-0-mm-3D_glszm_SmallAreaEmphasis",
    "log-sigma-2-0-mm-3D_gldm_LargeDependenceEmphasis",
    "wavelet-HHH_glcm_Idmn",
    "wavelet-LLL_glrlm_LongRunEmphasis",
    "wavelet-HLH_ngtdm_Coarseness",
    "wavelet-LHL_glszm_GrayLevelVariance",
    "original_shape_SurfaceVolumeRatio",
    "original_firstorder_Median",
    "wavelet-HLL_gldm_SmallDependenceEmphasis",
]


def ellipsoid_case(
    size: tuple[int, int, int],
    spacing: tuple[float, float, float],
    semi_axes_mm: tuple[float, float, float],
    centre_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    inside_hu: float = 65.0,
    outside_hu: float = 35.0,
    noise_hu: float = 0.0,
    dtype: type = np.float32,
    seed: int = 0,
) -> tuple[sitk.Image, sitk.Image]:
    """CT with an ellipsoidal hematoma (voxel centre inside) and its uint8 mask, on an identity grid."""
    nx, ny, nz = size
    z, y, x = np.meshgrid(
        *(
            (np.arange(n) - (n - 1) / 2) * s - c
            for n, s, c in zip((nz, ny, nx), spacing[::-1], centre_offset_mm[::-1], strict=True)
        ),
        indexing="ij",
    )
    a, b, c = semi_axes_mm
    inside = (x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= 1.0
    ct = np.where(inside, inside_hu, outside_hu) + noise_hu * np.random.default_rng(seed).standard_normal(
        x.shape
    )
    ct_image = sitk.GetImageFromArray(ct.astype(dtype))
    ct_image.SetSpacing(spacing)
    ct_image.SetOrigin((-31.7, 12.25, -40.0))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(ct_image)
    return ct_image, mask


def pyradiomics_reference(ct: sitk.Image, mask: sitk.Image) -> dict[str, float]:
    """Features from pyradiomics' own extractor with the default parameter file, diagnostics dropped."""
    result = featureextractor.RadiomicsFeatureExtractor(str(default_params_path())).execute(ct, mask)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


def assert_close(actual: float, expected: float) -> None:
    assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9, nan_ok=True)


@pytest.fixture(scope="module")
def clinical_like():
    """int16 CT at 0.9 x 0.9 x 5 mm with noise and a 5.8 mL hematoma off-centre (near one border)."""
    return ellipsoid_case(
        (160, 144, 24), (0.9, 0.9, 5.0), (14.0, 11.0, 9.0), (-30.0, 20.0, 4.0), noise_hu=8.0, dtype=np.int16
    )


@pytest.fixture(scope="module")
def reference(clinical_like):
    return pyradiomics_reference(*clinical_like)


@pytest.fixture(scope="module")
def full(clinical_like):
    return extract_radiomics(*clinical_like)


def test_full_extraction_equals_pyradiomics(full, reference):
    assert list(full.features) == list(reference)
    assert list(reference) == available_feature_names()
    for name, expected in reference.items():
        assert_close(full.features[name], expected)
    assert all(isinstance(v, float) for v in full.features.values())
    assert not any(name.startswith("diagnostics") for name in full.features)


def test_selective_extraction_equals_full(clinical_like, reference):
    selected = extract_radiomics(*clinical_like, feature_names=SELECTED)
    assert list(selected.features) == SELECTED
    for name in SELECTED:
        assert_close(selected.features[name], reference[name])


@pytest.mark.parametrize(
    "names",
    [
        ["original_shape_Elongation"],  # shape alone: its coefficients come from the class init
        ["original_firstorder_InterquartileRange", "original_firstorder_TotalEnergy"],  # call other getters
        ["log-sigma-3-0-mm-3D_ngtdm_Strength"],  # one LoG sigma only
        ["wavelet-HHL_glcm_ClusterShade"],
    ],
)
def test_selective_single_features_equal_full(clinical_like, reference, names):
    selected = extract_radiomics(*clinical_like, feature_names=names)
    assert list(selected.features) == names
    for name in names:
        assert_close(selected.features[name], reference[name])


def test_selective_on_isotropic_float_ct_equals_pyradiomics():
    """1 mm voxels take pyradiomics' no-interpolation branch; float CT has no integer rounding."""
    ct, mask = ellipsoid_case(
        (80, 72, 60), (1.0, 1.0, 1.0), (10.0, 8.0, 7.0), (12.0, -5.0, 3.0), noise_hu=6.0
    )
    expected = pyradiomics_reference(ct, mask)
    selected = extract_radiomics(ct, mask, feature_names=SELECTED)
    for name in SELECTED:
        assert_close(selected.features[name], expected[name])


def test_provenance_identifies_extractor(full, clinical_like):
    ct, mask = clinical_like
    provenance = full.provenance
    path = default_params_path()
    assert path.name == provenance["radiomics_params_file"]
    assert provenance["radiomics_params_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_file(path) == provenance["radiomics_params_sha256"]
    assert radiomics_identity(sha256_file(path)) == {
        "pyradiomics_version": radiomics.__version__,
        "radiomics_params_sha256": provenance["radiomics_params_sha256"],
        "radiomics_grid": RADIOMICS_GRID,
    }
    assert list(provenance)[:5] == [
        "pyradiomics_version",
        "radiomics_params_file",
        "radiomics_params_sha256",
        "radiomics_grid",
        "radiomics_settings",
    ]
    assert provenance["pyradiomics_version"] == radiomics.__version__
    assert provenance["radiomics_settings"]["binWidth"] == 25
    assert provenance["radiomics_settings"]["resampledPixelSpacing"] == [1.0, 1.0, 1.0]
    diagnostics = provenance["radiomics_diagnostics"]
    assert diagnostics["Mask-original_VoxelNum"] == int(sitk.GetArrayViewFromImage(mask).sum())
    assert (
        diagnostics["Image-original_SHA256"]
        == hashlib.sha256(sitk.GetArrayFromImage(ct).tobytes()).hexdigest()
    )
    assert diagnostics["Image-interpolated_Spacing"] == [1.0, 1.0, 1.0]
    assert full.warnings == []


def test_default_parameter_file_settings():
    names = available_feature_names()
    image_types = {name.split("_")[0] for name in names}
    assert image_types == {
        "original",
        "log-sigma-1-0-mm-3D",
        "log-sigma-2-0-mm-3D",
        "log-sigma-3-0-mm-3D",
        *(f"wavelet-{a}{b}{c}" for a in "LH" for b in "LH" for c in "LH"),
    }
    assert {name.split("_")[0] for name in names if "_shape_" in name} == {"original"}
    assert default_params_path().read_text().startswith("# HematomaExpansion radiomics parameters, version 1")


CUSTOM_PARAMS = """
imageType:
  Original: {}
  Square: {}
  Gradient: {}
  LoG:
    sigma: [1.5]
featureClass:
  firstorder:
  glrlm: [RunEntropy, ShortRunEmphasis]
setting:
  binWidth: 10
  resampledPixelSpacing: [1.2, 1.2, 1.2]
  interpolator: sitkLinear
  padDistance: 4
  label: 1
"""


def test_custom_parameter_file_equals_pyradiomics(tmp_path, clinical_like):
    params = tmp_path / "custom.yaml"
    params.write_text(CUSTOM_PARAMS)
    ct, mask = clinical_like
    result = featureextractor.RadiomicsFeatureExtractor(str(params)).execute(ct, mask)
    expected = {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}
    assert available_feature_names(params) == list(expected)
    names = ["gradient_glrlm_RunEntropy", "log-sigma-1-5-mm-3D_firstorder_Mean", "square_firstorder_Range"]
    selected = extract_radiomics(ct, mask, params_path=params, feature_names=names)
    for name in names:
        assert_close(selected.features[name], expected[name])
    assert selected.provenance["radiomics_params_file"] == "custom.yaml"
    assert (
        selected.provenance["radiomics_params_sha256"] == hashlib.sha256(CUSTOM_PARAMS.encode()).hexdigest()
    )


def test_missing_or_invalid_parameter_file_is_refused(tmp_path, clinical_like):
    with pytest.raises(InputError, match="not found"):
        extract_radiomics(*clinical_like, params_path=tmp_path / "absent.yaml")
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("setting:\n  binWidth: -3\n")
    with pytest.raises(InputError, match=r"invalid\.yaml"):
        extract_radiomics(*clinical_like, params_path=invalid)


def test_shape_volume_of_ellipsoid_matches_analytic():
    semi_axes = (12.0, 9.0, 7.0)
    ct, mask = ellipsoid_case((48, 40, 20), (0.8, 0.8, 1.5), semi_axes)
    features = extract_radiomics(
        ct, mask, feature_names=["original_shape_MeshVolume", "original_shape_VoxelVolume"]
    ).features
    analytic_mm3 = 4.0 / 3.0 * math.pi * math.prod(semi_axes)
    assert features["original_shape_MeshVolume"] == pytest.approx(analytic_mm3, rel=0.03)
    assert features["original_shape_VoxelVolume"] == pytest.approx(analytic_mm3, rel=0.03)


def prolate_sphericity(a: float, b: float) -> float:
    """Sphericity pi^(1/3) (6 V)^(2/3) / A of a prolate spheroid with semi-axes a > b = b."""
    e = math.sqrt(1.0 - (b / a) ** 2)
    area = 2.0 * math.pi * b * b * (1.0 + a / (b * e) * math.asin(e))
    volume = 4.0 / 3.0 * math.pi * a * b * b
    return math.pi ** (1.0 / 3.0) * (6.0 * volume) ** (2.0 / 3.0) / area


def test_sphericity_of_sphere_and_elongated_ellipsoid():
    name = "original_shape_Sphericity"
    sphere = extract_radiomics(
        *ellipsoid_case((36, 36, 36), (1.0, 1.0, 1.0), (12.0, 12.0, 12.0)), feature_names=[name]
    )
    cigar = extract_radiomics(
        *ellipsoid_case((48, 20, 20), (1.0, 1.0, 1.0), (18.0, 6.0, 6.0)), feature_names=[name]
    )
    assert sphere.features[name] > 0.9
    assert cigar.features[name] < sphere.features[name] - 0.1
    # The voxel staircase inflates both surfaces alike, so the ratio follows the analytic shapes.
    assert cigar.features[name] / sphere.features[name] == pytest.approx(
        prolate_sphericity(18.0, 6.0), rel=0.05
    )


def test_firstorder_mean_of_constant_hematoma():
    """Inside a constant region wider than the B-spline's reach, resampling keeps the value exactly."""
    ct, mask = ellipsoid_case(
        (64, 64, 16), (0.9, 0.9, 5.0), (10.0, 8.0, 10.0), inside_hu=62.0, outside_hu=62.0
    )
    array = sitk.GetArrayFromImage(ct)
    array[:, :, :4] = -1000.0  # air far from the hematoma
    air_ct = sitk.GetImageFromArray(array)
    air_ct.CopyInformation(ct)
    names = ["original_firstorder_Mean", "original_firstorder_Variance"]
    features = extract_radiomics(air_ct, mask, feature_names=names).features
    assert features["original_firstorder_Mean"] == pytest.approx(62.0, abs=1e-3)
    assert features["original_firstorder_Variance"] == pytest.approx(0.0, abs=1e-3)


def test_firstorder_mean_of_linear_ramp_equals_numpy_over_resampled_mask():
    """Cubic B-splines reproduce a linear ramp, so the mean is the ramp's mean over resampled ROI voxels."""
    ct, mask = ellipsoid_case((72, 64, 14), (0.9, 0.9, 5.0), (11.0, 9.0, 12.0), (3.0, -2.0, 0.0))
    x_mm = np.arange(72) * 0.9 + ct.GetOrigin()[0]
    ramp = (40.0 + 0.5 * x_mm)[None, None, :] * np.ones((14, 64, 1))
    ramp_ct = sitk.GetImageFromArray(ramp.astype(np.float32))
    ramp_ct.CopyInformation(ct)

    settings = featureextractor.RadiomicsFeatureExtractor(str(default_params_path())).settings
    _, resampled_mask = imageoperations.resampleImage(ramp_ct, mask, **settings)
    _, _, i = np.nonzero(sitk.GetArrayViewFromImage(resampled_mask))
    x_centres = resampled_mask.GetOrigin()[0] + i * resampled_mask.GetSpacing()[0]  # identity direction
    expected = float(np.mean(40.0 + 0.5 * x_centres))

    features = extract_radiomics(ramp_ct, mask, feature_names=["original_firstorder_Mean"]).features
    assert features["original_firstorder_Mean"] == pytest.approx(expected, abs=1e-3)


def test_unknown_and_duplicate_feature_names_are_refused(clinical_like):
    with pytest.raises(InputError, match="original_shape_Roundness") as info:
        extract_radiomics(
            *clinical_like,
            feature_names=[
                "original_shape_Sphericity",
                "original_shape_Roundness",
                "log-sigma-5-0-mm-3D_glcm_Id",
            ],
        )
    assert "log-sigma-5-0-mm-3D_glcm_Id" in str(info.value)
    assert "'original_shape_Sphericity'" not in str(info.value)
    with pytest.raises(InputError, match="more than once"):
        extract_radiomics(*clinical_like, feature_names=["original_glcm_Id", "original_glcm_Id"])


def test_too_small_hematoma_is_refused_with_counts():
    ct, _ = ellipsoid_case((48, 48, 12), (0.9, 0.9, 5.0), (6.0, 6.0, 6.0))
    tiny = np.zeros((12, 48, 48), dtype=np.uint8)
    tiny[5:7, 20:23, 20:23] = 1  # 18 voxels, about 0.07 mL
    tiny_mask = sitk.GetImageFromArray(tiny)
    tiny_mask.CopyInformation(ct)
    with pytest.raises(InputError, match="too small") as info:
        extract_radiomics(ct, tiny_mask)
    assert "18 voxels" in str(info.value)
    assert "125" in str(info.value)


def test_single_slice_hematoma_is_refused_as_not_3d():
    ct, _ = ellipsoid_case((48, 48, 12), (0.9, 0.9, 5.0), (6.0, 6.0, 6.0))
    flat = np.zeros((12, 48, 48), dtype=np.uint8)
    flat[6, 10:40, 10:40] = 1  # 0.73 mL but one slice thick
    flat_mask = sitk.GetImageFromArray(flat)
    flat_mask.CopyInformation(ct)
    with pytest.raises(InputError, match=r"at least 3 dimensions") as info:
        extract_radiomics(ct, flat_mask, feature_names=["original_firstorder_Mean"])
    assert "900 voxels" in str(info.value)


def test_empty_mask_is_refused():
    ct, mask = ellipsoid_case((32, 32, 8), (0.9, 0.9, 5.0), (6.0, 6.0, 6.0))
    with pytest.raises(InputError, match="empty"):
        extract_radiomics(ct, mask * 0)


def test_inputs_are_not_modified(clinical_like):
    ct, mask = clinical_like
    before = [
        (sitk.GetArrayFromImage(im).copy(), im.GetOrigin(), im.GetSpacing(), im.GetPixelID())
        for im in (ct, mask)
    ]
    extract_radiomics(ct, mask, feature_names=["original_shape_VoxelVolume", "wavelet-LLL_firstorder_Mean"])
    for (array, origin, spacing, pixel_id), image in zip(before, (ct, mask), strict=True):
        np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array)
        assert (image.GetOrigin(), image.GetSpacing(), image.GetPixelID()) == (origin, spacing, pixel_id)


def test_any_nonzero_mask_value_is_hematoma(clinical_like, reference):
    ct, mask = clinical_like
    names = ["original_shape_VoxelVolume", "original_glcm_Contrast"]
    features = extract_radiomics(ct, sitk.Cast(mask * 7, sitk.sitkInt16), feature_names=names).features
    for name in names:
        assert_close(features[name], reference[name])


def test_pyradiomics_logs_only_warnings_while_extracting_and_its_level_is_restored(clinical_like):
    """Importing or calling the extraction leaves the application's logging as it was."""
    ct, mask = clinical_like
    radiomics_logger = logging.getLogger("radiomics")
    before = radiomics_logger.level
    seen: list[logging.LogRecord] = []
    recorder = logging.Handler(logging.DEBUG)
    recorder.emit = seen.append
    radiomics_logger.addHandler(recorder)
    radiomics_logger.setLevel(logging.DEBUG)
    try:
        extract_radiomics(ct, mask, feature_names=["original_firstorder_Mean"])
        while_extracting, level_after = (
            [r for r in seen if r.levelno < logging.WARNING],
            radiomics_logger.level,
        )
        seen.clear()
        imageoperations.resampleImage(ct, mask, resampledPixelSpacing=[1, 1, 1], interpolator=sitk.sitkLinear)
    finally:
        radiomics_logger.removeHandler(recorder)
        radiomics_logger.setLevel(before)
    assert while_extracting == [] and level_after == logging.DEBUG
    assert seen, "pyradiomics called directly logs its steps below WARNING"


def test_each_image_is_binned_once_and_the_features_are_bitwise_those_of_binning_in_every_class(
    clinical_like, monkeypatch
):
    from HematomaExpansionLib.features import radiomics_binning

    original, calls = radiomics_binning._PYRADIOMICS_BIN_IMAGE, []

    def counting(matrix, coordinates=None, **kwargs):
        calls.append(matrix.shape)
        return original(matrix, coordinates, **kwargs)

    monkeypatch.setattr(imageoperations, "binImage", imageoperations.binImage)  # restored after the test
    monkeypatch.setattr(radiomics_binning, "_PYRADIOMICS_BIN_IMAGE", counting)
    shared = extract_radiomics(*clinical_like)
    textures = {tuple(name.split("_")[:2]) for name in available_feature_names() if "_shape_" not in name}
    images = {image for image, _ in textures}
    assert len(calls) == len(images) == 12  # once per filtered image
    calls.clear()
    monkeypatch.setattr(radiomics_binning, "_bin_image", counting)  # pyradiomics' binning in every class
    every_class = extract_radiomics(*clinical_like)
    assert len(calls) == len(textures) == 72
    assert shared.features == every_class.features  # bitwise


def test_shared_binning_returns_independent_copies_and_passes_through_outside():
    from HematomaExpansionLib.features.radiomics_binning import (
        _PYRADIOMICS_BIN_IMAGE,
        _bin_image,
        binning_shared,
    )

    rng = np.random.default_rng(1)
    matrix = rng.normal(50.0, 10.0, (6, 7, 8))
    mask = matrix > 45.0
    expected, edges = _PYRADIOMICS_BIN_IMAGE(matrix, mask, binWidth=5)
    with binning_shared():
        first, first_edges = _bin_image(matrix, mask, binWidth=5)
        first[:] = -1  # a feature class changing its copy changes no other
        second, _ = _bin_image(matrix, mask, binWidth=5)
        wider, _ = _bin_image(matrix, mask, binWidth=10)  # other settings: binned anew
    assert np.array_equal(second, expected) and np.array_equal(first_edges, edges)
    assert np.array_equal(wider, _PYRADIOMICS_BIN_IMAGE(matrix, mask, binWidth=10)[0])
    assert not np.array_equal(wider, expected)
    assert np.array_equal(_bin_image(matrix, mask, binWidth=5)[0], expected)  # outside: pyradiomics' own
