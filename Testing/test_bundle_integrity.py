"""Model bundle integrity: the sealed card, its JSON Schema, array headers checked before reading,
the predict-cohort cache key and the training-range warning (issue 16)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import HematomaExpansionLib
from bundle_fixtures import copy_bundle, independent_seal, read_card, replace_npz, write_card
from HematomaExpansionLib.cli import main
from HematomaExpansionLib.common.errors import ModelError
from HematomaExpansionLib.features.families import identity_keys
from HematomaExpansionLib.model.bundle import ModelBundle, load_bundle
from HematomaExpansionLib.model.bundle_writer import save_bundle
from HematomaExpansionLib.model.kinds import FAMILIES_BY_KIND

RADIOMICS_IDENTITY = {
    "pyradiomics_version": "3.1.4",
    "radiomics_params_sha256": "a" * 64,
    "radiomics_grid": "acquisition-lps",
}
PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "HematomaExpansion"
LIB_ROOT = Path(HematomaExpansionLib.__file__).resolve().parents[1]  # the package under test
SCHEMA_FILE = PACKAGE_ROOT / "Resources" / "Schemas" / "model_card.schema.json"
GIB = 2**30


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, fitted_synthetic) -> Path:
    _, model = fitted_synthetic
    folder = tmp_path_factory.mktemp("sealed") / "radiomics-test"
    save_bundle(model, folder, "radiomics-test", {"extractor": RADIOMICS_IDENTITY})
    return folder


def _swap_features(card):
    card["input_features"][0], card["input_features"][1] = (
        card["input_features"][1],
        card["input_features"][0],
    )


def _edit(path: str, value):
    def edit(card):
        *parents, last = path.split(".")
        target = card
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value(target[last]) if callable(value) else value

    return edit


CARD_EDITS = {
    "swapped feature names": _swap_features,
    "threshold 0.90": _edit("threshold.value", 0.90),
    "fold gamma": _edit("calibration.folds.0.gamma", lambda g: g * 2),
    "fold Platt a": _edit("calibration.folds.2.a", lambda a: a + 0.1),
    "extractor": _edit("extractor.radiomics_params_sha256", "b" * 64),
    "training cohort size": _edit("training_cohort.n", lambda n: n + 1),
}


def test_a_saved_card_is_sealed_with_the_digest_of_its_canonical_json(bundle_dir):
    card = read_card(bundle_dir)
    assert card["card_sha256"] == independent_seal(card)
    assert list(card)[-1] == "card_sha256"
    load_bundle(bundle_dir)


@pytest.mark.parametrize("edit", CARD_EDITS.values(), ids=CARD_EDITS.keys())
def test_an_edited_card_is_refused_naming_model_json_and_the_reseal_command(bundle_dir, tmp_path, edit):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    card = read_card(folder)
    edit(card)
    write_card(folder, card, reseal=False)
    with pytest.raises(ModelError, match=r"model\.json was changed after it was sealed") as error:
        load_bundle(folder)
    assert f"seal-model {folder}" in str(error.value) and "model.npz" not in str(error.value)


def test_a_changed_npz_under_an_intact_card_names_model_npz(bundle_dir, tmp_path):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    arrays = dict(np.load(folder / "model.npz"))
    arrays["fold0_dual_coef"] = -arrays["fold0_dual_coef"]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    replace_npz(folder, buffer.getvalue(), update_card=False)
    with pytest.raises(ModelError, match=r"model\.npz does not match its model card") as error:
        load_bundle(folder)
    assert "model.npz was changed" in str(error.value)


def test_seal_model_reseals_a_deliberate_edit_and_says_so(bundle_dir, tmp_path, capsys):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    card = read_card(folder)
    old_seal = card["card_sha256"]
    card["threshold"]["value"] = 0.9
    write_card(folder, card, reseal=False)
    with pytest.raises(ModelError, match="changed after it was sealed"):
        load_bundle(folder)

    assert main(["seal-model", str(folder)]) == 0
    resealed = read_card(folder)
    assert resealed["card_sha256"] == independent_seal(resealed) != old_seal
    assert {k: v for k, v in resealed.items() if k != "card_sha256"} == {
        k: v for k, v in card.items() if k != "card_sha256"
    }
    assert f"{old_seal} -> {resealed['card_sha256']}" in capsys.readouterr().out
    assert load_bundle(folder).threshold == 0.9

    before = (folder / "model.json").read_bytes()
    assert main(["seal-model", str(folder)]) == 0
    assert "sealed already" in capsys.readouterr().out and (folder / "model.json").read_bytes() == before


def test_seal_model_refuses_changed_arrays_and_cards_that_break_the_schema(bundle_dir, tmp_path, capsys):
    folder = copy_bundle(bundle_dir, tmp_path / "npz")
    (folder / "model.npz").write_bytes((folder / "model.npz").read_bytes() + b"\0")
    before = (folder / "model.json").read_bytes()
    assert main(["seal-model", str(folder)]) == 2
    assert "model.npz does not match" in capsys.readouterr().err
    assert (folder / "model.json").read_bytes() == before

    folder = copy_bundle(bundle_dir, tmp_path / "schema")
    card = read_card(folder)
    del card["calibration"]["folds"][1]["b"]
    write_card(folder, card, reseal=False)
    assert main(["seal-model", str(folder)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: ") and "$.calibration.folds[1]" in err and "'b' is a required property" in err
    )


def _delete(path: str):
    def edit(card):
        *parents, last = path.split(".")
        target = card
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        del target[last]

    return edit


SCHEMA_CASES = {
    "no model_id": (_delete("model_id"), r"at \$: 'model_id' is a required property"),
    "no extractor": (_delete("extractor"), r"at \$: 'extractor' is a required property"),
    "no threshold value": (_delete("threshold.value"), r"at \$\.threshold: 'value' is a required property"),
    "gamma a string": (
        _edit("calibration.folds.1.gamma", "0.1"),
        r"at \$\.calibration\.folds\[1\]\.gamma: '0\.1' is not of type 'number'",
    ),
    "unknown kind": (_edit("kind", "linear"), r"at \$\.kind: 'linear' is not one of"),
    "extractor key missing": (
        _delete("extractor.radiomics_params_sha256"),
        r"at \$\.extractor: 'radiomics_params_sha256' is a required property",
    ),
    "threshold above 1": (_edit("threshold.value", 1.5), r"at \$\.threshold\.value: 1\.5 is greater than"),
}


@pytest.mark.parametrize(("edit", "message"), SCHEMA_CASES.values(), ids=SCHEMA_CASES.keys())
def test_a_card_that_breaks_the_schema_is_refused_naming_the_field_and_the_file(
    bundle_dir, tmp_path, edit, message
):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    card = read_card(folder)
    edit(card)
    write_card(folder, card, reseal=True)  # sealed: the schema, not the seal, must catch it
    with pytest.raises(ModelError, match=message) as error:
        load_bundle(folder)
    assert str(folder / "model.json") in str(error.value)


def test_the_schema_requires_the_identity_keys_of_each_model_kind():
    schema = json.loads(SCHEMA_FILE.read_text())
    definitions = {"radiomics": "radiomics_extractor", "deep": "deep_extractor"}
    for kind, families in FAMILIES_BY_KIND.items():
        required = set()
        for rule in schema["allOf"]:
            if kind in rule["if"]["properties"]["kind"]["enum"]:
                reference = rule["then"]["properties"]["extractor"]["$ref"].rsplit("/", 1)[-1]
                required |= set(schema["$defs"][reference]["required"])
        # radiomics_grid may be absent (0.1 cards): extraction_config_for refuses those with what to do
        assert required == set(identity_keys(families)) - {"radiomics_grid"}, kind
    assert set(definitions.values()) <= set(schema["$defs"])
    assert set(schema["properties"]["kind"]["enum"]) == set(FAMILIES_BY_KIND)


def _npz_with(base: Path, big_name: str | None, big_shape: tuple[int, ...], data_bytes: int) -> bytes:
    """model.npz of ``base`` with member ``big_name`` replaced or added: a .npy header announcing
    ``big_shape`` float64 followed by ``data_bytes`` zero bytes, deflated (1 GiB -> about 1 MB)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(base) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out,
    ):
        for info in source.infolist():
            if info.filename != f"{big_name}.npy":
                out.writestr(info.filename, source.read(info))
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": big_shape}
        )
        with out.open(f"{big_name}.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            chunk = bytes(2**22)
            for _ in range(data_bytes // len(chunk)):
                member.write(chunk)
    return buffer.getvalue()


OVERSIZED = {
    # name, announced shape, listed in the card, expected message
    "unlisted": ("extra_zeros", (GIB // 8,), False, r"not in the card: \['extra_zeros'\]"),
    "listed": ("extra_zeros", (GIB // 8,), True, r"extra_zeros: listed \[\(134217728,\)\]"),
    "listed in place of a model array": (
        "lasso_path_coefs",
        (30, GIB // 240),
        True,
        r"lasso_path_coefs: listed \[\(30, 4473924\)\]",
    ),
    "header smaller than the data": ("lasso_cv_se", (10,), False, r"lasso_cv_se\.npy is 1073741\d+ bytes"),
}


@pytest.mark.parametrize(("name", "shape", "listed", "message"), OVERSIZED.values(), ids=OVERSIZED.keys())
def test_a_compressed_gigabyte_array_is_refused_from_the_headers_without_decompressing_it(
    bundle_dir, tmp_path, name, shape, listed, message
):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    card = read_card(folder)
    assert card["training_config"]["n_lambdas"] == 30  # the shapes above assume the fast config
    data = _npz_with(folder / "model.npz", name, shape, GIB)
    assert len(data) < 8 * 2**20
    replace_npz(
        folder, data, update_card=True, arrays={**card["arrays"], name: list(shape)} if listed else None
    )
    code = textwrap.dedent(
        f"""
        import resource, sys
        from HematomaExpansionLib.common.errors import ModelError
        from HematomaExpansionLib.model.bundle import load_bundle
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            load_bundle({str(folder)!r})
        except ModelError as error:
            print(str(error))
        else:
            print("loaded")
        print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=LIB_ROOT, capture_output=True, text=True, check=True
    )
    *message_lines, rss = result.stdout.strip().splitlines()
    before_kib, after_kib = map(int, rss.split())
    assert after_kib - before_kib < 64 * 1024, f"peak RSS grew by {(after_kib - before_kib) / 1024:.0f} MiB"
    assert message_lines and message_lines[0] != "loaded"
    assert re.search(message, message_lines[0]), message_lines[0]


def _npz_replacing(folder: Path, name: str, change) -> bytes:
    arrays = dict(np.load(folder / "model.npz"))
    changed = change(arrays.get(name))
    if changed is None:
        del arrays[name]
    else:
        arrays[name] = changed
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


MEMBER_CASES = {
    "float32": ("zscore_mean", lambda a: a.astype(np.float32), r"zscore_mean is float32 of shape"),
    "fortran order": (
        "fold0_support_vectors",
        np.asfortranarray,
        r"fold0_support_vectors is float64 \(Fortran order\)",
    ),
    "missing": ("lasso_cv_se", lambda a: None, r"missing: \['lasso_cv_se'\]"),
    "extra": ("notes", lambda a: np.zeros(3), r"not in the card: \['notes'\]"),
    "object": ("zscore_sd", lambda a: np.array([object()] * len(a)), r"not a plain numpy archive.*zscore_sd"),
}


@pytest.mark.parametrize(("name", "change", "message"), MEMBER_CASES.values(), ids=MEMBER_CASES.keys())
def test_array_dtypes_memory_order_and_members_must_match_the_card(
    bundle_dir, tmp_path, name, change, message
):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    replace_npz(folder, _npz_replacing(folder, name, change), update_card=True)
    with pytest.raises(ModelError, match=message):
        load_bundle(folder)


def test_support_vector_counts_must_fit_the_training_cohort(bundle_dir, tmp_path):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    card = read_card(folder)
    n = card["training_cohort"]["n"]
    card["arrays"]["fold0_dual_coef"] = [n + 1]
    card["arrays"]["fold0_support_vectors"] = [n + 1, len(card["input_features"])]
    write_card(folder, card, reseal=True)
    with pytest.raises(ModelError, match=f"fold 0 lists {n + 1} support vectors"):
        load_bundle(folder)


def test_a_volume_outside_the_training_range_is_an_extrapolation_warning():
    from HematomaExpansionLib.model.prediction import training_range_warnings

    card = {"model_id": "m", "training_cohort": {"baseline_volume_ml": {"min": 2.0, "max": 80.0}}}
    bundle = ModelBundle(card, {}, Path("m"))
    (large,) = training_range_warnings(bundle, 300.0)
    assert large == (
        "the hematoma volume 300.0 mL is outside the 2.0-80.0 mL range of model 'm''s training cohort; "
        "the prediction is an extrapolation"
    )
    assert "1.0 mL is outside" in training_range_warnings(bundle, 1.0)[0]
    assert training_range_warnings(bundle, 20.0) == [] == training_range_warnings(bundle, 80.0)
    unknown = ModelBundle({"model_id": "m", "training_cohort": {"n": 3}}, {}, Path("m"))
    assert training_range_warnings(unknown, 300.0) == []


def test_predict_cohort_recomputes_cases_after_a_resealed_threshold_edit(tmp_path, capsys):
    from cohort_fixtures import small_phantom, write_manifest, write_small_case
    from HematomaExpansionLib.features.pipeline import ExtractionConfig, extract_features
    from HematomaExpansionLib.mrml.cohort_jobs import predict_cohort
    from prediction_fixtures import train_test_bundle

    names = ["original_shape_Sphericity", "original_firstorder_Mean", "deep_resnet50_mean_0007"]
    rows = []
    for index, (volume_ml, seed) in enumerate([(8.0, 1), (14.0, 2)]):
        case = write_small_case(tmp_path, f"case{index}", volume_ml, seed)
        rows.append([f"case{index}", case["ct"].name, case["hematoma"].name])
    manifest = write_manifest(tmp_path / "manifest.csv", ["case_id", "ct", "hematoma"], rows)
    phantom = small_phantom(14.0, 2)
    config = ExtractionConfig.for_features(names, backbone_weights="random:0", device="cpu")
    features = extract_features(phantom.ct, phantom.mask, config).feature_set
    bundle, _ = train_test_bundle(tmp_path / "test-fused", features, names)

    out = tmp_path / "out"
    first = predict_cohort(manifest, out, bundle, device="cpu", progress=False)
    assert first.run.n_computed == 2
    categories = [row[2] for row in first.rows]
    card = read_card(bundle.folder)
    card["threshold"]["value"] = 0.0 if "low" in categories else 1.0
    write_card(bundle.folder, card, reseal=False)
    assert main(["seal-model", str(bundle.folder)]) == 0
    edited = load_bundle(bundle.folder)

    again = predict_cohort(manifest, out, edited, device="cpu", progress=False)
    assert again.run.n_computed == 2 and again.run.n_cached == 0
    with (out / "predictions.csv").open() as stream:
        table = list(csv.DictReader(stream))
    expected = "high" if card["threshold"]["value"] == 0.0 else "low"
    assert [row["category"] for row in table] == [expected, expected] != categories
    assert [float(row["threshold"]) for row in table] == [card["threshold"]["value"]] * 2
