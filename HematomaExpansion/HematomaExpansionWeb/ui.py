"""The page's widgets: the steps of "Using the module" in a side panel, the four views beside them.

Every element a test needs carries its id from :mod:`.page_ids`. Buttons call the controller
functions of ``app.py``; texts show state values set there and in :mod:`.presentation`.
"""

from __future__ import annotations

from typing import Any

from trame.ui.vuetify3 import SinglePageWithDrawerLayout
from trame.widgets import html
from trame.widgets import vuetify3 as v3
from trame_slicer.core import LayoutManager

from HematomaExpansionLib.imaging.draft_parameters import DEFAULT_DRAFT_HU_RANGE

from . import page_ids as ids
from .data_files import BYTES_PER_MB
from .editing import DEFAULT_BRUSH_MM

TITLE = "Hematoma Expansion"
RESEARCH_ONLY = "Research use only. Not a medical device and not for clinical decisions."
UPLOAD_CT_TRIGGER = "upload_ct"
UPLOAD_SEGMENTATION_TRIGGER = "upload_segmentation"


def initial_state(models: list[dict[str, str]], model_id: str) -> dict[str, Any]:
    """Every state value the page binds, before anything is opened."""
    return {
        "error_message": "",
        "status": "Open a CT: the sample, a path in the data folder, or an upload.",
        "data_path": "",
        "segmentation_path": "",
        "segment_choice": "",
        "ct_name": "",
        "segment_name": "",
        "seed_text": "",
        "picking_seed": False,
        "hu_min": DEFAULT_DRAFT_HU_RANGE[0],
        "hu_max": DEFAULT_DRAFT_HU_RANGE[1],
        "voxel_count": 0,
        "segment_volume_ml": "0.000",
        "active_effect": "none",
        "brush_mm": DEFAULT_BRUSH_MM,
        "can_undo": False,
        "can_redo": False,
        "models": models,
        "model_id": model_id,
        "model_card": "",
        "clinical_fields": [],
        "clinical_values": {},
        "signs_text": "",
        "check_onset": False,
        "check_spontaneous": False,
        "check_no_signs": False,
        "predicting": False,
        "progress_stage": "",
        "progress_value": 0,
    }


def _upload_change(trigger: str, max_upload_bytes: int) -> str:
    """The file input's change handler: refuse an oversized upload in the page, else send it."""
    limit_mb = max_upload_bytes / BYTES_PER_MB
    return (
        "const files = Array.from($event.target.files); "
        "const total = files.reduce((sum, f) => sum + f.size, 0); "
        f"if (total > {max_upload_bytes}) {{ error_message = `the upload is ${{(total / {BYTES_PER_MB}).toFixed(1)}} MB, "
        f"more than this server's limit of {limit_mb:.0f} MB (--max-upload-mb); put the file into the data folder "
        "and open it by its path instead.`; } "
        f"else if (files.length) {{ trigger('{trigger}', [$event.target.files]); }}"
    )


def _open_ct_section(ctrl: Any, max_upload_bytes: int) -> None:
    html.H3("1. CT")
    v3.VBtn("Open sample case", id=ids.LOAD_SAMPLE_BUTTON, click=ctrl.load_sample, block=True, classes="mb-2")
    with html.Div(classes="d-flex align-center"):
        v3.VTextField(
            v_model=("data_path",), id=ids.DATA_PATH_FIELD, label="Path in the data folder", density="compact"
        )
        v3.VBtn("Open", id=ids.OPEN_PATH_BUTTON, click=ctrl.open_path, classes="ml-2")
    html.Label("Upload a CT (NRRD, NIfTI, MHA, or the files of one DICOM series): ")
    html.Input(
        type="file",
        id=ids.UPLOAD_INPUT,
        multiple=True,
        change=_upload_change(UPLOAD_CT_TRIGGER, max_upload_bytes),
    )
    html.Div("CT: {{ ct_name }}", id=ids.CT_NAME_TEXT, classes="my-1")
    with html.Div():
        v3.VBtn(
            "Brain window", id=ids.WINDOW_BRAIN_BUTTON, click=(ctrl.set_window, "['brain']"), size="small"
        )
        v3.VBtn(
            "Blood window", id=ids.WINDOW_BLOOD_BUTTON, click=(ctrl.set_window, "['blood']"), size="small"
        )


