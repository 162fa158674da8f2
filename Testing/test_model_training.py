"""Training from a feature table: bundles, metrics against recomputation, leakage, bad tables, CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from HematomaExpansionLib import evaluation
from HematomaExpansionLib.cli import main
from HematomaExpansionLib.cohort.feature_table import PROVENANCE_FILE
from HematomaExpansionLib.common.errors import InputError, ModelError
from HematomaExpansionLib.evaluation import evaluate_models, read_feature_table, train_models, training_sets
from HematomaExpansionLib.features.radiomics import default_params_path
from HematomaExpansionLib.model.bundle import ARRAYS_FILE, load_bundle
from HematomaExpansionLib.model.card import SEAL_KEY
from HematomaExpansionLib.model.registry import available_models
from model_training_fixtures import (
    DEEP_COLUMNS,
    RADIOMICS_COLUMNS,
    TINY_CONFIG,
    params_sha256,
    synthetic_rows,
    train_table,
    write_table,
)

KINDS = ("radiomics", "deep", "fused")


@pytest.fixture(scope="module")
def run(training_run):
    return training_run


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def table_arrays(table_path: Path, names: list[str], split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(x, y, case ids) of one split, read with the csv module (independent of the code under test)."""
    rows = [r for r in read_rows(table_path) if r["split"] == split]
    x = np.array([[float(r[n]) for n in names] for r in rows])
    return x, np.array([int(r["label"]) for r in rows]), [r["case_id"] for r in rows]


