"""The "Draft hematoma" tool: threshold inside the brain, seed or largest component, holes filled.

Checked against the phantoms' true masks (Dice), against the phantoms' analytic anatomy (the
brain ellipsoid, independent of the algorithm) for never reaching skull or scalp, and on a
small synthetic head with two spherical clots whose volumes are known analytically.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.imaging.draft import DraftResult, draft_hematoma
from HematomaExpansionLib.imaging.intracranial import intracranial_mask
from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom

BONE_HU = 300.0
MIN_DICE = 0.9

PHANTOMS = {
    "clinical_oedema": (HematomaSpec(oedema_mm=3.0), {"preset": "clinical", "seed": 1}),
    "thin_oedema": (HematomaSpec(oedema_mm=3.0), {"preset": "thin", "seed": 3}),
    "clinical_lobulated_heterogeneous": (
        HematomaSpec(oedema_mm=2.0, lobulation=0.25, heterogeneity_hu=6.0, n_hypodense_foci=3),
        {"preset": "clinical", "seed": 2},
    ),
    "clinical_tilted": (
        HematomaSpec(oedema_mm=2.0, lobulation=0.15),
        {"preset": "clinical", "seed": 4, "tilt_deg": 15.0},
    ),
}


@pytest.fixture(scope="module")
def cache() -> dict:
    """Phantoms and drafts made once per module (each phantom costs about a second)."""
    return {}


def _phantom(cache: dict, name: str):
    if name not in cache:
        spec, kwargs = PHANTOMS[name]
        cache[name] = generate_phantom(spec, **kwargs)
    return cache[name]


def _draft(cache: dict, name: str, seeded: bool) -> tuple[DraftResult, float]:
    """The draft of a phantom (seed at the true centre or none) and its runtime in seconds."""
    key = (name, seeded)
    if key not in cache:
        phantom = _phantom(cache, name)
        seed = tuple(phantom.truth["centre_mm"]) if seeded else None
        started = time.perf_counter()
        result = draft_hematoma(phantom.ct, seed)
        cache[key] = (result, time.perf_counter() - started)
    return cache[key]


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _physical_points(image: sitk.Image, index_kji: np.ndarray) -> np.ndarray:
    """LPS positions (n, 3) of voxel centres given as numpy (k, j, i) indices (n, 3)."""
    ijk = index_kji[:, ::-1].astype(float)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    return np.asarray(image.GetOrigin()) + (ijk * np.asarray(image.GetSpacing())) @ direction.T


def _depth_from_offsets(phantom, offsets_mm: list[np.ndarray]) -> np.ndarray:
    """Depth below the phantom's brain surface (the generator's own formula, negative outside)."""
    axes = np.asarray(phantom.truth["brain_semi_axes_mm"])
    r2 = sum((o / o.dtype.type(a)) ** 2 for o, a in zip(offsets_mm, axes, strict=True))
    return (1.0 - r2) * r2.dtype.type(np.cbrt(np.prod(axes)) / 2.0)


def _brain_depth_mm(phantom, index_kji: np.ndarray) -> np.ndarray:
    """Brain depth (mm) at voxels given as numpy (k, j, i) indices (n, 3)."""
    offsets = _physical_points(phantom.ct, index_kji) - np.asarray(phantom.truth["head_centre_mm"])
    return _depth_from_offsets(phantom, list(offsets.T))


def _brain_depth_grid_mm(phantom) -> np.ndarray:
    """Brain depth (mm) at every voxel, as a (k, j, i) array built by broadcasting."""
    ct = phantom.ct
    direction = np.asarray(ct.GetDirection()).reshape(3, 3)
    start = np.asarray(ct.GetOrigin()) - np.asarray(phantom.truth["head_centre_mm"])
    shapes = ((1, 1, -1), (1, -1, 1), (-1, 1, 1))  # numpy layout of the i, j, k axes
    steps = [
        (np.arange(n) * s).reshape(shape).astype(np.float32)
        for n, s, shape in zip(ct.GetSize(), ct.GetSpacing(), shapes, strict=True)
    ]
    offsets = [
        np.float32(start[row]) + sum(np.float32(direction[row, a]) * steps[a] for a in range(3))
        for row in range(3)
    ]
    return _depth_from_offsets(phantom, offsets)


def _focus_centre_mm(phantom, focus: dict) -> tuple[float, float, float]:
    return tuple(np.asarray(phantom.truth["centre_mm"]) + np.asarray(focus["offset_mm"]))


def _assert_outside_skull_and_scalp(phantom, mask: np.ndarray) -> None:
    ct = _array(phantom.ct)
    bone = ct > BONE_HU
    assert not np.any(mask & bone), "the draft contains bone"
    next_to_bone = ndimage.binary_dilation(bone, structure=np.ones((3, 3, 3), dtype=bool))
    assert not np.any(mask & next_to_bone), "the draft contains partial-volume voxels touching bone"
    depth = _brain_depth_mm(phantom, np.argwhere(mask))
    assert depth.min() > 0.0, f"a draft voxel lies {-depth.min():.2f} mm outside the brain surface"


# --------------------------------------------------------------------------- phantoms


@pytest.mark.parametrize("seeded", [False, True], ids=["largest", "seed-at-centre"])
@pytest.mark.parametrize("name", list(PHANTOMS))
def test_draft_matches_the_true_mask(cache, name, seeded):
    phantom = _phantom(cache, name)
    result, seconds = _draft(cache, name, seeded)
    truth = _array(phantom.mask).astype(bool)
    mask = _array(result.mask)
    dice = _dice(mask.astype(bool), truth)
    print(f"{name} seeded={seeded}: Dice {dice:.4f}, {result.volume_ml:.2f} mL, {seconds:.2f} s")

    assert dice >= MIN_DICE
    assert result.chosen_component_reason == ("seed point" if seeded else "largest")
    assert result.n_candidate_components >= 1
    assert set(np.unique(mask)) == {0, 1} and result.mask.GetPixelID() == sitk.sitkUInt8
    assert result.mask.GetSize() == phantom.ct.GetSize()
    assert result.mask.GetSpacing() == phantom.ct.GetSpacing()
    assert result.mask.GetOrigin() == phantom.ct.GetOrigin()
    assert result.mask.GetDirection() == phantom.ct.GetDirection()
    voxel_ml = np.prod(phantom.ct.GetSpacing()) / 1000.0
    assert result.volume_ml == pytest.approx(np.count_nonzero(mask) * voxel_ml)
    assert result.volume_ml == pytest.approx(phantom.truth["volume_ml"], rel=0.1)


@pytest.mark.parametrize("name", list(PHANTOMS))
def test_draft_never_includes_skull_or_scalp(cache, name):
    phantom = _phantom(cache, name)
    result, _ = _draft(cache, name, seeded=False)
    _assert_outside_skull_and_scalp(phantom, _array(result.mask).astype(bool))


def test_bone_in_the_hu_range_is_still_excluded(cache):
    """With the range open up to 3000 HU only the intracranial region keeps the skull out."""
    phantom = _phantom(cache, "clinical_oedema")
    result = draft_hematoma(phantom.ct, hu_range=(45.0, 3000.0))
    mask = _array(result.mask).astype(bool)
    _assert_outside_skull_and_scalp(phantom, mask)
    assert _dice(mask, _array(phantom.mask).astype(bool)) >= MIN_DICE


def test_seeded_and_largest_agree_on_a_single_hematoma(cache):
    largest, _ = _draft(cache, "clinical_oedema", seeded=False)
    seeded, _ = _draft(cache, "clinical_oedema", seeded=True)
    assert np.array_equal(_array(largest.mask), _array(seeded.mask))
    assert largest.warnings == [] and seeded.warnings == []


def _enclosed_foci(phantom) -> list[tuple[int, int, int]]:
    """(k, j, i) centres of the hypodense foci that the clot surrounds.

    Enclosed: the true mask covers the disc of the focus radius + 1 mm on its axial slice and
    the centre's neighbours on the slices above and below. A focus breaking through the clot's
    edge, or lying in its partial-volume cap slice, is not a hole, and the draft may leave it out.
    """
    truth = _array(phantom.mask).astype(bool)
    sx, sy, _ = phantom.ct.GetSpacing()
    enclosed = []
    for focus in phantom.truth["hypodense_foci"]:
        i, j, k = phantom.ct.TransformPhysicalPointToIndex(_focus_centre_mm(phantom, focus))
        rows, cols = np.ogrid[: truth.shape[1], : truth.shape[2]]
        disc = ((cols - i) * sx) ** 2 + ((rows - j) * sy) ** 2 <= (focus["radius_mm"] + 1.0) ** 2
        if truth[k][disc].all() and truth[k - 1, j, i] and truth[k + 1, j, i]:
            enclosed.append((k, j, i))
    return enclosed


def test_hypodense_foci_inside_the_clot_are_filled(cache):
    phantom = _phantom(cache, "clinical_lobulated_heterogeneous")
    assert phantom.ct.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    result, _ = _draft(cache, "clinical_lobulated_heterogeneous", seeded=False)
    ct, mask = _array(phantom.ct), _array(result.mask)
    enclosed = _enclosed_foci(phantom)
    assert len(enclosed) >= 2
    for index in enclosed:
        assert ct[index] < 45, "the focus must be below the HU range for this test to mean anything"
        assert mask[index] == 1


def test_seed_in_a_hypodense_focus_selects_the_clot(cache):
    phantom = _phantom(cache, "clinical_lobulated_heterogeneous")
    largest, _ = _draft(cache, "clinical_lobulated_heterogeneous", seeded=False)
    focus = _physical_points(phantom.ct, np.array(_enclosed_foci(phantom)[:1]))[0]
    result = draft_hematoma(phantom.ct, tuple(focus))
    assert result.chosen_component_reason == "seed point"
    assert np.array_equal(_array(result.mask), _array(largest.mask))


def test_seed_just_outside_the_clot_is_accepted_with_a_warning(cache):
    phantom = _phantom(cache, "clinical_oedema")
    largest, _ = _draft(cache, "clinical_oedema", seeded=False)
    mask, ct = _array(largest.mask), _array(phantom.ct)
    _, j0, k0 = phantom.ct.TransformPhysicalPointToIndex(phantom.truth["centre_mm"])
    edge_i = int(np.flatnonzero(mask[k0, j0])[-1])
    outside = (k0, j0, edge_i + 2)  # 0.9 mm beyond the draft's edge along +i, in the oedema rim
    assert ct[outside] < 45
    seed = tuple(_physical_points(phantom.ct, np.array([outside]))[0])

    result = draft_hematoma(phantom.ct, seed)
    assert result.chosen_component_reason == "seed point"
    assert np.array_equal(_array(result.mask), mask)
    assert any("not in the hematoma HU range" in w and "mm away" in w for w in result.warnings)
    with pytest.raises(InputError, match=r"not in any 45-100 HU region"):
        draft_hematoma(phantom.ct, seed, seed_tolerance_mm=0.0)


def test_seed_in_normal_brain_raises_naming_the_point_and_its_hu(cache):
    phantom = _phantom(cache, "clinical_oedema")
    centre = np.asarray(phantom.truth["centre_mm"])
    head = np.asarray(phantom.truth["head_centre_mm"])
    mirrored = (2.0 * head[0] - centre[0], centre[1], centre[2])  # same place, other hemisphere
    i, j, k = phantom.ct.TransformPhysicalPointToIndex(mirrored)
    hu = int(_array(phantom.ct)[k, j, i])
    assert hu < 45
    point = r"\(" + r", ".join(f"{v:.1f}" for v in mirrored) + r"\)"
    with pytest.raises(
        InputError, match=rf"seed point {point} mm \({hu} HU\) is not in any 45-100 HU region"
    ):
        draft_hematoma(phantom.ct, mirrored)


def test_seed_in_the_scalp_or_outside_the_scan_raises(cache):
    phantom = _phantom(cache, "clinical_oedema")
    head = np.asarray(phantom.truth["head_centre_mm"])
    scalp_axes = np.asarray(phantom.truth["scalp_semi_axes_mm"])
    in_scalp = tuple(head + np.array([scalp_axes[0] - 2.0, 0.0, 0.0]))
    with pytest.raises(InputError, match="outside the intracranial region"):
        draft_hematoma(phantom.ct, in_scalp)
    with pytest.raises(InputError, match="outside the CT volume"):
        draft_hematoma(phantom.ct, tuple(head + np.array([0.0, 0.0, 500.0])))


def test_intracranial_region_keeps_deep_brain_and_excludes_the_rim(cache):
    """On the thin preset, whose field of view crops the brain, so the scan border matters too."""
    phantom = _phantom(cache, "thin_oedema")
    region = _array(intracranial_mask(phantom.ct))
    assert set(np.unique(region)) == {0, 1} and region.shape == _array(phantom.ct).shape
    region = region.astype(bool)
    depth = _brain_depth_grid_mm(phantom)
    assert depth[region].min() > 1.0
    # Deep brain at least the 2 mm margin away from the scan border is all kept.
    deep = depth >= 8.0
    deep[:2], deep[-2:], deep[:, :5], deep[:, -5:], deep[..., :5], deep[..., -5:] = (False,) * 6
    assert deep.sum() > 0.5 * region.sum()
    assert region[deep].all()


# --------------------------------------------------------------------------- synthetic head

HEAD_CENTRE_MM = np.array([-3.0, 7.0, 40.0])
BIG_CLOT = (np.array([22.0, 0.0, 0.0]), 14.0)  # offset from the head centre, radius (mm)
SMALL_CLOT = (np.array([-25.0, 5.0, 10.0]), 9.0)


def _synthetic_head(with_skull: bool = True) -> tuple[sitk.Image, np.ndarray, np.ndarray]:
    """Spherical head (scalp, skull 62-68 mm, brain) with two spherical 65 HU clots.

    Returns the CT (anisotropic 1 x 1 x 2.5 mm) and the two clots' voxel masks.
    """
    spacing = np.array([1.0, 1.0, 2.5])
    size = np.array([160, 160, 60])
    origin = HEAD_CENTRE_MM - spacing * (size - 1) / 2.0
    k, j, i = np.ogrid[: size[2], : size[1], : size[0]]
    x, y, z = origin[0] + i * spacing[0], origin[1] + j * spacing[1], origin[2] + k * spacing[2]

    def within(offset, radius):
        c = HEAD_CENTRE_MM + offset
        return (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= radius**2

    array = np.full((size[2], size[1], size[0]), -1000.0, dtype=np.float32)
    array[within(0, 72.0)] = 30.0
    if with_skull:
        array[within(0, 68.0)] = 1200.0
    array[within(0, 62.0)] = 30.0
    big, small = within(*BIG_CLOT), within(*SMALL_CLOT)
    array[big | small] = 65.0
    array += np.random.default_rng(7).normal(0.0, 3.0, array.shape).astype(np.float32)
    image = sitk.GetImageFromArray(np.rint(array).astype(np.int16))
    image.SetSpacing(spacing.tolist())
    image.SetOrigin(origin.tolist())
    return image, big, small


@pytest.fixture(scope="module")
def synthetic_head():
    return _synthetic_head()


def test_two_clots_largest_or_seeded_with_analytic_volumes(synthetic_head):
    ct, big, small = synthetic_head
    largest = draft_hematoma(ct)
    assert largest.chosen_component_reason == "largest"
    assert largest.n_candidate_components == 2
    assert _dice(_array(largest.mask).astype(bool), big) >= 0.97
    assert largest.volume_ml == pytest.approx(4.0 / 3.0 * np.pi * BIG_CLOT[1] ** 3 / 1000.0, rel=0.05)
    (warning,) = (w for w in largest.warnings if "other region" in w)
    left_out_ml = float(re.search(r"^1 other region\(s\).*\(largest ([0-9.]+) mL\)", warning).group(1))
    assert left_out_ml == pytest.approx(np.count_nonzero(small) * 2.5 / 1000.0, rel=0.1)

    seeded = draft_hematoma(ct, tuple(HEAD_CENTRE_MM + SMALL_CLOT[0]))
    assert seeded.chosen_component_reason == "seed point"
    assert _dice(_array(seeded.mask).astype(bool), small) >= 0.97
    assert seeded.volume_ml == pytest.approx(4.0 / 3.0 * np.pi * SMALL_CLOT[1] ** 3 / 1000.0, rel=0.05)
    assert not any("other region" in w for w in seeded.warnings)


def test_result_does_not_depend_on_the_voxel_axis_order(synthetic_head):
    """Permuting and flipping the voxel axes keeps physical space, so the draft must follow."""
    ct = synthetic_head[0]
    reference = draft_hematoma(ct, tuple(HEAD_CENTRE_MM + SMALL_CLOT[0]))
    reordered = sitk.Flip(sitk.PermuteAxes(ct, [2, 0, 1]), [True, False, False])
    result = draft_hematoma(reordered, tuple(HEAD_CENTRE_MM + SMALL_CLOT[0]))
    back = sitk.Resample(result.mask, ct, sitk.Transform(), sitk.sitkNearestNeighbor)
    assert np.array_equal(_array(back), _array(reference.mask))
    assert result.volume_ml == pytest.approx(reference.volume_ml)


def test_the_ct_is_not_modified(synthetic_head):
    ct = synthetic_head[0]
    before = (_array(ct).copy(), ct.GetOrigin(), ct.GetSpacing(), ct.GetDirection(), ct.GetPixelID())
    draft_hematoma(ct, tuple(HEAD_CENTRE_MM + BIG_CLOT[0]), closing_radius_mm=2.0)
    with pytest.raises(InputError):
        draft_hematoma(ct, tuple(HEAD_CENTRE_MM))  # normal brain: no candidate there
    after = (_array(ct), ct.GetOrigin(), ct.GetSpacing(), ct.GetDirection(), ct.GetPixelID())
    assert np.array_equal(before[0], after[0])
    assert before[1:] == after[1:]


def test_bad_inputs_raise_input_errors(synthetic_head):
    ct = synthetic_head[0]
    with pytest.raises(InputError, match="3D scalar image"):
        draft_hematoma(ct[:, :, 10])
    with pytest.raises(InputError, match="low < high"):
        draft_hematoma(ct, hu_range=(100.0, 45.0))
    with pytest.raises(InputError, match="opening_radius_mm"):
        draft_hematoma(ct, opening_radius_mm=-1.0)
    with pytest.raises(InputError, match="three finite LPS coordinates"):
        draft_hematoma(ct, (1.0, float("nan"), 2.0))
    with pytest.raises(InputError, match="no voxel above 300 HU"):
        draft_hematoma(_synthetic_head(with_skull=False)[0])
