"""The synthetic head-CT phantom: determinism, exact volume, analytic geometry, anatomy, knobs, files."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.imaging import geometry
from HematomaExpansionLib.imaging.segment_terms import HEMATOMA_SEGMENT_NAME
from HematomaExpansionLib.synthetic import (
    PRESETS,
    HematomaSpec,
    generate_phantom,
    write_case,
    write_segmentation_nrrd,
)
from HematomaExpansionLib.synthetic.anatomy import CSF_HU

OFFSET_MM = (24.0, 0.0, 20.0)  # left hemisphere, above the basal ganglia


def voxel_points(image: sitk.Image, index_zyx) -> np.ndarray:
    """Physical LPS coordinates (n, 3) of the voxels with numpy indices (k, j, i)."""
    k, j, i = (np.asarray(a, dtype=float).ravel() for a in index_zyx)
    scaled = np.stack([i, j, k], axis=1) * np.asarray(image.GetSpacing())
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    return scaled @ direction.T + np.asarray(image.GetOrigin())


def box_index(mask: np.ndarray, margin: tuple[int, int, int]):
    """Numpy indices of the voxels in the mask's bounding box grown by ``margin`` (k, j, i)."""
    nonzero = np.nonzero(mask)
    ranges = [
        np.arange(max(0, a.min() - m), min(n, a.max() + m + 1))
        for a, m, n in zip(nonzero, margin, mask.shape, strict=True)
    ]
    return np.meshgrid(*ranges, indexing="ij")


def strided_index(image: sitk.Image, step: int = 4):
    """Numpy indices of every ``step``-th voxel in-plane on every slice."""
    nx, ny, nz = image.GetSize()
    return np.meshgrid(np.arange(nz), np.arange(0, ny, step), np.arange(0, nx, step), indexing="ij")


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def erode(mask: np.ndarray, voxels: int = 2) -> np.ndarray:
    """Erode a boolean (z, y, x) mask by one slice and ``voxels`` pixels in-plane."""
    out = mask & np.roll(mask, 1, 0) & np.roll(mask, -1, 0)
    for _ in range(voxels):
        inner = out.copy()
        for axis in (1, 2):
            inner &= np.roll(out, 1, axis) & np.roll(out, -1, axis)
        out = inner
    return out


@pytest.fixture(scope="module")
def ellipsoid():
    """Analytic mode: plain homogeneous ellipsoid, no noise."""
    return generate_phantom(HematomaSpec(volume_ml=30.0, offset_mm=OFFSET_MM), seed=11, noise_sd_hu=0.0)


@pytest.fixture(scope="module")
def noisy():
    return generate_phantom(HematomaSpec(volume_ml=30.0, offset_mm=OFFSET_MM), seed=11, noise_sd_hu=5.0)


def test_same_seed_same_phantom_and_other_seed_differs():
    spec = HematomaSpec(volume_ml=12.0, lobulation=0.2, heterogeneity_hu=5.0, n_hypodense_foci=2)
    first, second = generate_phantom(spec, seed=5), generate_phantom(spec, seed=5)
    other = generate_phantom(spec, seed=6)
    assert np.array_equal(array(first.ct), array(second.ct))
    assert np.array_equal(array(first.mask), array(second.mask))
    assert first.truth == second.truth
    assert not np.array_equal(array(first.mask), array(other.mask))


def test_image_types_and_clinical_preset_geometry(ellipsoid):
    assert ellipsoid.ct.GetPixelID() == sitk.sitkInt16
    assert ellipsoid.mask.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(array(ellipsoid.mask))) == {0, 1}
    assert ellipsoid.ct.GetSize() == (512, 512, 30)
    assert ellipsoid.ct.GetSpacing() == pytest.approx((0.45, 0.45, 5.0))
    assert ellipsoid.mask.GetSize() == ellipsoid.ct.GetSize()
    assert ellipsoid.mask.GetOrigin() == ellipsoid.ct.GetOrigin()
    assert geometry.is_identity_direction(ellipsoid.ct)