def assert_same_numbers(a, b, tolerance: float = 1e-9) -> None:
    """Equal JSON documents, floats within ``tolerance`` (bundle vs scikit-learn predictions)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_numbers(a[key], b[key], tolerance)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_numbers(x, y, tolerance)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=tolerance, abs=tolerance)
    else:
        assert a == b


def predictions(run_dir: Path, set_name: str) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    rows = [r for r in read_rows(run_dir / "predictions.csv") if r["set"] == set_name]
    models = [c for c in rows[0] if c not in ("case_id", "set", "label")]
    return (
        np.array([int(r["label"]) for r in rows]),
        {m: np.array([float(r[m]) for r in rows]) for m in models},
        [r["case_id"] for r in rows],
    )


def test_three_bundles_predict_like_the_fitted_pipelines_on_the_test_rows(run):
    table_path, result = run
    assert set(result.bundles) == set(KINDS)
    for kind, folder in result.bundles.items():
        assert folder.name == f"hematoma-expansion-{kind}"
        bundle, fitted = load_bundle(folder), result.fitted[kind]
        x_all, y_test, ids = table_arrays(table_path, fitted.feature_names, "test")
        x_sel, _, _ = table_arrays(table_path, bundle.input_features, "test")
        assert fitted.n_train_ == sum(r["split"] == "train" for r in read_rows(table_path))
        np.testing.assert_allclose(
            bundle.predict_proba(x_sel), fitted.predict_proba(x_all)[:, 1], rtol=0, atol=1e-9
        )
        y, written, written_ids = predictions(result.paths["report"].parent, "test")
        assert written_ids == ids and np.array_equal(y, y_test)
        np.testing.assert_allclose(written[kind], fitted.predict_proba(x_all)[:, 1], rtol=0, atol=1e-9)
        assert result.metrics["models"][kind]["bundle_max_abs_difference"] <= 1e-9
        families = {n.startswith("deep_") for n in fitted.feature_names}
        assert families == {"radiomics": {False}, "deep": {True}, "fused": {False, True}}[kind]


def test_cards_record_identity_cohort_metrics_and_the_parameter_file(run):
    table_path, result = run
    provenance = json.loads((table_path.parent / PROVENANCE_FILE).read_text())
    identity = provenance["extractor_identity"]
    for kind in KINDS:
        card = load_bundle(result.bundles[kind]).card
        expected_keys = {"radiomics": 3, "deep": 8, "fused": 11}[kind]
        assert len(card["extractor"]) == expected_keys
        assert all(card["extractor"][k] == identity[k] for k in card["extractor"])
        cohort = card["training_cohort"]
        assert cohort["n"] == cohort["sets"]["train"]["n"] == 120
        assert cohort["sets"]["test"]["n"] == 30
        assert cohort["expansion_definition"] == provenance["expansion_definition"]
        assert card["training_config"]["seed"] == TINY_CONFIG.seed
        metrics = result.metrics["models"][kind]["sets"]
        assert card["metrics"]["test"]["auc"] == metrics["test"]["auc"]
        assert card["metrics"]["train"]["threshold_metrics"] == metrics["train"]["threshold_metrics"]
        assert card["metrics"]["ceiling_auc"] == 0.9
        assert len(card["metrics"]["comparisons"]["test"]) == 3
        copied = card["extra"].get("radiomics_params")
        if kind == "deep":
            assert copied is None
        else:
            data = (result.bundles[kind] / copied["file"]).read_bytes()
            assert data == default_params_path().read_bytes()
            assert copied["sha256"] == hashlib.sha256(data).hexdigest() == identity["radiomics_params_sha256"]


def test_metrics_equal_statistics_recomputed_from_the_predictions(run):
    _, result = run
    metrics = json.loads(result.paths["metrics"].read_text())
    run_dir = result.paths["metrics"].parent
    for set_name in ("train", "test"):
        y, probs, _ = predictions(run_dir, set_name)
        for kind in KINDS:
            p, m = probs[kind], metrics["models"][kind]["sets"][set_name]
            threshold = load_bundle(result.bundles[kind]).threshold
            reference = evaluation.delong_ci(y, p)
            assert m["auc"]["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
            assert (m["auc"]["ci_low"], m["auc"]["ci_high"]) == pytest.approx(
                (reference.ci_low, reference.ci_high)
            )
            tp = int(np.sum((p >= threshold) & (y == 1)))
            tn = int(np.sum((p < threshold) & (y == 0)))
            sensitivity = m["threshold_metrics"]["sensitivity"]
            assert (sensitivity["numerator"], sensitivity["denominator"]) == (tp, int(y.sum()))
            assert m["threshold_metrics"]["specificity"]["value"] == pytest.approx(tn / int((y == 0).sum()))
            assert m["threshold_metrics"]["accuracy"]["value"] == pytest.approx((tp + tn) / len(y))
            low, high = evaluation.wilson_interval(tp, int(y.sum()))
            assert (sensitivity["low"], sensitivity["high"]) == pytest.approx((low, high))
            assert m["calibration"]["brier"] == pytest.approx(np.mean((p - y) ** 2))
            curve = metrics["decision_curves"][set_name]
            t = np.asarray(curve["thresholds"])
            n = len(y)
            net = [np.sum((p >= c) & (y == 1)) / n - np.sum((p >= c) & (y == 0)) / n * c / (1 - c) for c in t]
            np.testing.assert_allclose(curve["models"][kind], net, atol=1e-12)
            (row,) = [r for r in metrics["paper_table"] if r["model"] == kind and r["set"] == set_name]
            assert row["auc"] == m["auc"]["auc"]
            assert (row["auc_ci_low"], row["auc_ci_high"]) == (m["auc"]["ci_low"], m["auc"]["ci_high"])
            for key in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
                assert row[key] == m["threshold_metrics"][key]["value"]


def test_delong_comparisons_pair_the_same_cases(run):
    table_path, result = run
    for set_name in ("train", "test"):
        y, probs, ids = predictions(result.paths["metrics"].parent, set_name)
        assert ids == table_arrays(table_path, [], set_name)[2]
        comparisons = result.metrics["comparisons"][set_name]
        pairs = [(c["model_a"], c["model_b"]) for c in comparisons]
        assert pairs == [("fused", "radiomics"), ("fused", "deep"), ("deep", "radiomics")]
        for c in comparisons:
            reference = evaluation.delong_test(
                y, probs[c["model_a"]], probs[c["model_b"]], alternative="greater"
            )
            assert c["n"] == len(y) and c["n_positive"] == int(y.sum())
            assert (c["auc_a"], c["auc_b"]) == (
                result.metrics["models"][c["model_a"]]["sets"][set_name]["auc"]["auc"],
                result.metrics["models"][c["model_b"]]["sets"][set_name]["auc"]["auc"],
            )
            assert (c["z"], c["p_two_sided"], c["p_one_sided"]) == pytest.approx(
                (reference.z, reference.p_two_sided, reference.p_one_sided)
            )
            assert c["one_sided_hypothesis"] == f"H1: AUC({c['model_a']}) > AUC({c['model_b']})"


def test_test_labels_and_values_change_only_the_evaluation(run, tmp_path):
    """The leakage guarantee end to end: permuted test rows leave every saved model array unchanged."""
    _, original = run
    columns, rows = synthetic_rows()
    rng = np.random.default_rng(99)
    test_rows = [i for i, r in enumerate(rows) if r[1] == "test"]
    for j in [columns.index("label"), *range(5, len(columns))]:
        values = [rows[i][j] for i in test_rows]
        for i, v in zip(test_rows, rng.permutation(np.array(values, dtype=object)), strict=True):
            rows[i][j] = v
    assert rows != synthetic_rows()[1]
    permuted = train_table(write_table(tmp_path / "table", columns, rows), tmp_path / "models")

    volatile = {"metrics", "created_utc", "training_cohort", "model_npz_sha256", SEAL_KEY}  # seal: of them
    for kind in KINDS:
        a, b = load_bundle(original.bundles[kind]), load_bundle(permuted.bundles[kind])
        assert set(a.arrays) == set(b.arrays)
        for name in a.arrays:
            assert np.array_equal(a.arrays[name], b.arrays[name]), (kind, name)
        assert {k: v for k, v in a.card.items() if k not in volatile} == {
            k: v for k, v in b.card.items() if k not in volatile
        }
        assert a.card["metrics"]["train"] == b.card["metrics"]["train"]
    before, after = original.metrics["models"]["fused"]["sets"], permuted.metrics["models"]["fused"]["sets"]
    assert before["train"] == after["train"]
    assert before["test"]["auc"]["auc"] != after["test"]["auc"]["auc"]


def test_a_table_without_provenance_needs_the_parameter_file_and_refuses_deep_kinds(tmp_path):
    columns, rows = synthetic_rows()
    # As exported elsewhere: text columns (image paths, pyradiomics diagnostics) are not features.
    columns += ["Image", "diagnostics_Versions_PyRadiomics", "notes"]
    rows = [[*r, f"/data/ct{i}.nrrd", "3.1.4", ""] for i, r in enumerate(rows)]
    table_path = write_table(tmp_path, columns, rows, provenance=False)
    with pytest.raises(InputError, match=r"--radiomics-params"):
        read_feature_table(table_path)
    params = tmp_path / "my_params.yaml"
    shutil.copyfile(default_params_path(), params)
    table = read_feature_table(table_path, radiomics_params=params)
    assert table.ignored_columns == ["Image", "diagnostics_Versions_PyRadiomics", "notes"]
    import radiomics

    assert table.identity == {
        "pyradiomics_version": radiomics.__version__,
        "radiomics_params_sha256": params_sha256(),
        "radiomics_grid": "acquisition-lps",
    }
    for kinds in (["deep"], ["radiomics", "fused"]):
        with pytest.raises(InputError, match=r"extract-cohort") as error:
            train_models(table, tmp_path / "out", kinds=kinds, config=TINY_CONFIG)
        assert str(table_path) in str(error.value) and "--kinds radiomics" in str(error.value)
    assert not (tmp_path / "out").exists()

    result = train_models(table, tmp_path / "out", kinds=["radiomics"], config=TINY_CONFIG)
    card = load_bundle(result.bundles["radiomics"]).card
    assert card["extractor"] == table.identity
    assert card["extra"]["radiomics_params"] == {"file": "my_params.yaml", "sha256": params_sha256()}
    assert (result.bundles["radiomics"] / "my_params.yaml").read_bytes() == params.read_bytes()
    assert card["training_features"] == list(RADIOMICS_COLUMNS)
    assert result.metrics["comparisons"] == {"train": [], "test": []}


def test_a_parameter_file_must_match_the_recorded_hash(tmp_path):
    table_path = write_table(tmp_path, *synthetic_rows())
    other = tmp_path / "other.yaml"
    other.write_text(default_params_path().read_text() + "\n# changed\n")
    with pytest.raises(InputError, match=r"not the one the features were computed with"):
        read_feature_table(table_path, radiomics_params=other)


def test_features_of_version_0_1_are_refused_with_what_to_do(tmp_path):
    """0.1 tables lack the radiomics grid: their tilted cases' radiomics differ from this version's."""
    table_path = write_table(tmp_path, *synthetic_rows())
    provenance_path = table_path.parent / PROVENANCE_FILE
    provenance = json.loads(provenance_path.read_text())
    del provenance["extractor_identity"]["radiomics_grid"]
    provenance_path.write_text(json.dumps(provenance))
    table = read_feature_table(table_path)
    with pytest.raises(InputError, match=r"lacks \['radiomics_grid'\].*re-run extract-cohort") as error:
        train_models(table, tmp_path / "out", kinds=["radiomics"], config=TINY_CONFIG)
    assert str(table_path) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_split_is_drawn_stratified_and_seeded_without_a_split_column(tmp_path):
    columns, rows = synthetic_rows()
    keep = [i for i, c in enumerate(columns) if c != "split"]
    table = read_feature_table(
        write_table(tmp_path, [columns[i] for i in keep], [[r[i] for i in keep] for r in rows])
    )
    sets, info = training_sets(table, seed=5)
    again, _ = training_sets(table, seed=5)
    other, _ = training_sets(table, seed=6)
    assert info == {"source": "stratified", "seed": 5, "test_fraction": 0.2, "n_train": 120, "n_test": 30}
    assert np.array_equal(sets["test"], again["test"]) and not np.array_equal(sets["test"], other["test"])
    assert not np.any(sets["train"] & sets["test"]) and np.all(sets["train"] | sets["test"])
    positives = table.labels.sum()
    assert abs(table.labels[sets["test"]].sum() - 0.2 * positives) <= 1


def test_evaluate_reproduces_the_test_numbers_and_checks_the_identity(run, tmp_path, capsys):
    table_path, result = run
    folders = [str(result.bundles[k]) for k in KINDS]
    code = main(
        ["evaluate", "--models", *folders, "--features", str(table_path), "--out", str(tmp_path / "eval")]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert list(metrics["cohort"]["sets"]) == ["test"]
    for kind in KINDS:
        assert_same_numbers(
            metrics["models"][kind]["sets"]["test"], result.metrics["models"][kind]["sets"]["test"]
        )
    assert_same_numbers(metrics["comparisons"]["test"], result.metrics["comparisons"]["test"])
    assert (tmp_path / "eval" / "report.html").is_file()

    provenance = json.loads((table_path.parent / PROVENANCE_FILE).read_text())
    provenance["extractor_identity"]["backbone_id"] = "imagenet1k_v2"
    changed = tmp_path / "changed_provenance.json"
    changed.write_text(json.dumps(provenance))
    table = read_feature_table(table_path, provenance_path=changed)
    with pytest.raises(ModelError, match=r"backbone_id.*imagenet1k_v2.*random:0"):
        evaluate_models([result.bundles["fused"]], table, tmp_path / "eval2")
    load_bundle(result.bundles["radiomics"]).check_extractor(table.identity)  # uses no deep features


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ("drop_label", "label", r"no label column 'label'"),
        ("label_2", "label", r"must hold 0 \(no expansion\) or 1"),
        ("one_class", "label", r"only class\(es\) \[0\] among the 120 train rows"),
        ("bad_split", "split", r"must hold 'train' or 'test', found \['validation'\]"),
        ("text_value", RADIOMICS_COLUMNS[2], r"non-numeric value 'high' for case 'case009'"),
        ("missing_value", RADIOMICS_COLUMNS[3], r"missing or non-finite value for case 'case011'"),
        ("negative_volume", "baseline_volume_ml", r"-3.5 for case 'case013'.*finite number >= 0"),
    ],
)
def test_bad_tables_exit_2_with_a_one_line_error_naming_file_and_column(
    tmp_path, capsys, change, column, message
):
    columns, rows = synthetic_rows()
    label, split = columns.index("label"), columns.index("split")
    if change == "drop_label":
        columns = [c for c in columns if c != "label"]
        rows = [[v for j, v in enumerate(r) if j != label] for r in rows]
    for i, row in enumerate(rows):
        if change == "label_2" and i == 7:
            row[label] = 2
        if change == "one_class" and row[split] == "train":
            row[label] = 0
        if change == "bad_split" and i == 3:
            row[split] = "validation"
        if change == "text_value" and i == 9:
            row[columns.index(column)] = "high"
        if change == "missing_value" and i == 11:
            row[columns.index(column)] = ""
        if change == "negative_volume" and i == 13:
            row[columns.index(column)] = -3.5
    table_path = write_table(tmp_path, columns, rows)
    code = main(["train", str(table_path), "--out", str(tmp_path / "out"), "--kinds", "radiomics"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert str(table_path) in err and repr(column) in err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_cli_refuses_unknown_kinds_and_missing_provenance(tmp_path, capsys):
    table_path = write_table(tmp_path, *synthetic_rows(), provenance=False)
    assert main(["train", str(table_path), "--out", str(tmp_path / "out")]) == 2
    assert "--radiomics-params" in capsys.readouterr().err
    params = str(default_params_path())
    args = ["train", str(table_path), "--out", str(tmp_path / "out"), "--radiomics-params", params]
    assert main(args) == 2
    assert "extract-cohort" in capsys.readouterr().err
    assert main([*args, "--kinds", "radiomics,cnn"]) == 2
    assert "'cnn'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_train_applies_the_options_with_the_default_grids(tmp_path, capsys):
    columns, rows = synthetic_rows()
    table_path = write_table(tmp_path / "table", columns, rows)
    out = tmp_path / "out"
    code = main(
        [
            "train",
            str(table_path),
            "--out",
            str(out),
            "--kinds",
            "radiomics",
            "--seed",
            "7",
            "--lambda-rule",
            "min",
            "--no-correlation-prune",
            "--model-id-prefix",
            "site-a",
            "--ceiling-auc",
            "0.88",
            "--intended-use",
            "Synthetic test data.",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    card = load_bundle(out / "site-a-radiomics").card
    config = card["training_config"]
    assert (config["seed"], config["lambda_rule"], config["correlation_prune"]) == (7, "min", False)
    assert config["univariate_filter"] and config["n_lambdas"] == 100
    assert card["lasso"]["lambda_index"] == card["lasso"]["index_min"]
    assert card["metrics"]["ceiling_auc"] == 0.88
    assert "ceiling AUC (true probabilities): 0.880" in printed and "site-a-radiomics" in printed
    assert (out / "site-a-radiomics" / ARRAYS_FILE).is_file() and (out / "report.html").is_file()
    (summary,) = [m for m in available_models([out]) if m.folder.parent == out]
    assert summary.intended_use == "Synthetic test data."
    assert summary.test_auc == card["metrics"]["test"]["auc"]["auc"] and summary.n_train == 120


def _repeat_training_rows(rows: list[list], count: int, new_ids: bool) -> list[list]:
    """Copies of the first ``count`` training rows appended as test rows (same values and labels)."""
    copies = [list(r) for r in rows if r[1] == "train"][:count]
    for i, copy in enumerate(copies):
        copy[1] = "test"
        if new_ids:
            copy[0] = f"copy{i}"
    return rows + copies


def test_duplicate_case_ids_are_refused_by_read_train_and_evaluate(run, tmp_path, capsys):
    """Test rows that repeat training cases (same ID, same values) would inflate the test AUC."""
    columns, rows = synthetic_rows()
    rows = _repeat_training_rows(rows, 2, new_ids=False)
    first, second = rows[-2][0], rows[-1][0]
    lines = {r[0]: [i + 2 for i, s in enumerate(rows) if s[0] == r[0]] for r in rows[-2:]}
    assert lines[first][1] == len(rows) and len(lines[first]) == 2  # the CSV lines of each repeat
    table_path = write_table(tmp_path / "table", columns, rows)
    with pytest.raises(InputError) as error:
        read_feature_table(table_path)
    message = str(error.value)
    assert str(table_path) in message and "case_id" in message
    for case in (first, second):
        assert f"{case!r} (lines {lines[case][0]} and {lines[case][1]})" in message, message
    assert "remove" in message

    _, trained = run
    out = tmp_path / "out"
    bundle = str(trained.bundles["radiomics"])
    commands = [
        ["train", str(table_path), "--out", str(out), "--kinds", "radiomics"],
        ["evaluate", "--models", bundle, "--features", str(table_path), "--out", str(out)],
    ]
    for command in commands:
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and repr(first) in err
        assert not out.exists()


def test_identical_feature_rows_across_the_split_are_warned_in_metrics_report_and_output(run, tmp_path):
    """Feature values of a training case under another ID in the test set: recorded, shown and printed."""
    columns, rows = synthetic_rows()
    rows = _repeat_training_rows(rows, 3, new_ids=True)
    radiomics, deep = columns.index(RADIOMICS_COLUMNS[0]), columns.index(DEEP_COLUMNS[0])
    rows[-2][deep] = repr(float(rows[-2][deep]) + 1e-6)  # copy1: the same radiomics only
    rows[-1][0] = "near"  # one radiomics and one deep value differ: not the same case
    rows[-1][radiomics], rows[-1][deep] = (repr(float(rows[-1][j]) + 1e-6) for j in (radiomics, deep))
    originals = [r[0] for r in rows if r[1] == "train"][:2]
    table_path = write_table(tmp_path / "table", columns, rows)
    table = read_feature_table(table_path)
    result = train_models(table, tmp_path / "out", kinds=["radiomics", "deep"], config=TINY_CONFIG)

    metrics = json.loads(result.paths["metrics"].read_text())
    assert metrics["identical_feature_rows"] == [
        {"test_case_id": "copy0", "train_case_ids": [originals[0]], "feature_groups": ["radiomics", "deep"]},
        {"test_case_id": "copy1", "train_case_ids": [originals[1]], "feature_groups": ["radiomics"]},
    ]
    (warning,) = metrics["warnings"]
    assert all(f"{c!r}" in warning for c in ("copy0", "copy1", *originals))
    assert "'near'" not in warning and "leak" in warning
    report = result.paths["report"].read_text(encoding="utf-8")
    assert html_escape(warning) in report
    assert f"warning: {warning}" in result.lines()

    _, clean = run
    assert clean.metrics["warnings"] == [] and clean.metrics["identical_feature_rows"] == []
    assert not any(line.startswith("warning:") for line in clean.lines())


def test_cards_record_the_baseline_volume_range_of_the_training_rows(run, tmp_path):
    table_path, result = run
    volumes = [float(r["baseline_volume_ml"]) for r in read_rows(table_path) if r["split"] == "train"]
    test_volumes = [float(r["baseline_volume_ml"]) for r in read_rows(table_path) if r["split"] == "test"]
    every = volumes + test_volumes
    assert (min(every), max(every), np.median(every)) != (min(volumes), max(volumes), np.median(volumes))
    expected = {"min": min(volumes), "max": max(volumes), "median": float(np.median(volumes))}
    for kind in KINDS:
        recorded = load_bundle(result.bundles[kind]).card["training_cohort"]["baseline_volume_ml"]
        assert recorded == pytest.approx(expected, rel=1e-12)
    assert "baseline_volume_ml" not in result.metrics["cohort"]

    columns, rows = synthetic_rows()
    keep = [i for i, c in enumerate(columns) if c != "baseline_volume_ml"]
    table_path = write_table(tmp_path, [columns[i] for i in keep], [[r[i] for i in keep] for r in rows])
    result = train_models(
        read_feature_table(table_path), tmp_path / "out", kinds=["radiomics"], config=TINY_CONFIG
    )
    assert "baseline_volume_ml" not in load_bundle(result.bundles["radiomics"]).card["training_cohort"]
