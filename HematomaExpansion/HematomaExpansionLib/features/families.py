"""Feature families behind one interface, and the configuration of an extraction over them.

A family (radiomics, deep, clinical covariates) says which feature names are its own, which
provenance keys identify its extractor, how a configuration becomes that identity and back, and
how it computes its features of one case. :data:`FEATURE_FAMILIES` is the registry, in the spirit
of pyradiomics' ``getFeatureClasses()``: the pipeline, the cohort cache and the prediction from a
model bundle iterate it, so that a new family is one class here. Importing this module is cheap:
pyradiomics, torch and SimpleITK are imported by the methods that need them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from ..common.errors import InputError, ModelError
from .clinical import (
    CLINICAL_PREFIX,
    IDENTITY_KEY,
    MEASURED_BASELINE_VOLUME,
    CovariateSpec,
    covariate_identity,
    parse_covariates,
    specs_from_identity,
)
from .featureset import DEEP_PREFIX, FeatureSet

if TYPE_CHECKING:
    import SimpleITK as sitk

    from .backbone import Backbone
    from .deep_slices import DeepSliceConfig

DEFAULT_WEIGHTS = "imagenet1k_v1"  # the ResNet50 weights of the bundled models
# Provenance keys that must match between training and prediction, per feature family.
RADIOMICS_IDENTITY_KEYS: tuple[str, ...] = (
    "pyradiomics_version",
    "radiomics_params_sha256",
    "radiomics_grid",
)
DEEP_IDENTITY_KEYS: tuple[str, ...] = (
    "backbone_id",
    "backbone_fingerprint",
    "slice_offsets_mm",
    "window",
    "crop_margin_mm",
    "deep_aggregation",
    "deep_size_px",
    "deep_blank_outside",
)

Lap = Callable[[str], None]  # records the time of a finished stage under its name


@dataclass(frozen=True)
class CaseImages:
    """One validated case: the inputs and their canonical axial version (``geometry.canonical_axial``)."""

    ct: sitk.Image
    mask: sitk.Image
    canonical_ct: sitk.Image
    canonical_mask: sitk.Image
    orientation: str  # "unchanged", "reoriented" or "resampled"


@dataclass(frozen=True)
class FamilyResult:
    """A family's features of one case and what a user may see of their computation."""

    feature_set: FeatureSet
    details: Any = None  # the deep family's ``deep.DeepResult`` (slice images, crop)


class FeatureFamily(Protocol):
    """One kind of feature: its names, the identity of its extractor and its extraction."""

    name: str
    prefix: str  # its feature names start with it; "" claims the names no other prefix claims
    identity_keys: tuple[str, ...]  # provenance keys that must match between training and prediction

    def cache_key(self, config: ExtractionConfig) -> dict[str, Any]:
        """What its features depend on besides the images (part of a cohort's cache key).

        Loads what it needs, so that unusable settings fail before any case runs.
        """
        ...

    def settings_from_identity(
        self, identity: Mapping[str, Any], model_id: str, model_folder: Path, weights_file: str | None
    ) -> dict[str, Any]:
        """The :class:`ExtractionConfig` arguments that reproduce a model's extractor identity."""
        ...

    def extract(
        self,
        case: CaseImages,
        config: ExtractionConfig,
        names: Sequence[str] | None,
        backbone: Backbone | None,
        lap: Lap,
    ) -> FamilyResult:
        """Its features of ``case``: all of them, or ``names`` in that order."""
        ...


