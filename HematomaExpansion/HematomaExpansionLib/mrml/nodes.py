"""MRML adapter: files and nodes to SimpleITK images and back, segments to masks, table nodes.

Slicer stores geometry as an IJK-to-RAS matrix; SimpleITK (like DICOM and NRRD files) uses LPS.
Everything that leaves this module is in LPS, with spacing, origin and direction taken from the
node's world geometry (linear parent transforms applied; nonlinear ones are refused).
Reading never modifies the caller's nodes; temporary nodes are removed again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from ..common.errors import InputError
from ..mrml.runtime import SlicerRuntime

logger = logging.getLogger(__name__)

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
GEOMETRY_DECIMALS_MM = 10
DIRECTION_DECIMALS = 12
HEMATOMA_SEGMENT_NAMES = ("hematoma", "haematoma", "ich", "hemorrhage", "haemorrhage")


def node_label(node: Any) -> str:
    """A node's name and ID as used in error messages."""
    return f"'{node.GetName()}' ({node.GetID()})" if node is not None else "(none)"


def _to_numpy(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _to_vtk(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def world_ijk_to_ras(node: Any) -> np.ndarray:
    """The node's IJK-to-RAS matrix in world space (linear parent transforms applied)."""
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    matrix = _to_numpy(ijk_to_ras)
    transform_node = node.GetParentTransformNode()
    if transform_node is not None:
        if not transform_node.IsTransformToWorldLinear():
            raise InputError(
                f"Volume {node_label(node)} is under a nonlinear transform "
                f"{node_label(transform_node)}; harden the transform (Data module) and try again."
            )
        to_world = vtk.vtkMatrix4x4()
        transform_node.GetMatrixTransformToWorld(to_world)
        matrix = _to_numpy(to_world) @ matrix
    return matrix


def volume_to_sitk(node: Any) -> sitk.Image:
    """Copy a scalar or labelmap volume node into a SimpleITK image (LPS geometry)."""
    image_data = node.GetImageData() if node is not None else None
    if image_data is None or image_data.GetPointData().GetScalars() is None:
        raise InputError(f"Volume {node_label(node)} has no image data; load or select another volume.")
    if image_data.GetNumberOfScalarComponents() != 1:
        raise InputError(
            f"Volume {node_label(node)} has {image_data.GetNumberOfScalarComponents()} components per "
            "voxel; a single-component (grayscale) CT is required."
        )
    dims = image_data.GetDimensions()
    array = numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars()).reshape(dims[::-1]).copy()
    image = sitk.GetImageFromArray(array)

    matrix = LPS_FROM_RAS @ world_ijk_to_ras(node)
    # vtkImageData origin/spacing are identity in MRML volumes, but the extent may not start at 0.
    extent_start = np.array(image_data.GetExtent()[0::2], dtype=float)
    axes = matrix[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    # Slicer's readers store a file's spacing 0.45 as 0.44999999999999996 and move origins by an ulp;
    # pyradiomics' resampling turns such float noise into different voxels. Geometry is given to
    # 1e-10 mm (and direction cosines to 1e-12), which keeps every real value and drops the noise.
    image.SetSpacing(np.round(spacing, GEOMETRY_DECIMALS_MM).tolist())
    image.SetDirection(np.round(axes / spacing, DIRECTION_DECIMALS).ravel().tolist())
    image.SetOrigin(np.round(matrix[:3, 3] + axes @ extent_start, GEOMETRY_DECIMALS_MM).tolist())
    return image


def sitk_to_volume(image: sitk.Image, scene: Any, name: str, labelmap: bool = False, node: Any = None) -> Any:
    """Create (or overwrite ``node``, a node this extension owns) a volume node from a SimpleITK image."""
    if node is None:
        class_name = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    array = sitk.GetArrayViewFromImage(image)
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(image.GetSize())
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True)
    image_data.GetPointData().SetScalars(scalars)

    spacing = np.asarray(image.GetSpacing())
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = direction * spacing
    matrix[:3, 3] = image.GetOrigin()
    node.SetIJKToRASMatrix(_to_vtk(LPS_FROM_RAS @ matrix))
    node.SetAndObserveImageData(image_data)
    node.CreateDefaultDisplayNodes()
    return node


def _check_readable(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if path.is_file():
        try:
            with path.open("rb") as stream:
                stream.read(1)
        except OSError as error:
            raise InputError(f"{what} file {path} cannot be read: {error}") from error
    return path


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".seg.nrrd", *VOLUME_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_dicom_series(directory: Path) -> sitk.Image:
    """Read the largest DICOM series in a folder with SimpleITK."""
    reader = sitk.ImageSeriesReader()
    series_ids = reader.GetGDCMSeriesIDs(str(directory))
    if not series_ids:
        raise InputError(f"No DICOM series found in folder {directory}; give a NRRD, NIfTI or MHA file.")
    files = max((reader.GetGDCMSeriesFileNames(str(directory), sid) for sid in series_ids), key=len)
    reader.SetFileNames(files)
    return reader.Execute()


def load_volume(runtime: SlicerRuntime, path: Path | str, name: str | None = None) -> Any:
    """Load a CT (NRRD, NIfTI, MHA, or a DICOM series folder) as a scalar volume node."""
    path = _check_readable(Path(path), "CT")
    name = name or _stem(path)
    if path.is_dir():
        return sitk_to_volume(read_dicom_series(path), runtime.scene, name)
    if not path.name.lower().endswith(VOLUME_SUFFIXES):
        raise InputError(f"CT file {path} has an unsupported format; use NRRD, NIfTI (.nii/.nii.gz) or MHA.")
    node = runtime.volumes_logic.AddArchetypeVolume(str(path), name, 0)
    if node is None or node.GetImageData() is None:
        raise InputError(f"CT file {path} could not be read as a volume; is it a valid image file?")
    return node


def _is_segmentation_file(path: Path) -> bool:
    if path.name.lower().endswith(".seg.nrrd"):
        return True
    if not path.name.lower().endswith((".nrrd", ".nhdr")):
        return False
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return False
    return any(key.startswith("Segment0_") for key in reader.GetMetaDataKeys())


def load_segmentation(runtime: SlicerRuntime, path: Path | str) -> Any:
    """Load a Slicer segmentation (.seg.nrrd) or a labelmap file (one segment per label value)."""
    path = _check_readable(Path(path), "Segmentation")
    scene = runtime.scene
    segmentation_node = scene.AddNewNodeByClass(
        "vtkMRMLSegmentationNode", scene.GenerateUniqueName(_stem(path))
    )
    try:
        if _is_segmentation_file(path):
            storage = slicer.vtkMRMLSegmentationStorageNode()
            storage.SetFileName(str(path))
            if not storage.ReadData(segmentation_node):
                raise InputError(f"Segmentation file {path} could not be read as a Slicer segmentation.")
        else:
            labelmap = runtime.volumes_logic.AddArchetypeVolume(str(path), "__labelmap__", 1)
            if labelmap is None or labelmap.GetImageData() is None:
                raise InputError(f"Segmentation file {path} could not be read as a labelmap image.")
            try:
                if not runtime.segmentations_logic.ImportLabelmapToSegmentationNode(
                    labelmap, segmentation_node
                ):
                    raise InputError(f"Labelmap {path} could not be imported as segments.")
            finally:
                _remove_node(scene, labelmap)
    except Exception:
        scene.RemoveNode(segmentation_node)
        raise
    segmentation_node.CreateDefaultDisplayNodes()
    return segmentation_node


def load_case(runtime: SlicerRuntime, ct_path: Path | str, hematoma_path: Path | str) -> tuple[Any, Any]:
    """Load a case's CT and hematoma segmentation (or labelmap) files: (volume node, segmentation node)."""
    return load_volume(runtime, ct_path), load_segmentation(runtime, hematoma_path)


def _remove_node(scene: Any, node: Any) -> None:
    for i in range(node.GetNumberOfDisplayNodes()):
        scene.RemoveNode(node.GetNthDisplayNode(i))
    scene.RemoveNode(node)


def segment_names(segmentation_node: Any) -> list[str]:
    """Names of all segments, in order."""
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]


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
        if len(ids) == 1:
            return ids[0]
        matches = [i for i, n in zip(ids, names, strict=True) if n.strip().lower() in HEMATOMA_SEGMENT_NAMES]
        if len(matches) == 1:
            return matches[0]
        raise InputError(
            f"Segmentation {node_label(segmentation_node)} has {len(ids)} segments ({available}); "
            "choose the hematoma segment by name."
        )
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


@contextmanager
def _temporary_labelmap(scene: Any) -> Iterator[Any]:
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__hematoma_expansion_temp__")
    try:
        yield node
    finally:
        if node.GetDisplayNode() is not None:
            scene.RemoveNode(node.GetDisplayNode())
        scene.RemoveNode(node)


@contextmanager
def scratch_nodes(scene: Any) -> Iterator[None]:
    """Remove the nodes added to ``scene`` inside the block (the scene's other nodes stay)."""
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        yield
    finally:
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in reversed([n for n in added if n.GetID() not in before]):
            if scene.IsNodePresent(node):
                scene.RemoveNode(node)


def segment_volume_ml(segmentation_node: Any, segment_id: str) -> float:
    """Volume of a segment in its own geometry (no CT needed), in mL."""
    return _segment_volume_mm3(segmentation_node, segment_id) / 1000.0


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
    ids = vtk.vtkStringArray()
    ids.InsertNextValue(segment_id)
    with _temporary_labelmap(runtime.scene) as labelmap:
        if not runtime.segmentations_logic.ExportSegmentsToLabelmapNode(
            segmentation_node, ids, labelmap, reference_volume
        ):
            raise InputError(
                f"The {where} could not be exported in the geometry of {node_label(reference_volume)}."
            )
        exported = volume_to_sitk(labelmap)
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
    if outside_fraction > 0.05:
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
        _remove_node(scene, labelmap)
    (segment_id,) = set(segmentation_node.GetSegmentation().GetSegmentIDs()) - before
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    segment.SetName(segment_name)
    segment.SetColor(*color_rgb)
    if terminology:
        segment.SetTag(segment.GetTerminologyEntryTagName(), terminology)
    return segment_id


def table_node_from_rows(
    scene: Any,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    name: str,
    node: Any = None,
    units: dict[str, str] | None = None,
) -> Any:
    """Fill a vtkMRMLTableNode (new, or ``node``) with typed columns: numbers as double, else text."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    was_modified = node.StartModify()
    node.RemoveAllColumns()
    for index, column in enumerate(columns):
        values = [row[index] for row in rows]
        numeric = all(
            isinstance(v, int | float | np.floating | np.integer) and not isinstance(v, bool) for v in values
        )
        array = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
        array.SetName(column)
        for value in values:
            array.InsertNextValue(float(value) if numeric else str(value))
        node.AddColumn(array)
        if units and column in units:
            node.SetColumnUnitLabel(column, units[column])
    node.EndModify(was_modified)
    return node


def table_node_rows(node: Any) -> list[dict[str, Any]]:
    """Read a table node back as a list of {column: value} rows."""
    table = node.GetTable()
    columns = [table.GetColumn(c) for c in range(table.GetNumberOfColumns())]
    return [
        {column.GetName(): column.GetValue(r) for column in columns} for r in range(table.GetNumberOfRows())
    ]
