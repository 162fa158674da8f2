"""The reports: the training report (self-contained HTML, every section, figures drawn from the metrics)
and the one-case report's slice images (the windowed slice, the hematoma outline on the mask's boundary)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from HematomaExpansionLib.model.bundle import load_bundle
from HematomaExpansionLib.reports.case_report import OUTLINE_RGB, SLICE_SCALE, slice_overlay_png
from HematomaExpansionLib.reports.training_figures import (
    calibration_figure,
    decision_curve_figure,
    lasso_figure,
    roc_figure,
    weights_figure,
)
from HematomaExpansionLib.reports.training_report import FIGURES_DIR

KINDS = ("radiomics", "deep", "fused")
SECTIONS = (
    "provenance",
    "cohort",
    "performance",
    "roc",
    "delong",
    "decision-curves",
    "calibration",
    "lasso",
    "selected-features",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ReportParser(HTMLParser):
    """Collects ids, image sources, links, tags and the tables (rows of cell texts) of each section."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.tables: dict[str, list[list[list[str]]]] = {}
        self.text: list[str] = []
        self._section = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.add(tag)
        if "id" in attributes:
            self.ids.append(attributes["id"])
            self._section = attributes["id"]
        if tag == "img":
            self.images.append(attributes["src"])
        for name in ("href", "src", "action"):
            if name in attributes and tag != "img":
                self.links.append(attributes[name])
        if tag == "table":
            self.tables.setdefault(self._section, []).append([])
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell or []))
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.tables[self._section][-1].append(self._row)
            self._row = None

    def rows(self, section: str) -> list[list[str]]:
        """The rows of every table of a section."""
        return [row for table in self.tables[section] for row in table]

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def run(training_run):
    return training_run


@pytest.fixture(scope="module")
def parsed(run):
    _, result = run
    parser = ReportParser()
    parser.feed(result.paths["report"].read_text(encoding="utf-8"))
    parser.close()
    return parser


def expected_figures() -> set[str]:
    per_set = {f"{f}_{s}.png" for f in ("roc", "decision_curve", "calibration") for s in ("train", "test")}
    return per_set | {f"{f}_{k}.png" for f in ("lasso", "weights") for k in KINDS}


def test_report_has_every_section_and_only_embedded_images(run, parsed):
    _, result = run
    assert set(SECTIONS) <= set(parsed.ids)
    assert parsed.images and all(src.startswith("data:image/png;base64,") for src in parsed.images)
    assert parsed.links == []
    assert not parsed.tags & {"script", "link", "iframe", "object", "embed"}
    document = result.paths["report"].read_text(encoding="utf-8")
    without_images = re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', "", document)
    assert not re.search(r"https?:|//[a-z]|url\(", without_images)

    figures = result.paths["report"].parent / FIGURES_DIR
    assert {p.name for p in figures.iterdir()} == expected_figures()
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in parsed.images}
    assert embedded == {p.read_bytes() for p in figures.iterdir()}
    assert all(data.startswith(PNG_MAGIC) for data in embedded)
    assert not list(result.paths["report"].parent.rglob(".*"))  # no temporary files left


def test_header_states_the_data_and_the_provenance(run, parsed):
    table_path, result = run
    provenance = json.loads((table_path.parent / "features_provenance.json").read_text())
    identity = provenance["extractor_identity"]
    header = dict(row for row in parsed.rows("provenance") if len(row) == 2)
    assert header["features table"] == str(table_path)
    assert header["radiomics parameter file SHA-256"] == identity["radiomics_params_sha256"]
    assert header["backbone"] == identity["backbone_id"]
    assert header["seed"] == str(result.metrics["provenance"]["seed"])
    assert header["model ids"] == ", ".join(f"hematoma-expansion-{k}" for k in KINDS)
    assert header["date (UTC)"] == result.metrics["created_utc"]
    assert "software: scikit-learn" in header and "software: hematoma_expansion" in header


