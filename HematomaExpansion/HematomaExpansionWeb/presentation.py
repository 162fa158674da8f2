"""What the page shows, as plain state values: the model list, a prediction's result, a seed point.

No trame here; the texts are the ones the command line prints (``risk_text``, the warnings, the
feature rows), with the numbers a test compares in plain form (probability to six decimals).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from HematomaExpansionLib.model.registry import ModelSummary

from .session import PredictionOutputs


def summaries_state(models: Sequence[ModelSummary]) -> list[dict[str, str]]:
    """The model selector's items (value: model id, title: id and kind)."""
    return [{"value": m.model_id, "title": f"{m.model_id} ({m.kind})"} for m in models]


def _feature_cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def result_state(outputs: PredictionOutputs | None, url_prefix: str = "") -> dict[str, Any]:
    """The result panel's values; all empty for None (no result shown)."""
    if outputs is None:
        return {
            "has_result": False,
            "risk_percent": "",
            "probability": "",
            "category": "",
            "risk_text": "",
            "volume_ml": "",
            "abc2_ml": "",
            "result_warnings": [],
            "feature_rows": [],
            "slice_urls": [],
            "report_url": "",
            "table_url": "",
            "result_folder": "",
        }
    result = outputs.result
    measurements = result.measurements
    return {
        "has_result": True,
        "risk_percent": f"{result.probability:.0%}",
        "probability": f"{result.probability:.6f}",
        "category": result.category,
        "risk_text": result.risk_text,
        "volume_ml": f"{measurements['volume_ml']:.3f}",
        "abc2_ml": f"{measurements['abc2_ml']:.3f}",
        "result_warnings": list(result.warnings),
        "feature_rows": [[_feature_cell(cell) for cell in row] for row in result.feature_rows()],
        "slice_urls": [
            f"{url_prefix}/{path.relative_to(outputs.folder).as_posix()}" for path in outputs.slices
        ],
        "report_url": f"{url_prefix}/{outputs.report.name}",
        "table_url": f"{url_prefix}/{outputs.table.name}",
        "result_folder": str(outputs.folder),
    }


def seed_text_at(slice_view: Any, x: float, y: float) -> str:
    """The RAS point (mm) under display position (x, y) of a slice view, as "R, A, S"."""
    xy_to_ras = slice_view.get_view_node().GetXYToRAS()
    point = xy_to_ras.MultiplyPoint((float(x), float(y), 0.0, 1.0))
    return ", ".join(f"{value:.2f}" for value in point[:3])
