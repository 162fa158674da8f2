"""Figures and one self-contained HTML report of a training or evaluation run.

The report draws the numbers of a metrics document (see :mod:`model_training`, ``metrics.json``)
and the LASSO results stored in the model bundles; it computes no statistic itself. Figures are
drawn on matplotlib ``Figure`` objects (Agg canvas, no display, no global backend change), written
as PNG files under ``figures/`` and embedded in ``report.html`` as base64 data URIs, so the HTML
opens without network or any other file.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..common.atomic import write_bytes_atomic, write_text_atomic
from ..model.bundle import ModelBundle
from ..reports.html import figure_png, html_table, png_data_uri

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
#: At most this many bars in a chart of LASSO weights (the table lists every selected feature).
MAX_WEIGHT_BARS = 30
_DPI = 110
_KIND_COLORS = {"radiomics": "#1f77b4", "deep": "#2ca02c", "fused": "#d62728"}
_OTHER_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_KIND_LABELS = {"radiomics": "Radiomics", "deep": "Deep", "fused": "Fused"}
_SET_LABELS = {"train": "training set", "test": "test set"}
_OPERATING_METRICS = ("sensitivity", "specificity", "accuracy", "ppv", "npv")
_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child, table.kv td, table.kv th { text-align: left; }
thead th { background: #f0f0f0; }
code { font-size: .9em; word-break: break-all; }
figure { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; }
figure img { max-width: 520px; } figure.wide img { max-width: 1000px; }
figcaption { font-size: .85em; color: #555; max-width: 520px; }
.note { background: #fff6e0; border-left: 4px solid #e0a000; padding: .5em 1em; }
"""


def display_name(name: str) -> str:
    """'Radiomics', 'Deep', 'Fused' for the kinds; a model id stays as it is."""
    return _KIND_LABELS.get(name, name)


def _color(name: str, index: int) -> str:
    return _KIND_COLORS.get(name, _OTHER_COLORS[index % len(_OTHER_COLORS)])


def _set_label(set_name: str) -> str:
    return _SET_LABELS.get(set_name, f"'{set_name}' set")


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ci(value: float | None, low: float | None, high: float | None, sep: str = "-") -> str:
    return f"{_num(value)} ({_num(low)}{sep}{_num(high)})"


# --------------------------------------------------------------------------- figures


def roc_figure(metrics: Mapping[str, Any], set_name: str) -> Figure:
    """ROC curves of every model on one set, AUC with its 95% CI in the legend."""
    figure = Figure(figsize=(5.2, 5.0), layout="constrained")
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=1, label="chance")
    for i, (name, model) in enumerate(metrics["models"].items()):
        result = model["sets"][set_name]
        auc = result["auc"]
        label = f"{display_name(name)}: AUC {_ci(auc['auc'], auc['ci_low'], auc['ci_high'])}"
        axes.step(
            result["roc"]["fpr"], result["roc"]["tpr"], where="post", color=_color(name, i), label=label
        )
    axes.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="1 - specificity", ylabel="sensitivity")
    axes.set_title(f"ROC, {_set_label(set_name)} (AUC, 95% CI by DeLong)", fontsize=10)
    axes.set_aspect("equal")
    axes.legend(loc="lower right", fontsize=8)
    return figure


def decision_curve_figure(metrics: Mapping[str, Any], set_name: str) -> Figure:
    """Net benefit of each model, of treating all and of treating none, against the threshold."""
    curves = metrics["decision_curves"][set_name]
    t = np.asarray(curves["thresholds"], dtype=float)
    figure = Figure(figsize=(6.0, 4.4), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(t, curves["treat_all"], color="#555", linewidth=1, label="treat all")
    axes.plot(t, curves["treat_none"], color="#000", linewidth=1, linestyle="--", label="treat none")
    for i, (name, values) in enumerate(curves["models"].items()):
        axes.plot(t, values, color=_color(name, i), label=display_name(name))
    prevalence = curves["prevalence"]
    axes.set(xlim=(0, 1), ylim=(-0.05, max(prevalence, 0.05) * 1.15), xlabel="threshold probability")
    axes.set_ylabel("net benefit")
    axes.set_title(f"Decision curves, {_set_label(set_name)} (prevalence {prevalence:.2f})", fontsize=10)
    axes.legend(fontsize=8)
    return figure


def calibration_figure(metrics: Mapping[str, Any], set_name: str) -> Figure:
    """Observed fraction (Wilson 95% CI) against mean predicted probability per quantile bin."""
    figure = Figure(figsize=(5.2, 6.0), layout="constrained")
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=1, label="perfect calibration")
    for i, (name, model) in enumerate(metrics["models"].items()):
        cal = model["sets"][set_name]["calibration"]
        observed = np.asarray(cal["bin_observed_fraction"], dtype=float)
        errors = [
            observed - np.asarray(cal["bin_observed_low"]),
            np.asarray(cal["bin_observed_high"]) - observed,
        ]
        label = (
            f"{display_name(name)}: Brier {_num(cal['brier'])}, intercept {_num(cal['intercept'], 2)}, "
            f"slope {_num(cal['slope'], 2)}"
        )
        axes.errorbar(
            cal["bin_mean_predicted"],
            observed,
            yerr=errors,
            color=_color(name, i),
            marker="o",
            capsize=3,
            label=label,
        )
    axes.set(xlim=(0, 1), ylim=(-0.02, 1.02), xlabel="mean predicted probability", ylabel="observed fraction")
    axes.set_title(f"Calibration, {_set_label(set_name)} (quantile bins)", fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7)
    return figure


