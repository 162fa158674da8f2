"""The MRML adapter on real slicer-core: geometry round trips, file loading, segments and tables."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib import mrml
from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.mrml.volumes import matrix_to_vtk


def _rotation_about_lr(angle_deg: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _image(direction: np.ndarray, dtype=np.int16) -> sitk.Image:
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.integers(-1000, 1000, size=(7, 9, 11)).astype(dtype))
    image.SetSpacing((0.45, 0.6, 5.0))
    image.SetOrigin((-12.5, 30.25, -40.0))
    image.SetDirection(direction.ravel().tolist())
    return image


def _assert_same_image(a: sitk.Image, b: sitk.Image, atol: float = 1e-9) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=atol)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=atol)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=atol)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))


DIRECTIONS = {
    "axial": np.eye(3),
    "permuted_flipped": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, -1]]),
    "tilted_15deg": _rotation_about_lr(15.0),
}


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTIONS.keys())
def test_sitk_node_sitk_round_trip_is_exact(runtime, direction):
    image = _image(direction)
    node = mrml.sitk_to_volume(image, runtime.scene, "ct")
    _assert_same_image(image, mrml.volume_to_sitk(node))


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTIONS.keys())
def test_volume_loaded_by_slicer_matches_simpleitk_reading_of_the_file(runtime, tmp_path, direction):
    image = _image(direction)
    path = tmp_path / "ct.nrrd"
    sitk.WriteImage(image, str(path))
    loaded = mrml.volume_to_sitk(mrml.load_volume(runtime, path))
    # Slicer's reader may reorder left-handed axes; the voxels must still sit at the same
    # physical points with the same values as SimpleITK's reading of the file.
    from_file = sitk.ReadImage(str(path))
    np.testing.assert_allclose(loaded.GetSpacing(), from_file.GetSpacing(), atol=1e-6)
    on_file_grid = sitk.Resample(loaded, from_file, sitk.Transform(), sitk.sitkNearestNeighbor, -9999)
    np.testing.assert_array_equal(
        sitk.GetArrayViewFromImage(on_file_grid), sitk.GetArrayViewFromImage(from_file)
    )


def test_node_sitk_node_round_trip_preserves_node_geometry(runtime):
    node = mrml.sitk_to_volume(_image(DIRECTIONS["tilted_15deg"]), runtime.scene, "ct")
    again = mrml.sitk_to_volume(mrml.volume_to_sitk(node), runtime.scene, "ct2")
    np.testing.assert_allclose(mrml.world_ijk_to_ras(node), mrml.world_ijk_to_ras(again), atol=1e-12)


def test_linear_parent_transform_is_applied(runtime):
    node = mrml.sitk_to_volume(_image(np.eye(3)), runtime.scene, "ct")
    transform = runtime.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    matrix = np.eye(4)
    matrix[:3, 3] = [10.0, -5.0, 2.5]  # RAS translation
    transform.SetMatrixTransformToParent(matrix_to_vtk(matrix))
    node.SetAndObserveTransformNodeID(transform.GetID())
    moved = mrml.volume_to_sitk(node)
    np.testing.assert_allclose(
        np.asarray(moved.GetOrigin()) - np.asarray(_image(np.eye(3)).GetOrigin()),
        [-10.0, 5.0, 2.5],
        atol=1e-9,
    )


def test_segment_export_and_import_round_trip(runtime):
    ct = _image(DIRECTIONS["tilted_15deg"])
    ct_node = mrml.sitk_to_volume(ct, runtime.scene, "ct")
    array = np.zeros((7, 9, 11), np.uint8)
    array[2:5, 3:7, 4:9] = 1
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(ct)
    segmentation = runtime.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segment_id = mrml.mask_to_segment(runtime, mask, segmentation, "Hematoma")
    exported, warnings = mrml.segment_to_mask(runtime, segmentation, segment_id, ct_node)
    assert warnings == []
    _assert_same_image(mask, exported)
    assert mrml.resolve_segment_id(segmentation, "hematoma") == segment_id
    assert mrml.resolve_segment_id(segmentation) == segment_id
    # temporary nodes are gone
    assert runtime.scene.GetNodesByClass("vtkMRMLLabelMapVolumeNode").GetNumberOfItems() == 0


def test_labelmap_file_imports_its_labels_and_leaves_no_temporary_node(runtime, tmp_path):
    """The labelmap is read into a temporary volume node; it, its display and its storage node go again."""
    array = np.zeros((7, 9, 11), np.uint8)
    array[2:5, 3:7, 4:9] = 1
    array[5:7, 0:2, 0:3] = 2
    labelmap = sitk.GetImageFromArray(array)
    path = tmp_path / "labels.nrrd"
    sitk.WriteImage(labelmap, str(path))
    before = runtime.scene.GetNumberOfNodes()
    segmentation = mrml.load_segmentation(runtime, path)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 2
    added = {
        runtime.scene.GetNthNode(i).GetClassName() for i in range(before, runtime.scene.GetNumberOfNodes())
    }
    assert added == {"vtkMRMLSegmentationNode", "vtkMRMLSegmentationDisplayNode"}


def test_segment_outside_the_ct_is_refused(runtime):
    ct = _image(np.eye(3))
    ct_node = mrml.sitk_to_volume(ct, runtime.scene, "ct")
    far = sitk.Image(ct)
    far.SetOrigin((500.0, 500.0, 500.0))
    far = sitk.Cast(far > 0, sitk.sitkUInt8)
    segmentation = runtime.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Elsewhere")
    segment_id = mrml.mask_to_segment(runtime, far, segmentation, "Hematoma")
    with pytest.raises(InputError, match="does not overlap"):
        mrml.segment_to_mask(runtime, segmentation, segment_id, ct_node)


def test_unknown_segment_lists_available_ones(runtime):
    ct = _image(np.eye(3))
    segmentation = runtime.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Seg")
    mrml.mask_to_segment(runtime, sitk.Cast(ct > 0, sitk.sitkUInt8), segmentation, "Bleed")
    mrml.mask_to_segment(runtime, sitk.Cast(ct > 500, sitk.sitkUInt8), segmentation, "Oedema")
    with pytest.raises(InputError, match="'Bleed', 'Oedema'"):
        mrml.resolve_segment_id(segmentation, "Tumour")
    with pytest.raises(InputError, match="2 segments"):
        mrml.resolve_segment_id(segmentation)


def test_missing_and_unreadable_files(runtime, tmp_path):
    with pytest.raises(InputError, match="not found"):
        mrml.load_volume(runtime, tmp_path / "nope.nrrd")
    bad = tmp_path / "bad.nrrd"
    bad.write_text("this is not an image")
    with pytest.raises(InputError, match=str(bad)):
        mrml.load_volume(runtime, bad)
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(InputError, match="unsupported format"):
        mrml.load_volume(runtime, text)


def test_table_node_holds_typed_columns_and_units(runtime):
    node = mrml.table_node_from_rows(
        runtime.scene, ["name", "value"], [["volume_ml", 30.5], ["abc2_ml", 28.0]], "t", units={"value": "mL"}
    )
    assert mrml.table_node_rows(node) == [
        {"name": "volume_ml", "value": 30.5},
        {"name": "abc2_ml", "value": 28.0},
    ]
    assert node.GetColumnUnitLabel("value") == "mL"


def _write_dicom_series(image: sitk.Image, folder) -> None:
    """Write an axial int16 volume as a CT DICOM series, one file per slice (GDCM through SimpleITK)."""
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series_uid = "1.2.826.0.1.3680043.2.1125.1.1234567890"
    direction = image.GetDirection()
    orientation = "\\".join(
        str(v) for v in (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7])
    )
    for k in range(image.GetDepth()):
        slice_image = image[:, :, k]
        for tag, value in (
            ("0008|0060", "CT"),
            ("0020|000e", series_uid),
            ("0020|0037", orientation),
            ("0020|0032", "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k)))),
            ("0020|0013", str(k + 1)),
            ("0018|0050", str(image.GetSpacing()[2])),
            ("0008|0018", f"{series_uid}.{k + 1}"),
        ):
            slice_image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(slice_image)


def test_dicom_series_folder_loads_with_its_geometry(runtime, tmp_path):
    image = _image(np.eye(3))
    _write_dicom_series(image, tmp_path)
    loaded = mrml.volume_to_sitk(mrml.load_volume(runtime, tmp_path, name="dicom"))
    np.testing.assert_allclose(loaded.GetSpacing(), image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(loaded.GetOrigin(), image.GetOrigin(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(loaded), sitk.GetArrayViewFromImage(image))


def test_folder_without_dicom_is_refused(runtime, tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match="No DICOM series"):
        mrml.load_volume(runtime, tmp_path)