class RadiomicsFamily:
    """pyradiomics features with the parameter file of the configuration (``radiomics``)."""

    name = "radiomics"
    prefix = ""  # pyradiomics keys (``original_shape_Sphericity``) share no prefix
    identity_keys = RADIOMICS_IDENTITY_KEYS

    def cache_key(self, config: ExtractionConfig) -> dict[str, Any]:
        from .radiomics import load_params, radiomics_identity

        return radiomics_identity(load_params(config.params_path).sha256)

    def settings_from_identity(
        self, identity: Mapping[str, Any], model_id: str, model_folder: Path, weights_file: str | None
    ) -> dict[str, Any]:
        from .radiomics import RADIOMICS_GRID, default_params_path, find_params_file, params_candidates

        trained_grid = identity.get("radiomics_grid")
        if trained_grid != RADIOMICS_GRID:
            raise ModelError(
                f"model {model_id!r} was trained on radiomics computed on the "
                f"{trained_grid or 'canonical-axial (HematomaExpansion 0.1)'} grid; this version computes "
                f"them on the {RADIOMICS_GRID} grid, so its features cannot be reproduced on tilted scans. "
                "Retrain the model with 'train' on features extracted by this version."
            )
        candidates = params_candidates([model_folder, default_params_path().parent])
        sha256 = identity["radiomics_params_sha256"]
        params_path = find_params_file(sha256, candidates)
        if params_path is None:
            raise ModelError(
                f"no pyradiomics parameter file with SHA-256 {sha256[:12]}... was found (searched: "
                f"{', '.join(map(str, candidates)) or 'nothing'}); put the parameter file the model was "
                "trained with into the model folder."
            )
        return {"radiomics_params_path": params_path}

    def extract(
        self,
        case: CaseImages,
        config: ExtractionConfig,
        names: Sequence[str] | None,
        backbone: Backbone | None,
        lap: Lap,
    ) -> FamilyResult:
        from .radiomics import extract_radiomics

        # The canonical images already are the acquired grid in LPS order unless a tilted scan was
        # resampled; passing them spares extract_radiomics a second reordering of the volume.
        ct, mask = (
            (case.ct, case.mask)
            if case.orientation == "resampled"
            else (case.canonical_ct, case.canonical_mask)
        )
        return FamilyResult(extract_radiomics(ct, mask, config.params_path, names))


class DeepFamily:
    """ResNet50 features of the largest axial cross-section and its neighbours (``deep_*``)."""

    name = "deep"
    prefix = DEEP_PREFIX
    identity_keys = DEEP_IDENTITY_KEYS

    def cache_key(self, config: ExtractionConfig) -> dict[str, Any]:
        from .backbone import load_resnet50

        backbone = load_resnet50(config.backbone_weights, config.device)
        return {**backbone.provenance(), "deep": config.deep.as_dict()}

    def settings_from_identity(
        self, identity: Mapping[str, Any], model_id: str, model_folder: Path, weights_file: str | None
    ) -> dict[str, Any]:
        from .deep_slices import DeepSliceConfig

        deep = DeepSliceConfig.from_provenance(identity)
        weights = identity["backbone_id"]
        if weights.startswith("file:"):
            if not weights_file:
                raise ModelError(
                    f"model {model_id!r} was trained with local ResNet50 weights ({weights[:17]}...); "
                    "give that weights file (option --weights-file, or Advanced > backbone weights file)."
                )
            weights = f"{weights_file}#sha256={weights.removeprefix('file:')}"
        return {"deep": deep, "backbone_weights": weights}

    def extract(
        self,
        case: CaseImages,
        config: ExtractionConfig,
        names: Sequence[str] | None,
        backbone: Backbone | None,
        lap: Lap,
    ) -> FamilyResult:
        from .backbone import load_resnet50
        from .deep import extract_deep_features

        backbone = backbone or load_resnet50(config.backbone_weights, config.device)
        lap("backbone")  # part of the "deep" stage for progress
        deep = extract_deep_features(case.canonical_ct, case.canonical_mask, backbone, config.deep)
        feature_set = deep.feature_set
        if names is not None:
            missing = [n for n in names if n not in feature_set.features]
            if missing:
                raise InputError(
                    f"deep features {missing[:3]} are not produced by this configuration "
                    f"(aggregation '{config.deep.aggregation}')"
                )
            feature_set = replace(feature_set, features={n: feature_set.features[n] for n in names})
        return FamilyResult(feature_set, deep)


