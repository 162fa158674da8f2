"""The module's logic on MRML nodes: nodes in, core computations, results back into nodes.

This is the body of ``HematomaExpansionLogic`` (the module file's Logic class inherits it), kept
here so that batch scripts, the command line and CI run it on slicer-core without Qt. It only
converts and delegates: every decision is made in the Slicer-free core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from ..common.errors import InputError, SegmentExistsError
from ..imaging.checks import validate_ct, validate_mask
from ..imaging.draft_parameters import DEFAULT_DRAFT_HU_RANGE
from ..imaging.segment_terms import HEMATOMA_COLOR, HEMATOMA_SEGMENT_NAME, HEMATOMA_TERMINOLOGY
from ..model.applicability import ApplicabilityChecklist
from ..model.bundle import ModelBundle
from ..model.registry import load_model
from .runtime import SlicerRuntime
from .scene import node_label
from .segments import mask_to_segment, new_segmentation_node, resolve_segment_id, segment_to_mask
from .tables import table_node_from_rows
from .volumes import ras_to_lps, sitk_to_volume, volume_to_sitk

# Imaging, radiomics and deep-learning packages are imported where they are used, so that the
# module loads in Slicer before its first-use installation of missing packages.
if TYPE_CHECKING:
    from ..features.backbone import Backbone
    from ..features.pipeline import ExtractionConfig, ExtractionResult
    from ..imaging.draft import DraftResult
    from ..model.prediction import PredictionResult
    from ..signs.report import SignsReport


@dataclass
class HematomaInputs:
    """A validated CT and hematoma mask taken from nodes, with names for messages and provenance."""

    ct: sitk.Image
    mask: sitk.Image
    segment_id: str
    segment_name: str
    ct_source: str
    mask_source: str
    warnings: list[str] = field(default_factory=list)


class HematomaExpansionLogicBase:
    """Logic that works on nodes of a Slicer scene, inside the application or headless."""

    def __init__(self, runtime: SlicerRuntime | None = None) -> None:
        self.runtime = runtime or SlicerRuntime.current()
        self.model_dirs: list[Path] = []

    @property
    def scene(self) -> Any:
        return self.runtime.scene

    def cannot_apply_reason(
        self, volume_node: Any, segmentation_node: Any, segment_id: str = ""
    ) -> str | None:
        """Why prediction cannot start with these selections (for the Apply tooltip), or None."""
        if volume_node is None:
            return "Select the non-contrast head CT volume."
        if segmentation_node is None:
            return "Select the hematoma segmentation, or create one in the Segment Editor."
        if segmentation_node.GetSegmentation().GetNumberOfSegments() == 0:
            return (
                f"Segmentation '{segmentation_node.GetName()}' has no segments; segment the hematoma first."
            )
        try:
            resolve_segment_id(segmentation_node, segment_id or None)
        except InputError as error:
            return str(error)
        return None

    def create_hematoma_segment(self, volume_node: Any, segmentation_node: Any = None) -> tuple[Any, str]:
        """An empty, correctly coded hematoma segment to paint in the Segment Editor.

        Reuses an existing hematoma segment; creates the segmentation (on the CT's geometry) if needed.
        Returns (segmentation node, segment ID).
        """
        if volume_node is None:
            raise InputError("Select the CT volume before creating the hematoma segment.")
        if segmentation_node is None:
            segmentation_node = new_segmentation_node(self.scene, volume_node)
        segmentation = segmentation_node.GetSegmentation()
        existing = segmentation.GetSegmentIdBySegmentName(HEMATOMA_SEGMENT_NAME)
        if existing:
            return segmentation_node, existing
        segment_id = segmentation.AddEmptySegment("", HEMATOMA_SEGMENT_NAME, list(HEMATOMA_COLOR))
        segment = segmentation.GetSegment(segment_id)
        segment.SetTag(segment.GetTerminologyEntryTagName(), HEMATOMA_TERMINOLOGY)
        return segmentation_node, segment_id

    def draft_hematoma_segment(
        self,
        volume_node: Any,
        segmentation_node: Any = None,
        seed_point_ras: tuple[float, float, float] | None = None,
        hu_range: tuple[float, float] = DEFAULT_DRAFT_HU_RANGE,
        segment_name: str = f"{HEMATOMA_SEGMENT_NAME} draft",
        overwrite: bool = False,
    ) -> tuple[Any, str, DraftResult]:
        """Draft the hematoma as a new segment for the user to correct layer by layer.

        An existing segment of that name is replaced only with ``overwrite`` (raises
        ``SegmentExistsError`` otherwise, so the panel can ask). The CT is never modified.
        Returns (segmentation node, new segment ID, draft result).
        """
        if volume_node is None:
            raise InputError("Select the CT volume to draft the hematoma on.")
        ct = volume_to_sitk(volume_node)
        validate_ct(ct, f"volume {node_label(volume_node)}")
        existing = ""
        if segmentation_node is not None:
            existing = segmentation_node.GetSegmentation().GetSegmentIdBySegmentName(segment_name)
            if existing and not overwrite:
                raise SegmentExistsError(
                    f"Segmentation {node_label(segmentation_node)} already has a segment '{segment_name}'; "
                    "confirm to replace it, or rename it first."
                )
        from ..imaging.draft import draft_hematoma

        draft = draft_hematoma(ct, None if seed_point_ras is None else ras_to_lps(seed_point_ras), hu_range)
        if segmentation_node is None:
            segmentation_node = new_segmentation_node(self.scene, volume_node)
        elif existing:
            segmentation_node.GetSegmentation().RemoveSegment(existing)
        segment_id = mask_to_segment(
            self.runtime, draft.mask, segmentation_node, segment_name, HEMATOMA_COLOR, HEMATOMA_TERMINOLOGY
        )
        return segmentation_node, segment_id, draft

    def hematoma_inputs(
        self, volume_node: Any, segmentation_node: Any, segment: str | None = None
    ) -> HematomaInputs:
        """Validate the CT node and the hematoma segment and copy them to SimpleITK images."""
        if volume_node is None:
            raise InputError("No CT volume selected; select the non-contrast head CT.")
        if segmentation_node is None:
            raise InputError("No segmentation selected; select or create the hematoma segmentation.")
        ct_source = f"volume {node_label(volume_node)}"
        if volume_node.IsA("vtkMRMLLabelMapVolumeNode"):
            raise InputError(f"The CT input {ct_source} is a labelmap; select the CT image itself.")
        ct = volume_to_sitk(volume_node)
        validate_ct(ct, ct_source)
        segment_id = resolve_segment_id(segmentation_node, segment)
        segment_name = segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
        mask_source = f"segment '{segment_name}' of {node_label(segmentation_node)}"
        mask, warnings = segment_to_mask(self.runtime, segmentation_node, segment_id, volume_node)
        validate_mask(mask, ct, mask_source, ct_source)
        return HematomaInputs(ct, mask, segment_id, segment_name, ct_source, mask_source, warnings)

    def measure(self, volume_node: Any, segmentation_node: Any, segment: str | None = None) -> dict[str, Any]:
        """Hematoma volume, ABC/2, largest axial cross-section, components and HU statistics.

        ``warnings`` (a list) holds what to read beside the numbers: parts of the segment outside
        the CT, a density unlike blood, a hematoma cut off by the scan's first or last slice.
        """
        from ..imaging.measurements import measure_hematoma
        from ..imaging.plausibility import hematoma_warnings

        inputs = self.hematoma_inputs(volume_node, segmentation_node, segment)
        result = measure_hematoma(
            inputs.ct, inputs.mask, ct_source=inputs.ct_source, mask_source=inputs.mask_source
        ).as_dict()
        return {**result, "warnings": [*inputs.warnings, *hematoma_warnings(inputs.ct, inputs.mask)]}

    def measurements_table(self, measurements: dict[str, Any], table_node: Any = None) -> Any:
        """Write the numeric measurements into a table node (measurement, value, unit)."""
        from ..imaging.measurements import unit_of

        rows = [
            [name, float(value), unit_of(name)]
            for name, value in measurements.items()
            if isinstance(value, int | float)
        ]
        return table_node_from_rows(
            self.scene, ["measurement", "value", "unit"], rows, "HematomaMeasurements", node=table_node
        )

    def extract_features(
        self,
        volume_node: Any,
        segmentation_node: Any,
        segment: str | None = None,
        config: ExtractionConfig | None = None,
        backbone: Any = None,
    ) -> ExtractionResult:
        """Radiomics and deep features of the hematoma segment; the nodes are not modified."""
        return self.extract_from_inputs(
            self.hematoma_inputs(volume_node, segmentation_node, segment), config, backbone
        )

    def extract_from_inputs(
        self, inputs: HematomaInputs, config: ExtractionConfig | None = None, backbone: Any = None
    ) -> ExtractionResult:
        """Features of inputs already taken from nodes (so one export can also serve measurements)."""
        from ..features.pipeline import extract_features

        result = extract_features(
            inputs.ct, inputs.mask, config, backbone, inputs.ct_source, inputs.mask_source
        )
        result.feature_set.warnings[:0] = inputs.warnings
        result.feature_set.provenance.update({"ct": inputs.ct_source, "hematoma": inputs.mask_source})
        return result

    def predict(
        self,
        volume_node: Any,
        segmentation_node: Any,
        segment: str | None = None,
        model: ModelBundle | str | Path | None = None,
        device: str = "auto",
        weights_file: str | None = None,
        checklist: ApplicabilityChecklist | None = None,
        backbone: Any = None,
        progress: Callable[[str], None] | None = None,
        clinical: Mapping[str, str | float] | None = None,
    ) -> PredictionResult:
        """Risk of expansion for the hematoma segment with a model (bundle, id, folder or the default).

        ``progress`` is called with each stage name; raising ``OperationCancelledError`` from it cancels.
        ``clinical``: the covariate values a model with clinical covariates needs (``gcs=14`` or
        ``clinical_gcs=14``; see ``features.clinical.required_covariates``); ``onset_to_ct_h`` there
        also gives the measured signs their BAT score.
        """
        from ..model.prediction import predict_case

        bundle = model if isinstance(model, ModelBundle) else load_model(model, self.model_dirs)
        inputs = self.hematoma_inputs(volume_node, segmentation_node, segment)
        signs = self.signs_of_inputs(inputs, self._onset_for_signs(clinical, bundle))
        measured = (checklist or ApplicabilityChecklist()).with_measured(signs.present_titles)
        result = predict_case(
            inputs.ct,
            inputs.mask,
            bundle,
            backbone=backbone,
            device=device,
            weights_file=weights_file,
            ct_source=inputs.ct_source,
            mask_source=inputs.mask_source,
            extra_warnings=[
                *inputs.warnings,
                *(measured.unmet() if checklist else measured.measured_sign_warnings()),
            ],
            progress=progress,
            clinical=clinical,
        )
        result.provenance.update({"ct": inputs.ct_source, "hematoma": inputs.mask_source})
        result.signs = signs
        if checklist is not None:
            result.provenance["applicability"] = measured.as_dict()  # confirmed and measured
        return result

    @staticmethod
    def _onset_for_signs(clinical: Mapping[str, str | float] | None, bundle: ModelBundle) -> float | None:
        """The onset-to-CT time for the BAT score; a bad value the model itself needs is left to
        ``predict_case``, whose message names every missing or bad covariate at once."""
        from ..features.clinical import ONSET_TO_CT, onset_to_ct_h, required_covariates

        try:
            return onset_to_ct_h(clinical)
        except InputError:
            if any(spec.name == ONSET_TO_CT for spec in required_covariates(bundle)):
                return None
            raise

    def measure_signs(
        self,
        volume_node: Any,
        segmentation_node: Any,
        segment: str | None = None,
        onset_to_ct_h: float | None = None,
    ) -> SignsReport:
        """The conventional CT signs of expansion measured on the hematoma segment (suggestions for the
        checklist's "no conventional signs"); the nodes are not modified."""
        return self.signs_of_inputs(
            self.hematoma_inputs(volume_node, segmentation_node, segment), onset_to_ct_h
        )

    def signs_of_inputs(self, inputs: HematomaInputs, onset_to_ct_h: float | None = None) -> SignsReport:
        """The conventional signs of inputs already taken from nodes."""
        from ..signs.measure import measure_signs

        return measure_signs(
            inputs.ct,
            inputs.mask,
            onset_to_ct_h=onset_to_ct_h,
            ct_source=inputs.ct_source,
            mask_source=inputs.mask_source,
        )

    def warm_up(
        self,
        model: ModelBundle | str | Path | None = None,
        device: str = "auto",
        weights_file: str | None = None,
    ) -> Backbone | None:
        """Load the backbone ``model`` needs and run it once, so that the next ``predict`` finds it ready.

        The backbone stays in the process's backbone cache, so the first prediction neither loads
        it again nor pays the network's first-run set-up. Returns it; None for a model without deep
        features (nothing to warm). Raises what ``predict`` would raise for that model and weights.
        """
        from ..features.backbone import load_resnet50
        from ..model.prediction import extraction_config_for

        bundle = model if isinstance(model, ModelBundle) else load_model(model, self.model_dirs)
        config = extraction_config_for(bundle, device, weights_file)
        if "deep" not in config.families:
            return None
        backbone = load_resnet50(config.backbone_weights, config.device)
        size_px = config.deep.size_px
        backbone.embed(np.zeros((len(config.deep.offsets_mm), size_px, size_px)))
        return backbone

    def prediction_table(self, result: PredictionResult, table_node: Any = None) -> Any:
        """The model's features of this case in a table node (feature, value, z-score, LASSO weight)."""
        return table_node_from_rows(
            self.scene,
            ["feature", "value", "z_score", "lasso_weight"],
            result.feature_rows(),
            "HematomaExpansionFeatures",
            node=table_node,
        )

    def slice_images_volume(self, result: PredictionResult, volume_node: Any = None) -> Any:
        """The images the network saw as a small volume (one slice per offset) to browse in a view."""
        extraction = result.extraction
        images = extraction.slice_images
        if images is None:
            raise InputError(f"model {result.model_id!r} uses no deep features, so there are no slice images")
        image = sitk.GetImageFromArray(images.astype("float32"))
        pixel_mm = extraction.crop.side_mm / images.shape[-1]
        z_mm = extraction.z_positions_mm
        # Slices are shown in offset order with a nominal 1 mm step (positions are in the table).
        image.SetSpacing((pixel_mm, pixel_mm, 1.0))
        image.SetOrigin(
            (extraction.crop.x_min_mm + pixel_mm / 2, extraction.crop.y_min_mm + pixel_mm / 2, z_mm[0])
        )
        return sitk_to_volume(image, self.scene, "HematomaExpansionSlices", node=volume_node)