@pytest.fixture(scope="module")
def thin():
    return generate_phantom(HematomaSpec(volume_ml=20.0, lobulation=0.2), preset="thin", seed=2)


def check_volume(phantom, volume_ml):
    voxel_ml = np.prod(phantom.mask.GetSpacing()) / 1000.0
    n_voxels = int(array(phantom.mask).sum())
    assert n_voxels == phantom.truth["n_voxels"]
    assert n_voxels * voxel_ml == pytest.approx(phantom.truth["volume_ml"])
    assert abs(n_voxels * voxel_ml - volume_ml) <= voxel_ml  # exact up to one voxel


@pytest.mark.parametrize(("volume_ml", "lobulation"), [(2.0, 0.0), (30.0, 0.3), (80.0, 0.15)])
def test_mask_volume_matches_request(volume_ml, lobulation):
    phantom = generate_phantom(HematomaSpec(volume_ml=volume_ml, lobulation=lobulation), seed=3)
    check_volume(phantom, volume_ml)


def test_analytic_mask_is_the_voxel_sampled_ellipsoid(ellipsoid):
    truth = ellipsoid.truth
    semi = np.asarray(truth["semi_axes_mm"])
    assert semi / semi[0] == pytest.approx(np.array([1.0, 1.3, 0.9]))
    mask = array(ellipsoid.mask).astype(bool)
    index = box_index(mask, (2, 10, 10))
    points = voxel_points(ellipsoid.mask, index) - np.asarray(truth["centre_mm"])
    inside = np.sum((points / semi) ** 2, axis=-1) <= 1.0
    assert inside.sum() == mask.sum()
    # Only voxels exactly on the surface may differ.
    assert np.count_nonzero(inside ^ mask[tuple(index)].ravel()) <= 2
    volume_ml = 4.0 / 3.0 * np.pi * np.prod(semi) / 1000.0
    assert truth["volume_ml"] == pytest.approx(volume_ml, rel=0.02)
    assert np.asarray(truth["offset_mm"]) == pytest.approx(np.asarray(OFFSET_MM))


def test_anatomy_hounsfield_units(ellipsoid):
    index = strided_index(ellipsoid.ct)
    ct = array(ellipsoid.ct)[tuple(index)].ravel().astype(float)
    mask = array(ellipsoid.mask)[tuple(index)].ravel().astype(bool)
    points = voxel_points(ellipsoid.ct, index) - np.asarray(ellipsoid.truth["head_centre_mm"])
    scalp = np.asarray(ellipsoid.truth["scalp_semi_axes_mm"])
    brain = np.asarray(ellipsoid.truth["brain_semi_axes_mm"])
    radius_scalp = np.sqrt(np.sum((points / scalp) ** 2, axis=-1))
    radius_brain = np.sqrt(np.sum((points / brain) ** 2, axis=-1))
    assert ct[radius_scalp > 1.05].mean() == pytest.approx(-1000.0, abs=2.0)
    assert ct.max() <= 1500.0
    skull = (radius_brain > 1.0) & (radius_scalp < 1.0)
    assert ct[skull].max() > 1300.0  # dense inner and outer tables
    diploe = skull & (radius_brain > 1.04) & (radius_scalp < 0.93)
    assert ct[diploe].min() >= 690.0 and np.median(ct[diploe]) < 1000.0  # lighter diploe between them
    deep_white = (radius_brain < 0.9) & ~mask & (np.abs(ct - 28.0) < 15.0)
    assert np.median(ct[deep_white]) == pytest.approx(28.0, abs=1.0)
    cortex = (radius_brain > 0.97) & (radius_brain < 0.985)
    assert np.median(ct[cortex]) > 33.0  # grey ribbon brighter than white matter
    assert np.count_nonzero((radius_brain < 0.6) & (np.abs(ct - CSF_HU) < 1.0)) > 100  # ventricles
    assert np.all(radius_brain[mask] < 1.0)  # the hematoma lies inside the brain
    full_mask = array(ellipsoid.mask).astype(bool)
    assert array(ellipsoid.ct)[erode(full_mask)] == pytest.approx(65.0, abs=0.51)