def _hematoma_section(ctrl: Any, max_upload_bytes: int) -> None:
    html.H3("2. Hematoma", classes="mt-4")
    with html.Div(classes="d-flex align-center"):
        v3.VTextField(
            v_model=("seed_text",), id=ids.SEED_FIELD, label="Seed point R, A, S (mm)", density="compact"
        )
        v3.VBtn(
            "Pick",
            id=ids.PICK_SEED_BUTTON,
            click=ctrl.pick_seed,
            classes="ml-2",
            color=("picking_seed ? 'primary' : ''",),
        )
    with html.Div(classes="d-flex"):
        v3.VTextField(
            v_model_number=("hu_min",), id=ids.HU_MIN_FIELD, label="HU min", type="number", density="compact"
        )
        v3.VTextField(
            v_model_number=("hu_max",), id=ids.HU_MAX_FIELD, label="HU max", type="number", density="compact"
        )
    v3.VBtn("Draft hematoma", id=ids.DRAFT_BUTTON, click=ctrl.draft, block=True)
    with html.Div(classes="d-flex align-center mt-2"):
        v3.VTextField(
            v_model=("segmentation_path",),
            id=ids.SEGMENTATION_PATH_FIELD,
            label="or a segmentation path",
            density="compact",
        )
        v3.VBtn("Open", id=ids.OPEN_SEGMENTATION_BUTTON, click=ctrl.open_segmentation, classes="ml-2")
    v3.VTextField(
        v_model=("segment_choice",),
        id=ids.SEGMENT_FIELD,
        label="Segment (name, ID or label value; empty: the hematoma)",
        density="compact",
    )
    html.Label("or upload a segmentation: ")
    html.Input(
        type="file",
        id=ids.UPLOAD_SEGMENTATION_INPUT,
        change=_upload_change(UPLOAD_SEGMENTATION_TRIGGER, max_upload_bytes),
    )
    with html.Div(classes="my-1"):
        html.Span("Segment: {{ segment_name }}", id=ids.SEGMENT_NAME_TEXT)
        html.Span(" | voxels: ")
        html.Span("{{ voxel_count }}", id=ids.VOXEL_COUNT_TEXT)
        html.Span(" | ")
        html.Span("{{ segment_volume_ml }}", id=ids.SEGMENT_VOLUME_TEXT)
        html.Span(" mL")


def _editor_section(ctrl: Any) -> None:
    html.H4("Correct it")
    effects = [
        (ids.NO_TOOL_BUTTON, "none", "mdi-cursor-default"),
        (ids.PAINT_BUTTON, "paint", "mdi-brush"),
        (ids.ERASE_BUTTON, "erase", "mdi-eraser"),
        (ids.SCISSORS_BUTTON, "scissors", "mdi-content-cut"),
        (ids.THRESHOLD_BUTTON, "threshold", "mdi-contrast-box"),
        (ids.SMOOTHING_BUTTON, "smoothing", "mdi-blur"),
    ]
    with html.Div(classes="d-flex flex-wrap"):
        for element_id, name, icon in effects:
            v3.VBtn(
                name,
                id=element_id,
                prepend_icon=icon,
                size="small",
                click=f"active_effect = '{name}'",
                color=(f"active_effect === '{name}' ? 'primary' : ''",),
            )
    with html.Div(classes="d-flex flex-wrap mt-1"):
        v3.VBtn("Apply threshold", id=ids.APPLY_THRESHOLD_BUTTON, size="small", click=ctrl.apply_threshold)
        v3.VBtn("Apply smoothing", id=ids.APPLY_SMOOTHING_BUTTON, size="small", click=ctrl.apply_smoothing)
        v3.VBtn(
            "Keep largest island",
            id=ids.KEEP_LARGEST_ISLAND_BUTTON,
            size="small",
            click=ctrl.keep_largest_island,
        )
    with html.Div(classes="d-flex align-center mt-1"):
        v3.VTextField(
            v_model_number=("brush_mm",),
            id=ids.BRUSH_SIZE_FIELD,
            label="Brush (mm)",
            type="number",
            density="compact",
        )
        v3.VBtn(
            "Undo", id=ids.UNDO_BUTTON, click=ctrl.undo, disabled=("!can_undo",), size="small", classes="ml-2"
        )
        v3.VBtn("Redo", id=ids.REDO_BUTTON, click=ctrl.redo, disabled=("!can_redo",), size="small")


def _model_section(ctrl: Any) -> None:
    html.H3("3. Model and checklist", classes="mt-4")
    with html.Select(v_model=("model_id",), id=ids.MODEL_SELECT, style="width: 100%; color: inherit;"):
        html.Option("{{ m.title }}", v_for="m in models", key="m.value", value=("m.value",))
    html.P("{{ model_card }}", id=ids.MODEL_CARD_TEXT, classes="text-caption")
    v3.VAlert(RESEARCH_ONLY, id=ids.RESEARCH_WARNING, type="warning", density="compact", variant="tonal")
    v3.VTextField(
        v_for="f in clinical_fields",
        key="f.name",
        label=("`${f.name} (${f.unit})`",),
        model_value=("clinical_values[f.short_name]",),
        update_modelValue="clinical_values = {...clinical_values, [f.short_name]: $event}",
        density="compact",
    )
    for state, element_id, label in (
        ("check_onset", ids.CHECK_ONSET, "Onset-to-CT within 6 h"),
        ("check_spontaneous", ids.CHECK_SPONTANEOUS, "Spontaneous (non-traumatic) ICH"),
        ("check_no_signs", ids.CHECK_NO_SIGNS, "No conventional expansion signs"),
    ):
        v3.VCheckbox(v_model=(state,), id=element_id, label=label, density="compact", hide_details=True)
    html.P("{{ signs_text }}", classes="text-caption")


