"""The neuroradiologist's path in a real browser: Debian's chromium, driven by Playwright, on the web front-end.

The server (``python -m HematomaExpansionWeb``) runs as a subprocess on loopback; the page is used as
a person uses it: real clicks and a real mouse stroke in the remote-rendered axial view. The page's
risk is checked against the command line's ``predict`` on the segmentation the page wrote, the
downloaded report against the case, a bad file against the command line's own message for it, and
the access token on a second loopback address. Screenshots of each step go to
``build/test-artifacts/web/`` (stepNN-*.png); the scenario's wall time and the server's peak memory
to ``metrics.json`` there and to the test report's properties.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from browser_fixtures import ARTIFACTS_DIR, WebServer, http_get, subprocess_env, write_metrics
from HematomaExpansionLib.synthetic.sample import SAMPLE_SPEC_KWARGS, write_sample_case
from HematomaExpansionWeb import page_ids as ids

pytestmark = pytest.mark.slow

PREDICT_TIMEOUT_S = 600
CLI_TIMEOUT_S = 600
VIEW_RENDER_TIMEOUT_S = 60.0
MIN_VIEW_GREY_SD = 5.0  # a rendered CT slice; a black or flat view is below this
INTEGER = re.compile(r"^\s*\d+\s*$")
PROBABILITY = re.compile(r"^\s*\d\.\d{6}\s*$")
BLOOD_HU_RANGE = (40.0, 100.0)


def by_id(page: Page, element_id: str) -> Locator:
    return page.locator(f"#{element_id}")


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot as a test artifact (build/test-artifacts/web/<name>.png)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def axial_view(page: Page) -> Locator:
    """The axial slice view: the largest remote-rendered view inside the views container, on the left."""
    views = page.locator(f"#{ids.VIEWS} .remote-controlled-area")
    expect(views.first).to_be_visible()
    boxes = [views.nth(i).bounding_box() for i in range(views.count())]
    assert len(boxes) == 4, f"expected axial, 3D, coronal and sagittal views, found {len(boxes)}"
    largest = max(range(len(boxes)), key=lambda i: boxes[i]["width"] * boxes[i]["height"])
    assert boxes[largest]["x"] == min(b["x"] for b in boxes), "the largest view is not the left one"
    return views.nth(largest)


def wait_for_rendered(view: Locator) -> None:
    """Wait until the view shows an image with contrast (the rendered stream arrives asynchronously)."""
    deadline = time.monotonic() + VIEW_RENDER_TIMEOUT_S
    while True:
        grey = np.asarray(Image.open(io.BytesIO(view.screenshot())).convert("L"), dtype=float)
        if grey.std() > MIN_VIEW_GREY_SD:
            return
        assert time.monotonic() < deadline, (
            f"the view stayed flat (grey sd {grey.std():.1f}) for {VIEW_RENDER_TIMEOUT_S} s"
        )
        time.sleep(0.5)


def centre(view: Locator) -> tuple[float, float, dict]:
    box = view.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box


def voxel_count(page: Page) -> int:
    locator = by_id(page, ids.VOXEL_COUNT_TEXT)
    expect(locator).to_have_text(INTEGER)
    return int(locator.inner_text())


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "HematomaExpansionLib", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=cwd,
        timeout=CLI_TIMEOUT_S,
    )


def open_sample_and_draft(page: Page) -> Locator:
    """Load the sample, then draft the hematoma from a click at the axial view's centre."""
    by_id(page, ids.LOAD_SAMPLE_BUTTON).click()
    expect(by_id(page, ids.CT_NAME_TEXT)).to_contain_text("sample")
    view = axial_view(page)
    wait_for_rendered(view)
    shoot(page, "step02-sample-loaded")

    by_id(page, ids.PICK_SEED_BUTTON).click()
    x, y, _ = centre(view)
    page.mouse.click(x, y)
    expect(by_id(page, ids.SEED_FIELD)).to_have_value(re.compile(r"-?\d.*,.*,.*\d"))
    by_id(page, ids.DRAFT_BUTTON).click()
    expect(by_id(page, ids.VOXEL_COUNT_TEXT)).to_have_text(re.compile(r"^\s*[1-9]\d*\s*$"))
    shoot(page, "step03-drafted")
    return view


