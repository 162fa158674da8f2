"""Radiomics of the hematoma ROI with pyradiomics, in full or only for the features a model uses.

Feature names are pyradiomics keys unchanged (``original_shape_Sphericity``,
``log-sigma-2-0-mm-3D_glcm_Contrast``, ``wavelet-LLH_firstorder_Mean``). The extraction runs
pyradiomics' own steps (mask check, resampling, filters, cropping, feature classes) and equals
``RadiomicsFeatureExtractor(params).execute(ct, mask)`` on the same images; selective extraction
runs only the filters, classes and features that the requested names need.

Speed: pyradiomics resamples only the ROI's bounding box plus ``padDistance``, but ITK's
B-spline interpolator prefilters the whole CT first, and pyradiomics' diagnostics (hash, mask
statistics, connected components) and mask check also read whole images. The diagnostics are
replaced by a compact provenance and the mask check by :func:`_binary_roi`. The CT is not
cropped before resampling: a crop moves the image origin, which changes the rounding of the
continuous indices of ITK's interpolation by about 1e-15, and on integer CTs that flips the
truncation of single voxels (seen with sitkLinear: 2 voxels differ by 1 HU, features by up to
1e-4 relative), so a cropped run is not guaranteed to equal pyradiomics to 1e-9. Profile of the
bench case (cProfile, issue 11): the resampling is 45% of a 20-feature extraction, the feature
classes 60% of a full one (pyradiomics bins the image again in each class), the ROI crops <= 3%.
"""

from __future__ import annotations

import logging
import math
import platform
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pywt
import radiomics
import SimpleITK as sitk
from radiomics import featureextractor, getFeatureClasses, imageoperations

from ..common.errors import InputError
from ..common.hashing import sha256_bytes, sha256_file
from ..common.jsonsafe import json_safe
from ..imaging.geometry import acquisition_grid_lps
from .featureset import FeatureSet
from .radiomics_binning import binning_shared

logger = logging.getLogger(__name__)

RADIOMICS_DIR = Path(__file__).resolve().parents[2] / "Resources" / "Radiomics"
DEFAULT_PARAMS_NAME = "hematoma_expansion_v1.yaml"
# The grid radiomics are computed on (geometry.acquisition_grid_lps), part of the extractor
# identity: "canonical-axial" features (HematomaExpansion 0.1) differ on tilted scans.
RADIOMICS_GRID = "acquisition-lps"

# Image types whose filter yields exactly one image, with the name pyradiomics gives it.
_SINGLE_IMAGE_TYPES = {
    "Original": "original",
    "Square": "square",
    "SquareRoot": "squareroot",
    "Logarithm": "logarithm",
    "Exponential": "exponential",
    "Gradient": "gradient",
}


def default_params_path() -> Path:
    """Path of the parameter file that the bundled models were trained with."""
    return RADIOMICS_DIR / DEFAULT_PARAMS_NAME


def radiomics_identity(params_sha256: str) -> dict[str, str]:
    """The radiomics extractor identity: pyradiomics version, parameter-file SHA-256 and grid.

    pyradiomics run on image files uses their acquired grid, as this extraction does (up to the
    order of the axes), so a table of its features has this identity too.
    """
    return {
        "pyradiomics_version": radiomics.__version__,
        "radiomics_params_sha256": params_sha256,
        "radiomics_grid": RADIOMICS_GRID,
    }


@contextmanager
def _pyradiomics_warnings_only() -> Iterator[None]:
    """While pyradiomics runs here, pass on only its warnings and errors (it logs each step at INFO).

    The level of its "radiomics" logger is restored afterwards: importing or calling this module
    leaves the logging of the application as it was.
    """
    radiomics_logger = logging.getLogger("radiomics")
    level = radiomics_logger.level
    radiomics_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        radiomics_logger.setLevel(level)


def params_candidates(folders: Iterable[Path | str]) -> list[Path]:
    """The ``*.yaml`` files of ``folders``, in folder order and by name: where a parameter file is looked for."""
    return [candidate for folder in folders for candidate in sorted(Path(folder).glob("*.yaml"))]


def find_params_file(sha256: str, candidates: Iterable[Path]) -> Path | None:
    """The first existing candidate whose SHA-256 is ``sha256`` (a model's or table's parameter file), or None."""
    for candidate in candidates:
        if candidate.is_file() and sha256_file(candidate) == sha256:
            return candidate
    return None


@dataclass(frozen=True)
class _FeatureRef:
    """Where a feature comes from: pyradiomics image type, filtered image name, class, feature."""

    image_type: str
    image_name: str
    feature_class: str
    feature: str

    @property
    def name(self) -> str:
        return f"{self.image_name}_{self.feature_class}_{self.feature}"


