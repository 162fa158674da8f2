"""One self-contained HTML report of a training or evaluation run.

The report shows the numbers of a metrics document (``metrics.json``, see
:mod:`evaluation.metrics_document`) and the LASSO results stored in the model bundles; it computes
no statistic itself. Figures (:mod:`reports.training_figures`) are written as PNG files under
``figures/`` and embedded in ``report.html`` as base64 data URIs, so the HTML opens without
network or any other file.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from matplotlib.figure import Figure

from ..common.atomic import write_bytes_atomic, write_text_atomic
from ..model.bundle import ModelBundle
from .formatting import display_name, number, p_value, set_label, with_interval
from .html import STYLESHEET, figure_png, html_table, png_data_uri
from .training_figures import (
    calibration_figure,
    decision_curve_figure,
    lasso_figure,
    roc_figure,
    weights_figure,
)

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
_DPI = 110
_OPERATING_METRICS = ("sensitivity", "specificity", "accuracy", "ppv", "npv")


class FigureFile(NamedTuple):
    """A figure of the report: its file name under ``figures/``, PNG bytes and caption."""

    name: str
    png: bytes
    caption: str


def _figure_html(figure: FigureFile, wide: bool = False) -> str:
    name, data, caption = figure
    uri = png_data_uri(data)
    cls = ' class="wide"' if wide else ""
    return (
        f'<figure{cls}><img src="{uri}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)} ({html.escape(FIGURES_DIR)}/{html.escape(name)})</figcaption></figure>"
    )


def _provenance_html(metrics: Mapping[str, Any]) -> str:
    data, provenance = metrics["data"], metrics["provenance"]
    identity = data["extractor_identity"]
    rows = [
        ["features table", data["features_table"]],
        ["features SHA-256", data["features_sha256"]],
        ["provenance file", data["provenance_file"] or "none (identity from the radiomics parameter file)"],
        ["rows in the table", data["rows"]],
        ["command", metrics["command"]],
        ["date (UTC)", metrics["created_utc"]],
        ["model ids", ", ".join(m["model_id"] for m in metrics["models"].values())],
        ["seed", provenance["seed"]],
        ["pyradiomics", identity.get("pyradiomics_version")],
        ["radiomics parameter file SHA-256", identity.get("radiomics_params_sha256")],
        ["backbone", identity.get("backbone_id") or "none"],
        ["backbone fingerprint", identity.get("backbone_fingerprint") or "none"],
        ["extraction software", data["extraction_software_version"] or "unknown"],
        *([f"software: {k}", v] for k, v in provenance["versions"].items()),
    ]
    source = html.escape(Path(data["features_table"]).name)
    return (
        f"<p>Made from the feature table <code>{source}</code> ({data['rows']} cases, "
        f"{data['feature_columns']} feature columns) on {html.escape(metrics['created_utc'])}.</p>"
        + html_table(["item", "value"], rows, "kv")
        + '<p class="note">Research software, not for clinical use. Training-set numbers are apparent '
        "(resubstitution) performance; the test set gives the unbiased estimate.</p>"
    )


def _warnings_html(metrics: Mapping[str, Any]) -> str:
    """The run's warnings about its data (e.g. test cases identical to training cases), in a banner."""
    if not metrics["warnings"]:
        return ""
    items = "".join(f'<li class="warn">{html.escape(w)}</li>' for w in metrics["warnings"])
    return f'<div class="banner"><strong>Warnings</strong><ul>{items}</ul></div>'


def _cohort_html(metrics: Mapping[str, Any]) -> str:
    cohort = metrics["cohort"]
    rows = [
        [set_label(name), s["n"], s["n_positive"], f"{100 * s['n_positive'] / s['n']:.1f}%"]
        for name, s in cohort["sets"].items()
    ]
    rows.append(
        ["all", cohort["n"], cohort["n_positive"], f"{100 * cohort['n_positive'] / cohort['n']:.1f}%"]
    )
    split = cohort["split"]
    details = [
        ["split", ", ".join(f"{k}: {v}" for k, v in split.items())],
        ["label column", cohort["label_column"]],
        ["expansion definition", (cohort.get("expansion_definition") or {}).get("rule", "not recorded")],
        ["ceiling AUC (true probabilities)", number(cohort.get("ceiling_auc"))],
    ]
    return html_table(["set", "cases", "expansion (1)", "positive rate"], rows) + html_table(
        ["item", "value"], details, "kv"
    )