def paint_one_stroke(page: Page, view: Locator) -> None:
    """Paint one stroke with real mouse events, from the hematoma's centre out to the right."""
    by_id(page, ids.PAINT_BUTTON).click()
    x, y, box = centre(view)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x + step * box["width"] * 0.008, y + step * box["height"] * 0.002)
    page.mouse.up()


def predict_on_page(page: Page, server: WebServer) -> dict[str, str]:
    """Press Predict, follow the stages until done (failing at once if the server dies), read the result."""
    by_id(page, ids.PREDICT_BUTTON).click()
    stage = by_id(page, ids.PROGRESS_TEXT)
    deadline = time.monotonic() + PREDICT_TIMEOUT_S
    while (text := stage.inner_text().strip()) != "done":
        server.require_alive(f"the prediction (stage {text!r})")
        assert text not in ("failed", "cancelled"), by_id(page, ids.ERROR_ALERT).inner_text()
        assert time.monotonic() < deadline, (
            f"the prediction did not finish in {PREDICT_TIMEOUT_S} s (stage {text!r})"
        )
        time.sleep(1.0)
    expect(by_id(page, ids.PROBABILITY_TEXT)).to_have_text(PROBABILITY)
    texts = {
        name: by_id(page, element_id).inner_text().strip()
        for name, element_id in {
            "probability": ids.PROBABILITY_TEXT,
            "risk_percent": ids.RISK_PERCENT_TEXT,
            "category": ids.CATEGORY_TEXT,
            "risk_text": ids.RISK_TEXT,
            "volume_ml": ids.VOLUME_ML_TEXT,
            "result_folder": ids.RESULT_FOLDER_TEXT,
        }.items()
    }
    return texts


def result_folder(out_dir: Path, shown: str) -> Path:
    """The prediction's subfolder of the output folder, as the page names it."""
    folders = [p for p in out_dir.iterdir() if p.is_dir() and p.name in shown]
    assert len(folders) == 1, f"the page names {shown!r}; the output folder holds {sorted(out_dir.iterdir())}"
    return folders[0]


