"""The one-case HTML report: risk, measurements, the five slices the network saw, features, provenance.

Self-contained (images embedded as PNG data URIs, no external resources), so it can be archived
or attached to a research record as a single file.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from ..common.atomic import write_text_atomic
from ..features.deep_slices import grey_levels
from ..features.pipeline import ExtractionResult
from ..imaging.measurements import unit_of
from ..model.applicability import ApplicabilityChecklist
from ..model.prediction import PredictionResult
from .html import STYLESHEET, html_table, png_data_uri

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
#: The hematoma outline on the slice images (the red of the earlier matplotlib contour, #ff3b30).
OUTLINE_RGB = (255, 59, 48)
#: PNG pixels per image pixel and axis in the report's slice images (a 224 px slice -> 448 px).
SLICE_SCALE = 2


def slice_overlay_png(image: np.ndarray, mask: np.ndarray | None, scale: int = SLICE_SCALE) -> bytes:
    """One windowed slice (values in [0, 1]) with the hematoma outline, as RGB PNG bytes.

    Each image pixel becomes ``scale`` x ``scale`` PNG pixels of grey ``round(255 * clip(value, 0, 1))``
    (the grey of the saved slice PNGs); the outline is the inner boundary of the enlarged mask
    (its pixels with a 4-neighbour outside the mask or the image), drawn in :data:`OUTLINE_RGB`.
    """
    grey = grey_levels(np.asarray(image, dtype=float))
    rgb = np.repeat(grey.repeat(scale, axis=0).repeat(scale, axis=1)[..., None], 3, axis=2)
    if mask is not None:
        inside = np.pad(np.asarray(mask, dtype=bool).repeat(scale, axis=0).repeat(scale, axis=1), 1)
        core = inside[1:-1, 1:-1]
        interior = core & inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
        rgb[core & ~interior] = OUTLINE_RGB
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _slices_section(extraction: ExtractionResult) -> str:
    """The five slices the network saw, each with the hematoma outline, and the crop."""
    e = html.escape
    offsets = [z - extraction.cross_section.z_mm for z in extraction.z_positions_mm]
    figures = []
    for index, (image, z_mm, offset) in enumerate(
        zip(extraction.slice_images, extraction.z_positions_mm, offsets, strict=True)
    ):
        mask = extraction.slice_masks[index] if extraction.slice_masks is not None else None
        png = slice_overlay_png(image, mask)
        figures.append(
            f'<figure><img src="{png_data_uri(png)}" alt="slice z = {z_mm:.1f} mm">'
            f"<figcaption>z0 {offset:+.0f} mm: z = {z_mm:.1f} mm</figcaption></figure>"
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
            "<h2>Applicability checklist</h2>" + html_table(["item", "value"], checklist.report_rows())
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