def lasso_figure(bundle: ModelBundle) -> Figure:
    """LASSO coefficients against log(lambda) and the cross-validated score, lambda choices marked."""
    lasso = bundle.card["lasso"]
    log_lambda = np.log(bundle.arrays["lasso_lambdas"])
    coefs = bundle.arrays["lasso_path_coefs"]
    candidates = bundle.card["feature_selection"]["lasso_candidates"]
    selected = set(lasso["weights"])
    figure = Figure(figsize=(11.0, 4.2), layout="constrained")
    path_axes, cv_axes = figure.subplots(1, 2)
    label_lines = len(selected) <= 10
    for j, name in enumerate(candidates):
        chosen = name in selected
        path_axes.plot(
            log_lambda,
            coefs[:, j],
            linewidth=1.3 if chosen else 0.7,
            color=None if chosen else "#bbb",
            label=name if chosen and label_lines else None,
            zorder=2 if chosen else 1,
        )
    chosen_log = np.log(lasso["lambda"])
    path_axes.axvline(chosen_log, color="#d62728", linestyle="--", label=f"chosen ({lasso['lambda_rule']})")
    path_axes.set(xlabel="log(lambda)", ylabel="coefficient (z-scored features)")
    path_axes.set_title(f"LASSO path: {len(candidates)} candidates, {len(selected)} selected", fontsize=10)
    path_axes.legend(fontsize=6, loc="best")

    mean, se = bundle.arrays["lasso_cv_mean"], bundle.arrays["lasso_cv_se"]
    cv_axes.errorbar(
        log_lambda, mean, yerr=se, color="#444", marker=".", markersize=3, linewidth=0.8, capsize=1.5
    )
    cv_axes.axvline(log_lambda[lasso["index_min"]], color="#1f77b4", linestyle=":", label="lambda.min")
    cv_axes.axvline(log_lambda[lasso["index_1se"]], color="#ff7f0e", linestyle="-.", label="lambda.1se")
    cv_axes.axvline(chosen_log, color="#d62728", linestyle="--", linewidth=0.8, label="chosen")
    score = "binomial deviance" if lasso["cv_score"] == "deviance" else "AUC"
    cv_axes.set(xlabel="log(lambda)", ylabel=f"cross-validated {score}")
    cv_axes.set_title(f"{bundle.card['training_config']['lasso_folds']}-fold CV (mean +- SE)", fontsize=10)
    cv_axes.legend(fontsize=8)
    figure.suptitle(f"{bundle.model_id} ({bundle.kind})", fontsize=11)
    return figure


def weights_figure(bundle: ModelBundle) -> Figure:
    """Horizontal bars of the LASSO weights of the selected features (largest |weight| first)."""
    weights = bundle.card["lasso"]["weights"]
    ordered = sorted(weights.items(), key=lambda item: -abs(item[1]))
    shown = ordered[:MAX_WEIGHT_BARS][::-1]
    figure = Figure(figsize=(7.5, 1.2 + 0.28 * len(shown)), layout="constrained")
    axes = figure.add_subplot()
    values = [w for _, w in shown]
    axes.barh(range(len(shown)), values, color=["#d62728" if w > 0 else "#1f77b4" for w in values])
    axes.set_yticks(range(len(shown)), [name for name, _ in shown], fontsize=7)
    axes.axvline(0, color="#000", linewidth=0.8)
    axes.set_xlabel("LASSO weight (per SD of the feature)")
    more = f", largest {len(shown)} of {len(ordered)} shown" if len(ordered) > len(shown) else ""
    axes.set_title(f"{bundle.model_id}: selected features{more}", fontsize=10)
    return figure


# --------------------------------------------------------------------------- HTML


def _figure_html(figure: tuple[str, bytes, str], wide: bool = False) -> str:
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


def _cohort_html(metrics: Mapping[str, Any]) -> str:
    cohort = metrics["cohort"]
    rows = [
        [_set_label(name), s["n"], s["n_positive"], f"{100 * s['n_positive'] / s['n']:.1f}%"]
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
        ["ceiling AUC (true probabilities)", _num(cohort.get("ceiling_auc"))],
    ]
    return html_table(["set", "cases", "expansion (1)", "positive rate"], rows) + html_table(
        ["item", "value"], details, "kv"
    )