class ClinicalFamily:
    """Clinical covariates given with the case (``clinical_*``); the baseline volume is measured."""

    name = "clinical"
    prefix = CLINICAL_PREFIX
    identity_keys = (IDENTITY_KEY,)

    def cache_key(self, config: ExtractionConfig) -> dict[str, Any]:
        """Cohort extraction never computes covariates (the manifest carries them): nothing to key."""
        return {}

    def settings_from_identity(
        self, identity: Mapping[str, Any], model_id: str, model_folder: Path, weights_file: str | None
    ) -> dict[str, Any]:
        return {"clinical_covariates": tuple(specs_from_identity(identity.get(IDENTITY_KEY)))}

    def extract(
        self,
        case: CaseImages,
        config: ExtractionConfig,
        names: Sequence[str] | None,
        backbone: Backbone | None,
        lap: Lap,
    ) -> FamilyResult:
        from ..imaging.measurements import measure_hematoma

        specs = {spec.name: spec for spec in config.clinical_covariates}
        wanted = list(names) if names is not None else list(specs)
        unknown = [n for n in wanted if n not in specs]
        if unknown:
            raise InputError(f"clinical covariate(s) {unknown} are not declared in the configuration")
        values = dict(config.clinical_values)
        if MEASURED_BASELINE_VOLUME in wanted:
            canonical = (case.canonical_ct, case.canonical_mask, case.orientation)
            measured = measure_hematoma(case.ct, case.mask, canonical=canonical)
            values[MEASURED_BASELINE_VOLUME] = measured.volume_ml
        features = parse_covariates([specs[n] for n in wanted], values)
        provenance = {IDENTITY_KEY: covariate_identity(config.clinical_covariates)}
        return FamilyResult(FeatureSet(features={n: features[n] for n in wanted}, provenance=provenance))


FEATURE_FAMILIES: Mapping[str, FeatureFamily] = MappingProxyType(
    {family.name: family for family in (RadiomicsFamily(), DeepFamily(), ClinicalFamily())}
)
#: The families computed from the images, extracted by default (clinical values come with the case).
FAMILIES: tuple[str, ...] = ("radiomics", "deep")


def feature_family(name: str) -> str:
    """The family of a feature name: the one with the longest prefix it starts with."""
    owners = [family for family in FEATURE_FAMILIES.values() if name.startswith(family.prefix)]
    return max(owners, key=lambda family: len(family.prefix)).name


def identity_keys(families: Sequence[str]) -> tuple[str, ...]:
    """The extractor identity keys that matter for features of ``families``, in registry order."""
    return tuple(
        key for name, family in FEATURE_FAMILIES.items() if name in families for key in family.identity_keys
    )


def extractor_identity(provenance: Mapping[str, Any], families: Sequence[str] = FAMILIES) -> dict[str, Any]:
    """The provenance entries that define how features of ``families`` were computed."""
    return {key: provenance.get(key) for key in identity_keys(families)}


def _default_slices() -> DeepSliceConfig:
    from .deep_slices import DeepSliceConfig

    return DeepSliceConfig()


@dataclass(frozen=True)
class ExtractionConfig:
    """What to extract and how. ``feature_names`` limits extraction to what a model uses."""

    families: tuple[str, ...] = FAMILIES
    radiomics_params_path: Path | None = None
    feature_names: tuple[str, ...] | None = None
    deep: DeepSliceConfig = field(default_factory=_default_slices)
    backbone_weights: str = DEFAULT_WEIGHTS
    device: str = "auto"
    clinical_covariates: tuple[CovariateSpec, ...] = ()  # the model's covariates (clinical family)
    clinical_values: Mapping[str, float] = field(default_factory=dict)  # their values for this case

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FEATURE_FAMILIES)
        if unknown or not self.families:
            raise InputError(f"feature families must be among {tuple(FEATURE_FAMILIES)}, got {self.families}")

    @classmethod
    def for_features(cls, feature_names: Sequence[str], **kwargs: Any) -> ExtractionConfig:
        """A config that computes exactly ``feature_names`` (and only the families they need)."""
        names = tuple(feature_names)
        needed = {feature_family(name) for name in names}
        return cls(families=tuple(f for f in FEATURE_FAMILIES if f in needed), feature_names=names, **kwargs)

    @property
    def params_path(self) -> Path:
        """The pyradiomics parameter file: the configured one or the bundled default."""
        from .radiomics import default_params_path

        return Path(self.radiomics_params_path) if self.radiomics_params_path else default_params_path()

    def selected_families(self) -> list[FeatureFamily]:
        """The configured families, in registry order (radiomics, deep, clinical)."""
        return [family for name, family in FEATURE_FAMILIES.items() if name in self.families]

    def names_for(self, family: FeatureFamily) -> list[str] | None:
        """The requested feature names of ``family`` (None: all of its features)."""
        if not self.feature_names:
            return None
        return [name for name in self.feature_names if feature_family(name) == family.name]
