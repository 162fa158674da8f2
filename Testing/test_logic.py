"""The module's Logic on real MRML nodes (slicer-core): measurements and bad input, inputs untouched."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import slicer
from vtk.util import numpy_support

from HematomaExpansionLib import mrml
from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom, write_case

SPEC = HematomaSpec(volume_ml=30.0, offset_mm=(-20.0, 5.0, 10.0))


@pytest.fixture(scope="module")
def case_files(tmp_path_factory):
    phantom = generate_phantom(SPEC, preset="clinical", seed=3)
    paths = write_case(phantom, tmp_path_factory.mktemp("case"), "case")
    return phantom, paths


@pytest.fixture
def loaded(runtime, case_files):
    phantom, paths = case_files
    logic = HematomaExpansionLogicBase(runtime)
    volume = mrml.load_volume(runtime, paths["ct"])
    segmentation = mrml.load_segmentation(runtime, paths["hematoma"])
    return logic, volume, segmentation, phantom


def node_state(volume, segmentation) -> dict:
    """Everything about the input nodes a call could change."""
    segments = segmentation.GetSegmentation()
    state = {
        "ct": mrml.volume_to_sitk(volume),
        "ijk_to_ras": mrml.world_ijk_to_ras(volume),
        "volume_mtime": volume.GetImageData().GetMTime(),
        "segment_ids": list(segments.GetSegmentIDs()),
        "segment_names": mrml.segment_names(segmentation),
    }
    for segment_id in state["segment_ids"]:
        oriented = slicer.vtkOrientedImageData()
        slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(
            segmentation, segment_id, oriented
        )
        scalars = oriented.GetPointData().GetScalars()
        state[f"labelmap:{segment_id}"] = numpy_support.vtk_to_numpy(scalars).copy()
    return state


def assert_same_state(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, sitk.Image):
            np.testing.assert_array_equal(
                sitk.GetArrayViewFromImage(value), sitk.GetArrayViewFromImage(after[key])
            )
            assert value.GetOrigin() == after[key].GetOrigin()
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, after[key])
        else:
            assert value == after[key], key


def test_measurements_on_nodes_match_the_analytic_ellipsoid(loaded):
    logic, volume, segmentation, phantom = loaded
    before = node_state(volume, segmentation)
    result = logic.measure(volume, segmentation)
    a, b, c = phantom.truth["semi_axes_mm"]
    assert result["volume_ml"] == pytest.approx(4.0 / 3.0 * np.pi * a * b * c / 1000.0, rel=0.02)
    # Kothari on the ellipsoid: A and B are its in-plane diameters at the centre slice.
    assert result["a_mm"] * result["b_mm"] == pytest.approx(4 * a * b, rel=0.1)
    analytic_abc2 = (2 * a) * (2 * b) * result["c_mm"] / 2.0 / 1000.0
    assert result["abc2_ml"] == pytest.approx(analytic_abc2, rel=0.1)
    origin_z, sz = phantom.ct.GetOrigin()[2], phantom.ct.GetSpacing()[2]
    expected_k = round((phantom.truth["centre_mm"][2] - origin_z) / sz)
    assert result["max_section_slice_index"] == expected_k
    assert result["n_components"] == 1
    assert_same_state(before, node_state(volume, segmentation))


def test_measurement_table_node_has_units(loaded):
    logic, volume, segmentation, _ = loaded
    table = logic.measurements_table(logic.measure(volume, segmentation))
    rows = {row["measurement"]: row for row in mrml.table_node_rows(table)}
    assert rows["volume_ml"]["unit"] == "mL" and rows["max_section_area_mm2"]["unit"] == "mm2"
    assert rows["mean_hu"]["unit"] == "HU" and rows["n_components"]["value"] == 1.0


def test_labelmap_file_works_like_a_segmentation(runtime, case_files, tmp_path):
    phantom, paths = case_files
    labelmap_path = tmp_path / "hematoma_label.nii.gz"
    sitk.WriteImage(phantom.mask, str(labelmap_path))
    logic = HematomaExpansionLogicBase(runtime)
    volume = mrml.load_volume(runtime, paths["ct"])
    from_labelmap = logic.measure(volume, mrml.load_segmentation(runtime, labelmap_path), "1")
    from_seg = logic.measure(volume, mrml.load_segmentation(runtime, paths["hematoma"]))
    assert from_labelmap["volume_ml"] == pytest.approx(from_seg["volume_ml"], abs=1e-9)


def _add_segment(runtime, segmentation, array, like, name):
    mask = sitk.GetImageFromArray(array.astype(np.uint8))
    mask.CopyInformation(like)
    return mrml.mask_to_segment(runtime, mask, segmentation, name)


def test_bad_inputs_raise_clear_errors_and_change_nothing(runtime, loaded):
    logic, volume, segmentation, phantom = loaded
    ct_array = sitk.GetArrayFromImage(phantom.ct)
    before = node_state(volume, segmentation)

    with pytest.raises(InputError, match=r"Segment 'Tumour' not found.*'Hematoma'"):
        logic.measure(volume, segmentation, "Tumour")

    empty = runtime.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "EmptySeg")
    empty.GetSegmentation().AddEmptySegment("Hematoma", "Hematoma")
    with pytest.raises(InputError, match="empty"):
        logic.measure(volume, empty)

    elsewhere = sitk.Image(phantom.mask)
    elsewhere.SetOrigin((900.0, 900.0, 900.0))
    far = runtime.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "FarSeg")
    mrml.mask_to_segment(runtime, elsewhere, far, "Hematoma")
    with pytest.raises(InputError, match="does not overlap"):
        logic.measure(volume, far)

    labelmap = mrml.sitk_to_volume(phantom.mask, runtime.scene, "label", labelmap=True)
    with pytest.raises(InputError, match="labelmap"):
        logic.measure(labelmap, segmentation)

    scaled = sitk.GetImageFromArray(np.clip((ct_array + 1000) / 16, 0, 255).astype(np.uint8))
    scaled.CopyInformation(phantom.ct)
    with pytest.raises(InputError, match="'scaled'"):
        logic.measure(mrml.sitk_to_volume(scaled, runtime.scene, "scaled"), segmentation)

    flat = sitk.GetImageFromArray(ct_array[10:11])
    flat.SetSpacing(phantom.ct.GetSpacing())
    with pytest.raises(InputError, match="'flat'"):
        logic.measure(mrml.sitk_to_volume(flat, runtime.scene, "flat"), segmentation)

    with_nan = sitk.GetImageFromArray(ct_array.astype(np.float32))
    with_nan.CopyInformation(phantom.ct)
    with_nan[5, 5, 5] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        logic.measure(mrml.sitk_to_volume(with_nan, runtime.scene, "nan"), segmentation)

    assert_same_state(before, node_state(volume, segmentation))
    assert runtime.scene.GetNodesByClass("vtkMRMLLabelMapVolumeNode").GetNumberOfItems() == 1  # only 'label'


def test_cannot_apply_reason_explains_what_is_missing(loaded):
    logic, volume, segmentation, _ = loaded
    assert "CT" in logic.cannot_apply_reason(None, segmentation)
    assert "segmentation" in logic.cannot_apply_reason(volume, None)
    assert logic.cannot_apply_reason(volume, segmentation) is None
    assert "not found" in logic.cannot_apply_reason(volume, segmentation, "nope")