def test_paper_table_and_cohort_show_the_metrics(run, parsed):
    table_path, result = run
    with table_path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    cohort = {row[0]: row[1:] for row in parsed.rows("cohort")}
    n_test = sum(r["split"] == "test" for r in rows)
    positives = sum(r["split"] == "test" and r["label"] == "1" for r in rows)
    assert cohort["test set"][:2] == [str(n_test), str(positives)]
    assert cohort["ceiling AUC (true probabilities)"] == ["0.900"]

    table = parsed.tables["performance"][0]
    assert table[0] == [
        "model",
        "set",
        "AUC (95% CI)",
        "sensitivity",
        "specificity",
        "accuracy",
        "PPV",
        "NPV",
    ]
    (fused_test,) = [row for row in table if row[:2] == ["Fused", "test set"]]
    m = result.metrics["models"]["fused"]["sets"]["test"]
    auc = m["auc"]
    assert fused_test[2] == f"{auc['auc']:.3f} ({auc['ci_low']:.3f}-{auc['ci_high']:.3f})"
    keys = ("sensitivity", "specificity", "accuracy", "ppv", "npv")
    assert fused_test[3:] == [f"{m['threshold_metrics'][k]['value']:.3f}" for k in keys]

    delong = [row for row in parsed.rows("delong") if row[0] == "test set"]
    assert [row[1] for row in delong] == ["Fused vs Radiomics", "Fused vs Deep", "Deep vs Radiomics"]
    first = result.metrics["comparisons"]["test"][0]
    assert delong[0][6] == f"{first['z']:.2f}"

    for kind, table in zip(KINDS, parsed.tables["selected-features"], strict=True):
        weights = result.metrics["models"][kind]["selected_features"]
        assert table[0] == ["feature", "LASSO weight", "training mean", "training SD"]
        assert {row[0] for row in table[1:]} == set(weights)
        for name, weight, *_ in table[1:]:
            assert float(weight) == pytest.approx(weights[name], abs=5e-5)


def line_data(axes, label: str) -> tuple[np.ndarray, np.ndarray]:
    (line,) = [line for line in axes.get_lines() if line.get_label() == label]
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def test_roc_and_decision_curves_draw_the_numbers(run):
    _, result = run
    metrics = result.metrics
    figure = roc_figure(metrics, "test")
    axes = figure.axes[0]
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    auc = metrics["models"]["deep"]["sets"]["test"]["auc"]
    label = f"Deep: AUC {auc['auc']:.3f} ({auc['ci_low']:.3f}-{auc['ci_high']:.3f})"
    assert label in legend
    fpr, tpr = line_data(axes, label)
    assert np.array_equal(fpr, metrics["models"]["deep"]["sets"]["test"]["roc"]["fpr"])
    assert np.array_equal(tpr, metrics["models"]["deep"]["sets"]["test"]["roc"]["tpr"])

    rows = list(csv.DictReader((result.paths["predictions"]).open(newline="")))
    y = np.array([int(r["label"]) for r in rows if r["set"] == "test"])
    axes = decision_curve_figure(metrics, "test").axes[0]
    t, treat_all = line_data(axes, "treat all")
    prevalence = y.mean()
    np.testing.assert_allclose(treat_all, prevalence - (1 - prevalence) * t / (1 - t), atol=1e-12)
    assert t[0] == pytest.approx(0.01) and t[-1] == pytest.approx(0.99) and len(t) == 99
    assert np.all(line_data(axes, "treat none")[1] == 0)
    _, fused = line_data(axes, "Fused")
    np.testing.assert_allclose(fused, metrics["decision_curves"]["test"]["models"]["fused"])


