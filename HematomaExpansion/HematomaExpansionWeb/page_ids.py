"""The DOM ids of the page's elements: the contract between the page and its browser tests.

Every constant is rendered as the ``id`` attribute of exactly one element. A test finds an element
with ``page.locator(f"#{page_ids.PREDICT_BUTTON}")``.

Seed point of the draft. The exact way: type "R, A, S" in millimetres (Slicer's RAS) into
:data:`SEED_FIELD` and press :data:`DRAFT_BUTTON`. The interactive way: press
:data:`PICK_SEED_BUTTON`, then click in the axial slice view (trame-slicer's view with singleton tag
"Red", the large view on the left, inside :data:`VIEWS`); the clicked point (the axial slice's RAS
position under the mouse) is written into :data:`SEED_FIELD`. After loading the sample the axial
view shows the slice through the volume centre and a click at the centre of the axial view lands in
the sample's hematoma. An empty seed field drafts without a seed (the densest blood-like region).

Texts hold plain values where a test compares them: :data:`PROBABILITY_TEXT` is the model's
probability with six decimals ("0.163421"), :data:`VOLUME_ML_TEXT` the volume in mL with three,
:data:`VOXEL_COUNT_TEXT` the number of voxels of the hematoma segment on the CT's grid (exported from
the segment's labelmap after every edit) as an integer.
"""

from __future__ import annotations

# --- opening a CT -------------------------------------------------------------------------------
LOAD_SAMPLE_BUTTON = "load-sample"
"""Button: write the bundled sample case (synthetic phantom) and open its CT."""
DATA_PATH_FIELD = "data-path"
"""Text field: a CT path relative to the served data folder (file or DICOM folder)."""
OPEN_PATH_BUTTON = "open-path"
"""Button: open the CT named in :data:`DATA_PATH_FIELD`."""
UPLOAD_INPUT = "upload-ct"
"""``<input type="file">``: upload a CT file (or several DICOM files of one series)."""
CT_NAME_TEXT = "ct-name"
"""Text: the name of the CT now open (empty before one is)."""
WINDOW_BRAIN_BUTTON = "window-brain"
"""Button: window/level preset brain (80/40 HU)."""
WINDOW_BLOOD_BUTTON = "window-blood"
"""Button: window/level preset blood (150/60 HU)."""
VIEWS = "views"
"""Container of the four views (axial, 3D, coronal, sagittal)."""

# --- messages -----------------------------------------------------------------------------------
ERROR_ALERT = "error-alert"
"""Alert shown when an action failed; its text is the same message as the command line's."""
STATUS_TEXT = "status"
"""Text: what the page did last (e.g. "Opened CT sample_ct")."""

# --- hematoma -----------------------------------------------------------------------------------
SEED_FIELD = "seed-ras"
"""Text field: the draft's seed point as "R, A, S" in mm (empty: no seed)."""
PICK_SEED_BUTTON = "pick-seed"
"""Button: the next click in the axial view sets :data:`SEED_FIELD`."""
HU_MIN_FIELD = "hu-min"
"""Number field: lower end of the draft's blood HU range."""
HU_MAX_FIELD = "hu-max"
"""Number field: upper end of the draft's blood HU range."""
DRAFT_BUTTON = "draft-hematoma"
"""Button: draft the hematoma (the Logic's draft_hematoma_segment) as the segment "Hematoma draft"."""
SEGMENTATION_PATH_FIELD = "segmentation-path"
"""Text field: a segmentation (.seg.nrrd or labelmap) path relative to the served data folder."""
OPEN_SEGMENTATION_BUTTON = "open-segmentation"
"""Button: open the segmentation named in :data:`SEGMENTATION_PATH_FIELD` instead of drafting."""
SEGMENT_FIELD = "segment-choice"
"""Text field: which segment of an opened segmentation is the hematoma (name, ID or label value;
empty: the only segment or the one named like a hematoma, as the command line's ``--segment``)."""
UPLOAD_SEGMENTATION_INPUT = "upload-segmentation"
"""``<input type="file">``: upload a segmentation file instead of drafting."""
SEGMENT_NAME_TEXT = "segment-name"
"""Text: the name of the hematoma segment that will be predicted."""
VOXEL_COUNT_TEXT = "hematoma-voxels"
"""Text: voxel count of the hematoma segment (integer), updated after every edit."""
SEGMENT_VOLUME_TEXT = "hematoma-volume-ml"
"""Text: the segment's volume in mL (voxel count x voxel volume, three decimals)."""