@dataclass(frozen=True)
class RadiomicsParams:
    """A validated pyradiomics parameter file and the features a full extraction with it yields."""

    path: Path
    sha256: str
    settings: dict[str, Any]
    image_types: dict[str, dict[str, Any]]
    features: dict[str, _FeatureRef]

    def provenance(self) -> dict[str, Any]:
        """The extractor identity (:func:`radiomics_identity`) and settings recorded with every feature set."""
        identity = radiomics_identity(self.sha256)
        return {
            "pyradiomics_version": identity.pop("pyradiomics_version"),
            "radiomics_params_file": self.path.name,
            **identity,
            "radiomics_settings": json_safe(self.settings),
        }


def load_params(params_path: str | Path | None = None) -> RadiomicsParams:
    """Read and validate a pyradiomics parameter file (default: :func:`default_params_path`)."""
    path = Path(params_path) if params_path is not None else default_params_path()
    if not path.is_file():
        raise InputError(f"radiomics parameter file not found: {path}")
    return _load_params_cached(path.resolve(), sha256_file(path))


def available_feature_names(params_path: str | Path | None = None) -> list[str]:
    """All feature names a full extraction with the parameter file gives, in pyradiomics' order."""
    return list(load_params(params_path).features)


@lru_cache(maxsize=8)
@_pyradiomics_warnings_only()
def _load_params_cached(path: Path, sha256: str) -> RadiomicsParams:
    try:
        extractor = featureextractor.RadiomicsFeatureExtractor(str(path))
    except Exception as error:  # pykwalify raises its own SchemaError / CoreError types
        raise InputError(
            f"radiomics parameter file {path.name} is not valid for pyradiomics: {error}"
        ) from error
    settings = dict(extractor.settings)
    image_types = {name: dict(args or {}) for name, args in extractor.enabledImagetypes.items()}
    feature_classes = {
        name: _class_features(name, listed) for name, listed in extractor.enabledFeatures.items()
    }
    if settings.get("force2D") and "shape2D" in feature_classes:
        raise InputError(f"radiomics parameter file {path.name}: shape2D features are not supported")
    if settings.get("voxelBased") or settings.get("resegmentRange") is not None:
        raise InputError(
            f"radiomics parameter file {path.name}: voxel-based extraction and resegmentRange "
            "are not supported"
        )
    features: dict[str, _FeatureRef] = {}
    for feature in feature_classes.get("shape", []):
        ref = _FeatureRef("Original", "original", "shape", feature)
        features[ref.name] = ref
    texture_classes = {k: v for k, v in feature_classes.items() if not k.startswith("shape")}
    for image_type, custom in image_types.items():
        for image_name in _image_names(image_type, {**settings, **custom}, path.name):
            for feature_class, names in texture_classes.items():
                for feature in names:
                    ref = _FeatureRef(image_type, image_name, feature_class, feature)
                    features[ref.name] = ref
    return RadiomicsParams(path, sha256, settings, image_types, features)


def _class_features(feature_class: str, listed: Sequence[str] | None) -> list[str]:
    """Features of a class as pyradiomics enables them: all non-deprecated ones when none are listed."""
    known = getFeatureClasses()[feature_class].getFeatureNames()  # name -> deprecated
    if not listed:
        return [name for name, deprecated in known.items() if not deprecated]
    return [name for name in listed if name in known and not known[name]]


def _log_image_name(sigma: float) -> str:
    return "log-sigma-{}-mm-3D".format(str(sigma).replace(".", "-"))


def _image_names(image_type: str, args: dict[str, Any], params_name: str) -> list[str]:
    """Names of the images that pyradiomics' filter for ``image_type`` yields, in its order."""
    if image_type in _SINGLE_IMAGE_TYPES:
        return [_SINGLE_IMAGE_TYPES[image_type]]
    if image_type == "LoG":
        return [_log_image_name(sigma) for sigma in args.get("sigma", []) if sigma > 0]
    if image_type == "Wavelet":
        n_axes = 2 if args.get("force2D", False) else 3
        levels = int(args.get("level", 1))
        names = []
        for level in range(1, levels + 1):
            prefix = "wavelet" if level == 1 else f"wavelet{level}"
            for bands in product("LH", repeat=n_axes):
                if "H" in bands:
                    names.append(f"{prefix}-{''.join(bands)}")
        last = "wavelet" if levels == 1 else f"wavelet{levels}"
        return [*names, f"{last}-{'L' * n_axes}"]
    raise InputError(f"radiomics parameter file {params_name}: image type {image_type} is not supported")


@dataclass
class _Plan:
    """What to compute: shape features, and per filtered image the features of each class."""

    shape: list[str]
    images: dict[str, dict[str, list[str]]]  # image name -> class -> features
    image_types: dict[str, dict[str, Any]]  # pyradiomics image type -> custom arguments