def test_calibration_lasso_and_weight_figures(run):
    _, result = run
    calibration = result.metrics["models"]["radiomics"]["sets"]["test"]["calibration"]
    axes = calibration_figure(result.metrics, "test").axes[0]
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert (
        f"Radiomics: Brier {calibration['brier']:.3f}, intercept {calibration['intercept']:.2f}, "
        in legend[1]
    )
    x, y = line_data(axes, "perfect calibration")
    assert list(x) == [0, 1] and list(y) == [0, 1]

    bundle = load_bundle(result.bundles["fused"])
    lasso = bundle.card["lasso"]
    path_axes, cv_axes = lasso_figure(bundle).axes
    lambdas = bundle.arrays["lasso_lambdas"]
    assert line_data(path_axes, f"chosen ({lasso['lambda_rule']})")[0][0] == pytest.approx(
        np.log(lasso["lambda"])
    )
    assert line_data(cv_axes, "lambda.min")[0][0] == pytest.approx(np.log(lambdas[lasso["index_min"]]))
    assert line_data(cv_axes, "lambda.1se")[0][0] == pytest.approx(np.log(lambdas[lasso["index_1se"]]))
    for j, name in enumerate(bundle.card["feature_selection"]["lasso_candidates"]):
        if name in lasso["weights"]:
            log_lambda, coefs = line_data(path_axes, name)
            np.testing.assert_allclose(log_lambda, np.log(lambdas))
            np.testing.assert_allclose(coefs, bundle.arrays["lasso_path_coefs"][:, j])

    bars = weights_figure(bundle).axes[0].patches
    assert sorted(b.get_width() for b in bars) == pytest.approx(sorted(lasso["weights"].values()))


def test_evaluation_report_has_one_set(run, tmp_path):
    from HematomaExpansionLib.evaluation import evaluate_models, read_feature_table

    table_path, result = run
    evaluation = evaluate_models([result.bundles["fused"]], read_feature_table(table_path), tmp_path)
    parser = ReportParser()
    parser.feed(evaluation.paths["report"].read_text(encoding="utf-8"))
    assert set(SECTIONS) <= set(parser.ids)
    names = {p.name for p in (tmp_path / FIGURES_DIR).iterdir()}
    assert names == {
        "roc_test.png",
        "decision_curve_test.png",
        "calibration_test.png",
        "lasso_fused.png",
        "weights_fused.png",
    }
    assert any("nothing to compare" in text for text in parser.text)


def _decoded(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_MAGIC)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _expected_grey(image: np.ndarray) -> np.ndarray:
    """The window formula: 0..1 to 0..255, rounded half up, clipped; enlarged SLICE_SCALE times."""
    grey = np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5)
    return grey.repeat(SLICE_SCALE, axis=0).repeat(SLICE_SCALE, axis=1)


def test_case_slice_image_is_the_windowed_slice_with_the_mask_boundary_in_red():
    image = np.random.default_rng(3).uniform(-0.2, 1.2, (40, 30))  # values beyond the window too
    rows, columns = np.mgrid[:40, :30]
    mask = (rows - 20) ** 2 + (columns - 12) ** 2 <= 64
    mask[0:3, 25:30] = True  # a part that touches the image's edge is outlined there too
    rgb = _decoded(slice_overlay_png(image, mask))
    assert rgb.shape == (40 * SLICE_SCALE, 30 * SLICE_SCALE, 3)

    enlarged = mask.repeat(SLICE_SCALE, axis=0).repeat(SLICE_SCALE, axis=1)
    cross = ndimage.generate_binary_structure(2, 1)
    boundary = enlarged & ~ndimage.binary_erosion(enlarged, structure=cross, border_value=0)
    np.testing.assert_array_equal(np.all(rgb == OUTLINE_RGB, axis=2), boundary)
    grey = _expected_grey(image)[~boundary]
    np.testing.assert_array_equal(rgb[~boundary], np.stack([grey] * 3, axis=-1))


def test_case_slice_image_without_a_mask_is_only_the_windowed_slice():
    image = np.linspace(0.0, 1.0, 64).reshape(8, 8)
    rgb = _decoded(slice_overlay_png(image, None))
    np.testing.assert_array_equal(rgb, np.stack([_expected_grey(image)] * 3, axis=-1))
