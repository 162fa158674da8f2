"""The segment editor of the page: trame-slicer's effects on the hematoma segment, with undo/redo.

Paint, erase, scissors, threshold and smoothing are trame-slicer's own effects. "Keep largest
island" uses the project's connected components (``imaging.morphology.largest_component``) on the
segment as the Logic exports it, written back through the editor so that it can be undone:
trame-slicer's islands effect thresholds the whole volume once per island (46 s on a noisy
512 x 512 x 30 mask).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import SimpleITK as sitk
from trame_slicer.core import SegmentationEditor
from trame_slicer.segmentation import (
    SegmentationEffectErase,
    SegmentationEffectNoTool,
    SegmentationEffectPaint,
    SegmentationEffectScissors,
    SegmentationEffectSmoothing,
    SegmentationEffectThreshold,
)
from trame_slicer.segmentation.paint_effect_parameters import BrushDiameterMode
from trame_slicer.segmentation.segment_modifier import ModificationMode
from trame_slicer.utils import vtk_image_to_np
from undo_stack import UndoStack

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.imaging.morphology import largest_component
from HematomaExpansionLib.mrml.runtime import SlicerRuntime
from HematomaExpansionLib.mrml.segments import segment_to_mask

logger = logging.getLogger(__name__)

EFFECTS = {
    "none": SegmentationEffectNoTool,
    "paint": SegmentationEffectPaint,
    "erase": SegmentationEffectErase,
    "scissors": SegmentationEffectScissors,
    "threshold": SegmentationEffectThreshold,
    "smoothing": SegmentationEffectSmoothing,
}
UNDO_LIMIT = 20
DEFAULT_BRUSH_MM = 5.0
DEFAULT_SMOOTHING_KERNEL_MM = 3.0


@contextmanager
def _modification_mode(modifier: Any, mode: ModificationMode) -> Iterator[None]:
    """Apply edits in ``mode`` inside the block (threshold replaces the segment instead of adding)."""
    previous = modifier.modification_mode
    modifier.modification_mode = mode
    try:
        yield
    finally:
        modifier.modification_mode = previous


class HematomaEditor:
    """The editing of one segment of the open case through trame-slicer's SegmentationEditor."""

    def __init__(self, editor: SegmentationEditor, runtime: SlicerRuntime) -> None:
        self.editor = editor
        self.runtime = runtime
        self.undo_stack = UndoStack(undo_limit=UNDO_LIMIT)
        editor.set_undo_stack(self.undo_stack)
        self.brush_mm = DEFAULT_BRUSH_MM

    def attach(self, segmentation_node: Any, volume_node: Any, segment_id: str) -> None:
        """Edit ``segment_id`` of ``segmentation_node`` on the CT ``volume_node`` (clears undo)."""
        self.editor.set_active_segmentation(segmentation_node, volume_node)
        self.editor.set_active_segment_id(segment_id)
        self.undo_stack.clear()

    @property
    def attached(self) -> bool:
        return self.editor.active_segmentation is not None and bool(self.editor.active_segment_id)

    def _require_segment(self) -> None:
        if not self.attached:
            raise InputError("Draft or open the hematoma segmentation first, then edit it.")

    def set_effect(self, name: str) -> None:
        """Activate an effect by name (``EFFECTS``); "none" ends editing."""
        if name != "none":
            self._require_segment()
        effect = self.editor.set_active_effect_type(EFFECTS[name])
        if name in ("paint", "erase"):
            effect.set_brush_diameter(self.brush_mm, BrushDiameterMode.Absolute)
        if name == "smoothing":
            effect.set_kernel_size(DEFAULT_SMOOTHING_KERNEL_MM)

    def set_brush_mm(self, diameter_mm: float) -> None:
        """The paint/erase brush diameter in mm (physical, not screen-relative)."""
        if not diameter_mm > 0:
            raise InputError(f"brush diameter must be a positive number of mm, got {diameter_mm!r}")
        self.brush_mm = float(diameter_mm)
        effect = self.editor.active_effect
        if isinstance(effect, SegmentationEffectPaint | SegmentationEffectErase):
            effect.set_brush_diameter(self.brush_mm, BrushDiameterMode.Absolute)

    def apply_threshold(self, hu_range: tuple[float, float]) -> None:
        """Replace the segment by the CT voxels within ``hu_range`` (trame-slicer's threshold effect)."""
        self._require_segment()
        effect = self.editor.set_active_effect_type(SegmentationEffectThreshold)
        effect.set_threshold_min_max_values((float(hu_range[0]), float(hu_range[1])))
        with _modification_mode(self.editor.active_segment_modifier, ModificationMode.Set):
            effect.apply()

    def apply_smoothing(self) -> None:
        """Smooth the whole segment (trame-slicer's smoothing effect, its default median mode)."""
        self._require_segment()
        effect = self.editor.set_active_effect_type(SegmentationEffectSmoothing)
        effect.set_kernel_size(DEFAULT_SMOOTHING_KERNEL_MM)
        effect.apply_smoothing()

    def keep_largest_island(self) -> int:
        """Keep the largest connected component of the segment; returns the voxels removed."""
        self._require_segment()
        modifier = self.editor.active_segment_modifier
        mask, _ = segment_to_mask(
            self.runtime,
            self.editor.active_segmentation_node,
            self.editor.active_segment_id,
            modifier.volume_node,
        )
        array = sitk.GetArrayViewFromImage(mask).astype(bool)
        largest = largest_component(array)
        labelmap = modifier.create_modifier_labelmap()
        target = vtk_image_to_np(labelmap)
        if target.shape != largest.shape:
            raise InputError(
                f"the segment's grid {target.shape} differs from the CT's {largest.shape}; "
                "keep the largest island in 3D Slicer instead"
            )
        target[...] = largest.astype(target.dtype)
        labelmap.Modified()
        modifier.apply_labelmap(labelmap, modification_mode=ModificationMode.Set)
        return int(np.count_nonzero(array) - np.count_nonzero(largest))

    def undo(self) -> None:
        if self.undo_stack.can_undo():
            self.undo_stack.undo()

    def redo(self) -> None:
        if self.undo_stack.can_redo():
            self.undo_stack.redo()
