"""The page's steps over the module's Logic: open a CT, draft or open the hematoma, predict, export.

No trame here: the page (``app.py``) binds widgets to these methods, and the tests call them
directly. Every step calls the same Logic and loaders as the Slicer panel and the command line,
so a bad input raises the same ``InputError``/``ModelError`` message, which the page shows.

A prediction runs on a snapshot: the CT and the segmentation are copied into a private headless
scene on the page's thread, and the Logic predicts on the copies in a worker thread, so that the
views, the editor and further edits never race with it, and the result belongs to exactly the
segmentation that was copied. Its outputs go into one new subfolder of the output folder, written
all or nothing (``staged_folder``): the report, the feature table, prediction.json, the slice PNGs
and the predicted hematoma as ``hematoma.seg.nrrd``.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from HematomaExpansionLib.common.atomic import staged_folder
from HematomaExpansionLib.common.errors import InputError, OperationCancelledError
from HematomaExpansionLib.imaging.draft_parameters import DEFAULT_DRAFT_HU_RANGE
from HematomaExpansionLib.model.applicability import ApplicabilityChecklist
from HematomaExpansionLib.model.registry import DEFAULT_MODEL_ID, ModelSummary, available_models
from HematomaExpansionLib.mrml.loading import load_segmentation, load_volume
from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.mrml.runtime import SlicerRuntime
from HematomaExpansionLib.mrml.scene import remove_node
from HematomaExpansionLib.mrml.segments import resolve_segment_id, segment_to_mask
from HematomaExpansionLib.mrml.volumes import sitk_to_volume, volume_to_sitk
from HematomaExpansionLib.reports.case_outputs import write_prediction
from HematomaExpansionLib.synthetic.case_files import write_segmentation_nrrd
from HematomaExpansionLib.synthetic.sample import write_sample_case

from .data_files import Upload, UploadStore, path_in_data_folder

logger = logging.getLogger(__name__)

SEGMENTATION_FILE = "hematoma.seg.nrrd"
STAGES_BEFORE_FAMILIES = ("validate", "geometry")
# Imported on the main thread before any prediction: importing torch (triton) first in a worker
# thread crashed the server (segmentation fault), and the first prediction starts sooner.
PREDICTION_MODULES = (
    "torch",
    "torchvision",
    "radiomics",
    "HematomaExpansionLib.model.prediction",
    "HematomaExpansionLib.features.deep",
    "HematomaExpansionLib.features.radiomics",
)


def import_prediction_modules() -> None:
    """Import what a prediction needs, on the calling (main) thread."""
    for name in PREDICTION_MODULES:
        importlib.import_module(name)


def parse_seed(text: str) -> tuple[float, float, float] | None:
    """A seed point "R, A, S" in mm (commas or spaces); empty text means no seed."""
    parts = [p for p in re.split(r"[,\s;]+", (text or "").strip()) if p]
    if not parts:
        return None
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise InputError(f"seed point {text!r} must be three numbers R, A, S in mm (e.g. 12.5, -30, 41).")
    return values  # type: ignore[return-value]


@dataclass
class PredictionOutputs:
    """A finished prediction and the files written for it."""

    result: Any
    folder: Path
    report: Path
    table: Path
    prediction_json: Path
    segmentation: Path
    slices: list[Path] = field(default_factory=list)


class PredictionJob:
    """One prediction on a snapshot of the case; :meth:`run` in a worker thread, :meth:`cancel` from any."""

    def __init__(
        self,
        logic: HematomaExpansionLogicBase,
        nodes: tuple[Any, Any, str],
        request: Mapping[str, Any],
        out_folder: Path,
    ) -> None:
        self._logic = logic
        self._nodes = nodes
        self._request = dict(request)
        self.out_folder = out_folder
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop at the next stage boundary (the Logic's progress callback raises then)."""
        self._cancelled.set()

    def run(self, on_stage: Callable[[str], None] = lambda stage: None) -> PredictionOutputs:
        """Predict with the Logic, then write the outputs; raises OperationCancelledError when cancelled."""

        def progress(stage: str) -> None:
            if self._cancelled.is_set():
                raise OperationCancelledError(f"prediction cancelled before stage {stage!r}")
            on_stage(stage)

        volume, segmentation, segment_id = self._nodes
        request = self._request
        checklist: ApplicabilityChecklist = request["checklist"]
        result = self._logic.predict(
            volume,
            segmentation,
            segment_id,
            request["model"],
            checklist=checklist,
            progress=progress,
            clinical=request.get("clinical") or None,
        )
        progress("writing results")
        mask = self._logic.hematoma_inputs(volume, segmentation, segment_id).mask
        return self._write(result, mask, checklist, request["case_label"])

    def _write(
        self, result: Any, mask: sitk.Image, checklist: ApplicabilityChecklist, case_label: str
    ) -> PredictionOutputs:
        segment_name = self._nodes[1].GetSegmentation().GetSegment(self._nodes[2]).GetName()
        intended_use = result.provenance.get("model_intended_use", "")
        with staged_folder(self.out_folder, replaced=()) as staging:
            written = write_prediction(result, staging, case_label, checklist, intended_use)
            write_segmentation_nrrd(mask, staging / SEGMENTATION_FILE, segment_name=segment_name)
        names = [path.relative_to(staging) for path in written]
        folder = self.out_folder
        return PredictionOutputs(
            result=result,
            folder=folder,
            report=folder / "report.html",
            table=folder / "model_features.csv",
            prediction_json=folder / "prediction.json",
            segmentation=folder / SEGMENTATION_FILE,
            slices=[folder / n for n in names if n.parts[0] == "slices"],
        )