def _performance_html(metrics: Mapping[str, Any]) -> str:
    paper = [
        [
            display_name(r["model"]),
            set_label(r["set"]),
            with_interval(r["auc"], r["auc_ci_low"], r["auc_ci_high"]),
            *(number(r[k]) for k in _OPERATING_METRICS),
        ]
        for r in metrics["paper_table"]
    ]
    header = ["model", "set", "AUC (95% CI)", "sensitivity", "specificity", "accuracy", "PPV", "NPV"]
    detail = []
    for name, model in metrics["models"].items():
        for set_name, result in model["sets"].items():
            cells = [
                f"{with_interval(p['value'], p['low'], p['high'])} [{p['numerator']}/{p['denominator']}]"
                for p in (result["threshold_metrics"][k] for k in _OPERATING_METRICS)
            ]
            detail.append([display_name(name), set_label(set_name), number(result["threshold"]), *cells])
    return (
        "<p>Operating point: each model's threshold (Youden's J on its nested out-of-fold training "
        "probabilities); a case is positive when its probability reaches the threshold.</p>"
        + html_table(header, paper)
        + "<h3>Operating points with Wilson 95% CIs [numerator/denominator]</h3>"
        + html_table(
            ["model", "set", "threshold", "sensitivity", "specificity", "accuracy", "PPV", "NPV"], detail
        )
    )


def _delong_html(metrics: Mapping[str, Any]) -> str:
    rows = [
        [
            set_label(set_name),
            f"{display_name(c['model_a'])} vs {display_name(c['model_b'])}",
            c["n"],
            number(c["auc_a"]),
            number(c["auc_b"]),
            with_interval(c["difference"], c["difference_ci_low"], c["difference_ci_high"], " to "),
            number(c["z"], 2),
            p_value(c["p_two_sided"]),
            p_value(c["p_one_sided"]),
            c["one_sided_hypothesis"],
        ]
        for set_name, comparisons in metrics["comparisons"].items()
        for c in comparisons
    ]
    if not rows:
        return "<p>Only one model: there is nothing to compare.</p>"
    header = [
        "set",
        "comparison",
        "cases",
        "AUC A",
        "AUC B",
        "difference (95% CI)",
        "Z",
        "p (two-sided)",
        "p (one-sided)",
        "one-sided H1",
    ]
    return (
        "<p>Paired DeLong tests on the same cases. The two-sided p tests equal AUCs; the one-sided p "
        "tests the hypothesis named in the last column, stated before looking at the data.</p>"
        + html_table(header, rows)
    )


def _calibration_table(metrics: Mapping[str, Any]) -> str:
    rows = [
        [
            display_name(name),
            set_label(s),
            number(r["calibration"]["brier"]),
            number(r["calibration"]["intercept"]),
            number(r["calibration"]["slope"]),
        ]
        for name, model in metrics["models"].items()
        for s, r in model["sets"].items()
    ]
    return html_table(["model", "set", "Brier score", "calibration intercept", "calibration slope"], rows)


def _lasso_summary(bundle: ModelBundle, model: Mapping[str, Any]) -> str:
    lasso, selection = bundle.card["lasso"], bundle.card["feature_selection"]
    rows = [
        ["input features", len(bundle.card["training_features"])],
        ["constant on training (dropped)", len(selection["constant_features"])],
        ["removed by the Mann-Whitney filter", len(selection["filtered_features"])],
        ["removed by correlation pruning", len(selection["pruned_features"])],
        ["LASSO candidates", len(selection["lasso_candidates"])],
        ["lambda rule / lambda", f"{lasso['lambda_rule']} / {lasso['lambda']:.4g}"],
        ["selected features", len(lasso["weights"])],
        ["SVM C / gamma", f"{bundle.card['svm']['C']:g} / {bundle.card['svm']['gamma']:.4g}"],
        ["threshold (out-of-fold AUC)", f"{bundle.threshold:.3f} ({model['oof_auc']:.3f})"],
    ]
    return html_table(["step", "value"], rows, "kv")


def _features_table(bundle: ModelBundle) -> str:
    mean, sd = bundle.arrays["zscore_mean"], bundle.arrays["zscore_sd"]
    rows = [
        [name, f"{w:+.4f}", f"{m:.4g}", f"{s:.4g}"]
        for name, w, m, s in zip(bundle.input_features, bundle.arrays["lasso_weight"], mean, sd, strict=True)
    ]
    return html_table(["feature", "LASSO weight", "training mean", "training SD"], rows)


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{body}</section>'