def _plan(params: RadiomicsParams, refs: Sequence[_FeatureRef]) -> _Plan:
    shape: list[str] = []
    images: dict[str, dict[str, list[str]]] = {}
    for ref in refs:
        if ref.feature_class == "shape":
            shape.append(ref.feature)
        else:
            images.setdefault(ref.image_name, {}).setdefault(ref.feature_class, []).append(ref.feature)
    needed_types = {ref.image_type for ref in refs if ref.feature_class != "shape"}
    image_types = {}
    for image_type, custom in params.image_types.items():
        if image_type not in needed_types:
            continue
        custom = dict(custom)
        if image_type == "LoG":
            sigmas = custom.get("sigma", params.settings.get("sigma", []))
            custom["sigma"] = [s for s in sigmas if _log_image_name(s) in images]
        image_types[image_type] = custom
    return _Plan(shape, images, image_types)


def _resolve_names(params: RadiomicsParams, feature_names: Sequence[str]) -> list[_FeatureRef]:
    names = list(feature_names)
    unknown = [name for name in names if name not in params.features]
    if unknown:
        raise InputError(
            f"{len(unknown)} feature name(s) are not computed with radiomics parameter file "
            f"{params.path.name}: {unknown[:20]}{' ...' if len(unknown) > 20 else ''}; names are "
            "pyradiomics keys such as original_shape_Sphericity (see available_feature_names())"
        )
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InputError(f"feature names requested more than once: {duplicates[:20]}")
    return [params.features[name] for name in names]


def _binary_roi(mask: sitk.Image, label: int) -> tuple[sitk.Image, int]:
    """ROI image holding ``label`` on every nonzero mask voxel, and its voxel count."""
    if mask.GetNumberOfComponentsPerPixel() != 1 or mask.GetDimension() != 3:
        raise InputError("the hematoma mask must be a 3D scalar label image")
    n_voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    if n_voxels == 0:
        raise InputError("the hematoma mask is empty: segment the hematoma before extracting radiomics")
    roi = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    if label != 1:
        roi = roi * label
    return roi, n_voxels


def _preprocess(ct: sitk.Image, roi: sitk.Image, settings: dict[str, Any]) -> tuple[sitk.Image, sitk.Image]:
    """pyradiomics' preprocessing of the CT and the ROI: the resampled image and mask around the ROI.

    With resampling and without normalisation (the default parameter file), pyradiomics'
    loadImage only re-checks and casts the mask, which :func:`_binary_roi` has done, then
    resamples: call its resampling directly (the resampled mask stays UInt8, same values).
    """
    if (
        settings.get("resampledPixelSpacing") is None
        or settings.get("interpolator") is None
        or settings.get("normalize", False)
    ):
        return featureextractor.RadiomicsFeatureExtractor.loadImage(ct, roi, None, **settings)
    return imageoperations.resampleImage(ct, roi, **settings)


def _too_small_error(
    params: RadiomicsParams, n_voxels: int, ct: sitk.Image, resampled_roi: sitk.Image, error: ValueError
) -> InputError:
    settings = params.settings
    volume_ml = n_voxels * math.prod(ct.GetSpacing()) / 1000.0
    inside = sitk.GetArrayViewFromImage(resampled_roi) == settings.get("label", 1)
    extent = [int(np.count_nonzero(inside.any(axis=tuple({0, 1, 2} - {axis})))) for axis in (2, 1, 0)]
    detail = (
        f"the hematoma mask has {n_voxels} voxels ({volume_ml:.3f} mL), "
        f"{int(np.count_nonzero(inside))} voxels spanning {extent} (x, y, z) voxels at the radiomics "
        f"spacing {list(resampled_roi.GetSpacing())} mm"
    )
    return InputError(
        f"hematoma too small for radiomics: {detail}; parameter file {params.path.name} requires more than "
        f"{settings.get('minimumROISize')} voxels and an ROI extending in at least "
        f"{settings.get('minimumROIDimensions')} dimensions (pyradiomics: {error})"
    )


