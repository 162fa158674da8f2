"""Segments of a segmentation node: find one, measure it, export it as a mask, add a mask as one.

Exports use the CT as reference geometry, as SlicerRadiomics does; the caller's nodes are not
modified and temporary nodes are removed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from ..common.errors import InputError
from .runtime import SlicerRuntime
from .scene import node_label, remove_node
from .volumes import sitk_to_volume, volume_to_sitk

# Segment names taken as the hematoma when no segment is chosen (compared case-insensitively).
HEMATOMA_SEGMENT_NAMES = ("hematoma", "haematoma", "ich", "hemorrhage", "haemorrhage")
# Share of a segment outside the CT above which a warning says that it was ignored.
OUTSIDE_WARNING_FRACTION = 0.05


def new_segmentation_node(scene: Any, volume_node: Any) -> Any:
    """An empty segmentation named after the CT, on the CT's geometry."""
    segmentation_node = scene.AddNewNodeByClass(
        "vtkMRMLSegmentationNode", f"{volume_node.GetName()} hematoma"
    )
    segmentation_node.CreateDefaultDisplayNodes()
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    return segmentation_node


def segment_names(segmentation_node: Any) -> list[str]:
    """Names of all segments, in order."""
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]


def _default_segment_id(segmentation_node: Any, ids: list[str], names: list[str], available: str) -> str:
    """The only segment, else the one named like a hematoma."""
    if len(ids) == 1:
        return ids[0]
    matches = [i for i, n in zip(ids, names, strict=True) if n.strip().lower() in HEMATOMA_SEGMENT_NAMES]
    if len(matches) == 1:
        return matches[0]
    raise InputError(
        f"Segmentation {node_label(segmentation_node)} has {len(ids)} segments ({available}); "
        "choose the hematoma segment by name."
    )


def resolve_segment_id(segmentation_node: Any, segment: str | int | None = None) -> str:
    """Find a segment by ID, name (case-insensitive) or label value; ``None`` picks the hematoma.

    With no selector, a segmentation with a single segment gives that one; otherwise a segment
    named like a hematoma (Hematoma, ICH, Hemorrhage) is taken.
    """
    segmentation = segmentation_node.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    names = segment_names(segmentation_node)
    available = ", ".join(f"'{n}'" for n in names) or "none"
    if not ids:
        raise InputError(
            f"Segmentation {node_label(segmentation_node)} has no segments; segment the hematoma."
        )
    if segment is None or str(segment) == "":
        return _default_segment_id(segmentation_node, ids, names, available)
    key = str(segment)
    if key in ids:
        return key
    by_name = [i for i, n in zip(ids, names, strict=True) if n.lower() == key.lower()]
    if len(by_name) == 1:
        return by_name[0]
    if key.isdigit():
        by_label = [i for i in ids if segmentation.GetSegment(i).GetLabelValue() == int(key)]
        if len(by_label) == 1:
            return by_label[0]
    raise InputError(
        f"Segment '{segment}' not found in segmentation {node_label(segmentation_node)}; "
        f"available segments: {available}."
    )


def _segment_volume_mm3(segmentation_node: Any, segment_id: str) -> float:
    """Volume of a segment on its own internal grid, before any export."""
    oriented = slicer.vtkOrientedImageData()
    slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(
        segmentation_node, segment_id, oriented
    )
    scalars = oriented.GetPointData().GetScalars()
    if scalars is None:
        return 0.0
    count = int(np.count_nonzero(numpy_support.vtk_to_numpy(scalars)))
    return count * float(np.prod(oriented.GetSpacing()))


def segment_volume_ml(segmentation_node: Any, segment_id: str) -> float:
    """Volume of a segment in its own geometry (no CT needed), in mL."""
    return _segment_volume_mm3(segmentation_node, segment_id) / 1000.0


def _export_labelmap(
    runtime: SlicerRuntime, segmentation_node: Any, segment_id: str, reference_volume: Any, where: str
) -> sitk.Image:
    """One segment as a labelmap image on the reference volume's grid."""
    ids = vtk.vtkStringArray()
    ids.InsertNextValue(segment_id)
    labelmap = runtime.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__hematoma_expansion_temp__")
    try:
        if not runtime.segmentations_logic.ExportSegmentsToLabelmapNode(
            segmentation_node, ids, labelmap, reference_volume
        ):
            raise InputError(
                f"The {where} could not be exported in the geometry of {node_label(reference_volume)}."
            )
        return volume_to_sitk(labelmap)
    finally:
        remove_node(runtime.scene, labelmap)


def segment_to_mask(
    runtime: SlicerRuntime, segmentation_node: Any, segment_id: str, reference_volume: Any
) -> tuple[sitk.Image, list[str]]:
    """Export one segment as a 0/1 mask in the CT's geometry; returns (mask, warnings).

    Raises InputError when the segment is empty or lies outside the CT.
    """
    name = segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
    where = f"segment '{name}' of segmentation {node_label(segmentation_node)}"
    own_mm3 = _segment_volume_mm3(segmentation_node, segment_id)
    if own_mm3 == 0.0:
        raise InputError(f"The {where} is empty; paint the hematoma in the Segment Editor first.")
    exported = _export_labelmap(runtime, segmentation_node, segment_id, reference_volume, where)
    array = sitk.GetArrayViewFromImage(exported)
    mask = sitk.GetImageFromArray((array > 0).astype(np.uint8))
    mask.CopyInformation(exported)
    inside_mm3 = float(np.count_nonzero(array)) * float(np.prod(exported.GetSpacing()))
    if inside_mm3 == 0.0:
        raise InputError(
            f"The {where} does not overlap CT {node_label(reference_volume)}; "
            "select the segmentation drawn on this CT."
        )
    warnings = []
    outside_fraction = 1.0 - inside_mm3 / own_mm3
    if outside_fraction > OUTSIDE_WARNING_FRACTION:
        warnings.append(
            f"{outside_fraction:.0%} of the {where} lies outside CT {node_label(reference_volume)} "
            "and was ignored."
        )
    return mask, warnings


def mask_to_segment(
    runtime: SlicerRuntime,
    mask: sitk.Image,
    segmentation_node: Any,
    segment_name: str,
    color_rgb: Sequence[float] = (0.85, 0.2, 0.2),
    terminology: str | None = None,
) -> str:
    """Add a 0/1 mask as a new segment (existing segments are left untouched); returns its ID."""
    scene = runtime.scene
    labelmap = sitk_to_volume(sitk.Cast(mask > 0, sitk.sitkUInt8), scene, "__new_segment__", labelmap=True)
    try:
        before = set(segmentation_node.GetSegmentation().GetSegmentIDs())
        if not runtime.segmentations_logic.ImportLabelmapToSegmentationNode(labelmap, segmentation_node):
            raise InputError(f"Could not add segment '{segment_name}' to {node_label(segmentation_node)}.")
    finally:
        remove_node(scene, labelmap)
    (segment_id,) = set(segmentation_node.GetSegmentation().GetSegmentIDs()) - before
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    segment.SetName(segment_name)
    segment.SetColor(*color_rgb)
    if terminology:
        segment.SetTag(segment.GetTerminologyEntryTagName(), terminology)
    return segment_id
