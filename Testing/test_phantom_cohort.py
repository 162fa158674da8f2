"""The synthetic validation cohort: ground-truth model, labels and follow-up volumes, independence of
the acquisition from the label, the split, the files written and their reproducibility."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import integrate, stats
from scipy.special import expit

from HematomaExpansionLib import cli
from HematomaExpansionLib.cohort.labels import ExpansionDefinition
from HematomaExpansionLib.cohort.manifest import read_manifest
from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.evaluation.roc import auc
from HematomaExpansionLib.synthetic import HematomaSpec
from HematomaExpansionLib.synthetic.ground_truth import (
    GROUND_TRUTH,
    clinical_covariates,
    followup_volume_ml,
    plan_cohort,
    sample_parameters,
)
from HematomaExpansionLib.synthetic.phantom_cohort import MANIFEST_COLUMNS, generate_cohort

N_DRAWS = 20_000
REFERENCE = HematomaSpec(
    volume_ml=12.0, lobulation=0.1, heterogeneity_hu=4.0, blend_fraction=0.0, n_hypodense_foci=1
)


def expands(baseline_ml: float, followup_ml: float) -> bool:
    """The default definition written out independently: growth >= 6 mL or >= 33%."""
    growth = followup_ml - baseline_ml
    return growth >= 6.0 or growth / baseline_ml >= 0.33


def null_auc_se(labels: np.ndarray) -> float:
    """SE of the AUC of a score independent of the label (continuous score; ties only lower it)."""
    n1 = int(labels.sum())
    n0 = labels.size - n1
    return math.sqrt((n1 + n0 + 1) / (12.0 * n1 * n0))


@pytest.fixture(scope="module")
def draws():
    """20 000 cases of seed 0, parameters only (no images)."""
    cases = sample_parameters(N_DRAWS, seed=0)
    labels = np.array([c.label for c in cases])
    probabilities = np.array([c.true_probability for c in cases])
    return cases, labels, probabilities


# --------------------------------------------------------------------------- the ground-truth model


def test_log_odds_follow_the_documented_formula():
    spec = HematomaSpec(
        volume_ml=30.0, lobulation=0.2, heterogeneity_hu=6.0, blend_fraction=0.3, n_hypodense_foci=2
    )
    # docs/ground_truth_model.md: eta = -5.8 + 10 L + 0.2 H + 5 B + 0.8 F + ln(V / 15 mL)
    expected = -5.8 + 10.0 * 0.2 + 0.2 * 6.0 + 5.0 * 0.3 + 0.8 * 2 + math.log(30.0 / 15.0)
    assert GROUND_TRUTH.image_logit(spec) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lobulation", 0.3),
        ("heterogeneity_hu", 10.0),
        ("blend_fraction", 0.4),
        ("n_hypodense_foci", 3),
        ("volume_ml", 60.0),
    ],
)
def test_more_irregular_heterogeneous_or_larger_means_higher_risk(field, value):
    base = GROUND_TRUTH.probability(GROUND_TRUTH.image_logit(REFERENCE))
    higher = GROUND_TRUTH.probability(GROUND_TRUTH.image_logit(replace(REFERENCE, **{field: value})))
    assert higher > base + 0.02


@pytest.mark.parametrize(
    ("field", "value"),
    [("mean_hu", 72.0), ("oedema_mm", 5.0), ("semi_axis_ratios", (1.0, 1.5, 0.7)), ("yaw_deg", 30.0)],
)
def test_nuisance_parameters_do_not_change_the_risk(field, value):
    changed = replace(REFERENCE, **{field: value})
    assert GROUND_TRUTH.image_logit(changed) == GROUND_TRUTH.image_logit(REFERENCE)


@pytest.mark.parametrize("eta", [-5.0, -1.3, 0.0, 0.7, 3.0])
def test_true_probability_averages_out_the_unobserved_factor(eta):
    sd = GROUND_TRUTH.unobserved_sd
    expected, _ = integrate.quad(lambda e: expit(eta + e) * stats.norm.pdf(e, scale=sd), -np.inf, np.inf)
    assert GROUND_TRUTH.probability(eta) == pytest.approx(expected, abs=1e-10)
    assert GROUND_TRUTH.probability(np.array([eta, eta]))[1] == pytest.approx(expected, abs=1e-10)


def test_labels_are_drawn_with_the_true_probabilities(draws):
    _, labels, probabilities = draws
    # E[label] = E[p]; the SE of the mean of Bernoulli(p_i) draws is sqrt(sum p(1-p)) / n.
    se = math.sqrt(np.sum(probabilities * (1 - probabilities))) / labels.size
    assert abs(labels.mean() - probabilities.mean()) < 4 * se
    # Calibration by decile of p: each bin's event rate matches its mean p.
    edges = np.quantile(probabilities, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, probabilities, side="right") - 1, 0, 9)
    for b in range(10):
        p = probabilities[bins == b]
        assert abs(labels[bins == b].mean() - p.mean()) < 4 * math.sqrt(np.sum(p * (1 - p))) / p.size


def test_positive_rate_and_ceiling_auc_are_realistic(draws):
    _, labels, probabilities = draws
    assert 0.25 <= labels.mean() <= 0.35
    assert 0.80 <= auc(labels, probabilities) <= 0.90


def test_each_image_predictor_carries_information(draws):
    cases, labels, _ = draws
    for attribute in ("lobulation", "heterogeneity_hu", "blend_fraction", "n_hypodense_foci", "volume_ml"):
        values = np.array([getattr(c.hematoma, attribute) for c in cases], dtype=float)
        assert 0.55 < auc(labels, values) < 0.75, attribute


@pytest.mark.parametrize(
    "value_of",
    [
        lambda c: c.slice_mm,
        lambda c: c.tilt_deg,
        lambda c: c.noise_sd_hu,
        lambda c: float(c.axes_order != (0, 1, 2) or any(c.flip_axes)),
        lambda c: float(c.preset == "thin"),
        lambda c: c.hematoma.mean_hu,
        lambda c: c.hematoma.oedema_mm,
        lambda c: c.hematoma.yaw_deg,
        lambda c: c.hematoma.semi_axis_ratios[1],
    ],
    ids=[
        "slice_mm",
        "tilt_deg",
        "noise_sd_hu",
        "reordered",
        "thin",
        "mean_hu",
        "oedema_mm",
        "yaw",
        "ratio_p",
    ],
)
def test_acquisition_and_nuisance_parameters_are_independent_of_the_label(draws, value_of):
    cases, labels, _ = draws
    values = np.array([value_of(c) for c in cases], dtype=float)
    # Under independence the AUC is 0.5 with the null SE (about 0.0045 here); 4 SE leaves a
    # false alarm chance below 1e-4, while a real cue of AUC 0.52 or more would fail.
    assert abs(auc(labels, values) - 0.5) < 4 * null_auc_se(labels)


def test_acquisition_mix_matches_the_documented_proportions(draws):
    cases, _, _ = draws
    slices = np.array([c.slice_mm for c in cases])
    for slice_mm, share in ((5.0, 0.45), (4.0, 0.10), (3.0, 0.10), (2.0, 0.15), (1.0, 0.20)):
        assert abs(np.mean(slices == slice_mm) - share) < 4 * math.sqrt(share * (1 - share) / slices.size)
    assert all((c.preset == "thin") == (c.slice_mm <= 2.0) for c in cases)
    tilts = np.array([c.tilt_deg for c in cases])
    assert abs(np.mean(tilts > 0) - 0.35) < 4 * math.sqrt(0.35 * 0.65 / tilts.size)
    assert tilts.max() <= 20.0 and tilts[tilts > 0].min() >= 5.0


# --------------------------------------------------------------------------- follow-up volume


def test_followup_volumes_reproduce_the_labels_under_6ml_or_33_percent(draws):
    cases, labels, _ = draws
    definition = ExpansionDefinition()
    growth = []
    for case in cases:
        baseline = case.hematoma.volume_ml
        followup = float(f"{followup_volume_ml(baseline, case.growth_factor):.10g}")  # as written
        assert expands(baseline, followup) == bool(case.label)
        assert definition.label(baseline, followup) == case.label
        growth.append(followup - baseline)
    growth = np.array(growth)
    volumes = np.array([c.hematoma.volume_ml for c in cases])
    # Stable cases sometimes shrink; expanding cases meet either criterion alone in some cases.
    assert np.any(growth[labels == 0] < 0)
    assert np.any((labels == 1) & (growth < 6.0))  # relative criterion only (small hematomas)
    assert np.any((labels == 1) & (growth / volumes < 0.33))  # absolute criterion only (large ones)


@pytest.mark.parametrize(("baseline", "growth"), [(10.0, 3.3), (20.0, 6.0), (40.0, 6.0)])
def test_growth_factor_one_sits_on_the_threshold(baseline, growth):
    assert followup_volume_ml(baseline, 1.0) - baseline == pytest.approx(growth)
    assert followup_volume_ml(baseline, 0.0) == baseline


# --------------------------------------------------------------------------- the split


def test_split_is_188_47_stratified_and_seeded():
    plan = plan_cohort(235, seed=3)
    split = np.array(plan.split)
    labels = np.array([c.label for c in plan.cases])
    assert (split == "train").sum() == 188 and (split == "test").sum() == 47
    assert abs(labels[split == "test"].sum() - 47 * labels.mean()) <= 1
    assert plan_cohort(235, seed=3).split == plan.split
    assert plan_cohort(235, seed=4).split != plan.split


def test_cases_do_not_depend_on_the_cohort_size():
    small, large = sample_parameters(5, seed=9), sample_parameters(40, seed=9)
    assert small == large[:5]
    assert sample_parameters(5, seed=10) != small


# --------------------------------------------------------------------------- files


def _tiny_seed() -> int:
    """First seed whose 4 first cases are quick to make (5 mm clinical or 2 mm thin, < 30 mL), hold
    2 expanding and 2 stable cases, one tilted and one with reordered voxel axes."""
    for seed in range(2000):
        cases = sample_parameters(4, seed)
        if (
            sum(c.label for c in cases) == 2
            and all(c.slice_mm in (5.0, 2.0) and c.hematoma.volume_ml < 30 for c in cases)
            and any(c.tilt_deg > 0 for c in cases)
            and any(c.axes_order != (0, 1, 2) or any(c.flip_axes) for c in cases)
        ):
            return seed
    raise AssertionError("no seed in 0-1999 meets the criteria")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The same 4-case cohort written twice: by the CLI with one process, and with two workers.

    Half the cases go to the test split: a stratified split of 4 cases needs one of each class there.
    """
    seed = _tiny_seed()
    first = tmp_path_factory.mktemp("cohort_cli")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(
            ["phantom-cohort", "--n", "4", "--out", str(first), "--seed", str(seed), "--test-fraction", "0.5"]
        )
    assert code == 0
    second = tmp_path_factory.mktemp("cohort_jobs2")
    summary = generate_cohort(4, second, seed, test_fraction=0.5, jobs=2)
    with (first / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "seed": seed,
        "first": first,
        "second": second,
        "stdout": stdout.getvalue(),
        "summary": summary,
        "rows": rows,
    }