@_pyradiomics_warnings_only()
def extract_radiomics(
    ct: sitk.Image,
    mask: sitk.Image,
    params_path: Path | None = None,
    feature_names: Sequence[str] | None = None,
) -> FeatureSet:
    """Radiomics of the hematoma ``mask`` (every nonzero voxel) on ``ct``; the inputs are not modified.

    The images are used on their acquired grid with the voxel axes reordered towards LPS
    (``geometry.acquisition_grid_lps``, no interpolation), so a tilted scan is interpolated once,
    by pyradiomics' own resampling, as when pyradiomics runs on the files. With ``feature_names``
    only those features are computed and returned, in that order; otherwise every feature of the
    parameter file (default :func:`default_params_path`). Values equal those of pyradiomics run
    with the same parameter file on the same images. Raises :class:`InputError` for an empty or
    too small hematoma and for unknown feature names.
    """
    ct, mask = acquisition_grid_lps(ct, mask)
    params = load_params(params_path)
    refs = list(params.features.values()) if feature_names is None else _resolve_names(params, feature_names)
    provenance = params.provenance()
    if not refs:
        return FeatureSet(features={}, provenance=provenance)

    settings = {**params.settings, "additionalInfo": False}
    label = int(settings.get("label", 1))
    roi, n_voxels = _binary_roi(mask, label)
    try:
        image, resampled_roi = _preprocess(ct, roi, settings)
    except ValueError as error:
        raise InputError(f"pyradiomics could not resample the CT and hematoma mask: {error}") from error
    try:
        bounding_box, corrected = imageoperations.checkMask(image, resampled_roi, **settings)
    except ValueError as error:
        raise _too_small_error(params, n_voxels, ct, resampled_roi, error) from error
    if corrected is not None:
        resampled_roi = corrected

    logger.debug(
        "radiomics: %d feature(s) on a %s-voxel resampled image (input %s)",
        len(refs),
        image.GetSize(),
        ct.GetSize(),
    )
    values = _compute(_plan(params, refs), image, resampled_roi, bounding_box, settings)
    missing = [ref.name for ref in refs if ref.name not in values]
    if missing:
        raise InputError(
            f"pyradiomics did not compute {missing[:10]} for this hematoma (image too small for the filter?)"
        )
    features = {ref.name: values[ref.name] for ref in refs}
    failed = [name for name, value in features.items() if math.isnan(value)]
    warnings = (
        [f"pyradiomics could not compute {len(failed)} feature(s), set to NaN: {failed[:10]}"]
        if failed
        else []
    )

    provenance["radiomics_diagnostics"] = _diagnostics(ct, mask, n_voxels, image, resampled_roi, label)
    return FeatureSet(features=features, provenance=provenance, warnings=warnings)


def _diagnostics(
    ct: sitk.Image, mask: sitk.Image, n_voxels: int, image: sitk.Image, resampled_roi: sitk.Image, label: int
) -> dict[str, Any]:
    """A compact stand-in for pyradiomics' diagnostics: versions, input hashes and grids."""
    return {
        "Versions_PyRadiomics": radiomics.__version__,
        "Versions_Numpy": np.__version__,
        "Versions_SimpleITK": sitk.Version().VersionString(),
        "Versions_PyWavelet": pywt.__version__,
        "Versions_Python": platform.python_version(),
        "Image-original_SHA256": _pixels_sha256(ct),
        "Mask-original_SHA256": _pixels_sha256(mask),
        "Image-original_Spacing": list(ct.GetSpacing()),
        "Image-original_Size": list(ct.GetSize()),
        "Mask-original_VoxelNum": n_voxels,
        "Image-interpolated_Spacing": list(image.GetSpacing()),
        "Image-interpolated_Size": list(image.GetSize()),
        "Mask-interpolated_VoxelNum": int(
            np.count_nonzero(sitk.GetArrayViewFromImage(resampled_roi) == label)
        ),
    }


def _pixels_sha256(image: sitk.Image) -> str:
    """SHA-256 of an image's pixel buffer (the geometry is recorded beside it)."""
    return sha256_bytes(np.ascontiguousarray(sitk.GetArrayViewFromImage(image)).data)


@binning_shared()
def _compute(
    plan: _Plan, image: sitk.Image, roi: sitk.Image, bounding_box: np.ndarray, settings: dict[str, Any]
) -> dict[str, float]:
    """Run pyradiomics' filters and feature classes for the plan, as its extractor's execute() does."""
    classes = getFeatureClasses()
    values: dict[str, float] = {}

    def run(
        feature_class: str,
        features: list[str],
        cropped_image: sitk.Image,
        cropped_roi: sitk.Image,
        image_name: str,
        kwargs: dict[str, Any],
    ) -> None:
        calculator = classes[feature_class](cropped_image, cropped_roi, **kwargs)
        for feature in features:
            calculator.enableFeatureByName(feature)
        for feature, value in calculator.execute().items():
            values[f"{image_name}_{feature_class}_{feature}"] = float(value)

    if plan.shape:
        cropped_image, cropped_roi = imageoperations.cropToTumorMask(image, roi, bounding_box)
        run("shape", plan.shape, cropped_image, cropped_roi, "original", settings)

    for image_type, custom in plan.image_types.items():
        filters = getattr(imageoperations, f"get{image_type}Image")
        for filtered, image_name, kwargs in filters(image, roi, **{**settings, **custom}):
            wanted = plan.images.get(image_name)
            if not wanted:
                continue
            cropped_image, cropped_roi = imageoperations.cropToTumorMask(filtered, roi, bounding_box)
            for feature_class, features in wanted.items():
                run(feature_class, features, cropped_image, cropped_roi, image_name, kwargs)
    return values
