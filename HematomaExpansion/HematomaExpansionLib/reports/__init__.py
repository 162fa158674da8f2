"""Reports of the results: the one-case HTML report, the training/evaluation report, text tables.

Modules: :mod:`.html` (the HTML toolkit and the one stylesheet), :mod:`.case_report` and
:mod:`.case_outputs` (the files and text lines of one case),
:mod:`.training_report` with :mod:`.training_figures` and :mod:`.formatting`, and
:mod:`.text_table` (plain-text tables). Public names are importable from here; a module (and
matplotlib) is imported only when one of its names is first used.
"""

from __future__ import annotations

from ..common.lazy import lazy_exports

_EXPORTS = {
    ".html": ("STYLESHEET", "figure_png", "html_table", "png_data_uri"),
    ".case_report": ("MEASUREMENT_LABELS", "render_case_report", "write_case_report"),
    ".case_outputs": ("prediction_lines", "write_feature_set", "write_prediction"),
    ".training_report": ("FIGURES_DIR", "REPORT_FILE", "write_report"),
    ".training_figures": (
        "MAX_WEIGHT_BARS",
        "calibration_figure",
        "decision_curve_figure",
        "lasso_figure",
        "roc_figure",
        "weights_figure",
    ),
    ".formatting": ("display_name",),
    ".text_table": ("format_table",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
