"""The one-case HTML report: risk, measurements, the five slices the network saw, features, provenance.

Self-contained (images embedded as PNG data URIs, no external resources), so it can be archived
or attached to a research record as a single file.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..common.atomic import write_text_atomic
from ..features.pipeline import ExtractionResult
from ..imaging.measurements import unit_of
from ..model.applicability import ApplicabilityChecklist
from ..model.prediction import PredictionResult
from .html import STYLESHEET, figure_png, html_table, png_data_uri

MEASUREMENT_LABELS = {
    "volume_ml": "Hematoma volume (voxel count)",
    "abc2_ml": "ABC/2 volume",
    "a_mm": "A: largest axial diameter",
    "b_mm": "B: diameter perpendicular to A",
    "c_mm": "C: slices with hematoma x thickness",
    "max_section_z_mm": "Largest axial cross-section: z",
    "max_section_area_mm2": "Largest axial cross-section: area",
    "n_components": "Connected components",
    "mean_hu": "Mean density",
    "sd_hu": "Density SD",
}


def _slice_figure_png(image: np.ndarray, mask: np.ndarray | None, title: str) -> bytes:
    """One windowed slice (values in [0, 1]) with the hematoma outline in red, as PNG bytes."""
    figure = Figure(figsize=(2.4, 2.4), dpi=100)
    axes = figure.add_subplot()
    axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    if mask is not None and mask.any():
        axes.contour(mask.astype(float), levels=[0.5], colors=["#ff3b30"], linewidths=1.0)
    axes.set_title(title, fontsize=9)
    axes.axis("off")
    return figure_png(figure, bbox_inches="tight")


def _slices_section(extraction: ExtractionResult) -> str:
    """The five slices the network saw, each with the hematoma outline, and the crop."""
    e = html.escape
    offsets = [z - extraction.cross_section.z_mm for z in extraction.z_positions_mm]
    figures = []
    for index, (image, z_mm, offset) in enumerate(
        zip(extraction.slice_images, extraction.z_positions_mm, offsets, strict=True)
    ):
        mask = extraction.slice_masks[index] if extraction.slice_masks is not None else None
        png = _slice_figure_png(image, mask, f"z0 {offset:+.0f} mm")
        figures.append(
            f'<figure><img src="{png_data_uri(png)}" alt="slice z = {z_mm:.1f} mm"><figcaption>z = {z_mm:.1f} mm</figcaption></figure>'
        )
    crop = extraction.crop.as_dict() if extraction.crop is not None else {}
    return (
        "<h2>What the network saw</h2><p>The largest axial cross-section (z0) and the slices 1 and 2 mm "
        "above and below, cropped around the hematoma and windowed; the hematoma outline in red.</p>"
        f'<div class="slices">{"".join(figures)}</div>'
        f"<p>Crop: <code>{e(str(crop))}</code></p>"
    )


def render_case_report(
    result: PredictionResult,
    case_label: str,
    checklist: ApplicabilityChecklist | None = None,
    model_note: str = "",
) -> str:
    """The report as one HTML string."""
    e = html.escape
    extraction = result.extraction
    sections = [
        f"<h1>Hematoma expansion risk: {e(case_label)}</h1>",
        '<div class="banner">Research use only. Not for clinical decisions.'
        + (f" {e(model_note)}" if model_note else "")
        + "</div>",
        f'<div class="risk {e(result.category)}">{result.probability:.0%}</div>',
        f"<p><b>{e(result.category.capitalize())} risk</b> of early hematoma expansion at the model's "
        f"threshold of {result.threshold:.0%} (model <code>{e(result.model_id)}</code>, {e(result.model_kind)}).</p>",
    ]
    warnings = list(result.warnings)
    if checklist is not None:
        warnings += checklist.unmet()
    if warnings:
        items = "".join(f'<li class="warn">{e(w)}</li>' for w in warnings)
        sections.append(f"<h2>Warnings</h2><ul>{items}</ul>")

    rows = [
        [MEASUREMENT_LABELS.get(name, name), float(value), unit_of(name)]
        for name, value in result.measurements.items()
        if name in MEASUREMENT_LABELS
    ]
    sections.append("<h2>Hematoma</h2>" + html_table(["measurement", "value", "unit"], rows, numbers=True))

    if extraction.slice_images is not None:
        sections.append(_slices_section(extraction))

    feature_rows = [[n, v, z, w] for n, v, z, w in result.feature_rows()]
    sections.append(
        "<h2>Model features of this case</h2><p>Value, z-score against the training cohort, and LASSO weight.</p>"
        + html_table(["feature", "value", "z-score", "LASSO weight"], feature_rows, numbers=True)
    )
    if checklist is not None:
        sections.append(
            "<h2>Applicability checklist</h2>"
            + html_table(
                ["item", "confirmed"],
                [[k.replace("_", " "), "yes" if v else "no"] for k, v in checklist.as_dict().items()],
            )
        )
    provenance_rows = [[k, str(v)] for k, v in sorted(result.provenance.items()) if not isinstance(v, dict)]
    sections.append("<h2>Provenance</h2>" + html_table(["item", "value"], provenance_rows))
    sections.append(f"<p><small>Generated {datetime.now(UTC).isoformat(timespec='seconds')}</small></p>")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(case_label)}: hematoma expansion risk</title>'
        f"<style>{STYLESHEET}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def write_case_report(
    result: PredictionResult,
    path: Path,
    case_label: str,
    checklist: ApplicabilityChecklist | None = None,
    model_note: str = "",
) -> Path:
    """Write the report atomically and return its path."""
    return write_text_atomic(path, render_case_report(result, case_label, checklist, model_note))
