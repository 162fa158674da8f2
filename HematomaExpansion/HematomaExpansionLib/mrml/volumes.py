"""Volume nodes to SimpleITK images and back, in LPS with the node's world geometry.

Slicer stores geometry as an IJK-to-RAS matrix; SimpleITK (like DICOM and NRRD files) uses LPS.
Everything that leaves this module is in LPS, with spacing, origin and direction taken from the
node's world geometry (linear parent transforms applied; nonlinear ones are refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
import vtk
from vtk.util import numpy_support

from ..common.errors import InputError
from .scene import node_label

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
GEOMETRY_DECIMALS_MM = 10
DIRECTION_DECIMALS = 12


def matrix_from_vtk(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    """A vtkMatrix4x4 as a 4x4 numpy array."""
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def matrix_to_vtk(array: np.ndarray) -> vtk.vtkMatrix4x4:
    """A 4x4 numpy array as a vtkMatrix4x4."""
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def ras_to_lps(point_ras: Sequence[float]) -> tuple[float, float, float]:
    """A physical point from Slicer's RAS to LPS (the core's and SimpleITK's frame)."""
    return (-point_ras[0], -point_ras[1], point_ras[2])


def world_ijk_to_ras(node: Any) -> np.ndarray:
    """The node's IJK-to-RAS matrix in world space (linear parent transforms applied)."""
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    matrix = matrix_from_vtk(ijk_to_ras)
    transform_node = node.GetParentTransformNode()
    if transform_node is not None:
        if not transform_node.IsTransformToWorldLinear():
            raise InputError(
                f"Volume {node_label(node)} is under a nonlinear transform "
                f"{node_label(transform_node)}; harden the transform (Data module) and try again."
            )
        to_world = vtk.vtkMatrix4x4()
        transform_node.GetMatrixTransformToWorld(to_world)
        matrix = matrix_from_vtk(to_world) @ matrix
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
    node.SetIJKToRASMatrix(matrix_to_vtk(LPS_FROM_RAS @ matrix))
    node.SetAndObserveImageData(image_data)
    node.CreateDefaultDisplayNodes()
    return node
