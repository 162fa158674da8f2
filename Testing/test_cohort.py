"""Cohort manifest, expansion labels, stratified split, and the extract-cohort feature table."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from cohort_fixtures import file_hashes, mask_volume_ml, small_phantom, write_manifest, write_small_case
from HematomaExpansionLib.cli import main
from HematomaExpansionLib.cohort.labels import ExpansionDefinition, assign_split
from HematomaExpansionLib.cohort.manifest import read_manifest
from HematomaExpansionLib.common.errors import InputError
from HematomaExpansionLib.features.deep_slices import DeepSliceConfig
from HematomaExpansionLib.features.pipeline import ExtractionConfig
from HematomaExpansionLib.mrml.cohort_jobs import extract_cohort
from HematomaExpansionLib.synthetic import write_segmentation_nrrd

RADIOMICS = ("original_shape_VoxelVolume", "original_firstorder_Mean", "original_glcm_Contrast")
CONFIG = ExtractionConfig(families=("radiomics",), feature_names=RADIOMICS)
TABLE_START = ["case_id", "split", "label", "baseline_volume_ml", "followup_volume_ml"]


# --------------------------------------------------------------------------- manifest


@pytest.fixture
def files(tmp_path) -> Path:
    """A folder with placeholder input files (the manifest only checks that they exist)."""
    for name in ("a_ct.nrrd", "a_seg.seg.nrrd", "b_ct.nrrd", "b_seg.seg.nrrd", "b_fu.seg.nrrd"):
        (tmp_path / name).write_text(name)
    (tmp_path / "dicom").mkdir()
    return tmp_path


def test_manifest_columns_paths_and_metadata(files):
    other = files.parent / f"{files.name}_elsewhere.nrrd"
    other.write_text("x")
    manifest = write_manifest(
        files / "cohort.csv",
        [
            "case_id",
            "ct",
            "hematoma",
            "segment",
            "label",
            "followup_hematoma",
            "followup_volume_ml",
            "split",
            "site",
        ],
        [
            ["a", "a_ct.nrrd", "a_seg.seg.nrrd", "", "1", "", "", "Train", "north"],
            [" b ", str(other), "b_seg.seg.nrrd", "ICH", "", "b_fu.seg.nrrd", "", "test", "south"],
            ["c", "dicom", "a_seg.seg.nrrd", "2", "", "", "12.5", "train", ""],
        ],
    )
    a, b, c = read_manifest(manifest, require_labels=True)
    assert (a.case_id, a.ct, a.hematoma, a.segment, a.label, a.split) == (
        "a",
        files / "a_ct.nrrd",
        files / "a_seg.seg.nrrd",
        None,
        1,
        "train",
    )
    assert (a.followup_hematoma, a.followup_volume_ml, a.line, a.metadata) == (
        None,
        None,
        2,
        {"site": "north"},
    )
    assert (b.case_id, b.ct, b.segment, b.label, b.followup_hematoma) == (
        "b",
        other,
        "ICH",
        None,
        files / "b_fu.seg.nrrd",
    )
    assert b.input_files() == {
        "ct": other,
        "hematoma": files / "b_seg.seg.nrrd",
        "followup_hematoma": files / "b_fu.seg.nrrd",
    }
    assert (c.ct, c.followup_volume_ml, c.segment, c.line) == (files / "dicom", 12.5, "2", 4)
    assert c.key_fields() == {"segment": "2"}


GOOD = ["a", "a_ct.nrrd", "a_seg.seg.nrrd"]


@pytest.mark.parametrize(
    ("columns", "rows", "message"),
    [
        (["case_id", "ct"], [["a", "a_ct.nrrd"]], r"line 1: missing required column\(s\) 'hematoma'"),
        (
            ["case_id", "ct", "hematoma"],
            [GOOD, ["b", "b_ct.nrrd", "b_seg.seg.nrrd"], GOOD],
            r"line 4, column 'case_id': duplicate case_id 'a' \(first on line 2",
        ),
        (
            ["case_id", "ct", "hematoma"],
            [GOOD, ["A", "b_ct.nrrd", "b_seg.seg.nrrd"]],
            r"line 3, column 'case_id': duplicate case_id 'A'",
        ),
        (
            ["case_id", "ct", "hematoma"],
            [["a/b", "a_ct.nrrd", "a_seg.seg.nrrd"]],
            r"line 2, column 'case_id': 'a/b' is not a valid case ID",
        ),
        (
            ["case_id", "ct", "hematoma"],
            [GOOD, ["b", "missing_ct.nrrd", "b_seg.seg.nrrd"]],
            r"line 3, column 'ct': file not found: .*missing_ct.nrrd",
        ),
        (
            ["case_id", "ct", "hematoma"],
            [["b", "b_ct.nrrd", "dicom"]],
            r"line 2, column 'hematoma': file not found",
        ),
        (["case_id", "ct", "hematoma"], [["b", "", "b_seg.seg.nrrd"]], r"line 2, column 'ct': is empty"),
        (
            ["case_id", "ct", "hematoma", "label"],
            [[*GOOD, "yes"]],
            r"line 2, column 'label': must be 0 \(no expansion\) or 1 \(expansion\), not 'yes'",
        ),
        (
            ["case_id", "ct", "hematoma", "split"],
            [[*GOOD, "validation"]],
            r"line 2, column 'split': must be 'train' or 'test', not 'validation'",
        ),
        (
            ["case_id", "ct", "hematoma", "split"],
            [[*GOOD, ""]],
            r"line 2, column 'split': must be 'train' or 'test'",
        ),
        (
            ["case_id", "ct", "hematoma", "followup_volume_ml"],
            [[*GOOD, "-3"]],
            r"line 2, column 'followup_volume_ml': must be a volume in mL >= 0, not '-3'",
        ),
        (
            ["case_id", "ct", "hematoma", "followup_hematoma", "followup_volume_ml"],
            [[*GOOD, "b_fu.seg.nrrd", "9"]],
            r"line 2, column 'followup_volume_ml': give either followup_hematoma or followup_volume_ml",
        ),
        (
            ["case_id", "ct", "hematoma", "label"],
            [[*GOOD, "1"], ["b", "b_ct.nrrd", "b_seg.seg.nrrd", ""]],
            r"line 3, column 'label': is empty and no follow-up is given",
        ),
        (["case_id", "ct", "hematoma"], [], r"lists no cases"),
    ],
)
def test_manifest_errors_name_manifest_line_and_column(files, columns, rows, message):
    manifest = write_manifest(files / "bad.csv", columns, rows)
    with pytest.raises(InputError, match=message) as caught:
        read_manifest(manifest, require_labels="label" in columns)
    assert str(manifest) in str(caught.value)


def test_labels_are_needed_only_when_asked(files):
    manifest = write_manifest(files / "m.csv", ["case_id", "ct", "hematoma"], [GOOD])
    assert read_manifest(manifest)[0].label is None
    with pytest.raises(InputError, match="no follow-up is given"):
        read_manifest(manifest, require_labels=True)
    with pytest.raises(InputError, match="manifest not found"):
        read_manifest(files / "nothing.csv")


# --------------------------------------------------------------------------- labels and split


@pytest.mark.parametrize(
    ("baseline_ml", "followup_ml", "default", "alternative"),
    [
        (40.0, 46.0, 1, 0),  # +6 mL exactly (15%): absolute threshold of 6 mL
        (40.0, 45.99, 0, 0),
        (15.0, 19.95, 1, 1),  # +33% exactly (4.95 mL): relative threshold of 33%
        (15.0, 19.94, 0, 1),
        (60.0, 72.5, 1, 1),  # +12.5 mL exactly (21%): absolute threshold of 12.5 mL
        (60.0, 72.49, 1, 0),
        (5.0, 6.3, 0, 1),  # +26% exactly (1.3 mL): relative threshold of 26%
        (5.0, 6.29, 0, 0),
        (12.0, 9.0, 0, 0),  # shrinkage
        (12.0, 0.0, 0, 0),
    ],
)
def test_expansion_label_by_absolute_or_relative_growth(baseline_ml, followup_ml, default, alternative):
    assert ExpansionDefinition().label(baseline_ml, followup_ml) == default
    assert ExpansionDefinition.parse("12.5ml/26%").label(baseline_ml, followup_ml) == alternative


def test_expansion_definition_parse_describe_and_errors():
    assert ExpansionDefinition.parse("6ml/33%") == ExpansionDefinition(6.0, 0.33)
    assert ExpansionDefinition.parse(" 12.5 mL / 26 % ") == ExpansionDefinition(12.5, 0.26)
    assert ExpansionDefinition().as_dict() == {
        "absolute_ml": 6.0,
        "relative": 0.33,
        "rule": "absolute growth >= 6 mL or relative growth >= 33%",
    }
    for text in ("6/33", "6ml", "33%/6ml", "six ml/33%"):
        with pytest.raises(InputError, match="not of the form '6ml/33%'"):
            ExpansionDefinition.parse(text)
    with pytest.raises(InputError, match="must be a number > 0"):
        ExpansionDefinition(absolute_ml=0.0)
    with pytest.raises(InputError, match="baseline hematoma volume must be > 0"):
        ExpansionDefinition().label(0.0, 5.0)
    with pytest.raises(InputError, match="follow-up hematoma volume must be >= 0"):
        ExpansionDefinition().label(5.0, math.nan)


def test_split_is_stratified_and_reproducible_by_seed():
    labels = [1] * 30 + [0] * 70
    split = assign_split(labels, seed=7)
    assert split == assign_split(labels, seed=7)
    assert split != assign_split(labels, seed=8)
    test_labels = Counter(label for label, s in zip(labels, split, strict=True) if s == "test")
    assert test_labels == {1: 6, 0: 14}
    assert Counter(assign_split(labels, seed=7, test_fraction=0.3)) == {"train": 70, "test": 30}
    with pytest.raises(InputError, match=r"at least 2 cases of each label, found \{0: 4, 1: 1\}"):
        assign_split([0, 0, 0, 0, 1])
    with pytest.raises(InputError, match="cannot split 5 cases"):
        assign_split([0, 0, 0, 1, 1], test_fraction=0.2)  # 1 test case cannot hold both labels
    with pytest.raises(InputError, match="between 0 and 1"):
        assign_split([0, 1, 0, 1], test_fraction=1.0)


# --------------------------------------------------------------------------- extraction


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    """Five small cases: follow-up volumes, a follow-up segmentation, and one given label."""
    folder = tmp_path_factory.mktemp("cohort")
    cases = {
        case_id: write_small_case(folder, case_id, volume_ml, seed)
        for case_id, volume_ml, seed in (
            ("c0", 4.0, 1),
            ("c1", 6.0, 2),
            ("c2", 5.0, 3),
            ("c3", 3.0, 4),
            ("c4", 8.0, 5),
        )
    }
    followup = small_phantom(9.0, seed=6)
    write_segmentation_nrrd(followup.mask, folder / "c3_followup.seg.nrrd")
    base = {case_id: case["volume_ml"] for case_id, case in cases.items()}
    rows = [
        ["c0", "c0_ct.nrrd", "c0_hematoma.seg.nrrd", "", "", round(base["c0"] + 10.0, 3)],  # +10 mL
        ["c1", "c1_ct.nrrd", "c1_hematoma.seg.nrrd", "", "", round(base["c1"] + 0.5, 3)],  # +0.5 mL, 8%
        ["c2", "c2_ct.nrrd", "c2_hematoma.seg.nrrd", "1", "", round(base["c2"], 3)],  # label given
        ["c3", "c3_ct.nrrd", "c3_hematoma.seg.nrrd", "", "c3_followup.seg.nrrd", ""],  # 3 -> 9 mL
        ["c4", "c4_ct.nrrd", "c4_hematoma.seg.nrrd", "", "", round(base["c4"] * 1.3, 3)],  # +30%, 2.4 mL
    ]
    columns = ["case_id", "ct", "hematoma", "label", "followup_hematoma", "followup_volume_ml"]
    manifest = write_manifest(folder / "manifest.csv", columns, rows)
    return {
        "folder": folder,
        "manifest": manifest,
        "baseline_ml": base,
        "followup_ml": {
            "c0": rows[0][5],
            "c1": rows[1][5],
            "c2": rows[2][5],
            "c3": mask_volume_ml(followup.mask),
            "c4": rows[4][5],
        },
        "labels": {"c0": 1, "c1": 0, "c2": 1, "c3": 1, "c4": 0},
        "rows": rows,
        "columns": columns,
    }


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open() as stream:
        reader = csv.DictReader(stream)
        return list(reader.fieldnames or []), list(reader)


def test_extract_cohort_writes_the_labelled_split_table_and_leaves_inputs_alone(cohort, tmp_path):
    before = file_hashes(cohort["folder"])
    out = tmp_path / "out"
    result = extract_cohort(cohort["manifest"], out, CONFIG, split_seed=3, test_fraction=0.4, progress=False)
    assert file_hashes(cohort["folder"]) == before

    columns, rows = read_table(out / "features.csv")
    assert columns == [*TABLE_START, *RADIOMICS]
    assert [r["case_id"] for r in rows] == ["c0", "c1", "c2", "c3", "c4"]
    for row in rows:
        case_id = row["case_id"]
        assert int(row["label"]) == cohort["labels"][case_id]
        assert float(row["baseline_volume_ml"]) == pytest.approx(cohort["baseline_ml"][case_id], rel=1e-9)
        assert float(row["followup_volume_ml"]) == pytest.approx(cohort["followup_ml"][case_id], rel=1e-9)
        voxel_ml = float(row["original_shape_VoxelVolume"]) / 1000.0  # pyradiomics, at 1 mm resampling
        assert voxel_ml == pytest.approx(cohort["baseline_ml"][case_id], rel=0.1)
    split = {r["case_id"]: r["split"] for r in rows}
    assert Counter(split.values()) == {"train": 3, "test": 2}
    assert sorted(cohort["labels"][c] for c, s in split.items() if s == "test") == [0, 1]
    assert [split[c] for c in ("c0", "c1", "c2", "c3", "c4")] == assign_split([1, 0, 1, 1, 0], 3, 0.4)
    assert (out / "errors.csv").read_text() == "case_id,error_type,message\n"

    provenance = json.loads((out / "features_provenance.json").read_text())
    assert provenance["manifest"] == str(cohort["manifest"].resolve())
    assert provenance["manifest_sha256"] == before["manifest.csv"]
    assert provenance["expansion_definition"]["rule"] == "absolute growth >= 6 mL or relative growth >= 33%"
    assert provenance["split"] == {
        "source": "stratified",
        "seed": 3,
        "test_fraction": 0.4,
        "n_train": 3,
        "n_test": 2,
    }
    assert provenance["labels"] == {"n_from_manifest": 1, "n_from_followup": 4, "n_positive": 3}
    identity = provenance["extractor_identity"]
    assert len(identity["radiomics_params_sha256"]) == 64 and identity["pyradiomics_version"]
    assert (provenance["n_cases"], provenance["n_extracted"], provenance["n_failed"]) == (5, 5, 0)
    assert result.run.n_computed == 5

    # Another definition and a split column relabel and resplit without extracting again.
    split_manifest = write_manifest(
        cohort["folder"] / "split.csv",
        [*cohort["columns"], "split"],
        [
            [*row, s]
            for row, s in zip(cohort["rows"], ["test", "train", "train", "train", "test"], strict=True)
        ],
    )
    again = extract_cohort(split_manifest, out, CONFIG, ExpansionDefinition(12.5, 0.26), progress=False)
    assert (again.run.n_computed, again.run.n_cached) == (0, 5)
    _, rows = read_table(out / "features.csv")
    assert [int(r["label"]) for r in rows] == [1, 0, 1, 1, 1]  # c4: +30% >= 26%
    assert [r["split"] for r in rows] == ["test", "train", "train", "train", "test"]
    assert json.loads((out / "features_provenance.json").read_text())["split"]["source"] == "manifest"

    # Another extraction configuration recomputes every case.
    fewer = ExtractionConfig(families=("radiomics",), feature_names=RADIOMICS[:2])
    changed = extract_cohort(split_manifest, out, fewer, progress=False)
    assert (changed.run.n_computed, changed.run.n_cached) == (5, 0)
    assert read_table(out / "features.csv")[0] == [*TABLE_START, *RADIOMICS[:2]]


def test_jobs_2_gives_the_same_table_as_jobs_1(cohort, tmp_path):
    config = ExtractionConfig(
        families=("radiomics", "deep"),
        feature_names=(*RADIOMICS, "deep_resnet50_mean_0000", "deep_resnet50_mean_2047"),
        backbone_weights="random:0",
        device="cpu",
        deep=DeepSliceConfig(offsets_mm=(-1.0, 0.0, 1.0), size_px=64),
    )
    labelled = write_manifest(
        cohort["folder"] / "three.csv",
        ["case_id", "ct", "hematoma", "label", "split"],
        [
            [c, f"{c}_ct.nrrd", f"{c}_hematoma.seg.nrrd", label, s]
            for c, label, s in (("c0", 1, "train"), ("c1", 0, "train"), ("c4", 0, "test"))
        ],
    )
    # Workers on 2 cores run torch with 1 thread, the serial run with all of them (issue 16: in
    # float32 the deep features differed by 1e-7; in float64 they are bit-identical).
    serial = extract_cohort(labelled, tmp_path / "serial", config, jobs=1, progress=False)
    parallel = extract_cohort(labelled, tmp_path / "parallel", config, jobs=2, progress=False)
    assert parallel.run.n_computed == 3 and not parallel.failures
    assert (tmp_path / "parallel" / "features.csv").read_text() == (
        tmp_path / "serial" / "features.csv"
    ).read_text()
    assert parallel.provenance["extractor_identity"] == serial.provenance["extractor_identity"]
    assert parallel.provenance["extractor_identity"]["backbone_id"] == "random:0"


def test_cli_lists_a_failing_case_and_finishes_the_others(cohort, tmp_path, capsys):
    broken = cohort["folder"] / "broken.seg.nrrd"
    broken.write_text("not a segmentation")
    manifest = write_manifest(
        cohort["folder"] / "with_broken.csv",
        cohort["columns"],
        [*cohort["rows"], ["c5", "c0_ct.nrrd", "broken.seg.nrrd", "1", "", ""]],
    )
    out = tmp_path / "out"
    args = [
        "extract-cohort",
        str(manifest),
        "--out",
        str(out),
        "--families",
        "radiomics",
        "--test-fraction",
        "0.4",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "6 cases: 5 extracted (5 computed, 0 cached), 1 failed" in printed
    assert "labels: 3 of 5 positive" in printed and "split: 3 train, 2 test (stratified, seed 42)" in printed
    columns, rows = read_table(out / "features.csv")
    assert columns[:5] == TABLE_START and len(columns) == 5 + 1118
    assert [r["case_id"] for r in rows] == ["c0", "c1", "c2", "c3", "c4"]
    with (out / "errors.csv").open() as stream:
        errors = list(csv.DictReader(stream))
    assert [(e["case_id"], e["error_type"]) for e in errors] == [("c5", "InputError")]
    assert "broken.seg.nrrd" in errors[0]["message"]

    assert main(args) == 0  # rerun: only the failing case is tried again
    assert "5 extracted (0 computed, 5 cached), 1 failed" in capsys.readouterr().out

    assert main([*args, "--strict"]) == 2
    assert "error: case 'c5':" in capsys.readouterr().err


def test_cli_bad_manifest_exits_2_with_one_line(cohort, tmp_path, capsys):
    manifest = write_manifest(tmp_path / "m.csv", ["case_id", "ct"], [["c0", "x.nrrd"]])
    assert main(["extract-cohort", str(manifest), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: manifest ") and "missing required column(s) 'hematoma'" in err
    assert err.count("\n") == 1
    assert (
        main(["extract-cohort", str(cohort["manifest"]), "--out", str(tmp_path), "--expansion", "6/33"]) == 2
    )