def _figure_files(metrics: Mapping[str, Any], bundles: Mapping[str, ModelBundle]) -> dict[str, FigureFile]:
    """Every figure of the report by key, in the report's order (each rendered as soon as drawn)."""
    figures: dict[str, FigureFile] = {}

    def add(key: str, figure: Figure, caption: str) -> None:
        figures[key] = FigureFile(f"{key}.png", figure_png(figure, dpi=_DPI), caption)

    sets = list(metrics["cohort"]["sets"])
    for s in sets:
        add(f"roc_{s}", roc_figure(metrics, s), f"ROC curves, {set_label(s)}")
    for s in sets:
        add(f"decision_curve_{s}", decision_curve_figure(metrics, s), f"Decision curves, {set_label(s)}")
    for s in sets:
        add(f"calibration_{s}", calibration_figure(metrics, s), f"Calibration, {set_label(s)}")
    for name, bundle in bundles.items():
        add(f"lasso_{name}", lasso_figure(bundle), f"LASSO path and cross-validation, {bundle.model_id}")
        add(f"weights_{name}", weights_figure(bundle), f"Selected features and weights, {bundle.model_id}")
    return figures


def _model_parts(
    metrics: Mapping[str, Any],
    bundles: Mapping[str, ModelBundle],
    figures: Mapping[str, FigureFile],
) -> tuple[str, str]:
    """The LASSO section's and the selected-features section's HTML, one part per model."""
    lasso_parts, feature_parts = [], []
    for name, bundle in bundles.items():
        title = f"<h3>{html.escape(display_name(name))}: <code>{html.escape(bundle.model_id)}</code></h3>"
        lasso_parts.append(
            title
            + _lasso_summary(bundle, metrics["models"][name])
            + _figure_html(figures[f"lasso_{name}"], wide=True)
        )
        feature_parts.append(title + _figure_html(figures[f"weights_{name}"]) + _features_table(bundle))
    return "".join(lasso_parts), "".join(feature_parts)


def _sections(
    metrics: Mapping[str, Any],
    bundles: Mapping[str, ModelBundle],
    figures: Mapping[str, FigureFile],
) -> list[str]:
    """The report's sections after the provenance header, in order."""

    def shown(prefix: str) -> str:
        return "".join(_figure_html(figures[f"{prefix}_{s}"]) for s in metrics["cohort"]["sets"])

    lasso, selected = _model_parts(metrics, bundles, figures)
    return [
        _section("cohort", "Cohort", _cohort_html(metrics)),
        _section("performance", "Performance (as in the paper's table)", _performance_html(metrics)),
        _section("roc", "ROC curves", shown("roc")),
        _section("delong", "DeLong comparisons", _delong_html(metrics)),
        _section("decision-curves", "Decision curve analysis", shown("decision_curve")),
        _section("calibration", "Calibration", _calibration_table(metrics) + shown("calibration")),
        _section("lasso", "LASSO feature selection", lasso),
        _section("selected-features", "Selected features and weights", selected),
    ]


def write_report(
    metrics: Mapping[str, Any], bundles: Mapping[str, ModelBundle], out_dir: Path | str
) -> dict[str, Path]:
    """Write ``report.html`` and ``figures/*.png`` into ``out_dir``; return their paths.

    ``metrics`` is the JSON-ready metrics document; ``bundles`` maps its model names to the
    loaded bundles (for the LASSO path and the selected features).
    """
    out = Path(out_dir)
    figures = _figure_files(metrics, bundles)
    run = "training" if metrics["command"] == "train" else "evaluation"
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Hematoma expansion: {run} report</title><style>{STYLESHEET}</style></head><body>"
        f'<header id="provenance"><h1>Hematoma expansion models: {run} report</h1>'
        f"{_warnings_html(metrics)}{_provenance_html(metrics)}</header>{''.join(_sections(metrics, bundles, figures))}"
        "<footer><p>Written by HematomaExpansion; every number is in metrics.json beside this file.</p></footer>"
        "</body></html>\n"
    )
    paths = {}
    for key, (name, data, _) in figures.items():
        paths[f"figure_{key}"] = write_bytes_atomic(out / FIGURES_DIR / name, data)
    paths["report"] = write_text_atomic(out / REPORT_FILE, document)
    logger.info("report with %d figures written to %s", len(figures), paths["report"])
    return paths