def test_noise_has_requested_sd(noisy, ellipsoid):
    difference = array(noisy.ct).astype(float) - array(ellipsoid.ct).astype(float)
    air = array(ellipsoid.ct) < -990  # clipping at -1024 does not reach these voxels at SD 5
    assert np.std(difference[air]) == pytest.approx(5.0, rel=0.05)
    assert abs(np.mean(difference[air])) < 0.1


def test_lobulation_changes_shape_not_volume(ellipsoid):
    lobulated = generate_phantom(
        HematomaSpec(volume_ml=30.0, offset_mm=OFFSET_MM, lobulation=0.3), seed=11, noise_sd_hu=0.0
    )
    plain, lobed = array(ellipsoid.mask).astype(bool), array(lobulated.mask).astype(bool)
    assert abs(int(lobed.sum()) - int(plain.sum())) <= 1
    assert np.count_nonzero(plain ^ lobed) > 0.1 * plain.sum()

    def perimeter(mask):  # in-plane boundary pixels over all slices
        inner = mask & np.roll(mask, 1, 1) & np.roll(mask, -1, 1) & np.roll(mask, 1, 2) & np.roll(mask, -1, 2)
        return np.count_nonzero(mask & ~inner)

    assert perimeter(lobed) > 1.05 * perimeter(plain)  # less compact at the same volume


def test_density_knobs_leave_the_mask_unchanged_and_act_inside_it(ellipsoid):
    spec = HematomaSpec(
        volume_ml=30.0,
        offset_mm=OFFSET_MM,
        mean_hu=70.0,
        heterogeneity_hu=6.0,
        blend_fraction=0.3,
        blend_hu=40.0,
        n_hypodense_foci=2,
        focus_radius_mm=4.0,
        focus_hu=25.0,
    )
    mixed = generate_phantom(spec, seed=11, noise_sd_hu=0.0)
    mask = array(mixed.mask).astype(bool)
    assert np.array_equal(mask, array(ellipsoid.mask).astype(bool))
    ct = array(mixed.ct).astype(float)
    core = ct[erode(mask)]
    assert np.mean(core < 55.0) == pytest.approx(0.3, abs=0.1)  # the blend region
    assert np.std(core[core > 55.0]) == pytest.approx(6.0, rel=0.35)  # texture of the dense part
    foci = mixed.truth["hypodense_foci"]
    assert len(foci) == 2
    index = box_index(mask, (0, 0, 0))
    points = voxel_points(mixed.ct, index)
    box_ct, box_mask = ct[tuple(index)].ravel(), mask[tuple(index)].ravel()
    for focus in foci:
        centre = np.asarray(focus["offset_mm"]) + np.asarray(mixed.truth["centre_mm"])
        distance = np.linalg.norm(points - centre, axis=-1)
        assert np.min(box_ct[(distance < 1.0) & box_mask]) <= 26.0
    assert mixed.truth["noise_free_mean_hu"] == pytest.approx(ct[mask].mean(), abs=0.5)


def test_oedema_rim_is_hypodense_and_outside_the_mask(ellipsoid):
    oedema = generate_phantom(
        HematomaSpec(volume_ml=30.0, offset_mm=OFFSET_MM, oedema_mm=4.0, oedema_hu=17.0),
        seed=11,
        noise_sd_hu=0.0,
    )
    mask = array(oedema.mask).astype(bool)
    assert np.array_equal(mask, array(ellipsoid.mask).astype(bool))
    semi = np.asarray(oedema.truth["semi_axes_mm"])
    index = box_index(mask, (2, 20, 20))
    points = voxel_points(oedema.ct, index) - np.asarray(oedema.truth["centre_mm"])
    scaled = np.sqrt(np.sum((points / semi) ** 2, axis=-1))
    rim = (scaled > 1.05) & (scaled < 1.12) & ~mask[tuple(index)].ravel()  # about 1-2.5 mm outside
    assert np.median(array(oedema.ct)[tuple(index)].ravel()[rim]) == pytest.approx(17.0, abs=1.0)
    assert np.median(array(ellipsoid.ct)[tuple(index)].ravel()[rim]) > 25.0


