"""The trame-slicer application: one SlicerApp scene, four views, the page's handlers over the session.

The Logic runs on trame-slicer's own scene and module logics (``runtime_of``). Views are created
by the layout grid before any data is loaded (loading earlier gives black views). A failed step
sets ``error_message`` (the alert) to the Logic's message and leaves the server as it was; a
prediction runs in a worker thread (``session.PredictionJob``) and reports each stage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from trame.app import get_server
from trame.app.file_upload import ClientFile
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.core.volume_window_level import VolumeWindowLevel
from trame_slicer.rca_view import register_rca_factories

from HematomaExpansionLib.common.errors import InputError, ModelError, OperationCancelledError
from HematomaExpansionLib.features.clinical import required_covariates
from HematomaExpansionLib.model.applicability import ApplicabilityChecklist
from HematomaExpansionLib.model.kinds import FAMILIES_BY_KIND
from HematomaExpansionLib.model.registry import load_model
from HematomaExpansionLib.mrml.runtime import SlicerRuntime

from . import ui
from .data_files import Upload, UploadStore, path_in_data_folder
from .editing import HematomaEditor
from .presentation import result_state, seed_text_at, summaries_state
from .security import AccessRule
from .session import PredictionJob, WebSession, expected_stages, import_prediction_modules

logger = logging.getLogger(__name__)

#: Window/level presets (width, level) in HU.
WINDOW_PRESETS = {"brain": (80.0, 40.0), "blood": (150.0, 60.0)}
VOXEL_COUNT_DELAY_S = 0.3
RESULTS_ROUTE = "/results"
LAYOUT = "Axial Primary"


def runtime_of(slicer_app: SlicerApp) -> SlicerRuntime:
    """trame-slicer's scene and module logics as the runtime the Logic works on."""
    return SlicerRuntime(
        scene=slicer_app.scene,
        app_logic=slicer_app.app_logic,
        volumes_logic=slicer_app.volumes_logic,
        segmentations_logic=slicer_app.segmentations_logic,
        headless=True,
    )