def cli_prediction(ct: Path, segmentation: Path, model: str, work: Path) -> dict:
    """prediction.json of the command line's predict on the same CT, segmentation and model."""
    args = [
        "predict",
        "--ct",
        str(ct),
        "--hematoma",
        str(segmentation),
        "--model",
        model,
        "--out",
        str(work / "cli"),
    ]
    result = run_cli(*args, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((work / "cli" / "prediction.json").read_text())


def check_same_ct_as_sample(segmentation: Path, sample_ct: Path) -> None:
    """The page's segmentation lies on the sample CT's grid (so the command line sees the same case)."""
    mask, ct = sitk.ReadImage(str(segmentation)), sitk.ReadImage(str(sample_ct))
    assert mask.GetSize() == ct.GetSize()
    assert np.allclose(mask.GetSpacing(), ct.GetSpacing()) and np.allclose(mask.GetOrigin(), ct.GetOrigin())
    hu = sitk.GetArrayViewFromImage(ct)[sitk.GetArrayViewFromImage(mask) > 0]
    assert BLOOD_HU_RANGE[0] < float(np.median(hu)) < BLOOD_HU_RANGE[1], "the segment is not on the blood"


def test_neuroradiologist_path_in_a_real_browser(serve, page, web_folders, tmp_path, record_property):
    server = serve()
    started = time.monotonic()
    page.goto(server.url)
    expect(by_id(page, ids.LOAD_SAMPLE_BUTTON)).to_be_visible()
    expect(by_id(page, ids.RESEARCH_WARNING)).to_be_visible()
    shoot(page, "step01-page")

    view = open_sample_and_draft(page)
    drafted = voxel_count(page)
    paint_one_stroke(page, view)
    expect(by_id(page, ids.VOXEL_COUNT_TEXT)).not_to_have_text(str(drafted))
    painted = voxel_count(page)
    assert painted > drafted, f"painting outward from the hematoma removed voxels ({drafted} -> {painted})"
    shoot(page, "step04-painted")

    shown = predict_on_page(page, server)
    expect(by_id(page, ids.SLICE_IMAGES).locator("img")).to_have_count(5)
    by_id(page, ids.RISK_PERCENT_TEXT).scroll_into_view_if_needed()
    shoot(page, "step05-result")
    with page.expect_download() as download_info:
        by_id(page, ids.DOWNLOAD_REPORT_LINK).click()
    report = tmp_path / "downloaded_report.html"
    download_info.value.save_as(report)
    metrics = {
        "scenario_wall_s": round(time.monotonic() - started, 1),
        "server_peak_rss_mb": round(server.peak_rss_mb(), 1),
    }
    shoot(page, "step06-report-downloaded")
    for name, value in metrics.items():
        record_property(name, value)
    write_metrics("neuroradiologist_path", metrics)

    folder = result_folder(web_folders[1], shown["result_folder"])
    web = json.loads((folder / "prediction.json").read_text())
    assert shown["probability"] == f"{web['probability']:.6f}"
    assert shown["risk_text"] == web["risk_text"]

    sample = write_sample_case(tmp_path / "sample")
    check_same_ct_as_sample(folder / "hematoma.seg.nrrd", sample["ct"])
    cli = cli_prediction(sample["ct"], folder / "hematoma.seg.nrrd", web["model_id"], tmp_path)
    assert shown["probability"] == f"{cli['probability']:.6f}", "the page and the command line disagree"
    assert shown["risk_text"] == cli["risk_text"]
    assert cli["measurements"]["n_voxels"] == painted, "the page's voxel count is not the predicted segment's"
    assert cli["measurements"]["volume_ml"] == pytest.approx(float(shown["volume_ml"]), abs=5e-4)
    assert 0.7 < cli["measurements"]["volume_ml"] / SAMPLE_SPEC_KWARGS["volume_ml"] < 1.5

    html = report.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert html == (folder / "report.html").read_text(), "the download is not this case's report"
    assert f">{shown['risk_percent']}<" in html and web["model_id"] in html and "sample" in html


def test_a_bad_file_shows_the_command_lines_error_and_the_next_good_one_opens(
    serve, page, web_folders, tmp_path
):
    data_dir = web_folders[0]
    bad = data_dir / "bad.nrrd"
    bad.write_text("this is a text file, not an image\n")
    bad_bytes = bad.read_bytes()
    good = write_sample_case(data_dir / "good")
    # The page opens a data path resolved inside the data folder: the command line is given the same path.
    args = [
        "measure",
        "--ct",
        str(bad.resolve()),
        "--hematoma",
        str(good["hematoma"]),
        "--out",
        str(tmp_path / "o"),
    ]
    expected = run_cli(*args, cwd=tmp_path)
    assert expected.returncode == 2, expected.stderr[-2000:]
    message = expected.stderr.strip().splitlines()[-1].removeprefix("error: ")

    server = serve()
    page.goto(server.url)
    by_id(page, ids.DATA_PATH_FIELD).fill("bad.nrrd")
    by_id(page, ids.OPEN_PATH_BUTTON).click()
    alert = by_id(page, ids.ERROR_ALERT)
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(message)
    shoot(page, "step07-bad-file")

    by_id(page, ids.DATA_PATH_FIELD).fill(str(good["ct"].relative_to(data_dir)))
    by_id(page, ids.OPEN_PATH_BUTTON).click()
    expect(by_id(page, ids.CT_NAME_TEXT)).to_contain_text(good["ct"].name.split(".")[0])
    expect(alert).to_be_hidden()
    wait_for_rendered(axial_view(page))
    shoot(page, "step08-good-file-after-bad")
    assert server.process.poll() is None, "the server died on the bad file"
    assert bad.read_bytes() == bad_bytes, "the bad file was modified"


def test_off_127_0_0_1_a_request_without_the_token_is_refused(serve, page):
    token = secrets.token_urlsafe(24)
    server = serve(host="127.0.0.2", token=token)
    status, body = http_get(server.base_url)
    assert status == 403 and f'id="{ids.TOKEN_REFUSED_PAGE}"' in body
    assert http_get(f"{server.base_url}?token=not-the-token-{token}")[0] == 403
    assert http_get(server.url)[0] == 200

    refused = page.goto(server.base_url)
    assert refused.status == 403
    expect(by_id(page, ids.TOKEN_REFUSED_PAGE)).to_be_visible()
    accepted = page.goto(server.url)
    assert accepted.status == 200
    by_id(page, ids.LOAD_SAMPLE_BUTTON).click()  # a server round trip: the page's websocket was accepted
    expect(by_id(page, ids.CT_NAME_TEXT)).to_contain_text("sample")
    shoot(page, "step09-with-token")