class WebSession:
    """The case open in the page and the steps on it (one page, one case at a time)."""

    def __init__(self, runtime: SlicerRuntime, data_dir: Path, out_dir: Path, uploads: UploadStore) -> None:
        self.logic = HematomaExpansionLogicBase(runtime)
        self.data_dir = Path(data_dir)
        self.out_dir = Path(out_dir)
        self.uploads = uploads
        self.volume_node: Any = None
        self.segmentation_node: Any = None
        self.segment_id = ""
        self.case_label = ""
        self._sample_paths: dict[str, Path] | None = None
        self._snapshot_logic: HematomaExpansionLogicBase | None = None

    @property
    def runtime(self) -> SlicerRuntime:
        return self.logic.runtime

    # --- the CT --------------------------------------------------------------------------------
    def sample_paths(self) -> dict[str, Path]:
        """The bundled sample case's files (written once per server, beside the uploads)."""
        if self._sample_paths is None:
            self._sample_paths = write_sample_case(self.uploads.root / "sample")
        return self._sample_paths

    def open_sample(self) -> Any:
        """Open the sample case's CT."""
        return self._open_ct(self.sample_paths()["ct"])

    def open_data_path(self, relative: str) -> Any:
        """Open a CT file or DICOM folder inside the data folder."""
        return self._open_ct(path_in_data_folder(self.data_dir, relative))

    def open_upload(self, uploads: list[Upload]) -> Any:
        """Open an uploaded CT (one file, or the files of one DICOM series)."""
        return self._open_ct(self.uploads.store(uploads))

    def _open_ct(self, path: Path) -> Any:
        """Load the CT; the case is labelled by its file (or folder) name, as the command line does."""
        node = load_volume(self.runtime, path)  # raises before the open case is touched
        self._close_case()
        self.volume_node, self.case_label = node, path.name
        logger.info("opened CT %s", path)
        return node

    def _close_case(self) -> None:
        for node in (self.segmentation_node, self.volume_node):
            if node is not None and self.runtime.scene.IsNodePresent(node):
                remove_node(self.runtime.scene, node)
        self.volume_node, self.segmentation_node, self.segment_id = None, None, ""

    def _require_ct(self, action: str) -> Any:
        if self.volume_node is None:
            raise InputError(f"Open a CT first (sample, data path or upload), then {action}.")
        return self.volume_node

    # --- the hematoma --------------------------------------------------------------------------
    def draft(self, seed_text: str = "", hu_range: tuple[float, float] = DEFAULT_DRAFT_HU_RANGE) -> Any:
        """Draft the hematoma with the Logic (replacing an earlier draft); returns the DraftResult."""
        volume = self._require_ct("draft the hematoma")
        segmentation, segment_id, draft = self.logic.draft_hematoma_segment(
            volume, self.segmentation_node, parse_seed(seed_text), hu_range, overwrite=True
        )
        self.segmentation_node, self.segment_id = segmentation, segment_id
        return draft

    def open_segmentation_path(self, relative: str, segment: str = "") -> Any:
        """Open a segmentation (.seg.nrrd or labelmap) inside the data folder as the hematoma.

        ``segment`` chooses the segment by name, ID or label value (empty: the hematoma, as ``--segment``).
        """
        return self._open_segmentation(path_in_data_folder(self.data_dir, relative), segment)

    def open_segmentation_upload(self, uploads: list[Upload], segment: str = "") -> Any:
        """Open an uploaded segmentation file as the hematoma."""
        return self._open_segmentation(self.uploads.store(uploads), segment)

    def _open_segmentation(self, path: Path, segment: str) -> Any:
        self._require_ct("open its hematoma segmentation")
        node = load_segmentation(self.runtime, path)
        try:
            segment_id = resolve_segment_id(node, segment.strip() or None)
        except InputError:
            remove_node(self.runtime.scene, node)
            raise
        if self.segmentation_node is not None:
            remove_node(self.runtime.scene, self.segmentation_node)
        self.segmentation_node, self.segment_id = node, segment_id
        return node

    def segment_name(self) -> str:
        """The hematoma segment's name ("" when there is none)."""
        if self.segmentation_node is None or not self.segment_id:
            return ""
        segment = self.segmentation_node.GetSegmentation().GetSegment(self.segment_id)
        return segment.GetName() if segment is not None else ""

    def voxel_count(self) -> tuple[int, float]:
        """(voxels, mL) of the hematoma segment on the CT's grid, as the Logic exports it (0 when empty)."""
        if self.volume_node is None or self.segmentation_node is None or not self.segment_name():
            return 0, 0.0
        try:
            mask, _ = segment_to_mask(self.runtime, self.segmentation_node, self.segment_id, self.volume_node)
        except InputError:
            return 0, 0.0
        count = int(sitk.GetArrayViewFromImage(mask).sum())
        spacing = mask.GetSpacing()
        return count, count * spacing[0] * spacing[1] * spacing[2] / 1000.0

    # --- the model and the prediction ----------------------------------------------------------
    def models(self) -> list[ModelSummary]:
        """The installed models (bundled first), as the panel's selector lists them."""
        return available_models(self.logic.model_dirs)

    @staticmethod
    def default_model_id() -> str:
        return DEFAULT_MODEL_ID

    def measure_signs(self) -> Any:
        """The conventional signs measured on the hematoma (suggestions for the checklist)."""
        return self.logic.measure_signs(self.volume_node, self.segmentation_node, self.segment_id)

    def prepare_prediction(
        self,
        model_id: str,
        checklist: ApplicabilityChecklist,
        clinical: Mapping[str, str | float] | None = None,
    ) -> PredictionJob:
        """Check the inputs with the Logic and copy them for a prediction (on this thread)."""
        volume = self._require_ct("predict")
        self.logic.hematoma_inputs(volume, self.segmentation_node, self.segment_id or None)
        logic = self._snapshot_logic_for_job()
        logic.model_dirs = list(self.logic.model_dirs)
        nodes = self._snapshot(logic.runtime)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        label = re.sub(r"[^A-Za-z0-9._-]+", "_", self.case_label) or "case"
        request = {
            "model": model_id,
            "checklist": checklist,
            "clinical": clinical,
            "case_label": self.case_label,
        }
        return PredictionJob(logic, nodes, request, self.out_dir / f"{stamp}_{label}")

    def _snapshot_logic_for_job(self) -> HematomaExpansionLogicBase:
        if self._snapshot_logic is None:
            self._snapshot_logic = HematomaExpansionLogicBase(SlicerRuntime.create_headless())
        self._snapshot_logic.runtime.clear()
        return self._snapshot_logic

    def _snapshot(self, runtime: SlicerRuntime) -> tuple[Any, Any, str]:
        """Copies of the CT and the segmentation (same names) in ``runtime``'s scene."""
        volume = sitk_to_volume(volume_to_sitk(self.volume_node), runtime.scene, self.volume_node.GetName())
        segmentation = runtime.scene.AddNewNodeByClass(
            "vtkMRMLSegmentationNode", self.segmentation_node.GetName()
        )
        segmentation.GetSegmentation().DeepCopy(self.segmentation_node.GetSegmentation())
        segment_id = resolve_segment_id(self.segmentation_node, self.segment_id or None)
        return volume, segmentation, segment_id


def expected_stages(families: tuple[str, ...]) -> list[str]:
    """The stage names a prediction with these feature families announces, in order."""
    return [*STAGES_BEFORE_FAMILIES, *families, "model", "writing results"]
