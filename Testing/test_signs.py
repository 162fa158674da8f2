"""Measured conventional signs on analytic phantoms: each sign's positive, negative and borderline case.

Expectations come from the phantom's construction (inserted contrast, size, position) and from the
published thresholds (Li 2015/2016/2017, Shimoda 2017, Boulouis 2016, Barras 2009, Morotti 2018).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.model.applicability import ApplicabilityChecklist
from HematomaExpansionLib.signs import SIGN_NAMES, SignParameters, SignResult, measure_signs
from HematomaExpansionLib.signs.bat import bat_score
from sign_fixtures import (
    CLOT,
    build_phantom,
    cylinder,
    disc,
    ellipsoid,
    half_space_x,
    prism,
    ring_of_discs,
)

MAIN_RADIUS_MM = 14.0  # in-plane radius of CLOT on the middle slice


def signs_of(phantom, **options):
    return measure_signs(phantom.ct, phantom.mask, **options)


def test_homogeneous_noisy_clot_with_partial_volume_rim_has_no_sign():
    report = signs_of(build_phantom([CLOT], noise_sd_hu=7.0, seed=3))
    assert report.present == []
    assert report.barras_shape == 1 and report.barras_density == 1
    assert report.signs["hypodensity"].quantities["clot_hu"] == pytest.approx(70.0, abs=1.5)
    assert report.signs["hypodensity"].quantities["brain_hu"] == pytest.approx(35.0, abs=1.5)


@pytest.mark.parametrize(("drop_hu", "present"), [(30.0, True), (20.0, True), (16.0, False), (10.0, False)])
def test_blend_sign_at_and_around_18_hu(drop_hu, present):
    report = signs_of(build_phantom([CLOT], [(half_space_x(5.0), -drop_hu)]))
    blend = report.signs["blend"]
    assert blend.present is present
    assert blend.quantities["max_difference_hu"] == pytest.approx(drop_hu, abs=1.5)
    assert blend.evidence["encapsulated_fraction"] < 0.9
    assert blend.evidence["center_lps_mm"][0] > 5.0  # the hypodense part lies at x >= 5 mm
    assert abs(blend.evidence["z_mm"]) <= 2.5
    assert not report.signs["black_hole"].present  # not encapsulated


@pytest.mark.parametrize(("drop_hu", "present"), [(40.0, True), (30.0, True), (26.0, False)])
def test_black_hole_sign_at_and_around_28_hu(drop_hu, present):
    center = (2.0, -3.0)
    report = signs_of(build_phantom([CLOT], [(cylinder(center, 4.0), -drop_hu)], seed=1))
    black_hole = report.signs["black_hole"]
    assert black_hole.present is present
    assert black_hole.quantities["max_difference_hu"] == pytest.approx(drop_hu, abs=1.5)
    x, y, _ = black_hole.evidence["center_lps_mm"]
    assert (y, x) == pytest.approx(center, abs=0.7)
    assert black_hole.evidence["area_mm2"] == pytest.approx(np.pi * 4.0**2, rel=0.25)
    assert black_hole.evidence["encapsulated_fraction"] == 1.0
    assert not report.signs["blend"].present  # encapsulated, so never a blend sign


def test_focus_15_hu_lower_is_a_hypodensity_but_neither_blend_nor_black_hole():
    report = signs_of(build_phantom([CLOT], [(cylinder((3.0, 2.0), 3.5), -15.0)], seed=2))
    assert report.present == ["hypodensity"]
    # read on one slice: the mean of about 40 pixels with 5 HU noise (sd about 0.9 HU over seeds)
    assert report.signs["hypodensity"].quantities["max_difference_hu"] == pytest.approx(15.0, abs=2.5)
    assert report.barras_density == 2


@pytest.mark.parametrize(("drop_hu", "present"), [(14.0, True), (6.0, False)])
def test_hypodensity_around_its_10_hu_threshold(drop_hu, present):
    report = signs_of(build_phantom([CLOT], [(cylinder((0.0, 0.0), 4.0), -drop_hu)], seed=4))
    assert report.signs["hypodensity"].present is present


def test_isoattenuating_region_counts_as_swirl():
    report = signs_of(build_phantom([CLOT], [(cylinder((0.0, 0.0), 4.0), -33.0)]))
    hypodensity = report.signs["hypodensity"]
    # 37 HU, like the brain's 35 HU: one region over three slices
    assert hypodensity.present and hypodensity.quantities["swirl_regions"] == 1.0
    assert hypodensity.evidence["n_slices"] == 3
    hypodense_only = signs_of(build_phantom([CLOT], [(cylinder((0.0, 0.0), 4.0), -15.0)]))
    assert hypodense_only.signs["hypodensity"].quantities["swirl_regions"] == 0.0  # 55 HU: denser than brain


def _satellite_x(gap_mm, radius_mm):
    return MAIN_RADIUS_MM + gap_mm + radius_mm


@pytest.mark.parametrize(
    ("gap_mm", "radius_mm", "in_segment", "present"),
    [
        (5.0, 3.0, False, True),  # found outside the user's segment
        (5.0, 3.0, True, True),
        (18.0, 3.0, True, True),  # just inside 20 mm
        (22.0, 3.0, True, False),  # just beyond 20 mm
        (25.0, 3.0, False, False),  # the tricky control: 25 mm away
        (5.0, 4.2, True, True),  # 8.4 mm < 10 mm
        (5.0, 5.5, True, False),  # 11 mm >= 10 mm
    ],
)
def test_satellite_sign_distance_and_size(gap_mm, radius_mm, in_segment, present):
    piece = cylinder((0.0, _satellite_x(gap_mm, radius_mm)), radius_mm)
    report = signs_of(build_phantom([CLOT], outside_blood=[piece], segment_outside_blood=in_segment))
    satellite = report.signs["satellite"]
    assert satellite.present is present
    if present or in_segment:
        assert satellite.quantities["gap_mm"] == pytest.approx(gap_mm, abs=1.0)
        assert satellite.quantities["diameter_mm"] == pytest.approx(2 * radius_mm, abs=1.0)
        assert satellite.evidence["in_segment"] is in_segment
        x, y, _ = satellite.evidence["center_lps_mm"]
        assert (x, y) == pytest.approx((_satellite_x(gap_mm, radius_mm), 0.0), abs=0.7)


def test_satellite_touching_the_main_hematoma_is_not_separate():
    piece = cylinder((0.0, _satellite_x(0.0, 3.0) - 1.0), 3.0)
    assert not signs_of(build_phantom([CLOT], outside_blood=[piece])).signs["satellite"].present


@pytest.mark.parametrize(("n", "present"), [(3, True), (2, False)])
def test_island_sign_from_separate_small_hematomas(n, present):
    pieces = ring_of_discs(n, MAIN_RADIUS_MM + 3.0 + 2.5, 2.5)
    report = signs_of(build_phantom([CLOT], outside_blood=pieces, segment_outside_blood=False))
    island = report.signs["island"]
    assert island.present is present
    assert island.quantities["max_separate"] == n
    assert report.signs["satellite"].present  # each of them is also a satellite


@pytest.mark.parametrize(("n", "present"), [(4, True), (3, False)])
def test_island_sign_from_connected_bubbles(n, present):
    bubbles = ring_of_discs(n, MAIN_RADIUS_MM + 1.0, 2.5)
    island = signs_of(build_phantom([CLOT, *bubbles])).signs["island"]
    assert island.present is present
    assert island.quantities["max_total"] == n and island.quantities["max_separate"] == 0
    assert len(island.evidence["connected_centers_lps_mm"]) == n


def test_lobulated_but_connected_clot_has_no_island():
    lobes = [ellipsoid((0.0, 8 * np.sin(a), 8 * np.cos(a)), (9.0, 9.0, 9.0)) for a in (0.0, 2.1, 4.2)]
    report = signs_of(build_phantom(lobes))
    assert not report.signs["island"].present and not report.signs["satellite"].present
    assert report.barras_shape >= 3  # lobulated: irregular margin


PRISM_MM = 6.25  # five slices


@pytest.mark.parametrize(
    ("outlines", "category"),
    [
        ([disc((0, 0), 14.0)], 1),
        ([lambda y, x: (y / 10.0) ** 2 + (x / 16.0) ** 2 <= 1.0], 1),  # ellipse
        ([lambda y, x: disc((0, 0), 14.0)(y, x) & ~disc((14.0, 0), 6.0)(y, x)], 2),  # one notch
        ([disc((0, -8.0), 10.0), disc((0, 8.0), 10.0)], 3),  # bilobed
        ([disc((9 * np.sin(a), 9 * np.cos(a)), 9.0) for a in (0.5, 2.6, 4.7)], 4),  # three lobes
    ],
)
def test_barras_shape_categories_on_constructed_shapes(outlines, category):
    report = signs_of(build_phantom([prism(o, PRISM_MM) for o in outlines]))
    assert report.barras_shape == category


def test_barras_shape_is_capped_at_5_with_separate_pieces():
    pieces = ring_of_discs(4, 14.0 + 3.0 + 2.5, 2.5, PRISM_MM)
    report = signs_of(build_phantom([prism(disc((0, 0), 14.0), PRISM_MM), *pieces]))
    assert report.barras_shape == 5 and report.as_dict()["barras"]["separate_pieces"] == 4


@pytest.mark.parametrize(("n_foci", "category"), [(0, 1), (1, 2), (2, 3), (4, 5), (6, 5)])
def test_barras_density_counts_hypodense_regions_on_the_largest_slice(n_foci, category):
    foci = [(c, -25.0) for c in ring_of_discs(n_foci, 8.0, 2.5, PRISM_MM)] if n_foci else []
    report = signs_of(build_phantom([prism(disc((0, 0), 15.0), PRISM_MM)], foci))
    assert report.barras_density == category


def _result(present):
    return SignResult(present=present)


@pytest.mark.parametrize(
    ("blend", "hypodensity", "onset_h", "score"),
    [
        (True, True, 2.0, 5),
        (True, True, 2.5, 3),  # 2.5 h is not < 2.5 h
        (False, True, 1.0, 4),
        (True, False, 3.0, 1),
        (False, False, 2.4, 2),
        (True, True, None, None),
    ],
)
def test_bat_score_arithmetic(blend, hypodensity, onset_h, score):
    value, details = bat_score(_result(blend), _result(hypodensity), onset_h, SignParameters())
    assert value == score
    assert details["imaging_points"] == int(blend) + 2 * int(hypodensity)
    assert details["high_risk"] == (None if score is None else score >= 3)


def test_report_document_and_bat_with_onset_time():
    phantom = build_phantom([CLOT], [(half_space_x(5.0), -25.0)])
    report = signs_of(phantom, onset_to_ct_h=1.5)
    assert report.bat_score == 1 + 2 + 2
    document = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    assert set(SIGN_NAMES) <= set(document)
    for name in SIGN_NAMES:
        assert set(document[name]) == {"present", "quantities", "evidence"}
    assert document["bat"]["score"] == 5 and document["barras"]["shape_category"] == 1
    assert document["provenance"]["parameters_sha256"] == SignParameters().sha256()
    assert len(report.table_rows()) == len(SIGN_NAMES) + 3


def test_inputs_are_not_modified_and_a_permuted_volume_gives_the_same_signs():
    phantom = build_phantom([CLOT], [(cylinder((0.0, 0.0), 4.0), -35.0)])
    before = sitk.GetArrayFromImage(phantom.ct).copy()
    direct = signs_of(phantom)
    flipped = [sitk.Flip(image, [True, False, False]) for image in (phantom.ct, phantom.mask)]
    permuted = measure_signs(*flipped)
    assert np.array_equal(sitk.GetArrayFromImage(phantom.ct), before)
    assert permuted.present == direct.present == ["black_hole", "hypodensity"]
    assert permuted.signs["black_hole"].evidence["center_lps_mm"] == pytest.approx(
        direct.signs["black_hole"].evidence["center_lps_mm"], abs=1e-6
    )


def test_bad_inputs_are_refused_with_a_clear_message():
    phantom = build_phantom([CLOT])
    empty = sitk.Image(phantom.mask)
    empty *= 0
    with pytest.raises(InputError, match="hematoma mask 'seg' is empty"):
        measure_signs(phantom.ct, empty, mask_source="seg")
    with pytest.raises(InputError, match="onset-to-CT time -1"):
        measure_signs(phantom.ct, phantom.mask, onset_to_ct_h=-1.0)
    with pytest.raises(InputError, match="sign parameter blend_min_difference_hu must not be negative"):
        SignParameters(blend_min_difference_hu=-1.0)


def test_checklist_records_the_measured_signs_beside_the_readers_call():
    unmeasured = ApplicabilityChecklist(no_conventional_signs=True)
    assert unmeasured.suggested_no_conventional_signs is None
    assert len(unmeasured.unmet()) == 2 and not any("measured" in w for w in unmeasured.unmet())
    clean = unmeasured.with_measured([])
    assert clean.suggested_no_conventional_signs is True and clean.measured_sign_warnings() == []
    overridden = unmeasured.with_measured(["blend sign"])
    (warning,) = overridden.measured_sign_warnings()
    assert "blend sign" in warning and "not built for patients with these signs" in warning
    assert "overriding the measurement" in warning and warning in overridden.unmet()
    recorded = overridden.as_dict()
    assert recorded["no_conventional_signs"] is True and recorded["measured_signs"] == ["blend sign"]
    assert recorded["suggested_no_conventional_signs"] is False
    assert overridden.report_rows()[2:] == [
        ["no conventional signs (confirmed)", "yes"],
        ["conventional signs measured present", "blend sign"],
    ]
    assert unmeasured.report_rows()[-1] == ["conventional signs measured present", "not measured"]
    assert clean.report_rows()[-1] == ["conventional signs measured present", "none"]
    unconfirmed = ApplicabilityChecklist().with_measured(["island sign"]).unmet()
    assert any("not confirmed" in w and "conventional" in w for w in unconfirmed)
    assert "overriding" not in unconfirmed[-1]


@pytest.fixture(scope="module")
def blend_case(tmp_path_factory):
    """A blend-sign phantom written as CT and labelmap files."""
    phantom = build_phantom([CLOT], [(half_space_x(5.0), -25.0)], seed=5)
    folder = tmp_path_factory.mktemp("blend")
    paths = {"ct": folder / "ct.nrrd", "hematoma": folder / "hematoma.nrrd"}
    sitk.WriteImage(phantom.ct, str(paths["ct"]))
    sitk.WriteImage(phantom.mask, str(paths["hematoma"]))
    return phantom, paths


def test_signs_command_writes_json_and_prints_the_table(blend_case, tmp_path):
    from test_cli import run_cli

    _, paths = blend_case
    result = run_cli(
        "signs",
        "--ct",
        str(paths["ct"]),
        "--hematoma",
        str(paths["hematoma"]),
        "--out",
        str(tmp_path),
        "--onset-to-ct-h",
        "2",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads((tmp_path / "signs.json").read_text())
    assert {*SIGN_NAMES, "barras", "bat", "parameters", "provenance"} <= set(document)
    assert document["blend"]["present"] is True and document["black_hole"]["present"] is False
    assert document["bat"]["score"] == 5 and document["bat"]["points"] == {
        "blend": 1,
        "hypodensity": 2,
        "timing": 2,
    }
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["sign", "present"]
    assert any(line.startswith("blend sign") and " yes " in line for line in lines)
    assert "measured: blend sign, any hypodensity (swirl sign)" in result.stdout
    assert f"written: {tmp_path / 'signs.json'}" in result.stdout


def test_signs_command_bad_input_is_one_line_error_with_exit_code_2(blend_case, tmp_path):
    from test_cli import run_cli

    phantom, paths = blend_case
    empty_path = tmp_path / "empty.nrrd"
    sitk.WriteImage(phantom.mask * 0, str(empty_path))
    empty = run_cli(
        "signs", "--ct", str(paths["ct"]), "--hematoma", str(empty_path), "--out", str(tmp_path / "o")
    )
    assert empty.returncode == 2 and empty.stderr.startswith("error: ")
    assert "empty" in empty.stderr and len(empty.stderr.strip().splitlines()) == 1
    late = run_cli(
        "signs",
        "--ct",
        str(paths["ct"]),
        "--hematoma",
        str(paths["hematoma"]),
        "--out",
        str(tmp_path / "o"),
        "--onset-to-ct-h",
        "-3",
    )
    assert late.returncode == 2 and "onset-to-CT time -3.0 h is not a time" in late.stderr
    assert not (tmp_path / "o").exists()


RADIOMICS_NAMES = ["original_firstorder_Mean", "original_shape_Sphericity"]


@pytest.fixture(scope="module")
def radiomics_bundle(blend_case, tmp_path_factory):
    """A small radiomics model whose training rows surround the blend case's own features."""
    from HematomaExpansionLib.features.pipeline import ExtractionConfig, extract_features
    from HematomaExpansionLib.model.bundle import load_bundle
    from HematomaExpansionLib.model.bundle_writer import save_bundle
    from HematomaExpansionLib.model.lasso_svm import fit_model
    from training_fixtures import FAST_CONFIG

    phantom, _ = blend_case
    features = extract_features(
        phantom.ct, phantom.mask, ExtractionConfig.for_features(RADIOMICS_NAMES)
    ).feature_set
    rng = np.random.default_rng(0)
    centre = np.array([features.features[n] for n in RADIOMICS_NAMES])
    x = centre + rng.standard_normal((80, 2)) * (np.abs(centre) * 0.2 + 1e-3)
    y = (x[:, 0] > centre[0]).astype(int)
    folder = tmp_path_factory.mktemp("model") / "test-radiomics"
    fitted = fit_model(x, y, RADIOMICS_NAMES, "radiomics", FAST_CONFIG)
    save_bundle(fitted, folder, "test-radiomics", {"extractor": features.provenance["extractor_identity"]})
    return load_bundle(folder)


