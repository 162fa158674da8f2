"""The web front-end's own logic without a browser, on trame-slicer's SlicerApp scene.

The page's steps (``HematomaExpansionWeb.session``) over the sample: open, draft, predict; the
probability equals the command line's for the segmentation the page saved (run in-process). A bad
file gives the command line's message and leaves the open case; cancelling writes nothing. The
segment editor (``editing``) paints, undoes and keeps the largest island on trame-slicer's direct
(serverless) views, and a click in the axial view gives a seed point inside the hematoma.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from trame_slicer.core import SlicerApp
from trame_slicer.views import DirectViewFactory, ViewLayoutDefinition

from HematomaExpansionLib.cli import main as cli_main
from HematomaExpansionLib.common.errors import InputError, OperationCancelledError
from HematomaExpansionLib.imaging.draft_parameters import DEFAULT_DRAFT_HU_RANGE
from HematomaExpansionLib.model.applicability import ApplicabilityChecklist
from HematomaExpansionLib.model.registry import DEFAULT_MODEL_ID
from HematomaExpansionWeb.app import runtime_of
from HematomaExpansionWeb.data_files import UploadStore
from HematomaExpansionWeb.presentation import result_state, seed_text_at
from HematomaExpansionWeb.session import WebSession, parse_seed


def _session(tmp_path: Path, slicer_app: SlicerApp | None = None) -> WebSession:
    (tmp_path / "data").mkdir(exist_ok=True)
    uploads = UploadStore(tmp_path / "private" / "uploads")
    return WebSession(runtime_of(slicer_app or SlicerApp()), tmp_path / "data", tmp_path / "out", uploads)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_a_seed_point_is_three_numbers_in_mm():
    assert parse_seed("") is None and parse_seed("  ") is None
    assert parse_seed("12.5, -30 41") == (12.5, -30.0, 41.0)
    for bad in ("1, 2", "a, b, c", "1, 2, 3, 4"):
        with pytest.raises(InputError, match="three numbers R, A, S in mm"):
            parse_seed(bad)


def test_the_sample_predicted_in_the_page_equals_the_command_line(tmp_path):
    session = _session(tmp_path)
    volume = session.open_sample()
    ct_path = session.sample_paths()["ct"]
    ct_digest = _digest(ct_path)
    assert volume.GetName() == "sample_ct" and session.case_label == "sample_ct.nrrd"

    draft = session.draft("", DEFAULT_DRAFT_HU_RANGE)
    count, volume_ml = session.voxel_count()
    draft_array = sitk.GetArrayViewFromImage(draft.mask)
    assert count == int(np.count_nonzero(draft_array)) > 1000
    assert volume_ml == pytest.approx(count * np.prod(draft.mask.GetSpacing()) / 1000.0)
    assert session.segment_name() == "Hematoma draft"

    checklist = ApplicabilityChecklist(
        onset_to_ct_within_6h=True, spontaneous_ich=True, no_conventional_signs=True
    )
    job = session.prepare_prediction(DEFAULT_MODEL_ID, checklist)
    stages: list[str] = []
    outputs = job.run(stages.append)
    assert stages[:2] == ["validate", "geometry"] and stages[-2:] == ["model", "writing results"]
    assert {"radiomics", "deep"} <= set(stages)

    folder = outputs.folder
    assert folder.parent == session.out_dir and folder.name.endswith("_sample_ct.nrrd")
    expected = {"prediction.json", "model_features.csv", "report.html", "slices", "hematoma.seg.nrrd"}
    assert {p.name for p in folder.iterdir()} == expected
    assert len(outputs.slices) == 5 and all(p.is_file() for p in outputs.slices)
    assert [p.name for p in session.out_dir.iterdir()] == [folder.name]  # no staging folder left
    web = json.loads(outputs.prediction_json.read_text())

    code, printed, _ = _cli(
        "predict", "--ct", str(ct_path), "--hematoma", str(outputs.segmentation), "--segment", "Hematoma draft",
        "--out", str(tmp_path / "cli"), "--onset-within-6h", "--spontaneous", "--no-conventional-signs",
    )  # fmt: skip
    assert code == 0, printed
    cli = json.loads((tmp_path / "cli" / "prediction.json").read_text())
    assert web["probability"] == cli["probability"]
    assert web["category"] == cli["category"] and web["measurements"] == cli["measurements"]
    with outputs.table.open() as web_rows, (tmp_path / "cli" / "model_features.csv").open() as cli_rows:
        assert list(csv.reader(web_rows)) == list(csv.reader(cli_rows))
    assert _digest(ct_path) == ct_digest  # the input is never modified

    shown = result_state(outputs, "/results/x")
    assert shown["probability"] == f"{cli['probability']:.6f}"
    assert shown["risk_percent"] == f"{round(100 * cli['probability'])}%"
    assert shown["risk_text"] == cli["risk_text"] and shown["category"] == cli["category"]
    assert (
        shown["slice_urls"][0].startswith("/results/x/slices/")
        and shown["report_url"] == "/results/x/report.html"
    )
    assert f"Case sample_ct.nrrd: {cli['risk_text']}" in printed  # the same case label as the page's


def test_a_bad_file_shows_the_command_line_message_and_the_next_good_one_opens(tmp_path):
    session = _session(tmp_path)
    bad = session.data_dir / "broken.nrrd"
    bad.write_text("this is not an image\n")
    good = session.data_dir / "ct.nrrd"
    image = sitk.Image(8, 8, 4, sitk.sitkInt16)
    sitk.WriteImage(image, str(good))

    with pytest.raises(InputError) as refused:
        session.open_data_path("broken.nrrd")
    code, _, err = _cli("measure", "--ct", str(bad.resolve()), "--hematoma", str(bad.resolve()))
    assert code == 2 and err == f"error: {refused.value}\n"
    assert session.volume_node is None

    opened = session.open_data_path("ct.nrrd")
    assert opened.GetName() == "ct" and session.volume_node is opened
    with pytest.raises(InputError):
        session.open_data_path("broken.nrrd")
    assert session.volume_node is opened and session.runtime.scene.IsNodePresent(opened)  # nothing lost
    with pytest.raises(InputError, match=r"Open a CT first|outside|not found") as missing:
        session.open_segmentation_path("../elsewhere.seg.nrrd")
    assert "outside the served data folder" in str(missing.value)
    assert bad.read_text() == "this is not an image\n"


def test_a_prediction_cancelled_between_stages_writes_nothing(tmp_path):
    session = _session(tmp_path)
    session.open_sample()
    session.draft()
    job = session.prepare_prediction(DEFAULT_MODEL_ID, ApplicabilityChecklist())
    stages: list[str] = []

    def cancel_during_geometry(stage: str) -> None:
        stages.append(stage)
        if stage == "geometry":
            job.cancel()  # as the Cancel button does, from another thread, while a stage runs

    with pytest.raises(OperationCancelledError, match="cancelled before stage 'radiomics'"):
        job.run(cancel_during_geometry)
    assert stages == ["validate", "geometry"]
    assert not session.out_dir.exists() or list(session.out_dir.iterdir()) == []


def test_predicting_without_a_hematoma_gives_the_logic_message(tmp_path):
    session = _session(tmp_path)
    with pytest.raises(InputError, match="Open a CT first"):
        session.prepare_prediction(DEFAULT_MODEL_ID, ApplicabilityChecklist())
    session.open_sample()
    with pytest.raises(InputError) as refused:
        session.prepare_prediction(DEFAULT_MODEL_ID, ApplicabilityChecklist())
    assert str(refused.value) == "No segmentation selected; select or create the hematoma segmentation."


@pytest.fixture(autouse=True)
def main_thread_event_loop():
    """A current event loop, as trame's server gives the page: trame-slicer's threshold effect asks
    asyncio for it, and an earlier module's Playwright or asyncio.run leaves none behind."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def app_with_views():
    """A SlicerApp with trame-slicer's direct (serverless, offscreen) axial, coronal and sagittal views."""
    slicer_app = SlicerApp()
    slicer_app.view_manager.register_factory(DirectViewFactory(do_render_offscreen=True))
    views = [
        slicer_app.view_manager.create_view(definition)
        for definition in (ViewLayoutDefinition.axial_view(), ViewLayoutDefinition.coronal_view())
    ]
    for view in views:
        view.interactor().UpdateSize(300, 300)
        view.render_window().SetSize(300, 300)
    yield slicer_app
    for view in views:
        view.finalize()