def _performance_html(metrics: Mapping[str, Any]) -> str:
    paper = [
        [
            display_name(r["model"]),
            _set_label(r["set"]),
            _ci(r["auc"], r["auc_ci_low"], r["auc_ci_high"]),
            *(_num(r[k]) for k in _OPERATING_METRICS),
        ]
        for r in metrics["paper_table"]
    ]
    header = ["model", "set", "AUC (95% CI)", "sensitivity", "specificity", "accuracy", "PPV", "NPV"]
    detail = []
    for name, model in metrics["models"].items():
        for set_name, result in model["sets"].items():
            cells = [
                f"{_ci(p['value'], p['low'], p['high'])} [{p['numerator']}/{p['denominator']}]"
                for p in (result["threshold_metrics"][k] for k in _OPERATING_METRICS)
            ]
            detail.append([display_name(name), _set_label(set_name), _num(result["threshold"]), *cells])
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
            _set_label(set_name),
            f"{display_name(c['model_a'])} vs {display_name(c['model_b'])}",
            c["n"],
            _num(c["auc_a"]),
            _num(c["auc_b"]),
            _ci(c["difference"], c["difference_ci_low"], c["difference_ci_high"], " to "),
            _num(c["z"], 2),
            _p_value(c["p_two_sided"]),
            _p_value(c["p_one_sided"]),
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
            _set_label(s),
            _num(r["calibration"]["brier"]),
            _num(r["calibration"]["intercept"]),
            _num(r["calibration"]["slope"]),
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


def write_report(
    metrics: Mapping[str, Any], bundles: Mapping[str, ModelBundle], out_dir: Path | str
) -> dict[str, Path]:
    """Write ``report.html`` and ``figures/*.png`` into ``out_dir``; return their paths.

    ``metrics`` is the JSON-ready metrics document; ``bundles`` maps its model names to the
    loaded bundles (for the LASSO path and the selected features).
    """
    out = Path(out_dir)
    sets = list(metrics["cohort"]["sets"])
    figures: dict[str, tuple[str, bytes, str]] = {}

    def add(key: str, figure: Figure, caption: str) -> tuple[str, bytes, str]:
        figures[key] = (f"{key}.png", figure_png(figure, dpi=_DPI), caption)
        return figures[key]

    roc = [add(f"roc_{s}", roc_figure(metrics, s), f"ROC curves, {_set_label(s)}") for s in sets]
    dca = [
        add(f"decision_curve_{s}", decision_curve_figure(metrics, s), f"Decision curves, {_set_label(s)}")
        for s in sets
    ]
    cal = [
        add(f"calibration_{s}", calibration_figure(metrics, s), f"Calibration, {_set_label(s)}") for s in sets
    ]
    lasso_parts, feature_parts = [], []
    for name, bundle in bundles.items():
        title = f"<h3>{html.escape(display_name(name))}: <code>{html.escape(bundle.model_id)}</code></h3>"
        path = add(
            f"lasso_{name}", lasso_figure(bundle), f"LASSO path and cross-validation, {bundle.model_id}"
        )
        lasso_parts.append(
            title + _lasso_summary(bundle, metrics["models"][name]) + _figure_html(path, wide=True)
        )
        bars = add(
            f"weights_{name}", weights_figure(bundle), f"Selected features and weights, {bundle.model_id}"
        )
        feature_parts.append(title + _figure_html(bars) + _features_table(bundle))

    kind = "Training" if metrics["command"] == "train" else "Evaluation"
    sections = [
        _section("cohort", "Cohort", _cohort_html(metrics)),
        _section("performance", "Performance (as in the paper's table)", _performance_html(metrics)),
        _section("roc", "ROC curves", "".join(_figure_html(f) for f in roc)),
        _section("delong", "DeLong comparisons", _delong_html(metrics)),
        _section("decision-curves", "Decision curve analysis", "".join(_figure_html(f) for f in dca)),
        _section(
            "calibration", "Calibration", _calibration_table(metrics) + "".join(_figure_html(f) for f in cal)
        ),
        _section("lasso", "LASSO feature selection", "".join(lasso_parts)),
        _section("selected-features", "Selected features and weights", "".join(feature_parts)),
    ]
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Hematoma expansion: {kind.lower()} report</title><style>{_STYLE}</style></head><body>"
        f'<header id="provenance"><h1>Hematoma expansion models: {kind.lower()} report</h1>'
        f"{_provenance_html(metrics)}</header>{''.join(sections)}"
        "<footer><p>Written by HematomaExpansion; every number is in metrics.json beside this file.</p></footer>"
        "</body></html>\n"
    )
    paths = {}
    for key, (name, data, _) in figures.items():
        paths[f"figure_{key}"] = write_bytes_atomic(out / FIGURES_DIR / name, data)
    paths["report"] = write_text_atomic(out / REPORT_FILE, document)
    logger.info("report with %d figures written to %s", len(figures), paths["report"])
    return paths