def test_manifest_has_the_design_columns_and_relative_paths(tiny):
    with (tiny["first"] / "manifest.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:6] == ["case_id", "ct", "hematoma", "label", "followup_volume_ml", "split"]
    assert tuple(header) == MANIFEST_COLUMNS
    assert header[6] == "baseline_volume_ml" and all(c.startswith("true_") for c in header[11:])
    covariates = ["clinical_onset_to_ct_h", "clinical_gcs", "clinical_anticoagulation", "clinical_sbp_mmhg"]
    assert header[7:11] == covariates
    cases = read_manifest(tiny["first"] / "manifest.csv", require_labels=True)
    assert [c.case_id for c in cases] == [f"phantom_{i:04d}" for i in range(4)]
    for row, case in zip(tiny["rows"], cases, strict=True):
        assert not Path(row["ct"]).is_absolute() and case.ct == tiny["first"] / row["ct"]
        assert case.ct.is_file() and case.hematoma.is_file()


def test_manifest_matches_the_sampled_cases(tiny):
    cases = sample_parameters(4, tiny["seed"])
    for row, case in zip(tiny["rows"], cases, strict=True):
        assert int(row["label"]) == case.label
        assert float(row["true_probability"]) == pytest.approx(case.true_probability, rel=1e-9)
        assert float(row["true_lobulation"]) == pytest.approx(case.hematoma.lobulation, rel=1e-9)
        assert float(row["true_slice_mm"]) == case.slice_mm
        assert row["true_axes_order"] == " ".join(map(str, case.axes_order))
        covariates = clinical_covariates(tiny["seed"], case.index, case.unobserved_logit)
        assert {name: float(row[name]) for name in covariates} == covariates


def test_images_read_back_and_labels_follow_from_the_segmented_volume(tiny):
    definition = ExpansionDefinition()
    for row in tiny["rows"]:
        ct = sitk.ReadImage(str(tiny["first"] / row["ct"]))
        seg = sitk.ReadImage(str(tiny["first"] / row["hematoma"]))
        assert ct.GetPixelID() == sitk.sitkInt16
        assert seg.GetSize() == ct.GetSize() and seg.GetDirection() == pytest.approx(ct.GetDirection())
        assert seg.GetMetaData("Segment0_Name") == "Hematoma"
        assert float(row["true_slice_mm"]) in [pytest.approx(s) for s in ct.GetSpacing()]
        direction = np.array(ct.GetDirection()).reshape(3, 3)
        tilt = float(row["true_tilt_deg"])
        # The slice axis (the column that is not pure L or P) leans tilt degrees from S.
        slice_axis = int(np.argmax(np.abs(direction[2])))
        assert math.degrees(math.acos(abs(direction[2, slice_axis]))) == pytest.approx(tilt, abs=1e-6)
        baseline_ml = sitk.GetArrayViewFromImage(seg).sum() * np.prod(seg.GetSpacing()) / 1000.0
        assert baseline_ml == pytest.approx(float(row["baseline_volume_ml"]), rel=1e-8)
        assert expands(baseline_ml, float(row["followup_volume_ml"])) == bool(int(row["label"]))
        assert definition.label(baseline_ml, float(row["followup_volume_ml"])) == int(row["label"])


def test_cli_prints_the_ceiling_auc_of_the_manifest(tiny):
    labels = [int(r["label"]) for r in tiny["rows"]]
    probabilities = [float(r["true_probability"]) for r in tiny["rows"]]
    match = re.search(r"ceiling AUC \(true probabilities\): (\d\.\d{3})", tiny["stdout"])
    assert match and float(match.group(1)) == pytest.approx(auc(labels, probabilities), abs=5e-4)
    summary = tiny["summary"]
    assert (summary.n, summary.n_positive, summary.n_train, summary.n_test) == (4, 2, 2, 2)
    assert summary.ceiling_auc == pytest.approx(auc(labels, probabilities))
    files = [p for p in tiny["first"].rglob("*") if p.is_file()]
    assert summary.total_bytes == sum(p.stat().st_size for p in files)


def test_same_seed_gives_byte_identical_files_with_any_number_of_workers(tiny):
    first = sorted(p.relative_to(tiny["first"]) for p in tiny["first"].rglob("*") if p.is_file())
    second = sorted(p.relative_to(tiny["second"]) for p in tiny["second"].rglob("*") if p.is_file())
    assert first == second and len(first) == 9
    for relative in first:
        assert (tiny["first"] / relative).read_bytes() == (tiny["second"] / relative).read_bytes(), relative


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n=0"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"jobs": 0}, "jobs=0"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(tmp_path, kwargs, message):
    arguments = {"n": 4, "out_dir": tmp_path / "out", "seed": 0, **kwargs}
    with pytest.raises(InputError, match=message):
        generate_cohort(**arguments)
    assert not (tmp_path / "out").exists()


def test_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    with pytest.raises(InputError, match="not a folder"):
        generate_cohort(2, target, 0)
    assert target.read_text() == "keep"


def test_cohort_too_small_to_stratify_is_refused_before_images(tmp_path):
    seed = next(s for s in range(100) if sum(c.label for c in sample_parameters(3, s)) == 0)
    with pytest.raises(InputError, match="cannot be split"):
        generate_cohort(3, tmp_path / "out", seed)
    assert not (tmp_path / "out").exists()