def test_predict_shows_the_measured_signs_and_records_measured_and_confirmed(
    runtime, blend_case, radiomics_bundle
):
    from HematomaExpansionLib.mrml.loading import load_case
    from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
    from HematomaExpansionLib.reports.case_report import render_case_report

    _, paths = blend_case
    logic = HematomaExpansionLogicBase(runtime)
    volume, segmentation = load_case(runtime, paths["ct"], paths["hematoma"])
    confirmed = ApplicabilityChecklist(
        onset_to_ct_within_6h=True, spontaneous_ich=True, no_conventional_signs=True
    )
    result = logic.predict(volume, segmentation, model=radiomics_bundle, device="cpu", checklist=confirmed)
    assert result.signs.present == ["blend", "hypodensity"]
    assert any(
        "measured on this CT: blend sign" in w and "overriding the measurement" in w for w in result.warnings
    )
    applicability = result.provenance["applicability"]
    assert applicability["no_conventional_signs"] is True  # the reader's call
    assert applicability["measured_signs"] == ["blend sign", "any hypodensity (swirl sign)"]
    assert applicability["suggested_no_conventional_signs"] is False
    document = json.loads(json.dumps(result.as_dict(), default=str))
    assert document["conventional_signs"]["blend"]["present"] is True
    direct = logic.measure_signs(volume, segmentation)
    assert direct.as_dict() == result.signs.as_dict()
    html = render_case_report(result, "blend", confirmed.with_measured(result.signs.present_titles), "")
    assert "conventional signs measured present</td><td>blend sign, any hypodensity (swirl sign)" in html