# --- segment editor -----------------------------------------------------------------------------
NO_TOOL_BUTTON = "effect-none"
"""Button: no editing effect (views navigate)."""
PAINT_BUTTON = "effect-paint"
"""Button: the paint effect (drag in a slice view)."""
ERASE_BUTTON = "effect-erase"
"""Button: the erase effect."""
SCISSORS_BUTTON = "effect-scissors"
"""Button: the scissors effect."""
THRESHOLD_BUTTON = "effect-threshold"
"""Button: the threshold effect (its range is :data:`HU_MIN_FIELD`..:data:`HU_MAX_FIELD`)."""
APPLY_THRESHOLD_BUTTON = "apply-threshold"
"""Button: apply the threshold effect to the segment."""
SMOOTHING_BUTTON = "effect-smoothing"
"""Button: the smoothing effect."""
APPLY_SMOOTHING_BUTTON = "apply-smoothing"
"""Button: apply the smoothing effect to the segment."""
KEEP_LARGEST_ISLAND_BUTTON = "keep-largest-island"
"""Button: keep the largest connected component (the project's own connected components)."""
BRUSH_SIZE_FIELD = "brush-size-mm"
"""Number field: paint/erase brush diameter in mm."""
UNDO_BUTTON = "undo"
"""Button: undo the last edit."""
REDO_BUTTON = "redo"
"""Button: redo the last undone edit."""

# --- model --------------------------------------------------------------------------------------
MODEL_SELECT = "model-select"
"""Select: the installed models (model/registry); value is the model id."""
MODEL_CARD_TEXT = "model-card"
"""Text: the chosen model's card summary (ModelSummary.describe)."""
RESEARCH_WARNING = "research-warning"
"""Alert: research use only, not for clinical decisions."""
CHECK_ONSET = "check-onset-6h"
"""Checkbox: onset-to-CT within 6 hours confirmed."""
CHECK_SPONTANEOUS = "check-spontaneous"
"""Checkbox: spontaneous (non-traumatic) ICH confirmed."""
CHECK_NO_SIGNS = "check-no-signs"
"""Checkbox: absence of conventional expansion signs confirmed."""

# --- prediction ---------------------------------------------------------------------------------
PREDICT_BUTTON = "predict"
"""Button: predict the expansion risk (the Logic's predict)."""
CANCEL_BUTTON = "cancel"
"""Button: cancel the running prediction (between stages)."""
PROGRESS = "progress"
"""Progress bar of the running prediction."""
PROGRESS_TEXT = "progress-stage"
"""Text: the stage now running ("validate", ..., "model") or "done"/"cancelled"."""

# --- result -------------------------------------------------------------------------------------
RISK_PERCENT_TEXT = "risk-percent"
"""Text: the risk as a whole percentage ("16%")."""
PROBABILITY_TEXT = "probability"
"""Text: the probability with six decimals ("0.163421"), as in prediction.json."""
CATEGORY_TEXT = "category"
"""Text: the category at the model's threshold ("low" or "high")."""
RISK_TEXT = "risk-text"
"""Text: the command line's risk line (PredictionResult.risk_text)."""
VOLUME_ML_TEXT = "volume-ml"
"""Text: hematoma volume in mL (three decimals)."""
ABC2_ML_TEXT = "abc2-ml"
"""Text: ABC/2 volume in mL (three decimals)."""
WARNINGS_LIST = "result-warnings"
"""List: the result's warnings (one item each)."""
FEATURE_TABLE = "feature-table"
"""Table: the model's features (feature, value, z-score, LASSO weight), one row each."""
SLICE_IMAGES = "slice-images"
"""Container of the five slices the network saw; each ``<img>`` has id ``slice-image-<index>``."""
SLICE_IMAGE_PREFIX = "slice-image-"
"""Prefix of the slice image ids (``slice-image-0`` .. ``slice-image-4``, in offset order)."""
RESULT_FOLDER_TEXT = "result-folder"
"""Text: the output subfolder this prediction was written to."""
DOWNLOAD_REPORT_LINK = "download-report"
"""Link (``<a download>``): the one-case report (report.html)."""
DOWNLOAD_TABLE_LINK = "download-table"
"""Link (``<a download>``): the feature table (model_features.csv)."""

# --- access -------------------------------------------------------------------------------------
TOKEN_REFUSED_PAGE = "token-refused"
"""The body of the HTTP 403 page returned to a request without the access token."""
