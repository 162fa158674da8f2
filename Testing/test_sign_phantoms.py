"""Sign phantoms and the sign validation: each sign where the truth says, the truth rules at the published
thresholds, determinism, the two commands end to end, and the validation statistics against statsmodels."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial.distance import cdist
from statsmodels.stats.proportion import proportion_confint

from HematomaExpansionLib.cli import main
from HematomaExpansionLib.evaluation.sign_validation import calls_by_scenario, sign_agreement
from HematomaExpansionLib.synthetic.sign_cases import (
    CONTROL_SCENARIOS,
    SIGN_SCENARIOS,
    StructureSpec,
    draw_case,
    plan_cases,
    true_signs,
)
from HematomaExpansionLib.synthetic.sign_phantoms import make_sign_phantom

SIGNS = ("blend", "black_hole", "hypodensity", "island", "satellite")


def _arrays(phantom):
    return sitk.GetArrayFromImage(phantom.ct).astype(float), sitk.GetArrayFromImage(phantom.mask)


def _physical(image, shape):
    """Physical (x, y, z) of every voxel centre, as three (k, j, i) arrays (axis-aligned grid)."""
    assert np.allclose(np.reshape(image.GetDirection(), (3, 3)), np.eye(3))
    origin, spacing = np.asarray(image.GetOrigin()), np.asarray(image.GetSpacing())
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return origin[0] + i * spacing[0], origin[1] + j * spacing[1], origin[2] + k * spacing[2]


def _ball(image, shape, centre_mm, radius_mm):
    x, y, z = _physical(image, shape)
    return (x - centre_mm[0]) ** 2 + (y - centre_mm[1]) ** 2 + (z - centre_mm[2]) ** 2 <= radius_mm**2


def _depth_mm(mask, image):
    """Distance (mm) of every voxel inside ``mask`` to its outside."""
    return ndimage.distance_transform_edt(mask, sampling=image.GetSpacing()[::-1])


def _index(image, point_mm):
    i, j, k = image.TransformPhysicalPointToIndex([float(v) for v in point_mm])
    return k, j, i


def _contrast_and_noise(phantom, region):
    """Clot mean minus the 3 x 3 mm mean at the region's position, and the SD of such 3 x 3 mm means
    in the clot (the noise of the difference, measured on the same image)."""
    ct, mask = _arrays(phantom)
    near = _ball(
        phantom.ct,
        ct.shape,
        region.get("sphere_centre_mm", region["position_mm"]),
        region["diameter_mm"] / 2 + 2.5,
    )
    clot = (_depth_mm(mask, phantom.ct) >= 3.0) & ~near
    local = ndimage.uniform_filter(ct, size=(1, 7, 7))
    return ct[clot].mean() - local[_index(phantom.ct, region["position_mm"])], local[clot].std()


@pytest.mark.parametrize(
    ("scenario", "index"), [("blend", 0), ("blend", 1), ("black_hole", 0), ("hypodensity", 1)]
)
def test_a_hypodense_region_has_the_recorded_contrast_at_the_recorded_position(scenario, index):
    case = draw_case(0, scenario, index)
    noise_free = make_sign_phantom(replace(case, noise_sd_hu=0.0))
    (exact,) = noise_free.truth["structures"]
    measured, _ = _contrast_and_noise(noise_free, exact)
    assert measured == pytest.approx(exact["contrast_hu"], abs=1.0)  # int16 rounding

    phantom = make_sign_phantom(case)
    ct, mask = _arrays(phantom)
    (region,) = phantom.truth["structures"]
    assert region == exact  # the noise moves nothing
    radius = region["diameter_mm"] / 2
    core = _ball(phantom.ct, ct.shape, region["position_mm"], 1.5)
    measured, noise = _contrast_and_noise(phantom, region)
    assert noise < 2.5
    assert measured == pytest.approx(region["contrast_hu"], abs=4 * noise + 0.5)
    assert abs(region["z_mm"] - region["position_mm"][2]) < 1e-9
    depth = _depth_mm(mask, phantom.ct)
    if scenario == "blend":  # the region cut out of the clot reaches its surface: not encapsulated
        assert mask[_ball(phantom.ct, ct.shape, region["sphere_centre_mm"], 1.0)].any()
        assert (~mask.astype(bool) & _ball(phantom.ct, ct.shape, region["sphere_centre_mm"], 1.0)).any()
    else:  # encapsulated: the sphere ends 3.5 mm or more inside the clot surface
        assert depth[core].min() >= radius + 3.5 - 1.5


def _components(mask):
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    return [labels == c for c in range(1, n + 1)]


def test_a_satellite_lies_at_the_recorded_gap_with_the_recorded_diameter():
    case = next(c for c in (draw_case(0, "satellite", i) for i in range(20)) if c.blobs_in_mask)
    phantom = make_sign_phantom(case)
    ct, mask = _arrays(phantom)
    (blob,) = phantom.truth["structures"]
    pieces = sorted(_components(mask), key=lambda p: p.sum())
    assert len(pieces) == 2
    x, y, z = _physical(phantom.ct, ct.shape)
    points = [np.stack([x[p], y[p], z[p]], axis=1) for p in pieces]
    gap = cdist(points[0], points[1]).min()
    assert blob["gap_mm"] <= gap <= blob["gap_mm"] + 1.0
    assert np.ptp(points[0][:, 0]) == pytest.approx(blob["diameter_mm"], abs=1.0)
    assert np.allclose(points[0].mean(axis=0)[:2], blob["position_mm"][:2], atol=0.3)
    core = _ball(phantom.ct, ct.shape, blob["position_mm"], blob["diameter_mm"] / 4)
    assert ct[core].mean() == pytest.approx(phantom.truth["case"]["clot_hu"], abs=3.0)
    assert phantom.truth["signs"]["satellite"] == (blob["diameter_mm"] < 10 and 1 <= blob["gap_mm"] <= 20)


def test_the_island_case_has_its_separate_pieces_on_the_recorded_slice():
    case = next(c for c in (draw_case(0, "island", i) for i in range(0, 40, 2)) if c.blobs_in_mask)
    phantom = make_sign_phantom(case)
    _, mask = _arrays(phantom)
    structures = phantom.truth["structures"]
    n_separate = sum(s["kind"] == "separate_blob" for s in structures)
    k = round((structures[0]["z_mm"] - phantom.ct.GetOrigin()[2]) / phantom.ct.GetSpacing()[2])
    assert ndimage.label(mask[k], structure=np.ones((3, 3)))[1] == 1 + n_separate
    assert len(_components(mask)) == 1 + n_separate  # bubbles are connected with the clot
    assert phantom.truth["signs"]["island"]


def test_the_controls_have_no_such_structure():
    homogeneous = make_sign_phantom(draw_case(0, "homogeneous", 0))
    ct, mask = _arrays(homogeneous)
    inner = _depth_mm(mask, homogeneous.ct) >= 3.0
    local_mean = ndimage.uniform_filter(ct, size=(1, 7, 7))  # 3 mm squares in-plane
    clot = homogeneous.truth["case"]["clot_hu"]
    assert local_mean[inner].min() > clot - 6.0  # no hypodense region (the detectors' 10 HU)
    assert len(_components(mask)) == 1
    outside = ndimage.binary_dilation(mask, iterations=40) & ~ndimage.binary_dilation(mask, iterations=4)
    assert (ndimage.uniform_filter(ct, size=(1, 5, 5))[outside & (ct < 300)] < 50).all()  # no blood blob
    assert not any(homogeneous.truth["signs"].values())

    lobulated = make_sign_phantom(draw_case(0, "lobulated", 0))
    _, mask = _arrays(lobulated)
    assert all(ndimage.label(plane, structure=np.ones((3, 3)))[1] <= 1 for plane in mask)
    assert lobulated.truth["case"]["lobulation"] >= 0.2 and not any(lobulated.truth["signs"].values())

    far = make_sign_phantom(draw_case(0, "satellite_25mm", 0))
    assert far.truth["structures"][0]["gap_mm"] == pytest.approx(25.0, abs=0.05)
    assert not far.truth["signs"]["satellite"] and not far.truth["signs"]["island"]


def test_the_15_hu_focus_is_a_hypodensity_below_the_blend_and_black_hole_thresholds():
    phantom = make_sign_phantom(draw_case(0, "focus_15hu", 1))
    (focus,) = phantom.truth["structures"]
    measured, noise = _contrast_and_noise(phantom, focus)
    assert measured == pytest.approx(15.0, abs=4 * noise + 0.5)
    assert phantom.truth["signs"] == {s: s == "hypodensity" for s in SIGNS}


def test_the_truth_follows_the_published_thresholds():
    def signs(*structures):
        return {name for name, present in true_signs(structures).items() if present}

    surface, inner = "surface_hypodensity", "inner_hypodensity"
    assert signs(StructureSpec(surface, 15, 18.0)) == {"blend", "hypodensity"}  # Li 2015: >= 18 HU
    assert signs(StructureSpec(surface, 15, 17.9)) == {"hypodensity"}
    assert signs(StructureSpec(inner, 7, 28.0)) == {"black_hole", "hypodensity"}  # Li 2016: >= 28 HU
    assert signs(StructureSpec(inner, 7, 27.9)) == {"hypodensity"}  # encapsulated: never a blend
    assert signs(StructureSpec(inner, 7, 9.9)) == set()
    blob = StructureSpec("separate_blob", 9.9, gap_mm=20.0)
    bubble = StructureSpec("connected_bubble", 5.0)
    assert signs(blob) == {"satellite"}  # Shimoda 2017: < 10 mm, 1-20 mm away
    assert signs(StructureSpec("separate_blob", 10.0, gap_mm=5.0)) == set()
    assert signs(StructureSpec("separate_blob", 6.0, gap_mm=20.5)) == set()
    assert signs(StructureSpec("separate_blob", 6.0, gap_mm=0.9)) == set()
    assert signs(blob, blob, blob) == {"island", "satellite"}  # Li 2017: >= 3 separate
    assert signs(blob, blob, bubble) == {"satellite"}
    assert signs(blob, bubble, bubble, bubble) == {"island", "satellite"}  # >= 4 in all
    assert signs(bubble, bubble, bubble, bubble) == {"island"}


def test_every_sign_is_drawn_on_both_sides_of_its_threshold_with_40_cases():
    cases = plan_cases(0, 40, 10)
    assert len(cases) == 5 * 40 + len(CONTROL_SCENARIOS) * 10
    for scenario in SIGN_SCENARIOS:
        own = [c for c in cases if c.scenario == scenario]
        truth = [true_signs(c.structures)[scenario] for c in own]
        assert len(own) == 40 and sum(truth) == 20, scenario
    for name in ("blend", "black_hole", "hypodensity"):
        contrasts = [c.structures[0].contrast_hu for c in cases if c.scenario == name]
        threshold = {"blend": 18.0, "black_hole": 28.0, "hypodensity": 10.0}[name]
        assert min(contrasts) < threshold <= max(contrasts)
        assert min(contrasts) > threshold - 10.5 and max(contrasts) < threshold + 10.5


def test_a_case_is_deterministic_and_independent_of_the_set_size():
    assert plan_cases(3, 2, 1)[1] == plan_cases(3, 6, 4)[1] == draw_case(3, "blend", 1)
    assert draw_case(3, "blend", 1) != draw_case(4, "blend", 1)
    first, second = (make_sign_phantom(draw_case(3, "island", 3)) for _ in range(2))
    assert np.array_equal(sitk.GetArrayFromImage(first.ct), sitk.GetArrayFromImage(second.ct))
    assert np.array_equal(sitk.GetArrayFromImage(first.mask), sitk.GetArrayFromImage(second.mask))
    assert first.truth == second.truth


def test_the_agreement_counts_and_wilson_intervals_match_statsmodels():
    rng = np.random.default_rng(1)
    truth = rng.random(57) < 0.4
    called = np.where(rng.random(57) < 0.8, truth, ~truth)
    result = sign_agreement(truth, called)
    tp, fn, fp, tn = (
        int(np.sum(truth & called)),
        int(np.sum(truth & ~called)),
        int(np.sum(~truth & called)),
        int(np.sum(~truth & ~called)),
    )
    assert (result["tp"], result["fn"], result["fp"], result["tn"]) == (tp, fn, fp, tn)
    for name, (k, n) in {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp)}.items():
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert result[name]["value"] == pytest.approx(k / n)
        assert (result[name]["ci_low"], result[name]["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    table = calls_by_scenario(["a", "b", "a"], {"x": [True, False, False]}, {"x": [True, True, True]})
    assert table == {
        "a": {"x": {"n": 2, "true": 1, "called": 2, "correct": 1}},
        "b": {"x": {"n": 1, "true": 0, "called": 1, "correct": 0}},
    }


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("sign_phantoms")
    assert (
        main(["sign-phantoms", "--out", str(out), "--n-per-sign", "2", "--n-per-control", "0", "--quiet"])
        == 0
    )
    return out


def test_the_command_writes_the_cases_and_the_manifest_with_the_truth(small_set):
    with (small_set / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["case_id"] for r in rows] == [f"{s}_{i:03d}" for s in SIGN_SCENARIOS for i in range(2)]
    settings = json.loads((small_set / "sign_phantoms.json").read_text())
    assert (settings["seed"], settings["n_per_sign"], settings["n_per_control"]) == (0, 2, 0)
    for row in rows:
        truth = json.loads((small_set / row["truth"]).read_text())
        assert {s: row[f"true_{s}"] == "1" for s in SIGNS} == truth["signs"]
        assert row["present"] == str(int(truth["signs"][row["sign"]]))
        assert row["present"] == ("1" if row["case_id"].endswith("0") else "0")
        ct = sitk.ReadImage(str(small_set / row["ct"]))
        assert sitk.GetArrayViewFromImage(ct).min() < -500  # air: a recognisable head CT
        assert float(row["z_mm"]) == pytest.approx([float(v) for v in row["position_mm"].split()][2])


def test_validate_signs_writes_the_report_and_its_counts_add_up(small_set, tmp_path, capsys):
    out = tmp_path / "report"
    assert (
        main(["validate-signs", "--manifest", str(small_set / "manifest.csv"), "--out", str(out), "--quiet"])
        == 0
    )
    assert "sensitivity" in capsys.readouterr().out
    document = json.loads((out / "validation.json").read_text())
    assert document["n_cases"] == 10 and not document["failures"]
    for counts in document["signs"].values():
        assert counts["tp"] + counts["fn"] == counts["positives"]
        assert counts["fp"] + counts["tn"] == counts["negatives"]
        assert counts["positives"] + counts["negatives"] == 10
    with (out / "cases.csv").open(newline="") as handle:
        cases = list(csv.DictReader(handle))
    for name, counts in document["signs"].items():
        assert sum(r[f"true_{name}"] == "1" and r[f"called_{name}"] == "1" for r in cases) == counts["tp"]
    markdown = (out / "README.md").read_text()
    assert "not measured here" in markdown and "| blend sign |" in markdown
    assert "sign-phantoms --out DIR --n-per-sign 2 --n-per-control 0 --seed 0" in markdown
    for path in document["figures"].values():
        assert (out / path).read_bytes().startswith(b"\x89PNG")


def test_bad_input_ends_with_a_clear_error(tmp_path, capsys):
    assert (
        main(["validate-signs", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "r")]) == 2
    )
    assert "sign phantom manifest" in capsys.readouterr().err
    assert main(["sign-phantoms", "--out", str(tmp_path / "p"), "--n-per-sign", "1", "--quiet"]) == 2
    assert "n_per_sign" in capsys.readouterr().err
    assert not (tmp_path / "p" / "manifest.csv").exists()
