"""Figures of the sign validation: axial slices of correct and wrong calls with the truth and the
measured evidence marked (matplotlib object API; :func:`.html.figure_png` makes the PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk
from matplotlib.figure import Figure

from ..signs import SIGN_TITLES

WINDOW_HU = (0.0, 100.0)
COLUMNS = 4


@dataclass(frozen=True)
class CasePanel:
    """One case to show: CT and mask (axial grid), the slice ``z_mm`` (None: the mask's largest
    slice), a title and caption, the true position and the evidence positions (LPS mm)."""

    ct: sitk.Image
    mask: sitk.Image
    z_mm: float | None
    title: str
    caption: str
    truth_mm: Sequence[float] | None = None
    evidence_mm: list[Sequence[float]] = field(default_factory=list)


def _slice_index(panel: CasePanel, mask: np.ndarray) -> int:
    if panel.z_mm is None:
        return int(np.argmax(mask.reshape(mask.shape[0], -1).sum(axis=1)))
    origin = panel.ct.GetOrigin()
    k = panel.ct.TransformPhysicalPointToContinuousIndex((origin[0], origin[1], float(panel.z_mm)))[2]
    return int(np.clip(round(k), 0, mask.shape[0] - 1))


def _draw(axes: Any, panel: CasePanel) -> None:
    ct = sitk.GetArrayFromImage(panel.ct)
    mask = sitk.GetArrayFromImage(panel.mask)
    k = _slice_index(panel, mask)
    x0, y0, z0 = panel.ct.TransformIndexToPhysicalPoint((0, 0, k))
    sx, sy, _ = panel.ct.GetSpacing()
    extent = (x0 - sx / 2, x0 + sx * (ct.shape[2] - 0.5), y0 + sy * (ct.shape[1] - 0.5), y0 - sy / 2)
    axes.imshow(
        ct[k], cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], extent=extent, interpolation="nearest"
    )
    if mask[k].any():
        xs = x0 + sx * np.arange(ct.shape[2])
        ys = y0 + sy * np.arange(ct.shape[1])
        axes.contour(xs, ys, mask[k], levels=[0.5], colors="#ff9900", linewidths=0.6)
    if panel.truth_mm is not None:
        axes.plot(panel.truth_mm[0], panel.truth_mm[1], "o", mfc="none", mec="#00d000", ms=14, mew=1.2)
    for point in panel.evidence_mm:
        axes.plot(point[0], point[1], "x", color="#ff2020", ms=9, mew=1.5)
    axes.set_title(panel.title, fontsize=8)
    axes.set_xlabel(f"{panel.caption}\nslice z {z0:.1f} mm", fontsize=7)
    axes.set_xticks([])
    axes.set_yticks([])


def examples_figure(sign: str, panels: Sequence[CasePanel]) -> Figure:
    """A grid of example cases of one sign: green circle = true position, red cross = evidence,
    orange line = hematoma segment; window 0-100 HU."""
    rows = max(1, -(-len(panels) // COLUMNS))
    figure = Figure(figsize=(3.0 * COLUMNS, 3.3 * rows), layout="constrained")
    figure.suptitle(
        f"{SIGN_TITLES[sign]}: TP/TN correct, FP/FN wrong calls (green o truth, red x evidence)", fontsize=10
    )
    for n, panel in enumerate(panels):
        _draw(figure.add_subplot(rows, COLUMNS, n + 1), panel)
    return figure