def _stroke(view, points) -> None:
    interactor = view.interactor()
    interactor.SetEventPosition(*points[0])
    interactor.InvokeEvent("MouseMoveEvent")
    interactor.InvokeEvent("LeftButtonPressEvent")
    for point in points[1:]:
        interactor.SetEventPosition(*point)
        interactor.InvokeEvent("MouseMoveEvent")
    interactor.InvokeEvent("LeftButtonReleaseEvent")


def test_a_click_seeds_the_draft_and_the_editor_paints_undoes_and_keeps_the_largest_island(
    tmp_path, app_with_views
):
    from HematomaExpansionWeb.editing import HematomaEditor

    slicer_app = app_with_views
    session = _session(tmp_path, slicer_app)
    volume = session.open_sample()
    slicer_app.display_manager.show_volume_in_slice_background(volume)
    slicer_app.display_manager.reset_views()
    axial = slicer_app.view_manager.get_view("Red")

    seed = seed_text_at(axial, 150, 150)  # the view centre
    draft = session.draft(seed)
    assert draft.mask.GetPixel(draft.mask.TransformPhysicalPointToIndex(_lps(parse_seed(seed)))) == 1
    drafted, _ = session.voxel_count()

    editor = HematomaEditor(slicer_app.segmentation_editor, session.runtime)
    editor.attach(session.segmentation_node, volume, session.segment_id)
    editor.set_brush_mm(4.0)
    editor.set_effect("paint")
    _stroke(axial, [(60, 60), (64, 62), (68, 64)])  # inside the head, away from the hematoma
    painted, _ = session.voxel_count()
    assert painted > drafted
    editor.undo()
    assert session.voxel_count()[0] == drafted
    editor.redo()
    assert session.voxel_count()[0] == painted

    removed = editor.keep_largest_island()
    assert removed == painted - drafted
    assert session.voxel_count()[0] == drafted
    editor.undo()
    assert session.voxel_count()[0] == painted
    with pytest.raises(InputError, match="brush diameter"):
        editor.set_brush_mm(0)

    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(session.sample_paths()["ct"])))
    editor.apply_threshold((45.0, 100.0))  # replaces the segment by the CT voxels in the range
    assert session.voxel_count()[0] == int(np.count_nonzero((ct >= 45.0) & (ct <= 100.0)))
    editor.undo()
    assert session.voxel_count()[0] == painted
    editor.apply_smoothing()
    assert session.voxel_count()[0] != painted
    editor.undo()
    assert session.voxel_count()[0] == painted