class HematomaExpansionWebApp:
    """The page: trame server, Slicer views and the handlers of every button."""

    def __init__(
        self, data_dir: Path, out_dir: Path, uploads: UploadStore, access: AccessRule, server: Any = None
    ) -> None:
        import_prediction_modules()
        self.server = server or get_server(client_type="vue3")
        self.state, self.ctrl = self.server.state, self.server.controller
        self.slicer_app = SlicerApp()
        self.session = WebSession(runtime_of(self.slicer_app), data_dir, out_dir, uploads)
        self.editor = HematomaEditor(self.slicer_app.segmentation_editor, self.session.runtime)
        self.access = access
        self._job: PredictionJob | None = None
        self._count_task: asyncio.Task | None = None
        register_rca_factories(self.slicer_app.view_manager, self.server)
        self.layout_manager = LayoutManager(self.slicer_app.scene, self.slicer_app.view_manager, self.server)
        self.layout_manager.register_layout_dict(LayoutManager.default_grid_configuration())
        self.layout_manager.set_layout(LAYOUT)
        self._init_state()
        self._bind_handlers()
        self.ui = ui.build_page(self.server, self.layout_manager, uploads.max_upload_bytes)
        self.ctrl.on_server_bind.add(self._bind_http)
        self.editor.editor.segmentation_modified.connect(self._schedule_voxel_count)
        for signal in (self.editor.undo_stack.can_undo_changed, self.editor.undo_stack.can_redo_changed):
            signal.connect(self._on_undo_changed)
        self._observe_seed_clicks()

    # --- wiring --------------------------------------------------------------------------------
    def _init_state(self) -> None:
        models = self.session.models()
        self.state.update(ui.initial_state(summaries_state(models), self.session.default_model_id()))
        self.state.update(result_state(None))
        self._on_model_changed(self.session.default_model_id())

    def _bind_handlers(self) -> None:
        handlers: dict[str, Callable[..., Any]] = {
            "load_sample": self.session.open_sample,
            "open_path": lambda: self.session.open_data_path(self.state.data_path),
            "upload_ct": lambda files: self.session.open_upload(_uploads(files)),
            "open_segmentation": lambda: self.session.open_segmentation_path(
                self.state.segmentation_path, self.state.segment_choice
            ),
            "upload_segmentation": lambda files: self.session.open_segmentation_upload(
                _uploads(files), self.state.segment_choice
            ),
            "draft": lambda: self.session.draft(self.state.seed_text, self._hu_range()),
        }
        for name, step in handlers.items():
            self.ctrl[name] = self._case_step(
                step, reload_ct=name in ("load_sample", "open_path", "upload_ct")
            )
        self.ctrl.trigger(ui.UPLOAD_CT_TRIGGER)(self.ctrl.upload_ct)
        self.ctrl.trigger(ui.UPLOAD_SEGMENTATION_TRIGGER)(self.ctrl.upload_segmentation)
        edits: dict[str, Callable[..., Any]] = {
            "apply_threshold": lambda: self.editor.apply_threshold(self._hu_range()),
            "apply_smoothing": self.editor.apply_smoothing,
            "keep_largest_island": self.editor.keep_largest_island,
            "undo": self.editor.undo,
            "redo": self.editor.redo,
            "set_window": self._set_window,
            "pick_seed": self._pick_seed,
        }
        for name, edit in edits.items():
            self.ctrl[name] = self._guarded(edit)
        self.ctrl.predict = self.predict
        self.ctrl.cancel = self.cancel
        self.state.change("model_id")(lambda model_id, **_: self._guarded(self._on_model_changed)(model_id))
        self.state.change("brush_mm")(lambda brush_mm, **_: self._guarded(self.editor.set_brush_mm)(brush_mm))
        self.state.change("active_effect")(lambda active_effect, **_: self._on_effect_changed(active_effect))

    def _guarded(self, action: Callable[..., Any]) -> Callable[..., Any]:
        """``action`` with a bad input shown in the alert (the server carries on)."""

        def run(*args: Any) -> Any:
            try:
                self.state.error_message = ""
                return action(*args)
            except (InputError, ModelError) as error:
                self.state.error_message = str(error)
            except Exception as error:  # the page must survive any failure of one step
                logger.exception("unexpected failure")
                self.state.error_message = f"unexpected error ({type(error).__name__}): {error}"
            return None

        return run

    def _case_step(self, step: Callable[..., Any], reload_ct: bool) -> Callable[..., Any]:
        def run(*args: Any) -> None:
            if self.state.predicting:
                self.state.error_message = "A prediction is running; wait for it or cancel it first."
                return
            self._guarded(step)(*args)
            if not self.state.error_message:
                self._show_case(reset_views=reload_ct)

        return run

    def _on_effect_changed(self, name: str) -> None:
        self._guarded(self.editor.set_effect)(name)
        if self.state.error_message:
            self.state.active_effect = "none"

    def _hu_range(self) -> tuple[float, float]:
        try:
            return float(self.state.hu_min), float(self.state.hu_max)
        except (TypeError, ValueError) as error:
            raise InputError(
                f"the HU range must be two numbers, got {self.state.hu_min!r} and {self.state.hu_max!r}"
            ) from error

    # --- display -------------------------------------------------------------------------------
    def _show_case(self, reset_views: bool) -> None:
        """Show the open CT and hematoma in the views and the page's texts."""
        session, state = self.session, self.state
        volume = session.volume_node
        if volume is not None and reset_views:
            display = self.slicer_app.display_manager
            display.show_volume_in_slice_background(volume)
            VolumeWindowLevel.set_volume_node_window_level(volume, *WINDOW_PRESETS["brain"])
            display.reset_views()
            for view in self.slicer_app.view_manager.get_slice_views():
                view.set_visible_in_3d(True)
        if session.segmentation_node is not None and volume is not None:
            self.editor.attach(session.segmentation_node, volume, session.segment_id)
        state.ct_name = volume.GetName() if volume is not None else ""
        state.segment_name = session.segment_name()
        state.status = (
            f"Opened CT {state.ct_name}" if reset_views else f"Hematoma segment: {state.segment_name}"
        )
        state.update(result_state(None))
        self._update_voxel_count()
        self._suggest_signs()

    def _set_window(self, preset: str) -> None:
        if self.session.volume_node is None:
            raise InputError("Open a CT first, then choose a window.")
        VolumeWindowLevel.set_volume_node_window_level(self.session.volume_node, *WINDOW_PRESETS[preset])

    def _schedule_voxel_count(self, *_: Any) -> None:
        """Recount after edits settle (a paint stroke modifies the segment many times)."""
        if self._count_task is not None:
            self._count_task.cancel()

        async def later() -> None:
            await asyncio.sleep(VOXEL_COUNT_DELAY_S)
            with self.state:
                self._update_voxel_count()

        try:
            self._count_task = asyncio.get_running_loop().create_task(later())
        except RuntimeError:  # no loop (direct use): count now
            self._update_voxel_count()

    def _update_voxel_count(self) -> None:
        count, volume_ml = self.session.voxel_count()
        self.state.voxel_count, self.state.segment_volume_ml = count, f"{volume_ml:.3f}"

    def _on_undo_changed(self, *_: Any) -> None:
        self.state.can_undo = self.editor.undo_stack.can_undo()
        self.state.can_redo = self.editor.undo_stack.can_redo()
        self._schedule_voxel_count()

    def _suggest_signs(self) -> None:
        """The measured conventional signs as the checklist's suggestion (the Logic's measure_signs)."""
        self.state.signs_text = ""
        if not self.session.segment_name():
            return
        try:
            report = self.session.measure_signs()
        except InputError as error:
            self.state.signs_text = f"signs not measured: {error}"
            return
        titles = report.present_titles
        self.state.signs_text = (
            f"Measured on this CT: {', '.join(titles)}."
            if titles
            else "No conventional sign measured on this CT."
        )

    # --- seed point ----------------------------------------------------------------------------
    def _pick_seed(self) -> None:
        self.session._require_ct("pick the seed point")
        self.editor.set_effect("none")
        self.state.picking_seed = True

    def _observe_seed_clicks(self) -> None:
        view = self.slicer_app.view_manager.get_view("Red")

        def on_press(interactor: Any, _event: str) -> None:
            if not self.state.picking_seed:
                return
            with self.state:
                self.state.seed_text = seed_text_at(view, *interactor.GetEventPosition())
                self.state.picking_seed = False

        if view is not None:
            view.interactor().AddObserver("LeftButtonPressEvent", on_press, 10.0)

    # --- prediction ----------------------------------------------------------------------------
    def _on_model_changed(self, model_id: str) -> None:
        summary = next((m for m in self.session.models() if m.model_id == model_id), None)
        self.state.model_card = summary.describe() if summary else ""
        specs = required_covariates(load_model(model_id, self.session.logic.model_dirs)) if summary else []
        self.state.clinical_fields = [{**spec.as_dict(), "short_name": spec.short_name} for spec in specs]
        self.state.clinical_values = {spec.short_name: "" for spec in specs}

    async def predict(self) -> None:
        """Check and copy the inputs, predict in a worker thread with progress, show and link the result."""
        state = self.state
        if state.predicting:
            return
        checklist = ApplicabilityChecklist(
            onset_to_ct_within_6h=bool(state.check_onset),
            spontaneous_ich=bool(state.check_spontaneous),
            no_conventional_signs=bool(state.check_no_signs),
        )
        clinical = {k: v for k, v in (state.clinical_values or {}).items() if str(v).strip()}
        job = self._guarded(self.session.prepare_prediction)(state.model_id, checklist, clinical)
        if job is None:
            return
        self._job = job
        self.editor.set_effect("none")
        kind = next(m.kind for m in self.session.models() if m.model_id == state.model_id)
        stages = expected_stages(FAMILIES_BY_KIND.get(kind, ()))
        state.update(
            {**result_state(None), "predicting": True, "progress_stage": "starting", "progress_value": 0}
        )
        state.flush()
        loop = asyncio.get_running_loop()

        def on_stage(stage: str) -> None:
            loop.call_soon_threadsafe(self._show_stage, stage, stages)

        try:
            outputs = await loop.run_in_executor(None, job.run, on_stage)
        except OperationCancelledError:
            with state:
                state.update(
                    {"predicting": False, "progress_stage": "cancelled", "status": "Prediction cancelled"}
                )
            return
        except (InputError, ModelError) as error:
            outputs, message = None, str(error)
        except Exception as error:
            logger.exception("prediction failed")
            outputs, message = None, f"unexpected error ({type(error).__name__}): {error}"
        finally:
            self._job = None
        with state:
            state.predicting = False
            if outputs is None:
                state.update({"error_message": message, "progress_stage": "failed"})
                return
            folder = outputs.folder.relative_to(self.session.out_dir).as_posix()
            state.update({**result_state(outputs, f"{RESULTS_ROUTE}/{folder}"), "progress_value": 100})
            state.update({"progress_stage": "done", "status": f"Result written to {outputs.folder}"})

    def _show_stage(self, stage: str, stages: list[str]) -> None:
        with self.state:
            self.state.progress_stage = stage
            if stage in stages:
                self.state.progress_value = round(100 * stages.index(stage) / len(stages))

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.state.progress_stage = "cancelling"

    # --- HTTP: access rule and result files ----------------------------------------------------
    def _bind_http(self, wslink_server: Any) -> None:
        app = wslink_server.app
        app.middlewares.append(self.access.middleware)
        app.router.add_get(RESULTS_ROUTE + "/{path:.+}", self._serve_result)

    async def _serve_result(self, request: web.Request) -> web.StreamResponse:
        try:
            path = path_in_data_folder(self.session.out_dir, request.match_info["path"])
        except InputError:
            raise web.HTTPNotFound() from None
        if not path.is_file():
            raise web.HTTPNotFound()
        headers = (
            {} if path.suffix == ".png" else {"Content-Disposition": f'attachment; filename="{path.name}"'}
        )
        return web.FileResponse(path, headers=headers)


def _uploads(files: list[dict[str, Any]] | None) -> list[Upload]:
    """The files of a file input as uploads (trame sends name, size, content)."""
    client_files = [ClientFile(item) for item in files or []]
    return [Upload(f.name or "", f.content or b"") for f in client_files]