def test_predict_takes_the_onset_time_for_the_bat_score_from_the_clinical_values(
    runtime, blend_case, radiomics_bundle
):
    from HematomaExpansionLib.mrml.loading import load_case
    from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase

    _, paths = blend_case
    logic = HematomaExpansionLogicBase(runtime)
    volume, segmentation = load_case(runtime, paths["ct"], paths["hematoma"])
    without = logic.predict(volume, segmentation, model=radiomics_bundle, device="cpu")
    assert without.signs.bat_score is None
    early = logic.predict(
        volume, segmentation, model=radiomics_bundle, device="cpu", clinical={"onset_to_ct_h": "1.5"}
    )
    # Morotti 2018: blend 1 + any hypodensity 2 + onset-to-CT < 2.5 h 2.
    assert early.signs.bat_score == 5
    assert early.signs.bat_score == logic.measure_signs(volume, segmentation, onset_to_ct_h=1.5).bat_score
    late = logic.predict(
        volume, segmentation, model=radiomics_bundle, device="cpu", clinical={"clinical_onset_to_ct_h": 3}
    )
    assert late.signs.bat_score == 3
    with pytest.raises(InputError, match=r"onset_to_ct_h=100 is outside 0-72 h"):
        logic.predict(
            volume, segmentation, model=radiomics_bundle, device="cpu", clinical={"onset_to_ct_h": 100}
        )


def test_predict_cohort_adds_the_measured_signs_as_columns(blend_case, radiomics_bundle, tmp_path):
    import csv

    from cohort_fixtures import write_manifest
    from HematomaExpansionLib.mrml.cohort_jobs import predict_cohort

    _, paths = blend_case
    manifest = write_manifest(
        tmp_path / "manifest.csv", ["case_id", "ct", "hematoma"], [["b1", paths["ct"], paths["hematoma"]]]
    )
    predict_cohort(manifest, tmp_path / "out", radiomics_bundle, device="cpu", progress=False)
    with (tmp_path / "out" / "predictions.csv").open() as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["sign_blend_present"] == "1" and row["sign_hypodensity_present"] == "1"
    assert (
        row["sign_black_hole_present"] == row["sign_island_present"] == row["sign_satellite_present"] == "0"
    )
    assert row["barras_shape_category"] == "1" and row["barras_density_category"] == "2"
