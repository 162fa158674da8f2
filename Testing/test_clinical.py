"""Clinical covariates: specs and parsing, the clinical and combined model kinds, training with
covariates (missing values refused or imputed), prediction with and without them, the synthetic
covariates of the ground truth, and the bundled models unaffected."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from HematomaExpansionLib.cohort.extraction import extract_cohort
from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.evaluation import read_feature_table, train_models
from HematomaExpansionLib.evaluation.feature_table import impute_covariates
from HematomaExpansionLib.features.clinical import (
    CovariateSpec,
    covariates_from_pairs,
    parse_covariates,
    required_covariates,
    spec_for_column,
)
from HematomaExpansionLib.features.families import FEATURE_FAMILIES, ExtractionConfig, feature_family
from HematomaExpansionLib.imaging.measurements import measure_hematoma
from HematomaExpansionLib.model.bundle import load_bundle
from HematomaExpansionLib.model.kinds import families_of, features_for_kind, missing_families
from HematomaExpansionLib.model.prediction import predict_case
from HematomaExpansionLib.model.registry import BUNDLED_MODELS_DIR
from HematomaExpansionLib.synthetic.ground_truth import clinical_covariates, plan_cohort, sample_case
from model_training_fixtures import TINY_CONFIG, synthetic_rows, write_table

ROOT = Path(__file__).resolve().parents[1]
GCS = CovariateSpec("clinical_gcs", "", "numeric", 3.0, 15.0)
ONSET = CovariateSpec("clinical_onset_to_ct_h", "h", "numeric", 0.0, 72.0)
ANTICOAGULATION = CovariateSpec("clinical_anticoagulation", "", "binary", 0.0, 1.0)
SPECS = [ONSET, GCS, ANTICOAGULATION]


# --------------------------------------------------------------------------- specs and parsing


def test_parse_accepts_names_with_or_without_the_prefix():
    values = {"onset_to_ct_h": "2.5", "clinical_gcs": 14, "anticoagulation": "yes"}
    assert parse_covariates(SPECS, values) == {
        "clinical_onset_to_ct_h": 2.5,
        "clinical_gcs": 14.0,
        "clinical_anticoagulation": 1.0,
    }


def test_parse_names_each_missing_and_out_of_range_value_in_one_message():
    with pytest.raises(InputError) as error:
        parse_covariates(SPECS, {"gcs": "16", "anticoagulation": "2"})
    message = str(error.value)
    assert "missing: onset_to_ct_h (numeric, h)" in message
    assert "gcs=16 is outside 3-15" in message
    assert "anticoagulation=2 must be 0 or 1" in message
    with pytest.raises(InputError, match=r"gcs='fourteen' is not a number"):
        parse_covariates([GCS], {"gcs": "fourteen"})
    with pytest.raises(InputError, match="given twice"):
        parse_covariates([GCS], {"gcs": 14, "clinical_gcs": 13})


def test_pairs_from_the_command_line():
    assert covariates_from_pairs(["gcs=14", " onset_to_ct_h = 2.5"]) == {"gcs": "14", "onset_to_ct_h": "2.5"}
    with pytest.raises(InputError, match="NAME=VALUE pairs"):
        covariates_from_pairs(["gcs14"])


def test_specs_from_columns_declare_kind_unit_and_range():
    assert spec_for_column("clinical_anticoagulation", [0.0, 1.0, 1.0, float("nan")]) == ANTICOAGULATION
    assert spec_for_column("clinical_gcs", [3.0, 15.0, 1.0]) == GCS
    assert spec_for_column("clinical_sbp_mmhg", [120.0]).unit == "mmHg"
    assert spec_for_column("clinical_lactate_mmol_l", [1.5]) == CovariateSpec(
        "clinical_lactate_mmol_l", "mmol/L", "numeric", None, None
    )


def test_the_clinical_family_is_registered_and_the_kinds_select_its_columns():
    assert "clinical" in FEATURE_FAMILIES and feature_family("clinical_gcs") == "clinical"
    assert ExtractionConfig().families == ("radiomics", "deep")  # covariates are never extracted by default
    names = ["original_shape_Sphericity", "deep_resnet50_mean_0000", "clinical_gcs"]
    assert features_for_kind(names, "clinical") == ["clinical_gcs"]
    assert features_for_kind(names, "combined") == names
    assert families_of(names[::-1]) == ("radiomics", "deep", "clinical")
    assert missing_families(names[:1], "combined") == ["clinical"]
    assert missing_families(names[2:], "combined") == ["radiomics or deep"]
    assert missing_families(names[:1] + names[2:], "combined") == []


# --------------------------------------------------------------------------- training


def _table_with_covariates(folder: Path, n: int = 150, missing_gcs_case: int | None = None) -> Path:
    """The synthetic table of model_training_fixtures plus covariates that follow the label."""
    columns, rows = synthetic_rows(n, seed=3)
    rng = np.random.default_rng(5)
    labels = np.array([row[2] for row in rows])
    gcs = np.clip(np.round(13 - 2.0 * labels + rng.normal(0, 1.2, n)), 3, 15)
    anticoagulated = (rng.random(n) < 0.15 + 0.4 * labels).astype(int)
    rows = [[*row, g, a] for row, g, a in zip(rows, gcs, anticoagulated, strict=True)]
    if missing_gcs_case is not None:
        rows[missing_gcs_case][-2] = ""
    return write_table(folder, [*columns, "clinical_gcs", "clinical_anticoagulation"], rows)


@pytest.fixture(scope="module")
def clinical_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clinical_run")
    table = read_feature_table(_table_with_covariates(folder))
    kinds = ["radiomics", "clinical", "combined"]
    return train_models(
        table, folder / "out", kinds=kinds, config=TINY_CONFIG, ceiling_auc=0.9
    ), folder / "out"


def test_train_writes_the_three_models_and_one_report_that_compares_them(clinical_run):
    _, out = clinical_run
    bundles = {
        kind: load_bundle(out / f"hematoma-expansion-{kind}")
        for kind in ("radiomics", "clinical", "combined")
    }
    assert {kind: b.kind for kind, b in bundles.items()} == {k: k for k in bundles}
    covariates = bundles["clinical"].extractor["clinical_covariates"]
    assert [c["name"] for c in covariates] == ["clinical_gcs", "clinical_anticoagulation"]
    assert [c["kind"] for c in covariates] == ["numeric", "binary"]
    assert "clinical_covariates" not in bundles["radiomics"].extractor
    assert set(bundles["clinical"].card["training_features"]) == {"clinical_gcs", "clinical_anticoagulation"}
    combined = bundles["combined"].card["training_features"]
    assert {feature_family(n) for n in combined} == {"radiomics", "deep", "clinical"}
    assert (
        "pyradiomics_version" in bundles["combined"].extractor
        and "backbone_id" in bundles["combined"].extractor
    )
    metrics = json.loads((out / "metrics.json").read_text())
    pairs = [(c["model_a"], c["model_b"]) for c in metrics["comparisons"]["test"]]
    assert pairs == [("combined", "radiomics"), ("combined", "clinical"), ("clinical", "radiomics")]
    assert set(metrics["decision_curves"]["test"]["models"]) == {"radiomics", "clinical", "combined"}
    report = (out / "report.html").read_text()
    assert "Combined vs Radiomics" in report and "Clinical vs Radiomics" in report
    for kind in ("clinical", "combined"):
        test = metrics["models"][kind]["sets"]["test"]
        assert sum(test["calibration"]["bin_count"]) == test["n"] == metrics["cohort"]["sets"]["test"]["n"]


def test_a_missing_covariate_is_refused_naming_case_and_column(tmp_path):
    table = read_feature_table(_table_with_covariates(tmp_path, missing_gcs_case=7))
    with pytest.raises(
        InputError, match=r"column 'clinical_gcs' has a missing .* case 'case007'.*--impute median"
    ):
        train_models(table, tmp_path / "out", kinds=["clinical"], config=TINY_CONFIG)
    assert not (tmp_path / "out").exists()


def test_imputation_only_by_option_uses_the_training_median_and_is_recorded(tmp_path):
    path = _table_with_covariates(tmp_path, missing_gcs_case=7)
    table = read_feature_table(path)
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    expected = float(
        np.median([float(r["clinical_gcs"]) for r in rows if r["split"] == "train" and r["clinical_gcs"]])
    )
    train_models(
        table, tmp_path / "out", kinds=["clinical", "radiomics"], config=TINY_CONFIG, impute="median"
    )
    clinical = load_bundle(tmp_path / "out" / "hematoma-expansion-clinical")  # schema and seal checked
    imputation = clinical.card["extra"]["imputation"]
    assert imputation["method"] == "median" and imputation["values"] == {"clinical_gcs": expected}
    split = rows[7]["split"]
    assert imputation["n_imputed"]["clinical_gcs"] == {
        "train": int(split == "train"),
        "other": int(split != "train"),
    }
    radiomics = load_bundle(tmp_path / "out" / "hematoma-expansion-radiomics")
    assert "imputation" not in radiomics.card["extra"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["provenance"]["imputation"]["values"] == {"clinical_gcs": expected}
    with pytest.raises(InputError, match="must be 'median'"):
        impute_covariates(table, np.ones(len(table.labels), dtype=bool), "mean")


def test_a_covariate_outside_its_plausible_range_is_refused(tmp_path):
    columns, rows = synthetic_rows(40, seed=3)
    rows = [[*row, 14] for row in rows]
    rows[3][-1] = 17
    with pytest.raises(InputError, match=r"'clinical_gcs', case 'case003': gcs=17 is outside 3-15"):
        read_feature_table(write_table(tmp_path, [*columns, "clinical_gcs"], rows))


def _ground_truth_table(folder: Path, n: int, seed: int) -> tuple[Path, dict[str, np.ndarray]]:
    """A table from the ground truth of ``n`` synthetic cases: noisy measurements of the image
    parameters under pyradiomics-like names, and the synthetic covariates of each case."""
    plan = plan_cohort(n, seed)
    rng = np.random.default_rng(seed + 100)
    rows = []
    for case, split in zip(plan.cases, plan.split, strict=True):
        h = case.hematoma
        imaging = [
            h.lobulation + rng.normal(0, 0.05),
            h.heterogeneity_hu + rng.normal(0, 2.0),
            h.blend_fraction + rng.normal(0, 0.05),
            h.n_hypodense_foci + rng.normal(0, 0.5),
            h.volume_ml * np.exp(rng.normal(0, 0.1)),
            h.mean_hu + rng.normal(0, 2.0),
        ]
        covariates = clinical_covariates(seed, case.index, case.unobserved_logit)
        rows.append([case.case_id, split, case.label, h.volume_ml, "", *imaging, *covariates.values()])
    names = [
        "original_shape_Flatness",
        "original_firstorder_StandardDeviation",
        "original_glcm_Contrast",
        "original_glszm_SmallAreaEmphasis",
        "original_shape_MeshVolume",
        "original_firstorder_Mean",
    ]
    columns = ["case_id", "split", "label", "baseline_volume_ml", "followup_volume_ml", *names, *covariates]
    truth = {
        "test": np.array(plan.split) == "test",
        "label": np.array([c.label for c in plan.cases]),
        "image_logit": np.array([c.image_logit for c in plan.cases]),
        "unobserved_logit": np.array([c.unobserved_logit for c in plan.cases]),
    }
    return write_table(folder, columns, rows), truth


def test_combined_beats_radiomics_on_the_held_out_test_set_of_a_synthetic_cohort(tmp_path):
    path, truth = _ground_truth_table(tmp_path, n=1000, seed=1)
    test, y = truth["test"], truth["label"]
    # The ground truth's expectation: knowing the unobserved factor (which the covariates measure
    # with noise) adds to what the image carries.
    image_only = roc_auc_score(y[test], truth["image_logit"][test])
    assert roc_auc_score(y[test], (truth["image_logit"] + truth["unobserved_logit"])[test]) > image_only
    train_models(
        read_feature_table(path), tmp_path / "out", kinds=["radiomics", "combined"], config=TINY_CONFIG
    )
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    auc = {kind: metrics["models"][kind]["sets"]["test"]["auc"]["auc"] for kind in ("radiomics", "combined")}
    assert auc["combined"] > auc["radiomics"]
    (comparison,) = metrics["comparisons"]["test"]
    assert (comparison["model_a"], comparison["model_b"]) == ("combined", "radiomics")
    assert comparison["p_one_sided"] < 0.05


# --------------------------------------------------------------------------- prediction


@pytest.fixture(scope="module")
def small_case():
    from cohort_fixtures import small_phantom

    return small_phantom(12.0, seed=4)


def _clinical_bundle(folder: Path, seed: int, covariates):
    """A clinical model on 150 synthetic rows (seed ``seed``) plus the columns ``covariates(labels,
    rng)`` returns ({name: values}, drawn in that order from ``rng`` seeded ``seed + 5``)."""
    columns, rows = synthetic_rows(150, seed=seed)
    labels = np.array([row[2] for row in rows])
    values = covariates(labels, np.random.default_rng(seed + 5))
    rows = [[*row, *extra] for row, extra in zip(rows, zip(*values.values(), strict=True), strict=True)]
    table = read_feature_table(write_table(folder, [*columns, *values], rows))
    config = TINY_CONFIG.__class__(**{**TINY_CONFIG.as_dict(), "univariate_filter": False})
    train_models(table, folder / "out", kinds=["clinical"], config=config)
    return load_bundle(folder / "out" / "hematoma-expansion-clinical")


def _gcs(labels, rng):
    return np.clip(np.round(13 - 2.5 * labels + rng.normal(0, 1.0, len(labels))), 3, 15)


@pytest.fixture(scope="module")
def clinical_bundle(tmp_path_factory):
    """A clinical model on gcs, anticoagulation and the measured baseline volume."""
    return _clinical_bundle(
        tmp_path_factory.mktemp("clinical_model"),
        3,
        lambda labels, rng: {
            "clinical_gcs": _gcs(labels, rng),
            "clinical_anticoagulation": (rng.random(len(labels)) < 0.1 + 0.5 * labels).astype(int),
            "clinical_baseline_volume_ml": np.exp(rng.normal(2.5 + 0.6 * labels, 0.5)),
        },
    )


@pytest.fixture(scope="module")
def onset_bundle(tmp_path_factory):
    """A clinical model on the onset-to-CT time and GCS."""
    return _clinical_bundle(
        tmp_path_factory.mktemp("onset_model"),
        4,
        lambda labels, rng: {
            "clinical_onset_to_ct_h": np.clip(np.exp(rng.normal(1.5 - 0.6 * labels, 0.5)), 0.2, 24),
            "clinical_gcs": _gcs(labels, rng),
        },
    )


def test_the_logic_names_every_bad_covariate_also_when_the_onset_time_is_out_of_range(
    runtime, onset_bundle, small_case, tmp_path
):
    from HematomaExpansionLib.mrml.loading import load_case
    from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
    from HematomaExpansionLib.synthetic import write_case

    assert "clinical_onset_to_ct_h" in [spec.name for spec in required_covariates(onset_bundle)]
    paths = write_case(small_case, tmp_path, "c1")
    logic = HematomaExpansionLogicBase(runtime)
    volume, segmentation = load_case(runtime, paths["ct"], paths["hematoma"])
    with pytest.raises(InputError) as error:
        logic.predict(volume, segmentation, model=onset_bundle, device="cpu", clinical={"onset_to_ct_h": 100})
    message = str(error.value)
    assert "onset_to_ct_h=100 is outside 0-72 h" in message
    if "clinical_gcs" in onset_bundle.input_features:
        assert "missing: gcs" in message
    result = logic.predict(
        volume, segmentation, model=onset_bundle, device="cpu", clinical={"onset_to_ct_h": 2, "gcs": 12}
    )
    assert result.signs.bat_score == logic.measure_signs(volume, segmentation, onset_to_ct_h=2).bat_score


def test_a_clinical_model_asks_for_its_covariates_but_measures_the_volume(clinical_bundle):
    inputs = clinical_bundle.input_features
    assert set(inputs) <= {"clinical_gcs", "clinical_anticoagulation", "clinical_baseline_volume_ml"}
    asked = [spec.name for spec in required_covariates(clinical_bundle)]
    assert asked == [n for n in inputs if n != "clinical_baseline_volume_ml"] and asked
    assert required_covariates(clinical_bundle.card) == required_covariates(clinical_bundle)


def test_predict_refuses_a_case_without_the_needed_values_naming_each(clinical_bundle, small_case):
    with pytest.raises(InputError) as error:
        predict_case(small_case.ct, small_case.mask, clinical_bundle, clinical={})
    for spec in required_covariates(clinical_bundle):
        assert spec.short_name in str(error.value)


def test_predict_with_the_covariates_equals_the_bundle_on_the_same_values(clinical_bundle, small_case):
    given = {"gcs": "9", "anticoagulation": "1", "age_y": "70"}
    result = predict_case(small_case.ct, small_case.mask, clinical_bundle, clinical=given)
    volume_ml = measure_hematoma(small_case.ct, small_case.mask).volume_ml
    values = {"clinical_gcs": 9.0, "clinical_anticoagulation": 1.0, "clinical_baseline_volume_ml": volume_ml}
    expected = clinical_bundle.predict_proba({n: values[n] for n in clinical_bundle.input_features})[0]
    assert result.probability == pytest.approx(expected, abs=1e-12)
    assert {e.name: e.value for e in result.explanations} == pytest.approx(
        {n: values[n] for n in clinical_bundle.input_features}
    )
    assert any("does not use the clinical value(s) age_y" in w for w in result.warnings)
    assert result.provenance["clinical_values"] == {
        n: values[n]
        for n in ("clinical_gcs", "clinical_anticoagulation")
        if n in clinical_bundle.input_features
    }


def test_cli_predict_names_the_missing_covariates_and_exits_2(clinical_bundle, small_case, tmp_path):
    from HematomaExpansionLib.synthetic import write_case

    paths = write_case(small_case, tmp_path, "c1")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "HematomaExpansion")}
    command = [sys.executable, "-m", "HematomaExpansionLib", "predict", "--ct", str(paths["ct"])]
    command += ["--hematoma", str(paths["hematoma"]), "--model", str(clinical_bundle.folder)]
    command += ["--out", str(tmp_path / "result"), "--device", "cpu"]
    result = subprocess.run(
        [*command, "--clinical", "age_y=70"], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: clinical values: missing:")
    for spec in required_covariates(clinical_bundle):
        assert spec.short_name in result.stderr
    assert not (tmp_path / "result").exists()
    result = subprocess.run(
        [*command, "--clinical", "gcs=9", "anticoagulation=1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    prediction = json.loads((tmp_path / "result" / "prediction.json").read_text())
    assert prediction["model_kind"] == "clinical"


# --------------------------------------------------------------------------- cohorts and ground truth


def test_extract_cohort_carries_the_manifest_covariates_and_the_measured_volume(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    lines = ["case_id,ct,hematoma,label,split,clinical_gcs,clinical_anticoagulation"]
    for i in range(3):
        for role in ("ct", "hematoma"):
            (cases / f"c{i}_{role}.nrrd").write_bytes(b"x")
        lines.append(
            f"c{i},cases/c{i}_ct.nrrd,cases/c{i}_hematoma.nrrd,{i % 2},train,{13 + i},{'' if i == 2 else i % 2}"
        )
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")

    def fake_extract(case, config):  # the features do not matter here, the table's columns do
        return {
            "features": {"original_shape_Sphericity": 0.5},
            "provenance": {"extractor_identity": {"pyradiomics_version": "x"}},
            "warnings": [],
            "baseline_volume_ml": 10.0 + int(case.case_id[1:]),
            "followup_volume_ml": None,
        }

    radiomics_only = ExtractionConfig(families=("radiomics",))
    result = extract_cohort(
        manifest,
        tmp_path / "out",
        radiomics_only,
        progress=False,
        extract_case=fake_extract,
        clinical_baseline_volume=True,
    )
    with (tmp_path / "out" / "features.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["clinical_gcs"] for r in rows] == ["13", "14", "15"]
    assert [r["clinical_anticoagulation"] for r in rows] == ["0", "1", ""]
    assert [float(r["clinical_baseline_volume_ml"]) for r in rows] == [10.0, 11.0, 12.0]
    assert result.provenance["clinical_columns"] == [
        "clinical_gcs",
        "clinical_anticoagulation",
        "clinical_baseline_volume_ml",
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + "\n" + lines[1].replace(",13,", ",high,") + "\n")
    with pytest.raises(InputError, match=r"line 2, column 'clinical_gcs': .* not 'high'"):
        extract_cohort(bad, tmp_path / "out2", radiomics_only, progress=False, extract_case=fake_extract)


def test_synthetic_covariates_follow_the_documented_formulas_from_their_own_stream():
    cases = [sample_case(0, i) for i in range(2000)]
    e = np.array([c.unobserved_logit for c in cases])
    covariates = [clinical_covariates(0, c.index, c.unobserved_logit) for c in cases]
    table = {name: np.array([c[name] for c in covariates]) for name in covariates[0]}
    # docs/ground_truth_model.md: earlier CT, lower GCS, anticoagulation and higher SBP with larger e
    assert np.corrcoef(np.log(table["clinical_onset_to_ct_h"]), e)[0, 1] < -0.5
    assert np.corrcoef(table["clinical_gcs"], e)[0, 1] < -0.4
    assert np.corrcoef(table["clinical_sbp_mmhg"], e)[0, 1] > 0.4
    assert table["clinical_anticoagulation"][e > 1].mean() > table["clinical_anticoagulation"][e < -1].mean()
    assert set(np.unique(table["clinical_anticoagulation"])) == {0.0, 1.0}
    assert table["clinical_gcs"].min() >= 3 and table["clinical_gcs"].max() <= 15
    # the same e with another case's stream gives other covariates: the noise is the case's own
    assert clinical_covariates(0, 1, 0.0) != clinical_covariates(0, 2, 0.0)
    assert clinical_covariates(0, 5, 0.3) == clinical_covariates(0, 5, 0.3)


def test_bundled_models_are_unaffected_and_need_no_covariates():
    folders = sorted(p for p in BUNDLED_MODELS_DIR.iterdir() if (p / "model.json").is_file())
    assert folders
    for folder in folders:
        bundle = load_bundle(folder)  # schema (with the new kinds) and seal still hold
        assert bundle.kind in ("radiomics", "deep", "fused")
        assert required_covariates(bundle) == []