def _predict_section(ctrl: Any) -> None:
    html.H3("4. Predict", classes="mt-4")
    with html.Div(classes="d-flex"):
        v3.VBtn(
            "Predict expansion risk",
            id=ids.PREDICT_BUTTON,
            click=ctrl.predict,
            disabled=("predicting",),
            color="primary",
        )
        v3.VBtn("Cancel", id=ids.CANCEL_BUTTON, click=ctrl.cancel, disabled=("!predicting",), classes="ml-2")
    v3.VProgressLinear(model_value=("progress_value",), id=ids.PROGRESS, height=8, classes="my-2")
    html.Div("{{ progress_stage }}", id=ids.PROGRESS_TEXT, classes="text-caption")


def _result_section() -> None:
    with html.Div(v_show="has_result", classes="mt-4"):
        html.H3("5. Result")
        html.Div("{{ risk_percent }}", id=ids.RISK_PERCENT_TEXT, style="font-size: 56px; font-weight: bold;")
        with html.Div():
            html.Span("Category: ")
            html.B("{{ category }}", id=ids.CATEGORY_TEXT)
            html.Span(" | probability ")
            html.Code("{{ probability }}", id=ids.PROBABILITY_TEXT)
        html.Div("{{ risk_text }}", id=ids.RISK_TEXT)
        with html.Div():
            html.Span("Volume ")
            html.Span("{{ volume_ml }}", id=ids.VOLUME_ML_TEXT)
            html.Span(" mL, ABC/2 ")
            html.Span("{{ abc2_ml }}", id=ids.ABC2_ML_TEXT)
            html.Span(" mL")
        with html.Ul(id=ids.WARNINGS_LIST):
            html.Li("{{ w }}", v_for="w in result_warnings", key="w")
        with html.Div(id=ids.SLICE_IMAGES, classes="d-flex flex-wrap"):
            html.Img(
                v_for="(url, i) in slice_urls",
                key="url",
                src=("url",),
                id=(f"`{ids.SLICE_IMAGE_PREFIX}${{i}}`",),
                style="width: 76px; margin: 2px;",
            )
        with html.Div(classes="my-2"):
            html.A(
                "Download report (HTML)",
                id=ids.DOWNLOAD_REPORT_LINK,
                href=("report_url",),
                download="report.html",
            )
            html.Span(" | ")
            html.A(
                "Download table (CSV)",
                id=ids.DOWNLOAD_TABLE_LINK,
                href=("table_url",),
                download="model_features.csv",
            )
        html.Div("{{ result_folder }}", id=ids.RESULT_FOLDER_TEXT, classes="text-caption")
        with html.Table(id=ids.FEATURE_TABLE, classes="text-caption"):
            with html.Tr():
                for header in ("feature", "value", "z-score", "LASSO weight"):
                    html.Th(header)
            with html.Tr(v_for="row in feature_rows", key="row[0]"):
                html.Td("{{ cell }}", v_for="(cell, j) in row", key="j")


def build_page(
    server: Any, layout_manager: LayoutManager, max_upload_bytes: int
) -> SinglePageWithDrawerLayout:
    """The page: the steps in the drawer, the alert and status on top, the views in the content."""
    ctrl = server.controller
    with SinglePageWithDrawerLayout(server, theme="dark") as layout:
        layout.title.set_text(TITLE)
        layout.drawer.width = 440
        with layout.toolbar:
            html.Div("{{ status }}", id=ids.STATUS_TEXT, classes="text-caption ml-4")
        with layout.drawer, html.Div(classes="pa-3"):
            v3.VAlert(
                "{{ error_message }}",
                id=ids.ERROR_ALERT,
                v_show="error_message",
                type="error",
                closable=True,
                click_close="error_message = ''",
                density="compact",
                classes="mb-2",
            )
            _open_ct_section(ctrl, max_upload_bytes)
            _hematoma_section(ctrl, max_upload_bytes)
            _editor_section(ctrl)
            _model_section(ctrl)
            _predict_section(ctrl)
            _result_section()
        with layout.content, html.Div(id=ids.VIEWS, style="height: calc(100vh - 64px);"):
            layout_manager.initialize_layout_grid(layout)
    return layout
