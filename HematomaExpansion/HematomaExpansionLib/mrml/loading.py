"""Files into nodes: a CT (NRRD, NIfTI, MHA or a DICOM series folder) and a hematoma segmentation.

Files that cannot be read give an ``InputError`` naming the file, as does a grey-scale image (a CT)
given as the hematoma, before it is imported as segments; temporary nodes are removed again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import SimpleITK as sitk
import slicer

from ..common.errors import InputError
from ..imaging.checks import validate_label_image
from .runtime import SlicerRuntime
from .scene import remove_node
from .volumes import sitk_to_volume, volume_to_sitk

VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
SEGMENTATION_SUFFIX = ".seg.nrrd"


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


def _node_name(path: Path) -> str:
    """The file name without its image suffix (``case_ct.nii.gz`` -> ``case_ct``)."""
    name = path.name
    for suffix in (SEGMENTATION_SUFFIX, *VOLUME_SUFFIXES):
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
    name = name or _node_name(path)
    if path.is_dir():
        return sitk_to_volume(read_dicom_series(path), runtime.scene, name)
    if not path.name.lower().endswith(VOLUME_SUFFIXES):
        raise InputError(f"CT file {path} has an unsupported format; use NRRD, NIfTI (.nii/.nii.gz) or MHA.")
    node = runtime.volumes_logic.AddArchetypeVolume(str(path), name, 0)
    if node is None or node.GetImageData() is None:
        raise InputError(f"CT file {path} could not be read as a volume; is it a valid image file?")
    return node


def _is_segmentation_file(path: Path) -> bool:
    """A ``.seg.nrrd``, or a NRRD whose header describes Slicer segments."""
    if path.name.lower().endswith(SEGMENTATION_SUFFIX):
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


def _read_segmentation_file(path: Path, segmentation_node: Any) -> None:
    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(path))
    if not storage.ReadData(segmentation_node):
        raise InputError(f"Segmentation file {path} could not be read as a Slicer segmentation.")


def _import_labelmap_file(runtime: SlicerRuntime, path: Path, segmentation_node: Any) -> None:
    labelmap = runtime.volumes_logic.AddArchetypeVolume(str(path), "__labelmap__", 1)
    if labelmap is None or labelmap.GetImageData() is None:
        raise InputError(f"Segmentation file {path} could not be read as a labelmap image.")
    try:
        # A grey-scale image (a CT given as the hematoma) is refused before it is imported as segments.
        validate_label_image(volume_to_sitk(labelmap), str(path))
        if not runtime.segmentations_logic.ImportLabelmapToSegmentationNode(labelmap, segmentation_node):
            raise InputError(f"Labelmap {path} could not be imported as segments.")
    finally:
        remove_node(runtime.scene, labelmap)


def load_segmentation(runtime: SlicerRuntime, path: Path | str) -> Any:
    """Load a Slicer segmentation (.seg.nrrd) or a labelmap file (one segment per label value)."""
    path = _check_readable(Path(path), "Segmentation")
    scene = runtime.scene
    segmentation_node = scene.AddNewNodeByClass(
        "vtkMRMLSegmentationNode", scene.GenerateUniqueName(_node_name(path))
    )
    try:
        if _is_segmentation_file(path):
            _read_segmentation_file(path, segmentation_node)
        else:
            _import_labelmap_file(runtime, path, segmentation_node)
    except Exception:
        scene.RemoveNode(segmentation_node)
        raise
    segmentation_node.CreateDefaultDisplayNodes()
    return segmentation_node


def load_case(runtime: SlicerRuntime, ct_path: Path | str, hematoma_path: Path | str) -> tuple[Any, Any]:
    """Load a case's CT and hematoma segmentation (or labelmap) files: (volume node, segmentation node)."""
    return load_volume(runtime, ct_path), load_segmentation(runtime, hematoma_path)
