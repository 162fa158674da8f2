"""Figures of the training report, drawn from a metrics document and model bundles.

Each function returns a matplotlib ``Figure`` (object-oriented API: no pyplot, no backend switch,
no display); :func:`reports.html.figure_png` turns it into PNG bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..model.bundle import ModelBundle
from .formatting import display_name, number, set_label, with_interval

#: At most this many bars in a chart of LASSO weights (the table lists every selected feature).
MAX_WEIGHT_BARS = 30
_KIND_COLORS = {
    "radiomics": "#1f77b4",
    "deep": "#2ca02c",
    "fused": "#d62728",
    "clinical": "#ff7f0e",
    "combined": "#9467bd",
}
_OTHER_COLORS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _color(name: str, index: int) -> str:
    return _KIND_COLORS.get(name, _OTHER_COLORS[index % len(_OTHER_COLORS)])


def roc_figure(metrics: Mapping[str, Any], set_name: str) -> Figure:
    """ROC curves of every model on one set, AUC with its 95% CI in the legend."""
    figure = Figure(figsize=(5.2, 5.0), layout="constrained")
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=1, label="chance")
    for i, (name, model) in enumerate(metrics["models"].items()):
        result = model["sets"][set_name]
        auc = result["auc"]
        label = f"{display_name(name)}: AUC {with_interval(auc['auc'], auc['ci_low'], auc['ci_high'])}"
        axes.step(
            result["roc"]["fpr"], result["roc"]["tpr"], where="post", color=_color(name, i), label=label
        )
    axes.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="1 - specificity", ylabel="sensitivity")
    axes.set_title(f"ROC, {set_label(set_name)} (AUC, 95% CI by DeLong)", fontsize=10)
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
    axes.set_title(f"Decision curves, {set_label(set_name)} (prevalence {prevalence:.2f})", fontsize=10)
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
            f"{display_name(name)}: Brier {number(cal['brier'])}, intercept {number(cal['intercept'], 2)}, "
            f"slope {number(cal['slope'], 2)}"
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
    axes.set_title(f"Calibration, {set_label(set_name)} (quantile bins)", fontsize=10)
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