def test_thin_preset(thin):
    assert thin.ct.GetSpacing() == pytest.approx(PRESETS["thin"].spacing_mm)
    assert thin.ct.GetSize() == PRESETS["thin"].size
    assert array(thin.ct).min() <= -1000  # the cropped field of view keeps air beside the head
    check_volume(thin, 20.0)


def test_slice_thickness_override():
    three_mm = generate_phantom(HematomaSpec(volume_ml=10.0), seed=2, slice_mm=3.0)
    assert three_mm.ct.GetSpacing()[2] == pytest.approx(3.0)
    assert three_mm.ct.GetSize()[2] == 50  # the 150 mm z extent of the clinical preset
    check_volume(three_mm, 10.0)


def mask_centroid_mm(phantom) -> np.ndarray:
    return voxel_points(phantom.mask, np.nonzero(array(phantom.mask))).mean(axis=0)


def test_tilt_gives_an_oblique_grid_with_the_hematoma_in_place(ellipsoid):
    tilted = generate_phantom(HematomaSpec(volume_ml=30.0, offset_mm=OFFSET_MM), seed=11, tilt_deg=15.0)
    assert not geometry.is_axis_aligned(tilted.ct)
    direction = np.asarray(tilted.ct.GetDirection()).reshape(3, 3)
    assert direction[:, 2] @ np.array([0.0, 0.0, 1.0]) == pytest.approx(np.cos(np.deg2rad(15.0)))
    assert tilted.truth["centre_mm"] == pytest.approx(ellipsoid.truth["centre_mm"])
    assert mask_centroid_mm(tilted) == pytest.approx(np.asarray(tilted.truth["centre_mm"]), abs=1.0)
    assert mask_centroid_mm(ellipsoid) == pytest.approx(np.asarray(ellipsoid.truth["centre_mm"]), abs=1.0)


def test_axis_permutation_and_flip_are_exact_reorderings(noisy):
    shuffled = generate_phantom(
        HematomaSpec(volume_ml=30.0, offset_mm=OFFSET_MM),
        seed=11,
        noise_sd_hu=5.0,
        axes_order=(1, 0, 2),
        flip_axes=(True, False, True),
    )
    assert not geometry.is_identity_direction(shuffled.ct) and geometry.is_axis_aligned(shuffled.ct)
    ct, mask, how = geometry.canonical_axial(shuffled.ct, shuffled.mask)
    assert how == "reoriented"
    assert np.array_equal(array(ct), array(noisy.ct))
    assert np.array_equal(array(mask), array(noisy.mask))
    assert ct.GetOrigin() == pytest.approx(noisy.ct.GetOrigin())


def test_random_placement_stays_in_the_brain():
    for seed in (0, 1):
        phantom = generate_phantom(HematomaSpec(volume_ml=60.0, lobulation=0.2), seed=seed, noise_sd_hu=0.0)
        points = voxel_points(phantom.mask, np.nonzero(array(phantom.mask)))
        brain = np.asarray(phantom.truth["brain_semi_axes_mm"])
        radius = np.sqrt(np.sum(((points - phantom.truth["head_centre_mm"]) / brain) ** 2, axis=-1))
        assert radius.max() < 1.0


def test_bad_parameters_raise_input_error():
    with pytest.raises(InputError, match="outside the brain"):
        generate_phantom(HematomaSpec(volume_ml=40.0, offset_mm=(55.0, 0.0, 0.0)))
    with pytest.raises(InputError, match="volume_ml"):
        generate_phantom(HematomaSpec(volume_ml=0.0))
    with pytest.raises(InputError, match="preset"):
        generate_phantom(preset="ultra")
    with pytest.raises(InputError, match="axes_order"):
        generate_phantom(axes_order=(0, 0, 2))