def _lps(ras):
    return (-ras[0], -ras[1], ras[2])


def test_the_page_shows_a_bad_input_in_its_alert_carries_on_and_shows_the_written_result(tmp_path):
    """The trame app's handlers, called as the page's buttons call them (no browser, no serving)."""
    import uuid

    from trame.app import get_server

    from HematomaExpansionWeb.app import HematomaExpansionWebApp
    from HematomaExpansionWeb.security import AccessRule

    (tmp_path / "data").mkdir()
    server = get_server(f"test_{uuid.uuid4()}", client_type="vue3")
    uploads = UploadStore(tmp_path / "private" / "uploads")
    app = HematomaExpansionWebApp(
        tmp_path / "data", tmp_path / "out", uploads, AccessRule(None), server=server
    )
    state = server.state
    assert state.model_id == DEFAULT_MODEL_ID and "test AUC" in state.model_card

    state.data_path = "../outside.nrrd"
    app.ctrl.open_path()
    with pytest.raises(InputError) as expected:
        app.session.open_data_path("../outside.nrrd")
    assert state.error_message == str(expected.value) and state.ct_name == ""
    app.ctrl.draft()
    assert state.error_message == "Open a CT first (sample, data path or upload), then draft the hematoma."

    app.ctrl.load_sample()
    assert state.error_message == "" and state.ct_name == "sample_ct"
    app.ctrl.draft()
    assert state.error_message == "" and state.segment_name == "Hematoma draft"
    assert state.voxel_count == app.session.voxel_count()[0] > 1000
    app.ctrl.set_window("blood")
    assert state.error_message == ""

    asyncio.run(app.predict())
    assert state.error_message == "" and state.progress_stage == "done" and state.has_result
    written = json.loads((Path(state.result_folder) / "prediction.json").read_text())
    assert state.probability == f"{written['probability']:.6f}"
    assert state.report_url == f"/results/{Path(state.result_folder).name}/report.html"
    assert len(state.slice_urls) == 5 and len(state.feature_rows) == len(written["features"])


def test_an_existing_segmentation_opens_with_the_command_lines_segment_choice(tmp_path):
    session = _session(tmp_path)
    session.open_sample()
    sample = session.sample_paths()
    seg_file = session.data_dir / "sample_hematoma.seg.nrrd"
    seg_file.write_bytes(sample["hematoma"].read_bytes())
    session.open_segmentation_path("sample_hematoma.seg.nrrd")
    expected = int(np.count_nonzero(sitk.GetArrayFromImage(sitk.ReadImage(str(seg_file)))))
    assert session.segment_name() == "Hematoma" and session.voxel_count()[0] == expected

    ct = sitk.ReadImage(str(sample["ct"]))
    labels = np.zeros(sitk.GetArrayViewFromImage(ct).shape, np.uint8)
    labels[10:12, 100:110, 100:110], labels[14:16, 300:306, 300:306] = 1, 2
    labelmap = sitk.GetImageFromArray(labels)
    labelmap.CopyInformation(ct)
    sitk.WriteImage(labelmap, str(session.data_dir / "two_labels.nrrd"))
    with pytest.raises(InputError, match=r"has 2 segments .* choose the hematoma segment by name"):
        session.open_segmentation_path("two_labels.nrrd")
    assert session.segment_name() == "Hematoma"  # the open hematoma is kept
    session.open_segmentation_path("two_labels.nrrd", segment="2")
    assert session.voxel_count()[0] == int(np.count_nonzero(labels == 2)) == 72
