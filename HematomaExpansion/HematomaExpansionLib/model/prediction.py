"""Prediction of one case with a model bundle: only the features the model needs, checked identity.

The bundle's card says how its features were extracted (pyradiomics parameter file by SHA-256,
backbone weights, slice offsets, window, crop margin, aggregation); the extraction here is
configured from it, computes only the model's input features, and the model refuses features
whose extractor identity differs from the training one. A model with clinical covariates takes
their values with the case (:func:`features.clinical.parse_covariates`): a missing or implausible
value is refused before any extraction, a value the model does not use is a warning.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..features.clinical import parse_covariates, required_covariates, unused_covariates
from ..features.families import FEATURE_FAMILIES, ExtractionConfig, feature_family
from ..features.pipeline import ExtractionResult, extract_features
from ..imaging.measurements import measure_hematoma
from .bundle import FeatureExplanation, ModelBundle
from .card import SEAL_KEY

if TYPE_CHECKING:
    from ..features.backbone import Backbone
    from ..signs.report import SignsReport


def extraction_config_for(
    bundle: ModelBundle, device: str = "auto", weights_file: str | None = None
) -> ExtractionConfig:
    """An extraction config that reproduces the bundle's extractor and computes only its inputs.

    ``weights_file`` is needed when the model was trained with local backbone weights
    (identity ``file:<sha256>``); the file is verified against that hash.
    """
    needed = {feature_family(name) for name in bundle.input_features}
    settings: dict[str, Any] = {}
    for name, family in FEATURE_FAMILIES.items():
        if name in needed:
            settings |= family.settings_from_identity(
                bundle.extractor, bundle.model_id, bundle.folder, weights_file
            )
    return ExtractionConfig.for_features(bundle.input_features, device=device, **settings)


def clinical_inputs(
    bundle: ModelBundle, clinical: Mapping[str, str | float] | None
) -> tuple[dict[str, float], list[str]]:
    """The covariate values ``bundle`` needs, parsed (InputError naming each missing or bad one),
    and a warning naming the given values it does not use."""
    given = dict(clinical or {})
    specs = required_covariates(bundle)
    unused = unused_covariates(specs, given)
    warnings = (
        [
            f"model {bundle.model_id!r} does not use the clinical value(s) {', '.join(unused)}; "
            "they did not enter the prediction"
        ]
        if unused
        else []
    )
    return parse_covariates(specs, given), warnings


def training_range_warnings(bundle: ModelBundle, volume_ml: float) -> list[str]:
    """A warning when ``volume_ml`` lies outside the card's training-cohort baseline volume range."""
    recorded = bundle.card["training_cohort"].get("baseline_volume_ml")
    if recorded is None or recorded["min"] <= volume_ml <= recorded["max"]:
        return []
    return [
        f"the hematoma volume {volume_ml:.1f} mL is outside the {recorded['min']:.1f}-{recorded['max']:.1f} mL "
        f"range of model {bundle.model_id!r}'s training cohort; the prediction is an extrapolation"
    ]


@dataclass
class PredictionResult:
    """One case's risk with everything a reader needs to judge it."""

    model_id: str
    model_kind: str
    probability: float
    category: str
    threshold: float
    measurements: dict[str, Any]
    explanations: list[FeatureExplanation]
    extraction: ExtractionResult
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    signs: SignsReport | None = None  # the conventional signs measured on the case (signs/), if measured

    @property
    def risk_text(self) -> str:
        """E.g. '72% - high risk of expansion (model threshold 41%)'."""
        return (
            f"{self.probability:.0%} - {self.category} risk of expansion "
            f"(model threshold {self.threshold:.0%})"
        )

    @property
    def category_text(self) -> str:
        """E.g. 'High risk of expansion (threshold 41%)'."""
        return f"{self.category.capitalize()} risk of expansion (threshold {self.threshold:.0%})"

    @property
    def volume_text(self) -> str:
        """E.g. 'Volume 30.0 mL (ABC/2 28.4 mL)'."""
        m = self.measurements
        return f"Volume {m['volume_ml']:.1f} mL (ABC/2 {m['abc2_ml']:.1f} mL)"

    def feature_rows(self) -> list[list[Any]]:
        """Rows (feature, value, training z-score, LASSO weight) of the model's input features."""
        return [[e.name, e.value, e.z_score, e.lasso_weight] for e in self.explanations]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no images)."""
        extraction = self.extraction
        return {
            "model_id": self.model_id,
            "model_kind": self.model_kind,
            "probability": self.probability,
            "category": self.category,
            "threshold": self.threshold,
            "risk_text": self.risk_text,
            "measurements": self.measurements,
            "features": [e._asdict() for e in self.explanations],
            "slice_positions_mm": list(extraction.z_positions_mm),
            "crop": extraction.crop.as_dict() if extraction.crop is not None else None,
            "warnings": self.warnings,
            "conventional_signs": self.signs.as_dict() if self.signs is not None else None,
            "provenance": self.provenance,
        }


def predict_case(
    ct: sitk.Image,
    mask: sitk.Image,
    bundle: ModelBundle,
    *,
    backbone: Backbone | None = None,
    device: str = "auto",
    weights_file: str | None = None,
    ct_source: str = "CT",
    mask_source: str = "hematoma mask",
    extra_warnings: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    clinical: Mapping[str, str | float] | None = None,
) -> PredictionResult:
    """Extract what ``bundle`` needs from (``ct``, ``mask``), check the identity, and predict.

    ``progress`` receives each stage name (see ``extract_features``; then "model"). ``clinical``
    holds the covariate values (names with or without ``clinical_``) a model with covariates needs.
    """
    clinical_values, clinical_warnings = clinical_inputs(bundle, clinical)
    config = replace(extraction_config_for(bundle, device, weights_file), clinical_values=clinical_values)
    extraction = extract_features(ct, mask, config, backbone, ct_source, mask_source, progress)
    if progress:
        progress("model")
    feature_set = extraction.feature_set
    bundle.check_extractor(feature_set.provenance["extractor_identity"])
    probability = float(bundle.predict_proba(feature_set.features)[0])
    measurements = measure_hematoma(
        ct, mask, ct_source=ct_source, mask_source=mask_source, canonical=extraction.canonical
    ).as_dict()
    provenance = {
        **feature_set.provenance,
        "model_id": bundle.model_id,
        "model_kind": bundle.kind,
        "model_npz_sha256": bundle.card["model_npz_sha256"],
        "model_card_sha256": bundle.card.get(SEAL_KEY),
        "model_intended_use": bundle.card.get("extra", {}).get("intended_use", ""),
        "clinical_values": clinical_values,
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "software_version": __version__,
    }
    return PredictionResult(
        model_id=bundle.model_id,
        model_kind=bundle.kind,
        probability=probability,
        category=bundle.category(probability),
        threshold=bundle.threshold,
        measurements=measurements,
        explanations=bundle.explain(feature_set.features),
        extraction=extraction,
        warnings=[
            *extra_warnings,
            *clinical_warnings,
            *feature_set.warnings,
            *training_range_warnings(bundle, measurements["volume_ml"]),
        ],
        provenance=provenance,
    )