def read_with_slicer(path):
    slicer = pytest.importorskip("slicer")
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(path))
    assert storage.ReadData(node)
    return node


def test_written_case_opens_in_slicer_and_round_trips(tmp_path):
    phantom = generate_phantom(
        HematomaSpec(volume_ml=8.0),
        seed=4,
        tilt_deg=12.0,
        axes_order=(1, 0, 2),
        flip_axes=(False, True, False),
    )
    paths = write_case(phantom, tmp_path, "case_007")
    assert paths["ct"] == tmp_path / "case_007_ct.nrrd"
    assert paths["hematoma"] == tmp_path / "case_007_hematoma.seg.nrrd"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case_007_ct.nrrd", "case_007_hematoma.seg.nrrd"]

    ct = sitk.ReadImage(str(paths["ct"]))
    assert ct.GetPixelID() == sitk.sitkInt16
    assert np.array_equal(array(ct), array(phantom.ct))
    assert ct.GetSpacing() == pytest.approx(phantom.ct.GetSpacing(), abs=1e-9)
    assert ct.GetOrigin() == pytest.approx(phantom.ct.GetOrigin(), abs=1e-9)
    assert ct.GetDirection() == pytest.approx(phantom.ct.GetDirection(), abs=1e-9)

    seg = sitk.ReadImage(str(paths["hematoma"]))
    assert np.array_equal(array(seg), array(phantom.mask))
    assert seg.GetMetaData("Segment0_LabelValue") == "1"
    assert seg.GetMetaData("Segmentation_MasterRepresentation") == "Binary labelmap"
    tags = seg.GetMetaData("Segment0_Tags")
    assert "SCT^49755003^Morphologically Altered Structure" in tags and "SCT^50960005^Hemorrhage" in tags

    node = read_with_slicer(paths["hematoma"])
    segmentation = node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    assert segmentation.GetNthSegmentID(0) == HEMATOMA_SEGMENT_NAME
    segment = segmentation.GetSegment(HEMATOMA_SEGMENT_NAME)
    assert segment.GetName() == HEMATOMA_SEGMENT_NAME
    assert "SCT^12738006^Brain" in segment.GetTerminology()
    labelmap = segment.GetRepresentation("Binary labelmap")
    from vtk.util.numpy_support import vtk_to_numpy

    voxels = vtk_to_numpy(labelmap.GetPointData().GetScalars())
    assert int(np.count_nonzero(voxels == segment.GetLabelValue())) == int(array(phantom.mask).sum())

    # Slicer's image-to-world (RAS) matrix is the CT's index-to-LPS geometry with L, P negated.
    import vtk

    matrix = vtk.vtkMatrix4x4()
    labelmap.GetImageToWorldMatrix(matrix)
    ras = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(3)])
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    direction = np.asarray(phantom.ct.GetDirection()).reshape(3, 3)
    expected = lps_to_ras @ direction @ np.diag(phantom.ct.GetSpacing())
    assert ras[:, :3] == pytest.approx(expected, abs=1e-6)
    assert ras[:, 3] == pytest.approx(lps_to_ras @ np.asarray(phantom.ct.GetOrigin()), abs=1e-6)


def test_write_replaces_existing_files_atomically(tmp_path):
    phantom = generate_phantom(HematomaSpec(volume_ml=5.0), seed=9)
    target = tmp_path / "x_hematoma.seg.nrrd"
    target.write_text("stale")
    write_segmentation_nrrd(phantom.mask, target)
    assert np.array_equal(array(sitk.ReadImage(str(target))), array(phantom.mask))
    assert [p.name for p in tmp_path.iterdir()] == ["x_hematoma.seg.nrrd"]


def test_empty_mask_is_not_written(tmp_path):
    empty = sitk.Image(4, 4, 4, sitk.sitkUInt8)
    with pytest.raises(InputError, match="empty"):
        write_segmentation_nrrd(empty, tmp_path / "empty.seg.nrrd")
    assert list(tmp_path.iterdir()) == []
