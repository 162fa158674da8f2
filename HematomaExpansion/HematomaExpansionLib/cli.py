"""Command line: ``python -m HematomaExpansionLib <command>``, the same Logic as the Slicer module.

Each command loads its inputs into a Slicer scene (the application's inside Slicer, a headless one
on slicer-core elsewhere) and calls the module's Logic. Bad input ends with a one-line
``error: ...`` on stderr and exit code 2; an unexpected failure exits with 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .common.atomic import write_csv_atomic, write_json_atomic
from .common.errors import InputError, ModelError
from .reports.text_table import format_table

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


# --------------------------------------------------------------------------- commands


def _measurement_rows(measurements: dict[str, Any]) -> list[list[Any]]:
    from .imaging.measurements import unit_of

    return [[name, value, unit_of(name)] for name, value in measurements.items()]


def _load_case(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from . import mrml
    from .mrml.logic import HematomaExpansionLogicBase

    logic = HematomaExpansionLogicBase()
    volume, segmentation = mrml.load_case(logic.runtime, args.ct, args.hematoma)
    return logic, volume, segmentation


def cmd_measure(args: argparse.Namespace) -> int:
    """Measure the hematoma of one case and print (and optionally write) the measurements."""
    logic, volume, segmentation = _load_case(args)
    measurements = logic.measure(volume, segmentation, args.segment)
    rows = _measurement_rows(measurements)
    _out(format_table(["measurement", "value", "unit"], rows))
    if args.out:
        path = write_csv_atomic(Path(args.out) / "measurements.csv", ["measurement", "value", "unit"], rows)
        _out(f"\nwritten: {path}")
    return EXIT_OK


def _extraction_config(args: argparse.Namespace) -> Any:
    from .features.deep_slices import DeepSliceConfig
    from .features.pipeline import ExtractionConfig

    deep = DeepSliceConfig(
        margin_mm=args.margin_mm,
        window_level_hu=args.window_level,
        window_width_hu=args.window_width,
        aggregation=args.aggregation,
        blank_outside=args.blank_outside,
    )
    return ExtractionConfig(
        families=tuple(args.families.split(",")),
        radiomics_params_path=args.params,
        deep=deep,
        backbone_weights=args.weights,
        device=args.device,
    )


def write_feature_set(feature_set: Any, out_dir: Path, stem: str = "features") -> list[Path]:
    """Write features as CSV (feature, value) and JSON (features, provenance, warnings)."""
    rows = [[name, repr(float(value))] for name, value in feature_set.features.items()]
    csv_path = write_csv_atomic(out_dir / f"{stem}.csv", ["feature", "value"], rows)
    document = {
        "features": feature_set.features,
        "provenance": feature_set.provenance,
        "warnings": feature_set.warnings,
    }
    return [csv_path, write_json_atomic(out_dir / f"{stem}.json", document)]


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract radiomics and deep features of one case into a folder."""
    from .features.deep import save_slice_pngs

    config = _extraction_config(args)
    logic, volume, segmentation = _load_case(args)
    result = logic.extract_features(volume, segmentation, args.segment, config)
    out = Path(args.out)
    written = write_feature_set(result.feature_set, out)
    if result.slice_images is not None:
        written += save_slice_pngs(result.slice_images, out / "slices", offsets_mm=config.deep.offsets_mm)
    counts = dict.fromkeys(("radiomics", "deep"), 0)
    for name in result.feature_set.features:
        counts["deep" if name.startswith("deep_") else "radiomics"] += 1
    _out(f"extracted {counts['radiomics']} radiomics and {counts['deep']} deep features")
    _out(
        f"largest axial cross-section: z = {result.cross_section.z_mm:.1f} mm, {result.cross_section.area_mm2:.0f} mm2"
    )
    for warning in result.feature_set.warnings:
        _out(f"warning: {warning}")
    for path in written:
        _out(f"written: {path}")
    return EXIT_OK


def cmd_extract_cohort(args: argparse.Namespace) -> int:
    """Extract the features of every case of a manifest into one labelled, split feature table."""
    from .cohort.manifest import ExpansionDefinition
    from .mrml.cohort_extraction import extract_cohort

    extraction = extract_cohort(
        args.manifest,
        args.out,
        config=_extraction_config(args),
        expansion=ExpansionDefinition.parse(args.expansion),
        split_seed=args.split_seed,
        test_fraction=args.test_fraction,
        jobs=args.jobs,
        strict=args.strict,
        progress=not args.no_progress,
    )
    run, provenance = extraction.run, extraction.provenance
    n_cases = len(run.results) + len(run.failures)
    _out(
        f"{n_cases} cases: {len(run.results)} extracted ({run.n_computed} computed, {run.n_cached} cached), "
        f"{len(run.failures)} failed, in {run.elapsed_s:.1f} s"
    )
    for failure in run.failures:
        _out(f"  failed: {failure.case_id}: {failure.error_type}: {failure.message}")
    if not extraction.rows:
        sys.stderr.write(f"error: no case could be extracted; see {run.errors_path}\n")
        return EXIT_UNEXPECTED
    labels, split = provenance["labels"], provenance["split"]
    rule = provenance["expansion_definition"]["rule"]
    _out(
        f"labels: {labels['n_positive']} of {len(extraction.rows)} positive, "
        f"{labels['n_from_followup']} computed from the follow-up ({rule})"
    )
    how = "from the manifest" if split["source"] == "manifest" else f"stratified, seed {split['seed']}"
    _out(f"split: {split['n_train']} train, {split['n_test']} test ({how})")
    for path in extraction.paths.values():
        _out(f"written: {path}")
    return EXIT_OK


def print_prediction(result: Any, case_label: str) -> None:
    """The prediction as a clinician reads it: risk first, then size, slices, features, warnings."""
    from .imaging.measurements import unit_of
    from .reports.case_report import MEASUREMENT_LABELS

    _out(f"Case {case_label}: {result.risk_text}")
    _out(f"Model: {result.model_id} ({result.model_kind})")
    _out(f"Research use only. {result.provenance.get('model_intended_use', '')}".rstrip() + "\n")
    rows = [
        [label, result.measurements[name], unit_of(name)]
        for name, label in MEASUREMENT_LABELS.items()
        if name in result.measurements
    ]
    _out(format_table(["hematoma", "value", "unit"], rows))
    extraction = result.extraction
    if extraction.z_positions_mm:
        positions = ", ".join(f"{z:.1f}" for z in extraction.z_positions_mm)
        _out(
            f"\nslices used (z, mm): {positions}  (largest cross-section z0 = {extraction.cross_section.z_mm:.1f} mm)"
        )
    _out("\n" + format_table(["model feature", "value", "z-score", "LASSO weight"], result.feature_rows()))
    for warning in result.warnings:
        _out(f"warning: {warning}")
    provenance = result.provenance
    _out(
        "\nprovenance: HematomaExpansion {software_version}, pyradiomics {pyradiomics}, parameter file sha256 "
        "{params}, backbone {backbone} (fingerprint {fingerprint}), model npz sha256 {npz}".format(
            software_version=provenance.get("software_version"),
            pyradiomics=provenance.get("pyradiomics_version", "-"),
            params=str(provenance.get("radiomics_params_sha256", "-"))[:12],
            backbone=provenance.get("backbone_id", "-"),
            fingerprint=provenance.get("backbone_fingerprint", "-"),
            npz=str(provenance.get("model_npz_sha256"))[:12],
        )
    )


def write_prediction(
    result: Any, out_dir: Path, case_label: str, checklist: Any, model_note: str
) -> list[Path]:
    """prediction.json, model_features.csv, report.html and the slice PNGs of one case."""
    from .features.deep import save_slice_pngs
    from .reports.case_report import write_case_report

    written = [
        write_json_atomic(out_dir / "prediction.json", result.as_dict()),
        write_csv_atomic(
            out_dir / "model_features.csv",
            ["feature", "value", "z_score", "lasso_weight"],
            result.feature_rows(),
        ),
        write_case_report(result, out_dir / "report.html", case_label, checklist, model_note),
    ]
    extraction = result.extraction
    if extraction.slice_images is not None:
        offsets = tuple(z - extraction.cross_section.z_mm for z in extraction.z_positions_mm)
        written += save_slice_pngs(extraction.slice_images, out_dir / "slices", offsets_mm=offsets)
    return written


def _checklist(args: argparse.Namespace) -> Any:
    from .model.applicability import ApplicabilityChecklist

    return ApplicabilityChecklist(
        onset_to_ct_within_6h=args.onset_within_6h,
        spontaneous_ich=args.spontaneous,
        no_conventional_signs=args.no_conventional_signs,
    )


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict the risk of hematoma expansion for one case and write a report."""
    logic, volume, segmentation = _load_case(args)
    logic.model_dirs = list(args.model_dir)
    checklist = _checklist(args)
    result = logic.predict(
        volume, segmentation, args.segment, args.model, args.device, args.weights_file, checklist
    )
    case_label = args.case_label or Path(args.ct).name
    print_prediction(result, case_label)
    intended_use = result.provenance.get("model_intended_use", "")
    for path in write_prediction(result, Path(args.out), case_label, checklist, intended_use):
        _out(f"written: {path}")
    return EXIT_OK


def cmd_predict_cohort(args: argparse.Namespace) -> int:
    """Predict every case of a manifest with one model."""
    from .model.registry import load_model
    from .mrml.cohort_prediction import predict_cohort

    bundle = load_model(args.model, args.model_dir)
    prediction = predict_cohort(
        args.manifest,
        args.out,
        bundle,
        device=args.device,
        weights_file=args.weights_file,
        jobs=args.jobs,
        strict=args.strict,
        progress=not args.no_progress,
    )
    run = prediction.run
    _out(
        f"model {bundle.model_id}: {len(run.results)} cases predicted ({run.n_computed} computed, "
        f"{run.n_cached} cached), {len(run.failures)} failed, in {run.elapsed_s:.1f} s"
    )
    for failure in run.failures:
        _out(f"  failed: {failure.case_id}: {failure.error_type}: {failure.message}")
    for path in prediction.paths.values():
        _out(f"written: {path}")
    if not prediction.rows:
        sys.stderr.write(f"error: no case could be predicted; see {run.errors_path}\n")
        return EXIT_UNEXPECTED
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    """List the installed models."""
    from .model.registry import DEFAULT_MODEL_ID, available_models

    for summary in available_models(args.model_dir):
        marker = " (default)" if summary.model_id == DEFAULT_MODEL_ID else ""
        _out(f"{summary.describe()}{marker}\n  folder: {summary.folder}")
    return EXIT_OK


def _feature_table(args: argparse.Namespace, path: Path) -> Any:
    from .evaluation.train_evaluate import read_feature_table

    return read_feature_table(
        path, args.label_column, args.split_column, args.provenance, args.radiomics_params
    )


def cmd_train(args: argparse.Namespace) -> int:
    """Train radiomics, deep and fused models on a feature table; write bundles, metrics, report."""
    from .evaluation.train_evaluate import train_models
    from .model.lasso_svm import TrainingConfig

    config = TrainingConfig(
        seed=args.seed,
        lambda_rule=args.lambda_rule,
        univariate_filter=not args.no_univariate_filter,
        correlation_prune=not args.no_correlation_prune,
    )
    result = train_models(
        _feature_table(args, args.features),
        args.out,
        kinds=[k.strip() for k in args.kinds.split(",") if k.strip()],
        config=config,
        train_value=args.train_value,
        test_value=args.test_value,
        model_id_prefix=args.model_id_prefix,
        ceiling_auc=args.ceiling_auc,
        intended_use=args.intended_use,
    )
    for line in result.lines():
        _out(line)
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate saved model bundles on the rows of a feature table; write metrics and report."""
    from .evaluation.train_evaluate import evaluate_models

    table = _feature_table(args, args.features)
    result = evaluate_models(args.models, table, args.out, split=args.split, ceiling_auc=args.ceiling_auc)
    for line in result.lines():
        _out(line)
    return EXIT_OK


def cmd_phantom(args: argparse.Namespace) -> int:
    """Write one synthetic head-CT phantom case (CT .nrrd + hematoma .seg.nrrd)."""
    from .synthetic.phantom import HematomaSpec, generate_phantom, write_case

    spec = HematomaSpec(volume_ml=args.volume_ml, lobulation=args.lobulation)
    phantom = generate_phantom(spec, preset=args.preset, seed=args.seed, tilt_deg=args.tilt_deg)
    paths = write_case(phantom, args.out, args.case_id)
    for kind, path in paths.items():
        _out(f"{kind}: {path}")
    return EXIT_OK


def cmd_phantom_cohort(args: argparse.Namespace) -> int:
    """Write a synthetic validation cohort (phantom cases, manifest) and print its ceiling AUC."""
    import time

    from .synthetic.phantom_cohort import generate_cohort

    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 20) == 0:
            eta_s = (time.perf_counter() - start) * (total - done) / done
            sys.stderr.write(f"phantom cohort: {done}/{total} cases, ETA {eta_s:.0f} s\n")

    summary = generate_cohort(
        args.n, args.out, args.seed, test_fraction=args.test_fraction, jobs=args.jobs, progress=progress
    )
    for line in summary.lines():
        _out(line)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the bundled sample: load it into a Slicer scene and predict with the bundled model."""
    out = Path(args.out)
    from .synthetic.sample import write_sample_case

    paths = write_sample_case(out / "sample")
    _out("HematomaExpansion demo: synthetic clinical head CT (0.45 x 0.45 x 5 mm) with a 30 mL hematoma")
    _out(f"  CT:           {paths['ct']}")
    _out(f"  segmentation: {paths['hematoma']}\n")
    predict_args = argparse.Namespace(
        ct=paths["ct"],
        hematoma=paths["hematoma"],
        segment=None,
        model=args.model,
        model_dir=[],
        device=args.device,
        weights_file=None,
        onset_within_6h=True,
        spontaneous=True,
        no_conventional_signs=True,
        out=out / "prediction",
        case_label="sample (synthetic phantom)",
    )
    return cmd_predict(predict_args)


# --------------------------------------------------------------------------- parser


def _add_case_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ct", required=True, type=Path, help="CT file (NRRD, NIfTI, MHA) or DICOM folder")
    parser.add_argument(
        "--hematoma",
        required=True,
        type=Path,
        help="segmentation (.seg.nrrd) or labelmap file of the hematoma",
    )
    parser.add_argument(
        "--segment", default=None, help="segment name, ID or label value (default: the hematoma)"
    )


def _add_extraction_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--families", default="radiomics,deep", help="comma-separated: radiomics, deep")
    parser.add_argument(
        "--params", type=Path, default=None, help="pyradiomics parameter file (default: bundled v1)"
    )
    parser.add_argument(
        "--weights",
        default="imagenet1k_v1",
        help="ResNet50 weights: imagenet1k_v1, imagenet1k_v2, a local .pth file (path#sha256=HEX), or random:SEED",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu or cuda")
    parser.add_argument("--margin-mm", type=float, default=5.0, help="crop margin around the hematoma")
    parser.add_argument("--window-level", type=float, default=40.0, help="window level (HU)")
    parser.add_argument("--window-width", type=float, default=80.0, help="window width (HU)")
    parser.add_argument("--aggregation", choices=["mean", "concat"], default="mean")
    parser.add_argument("--blank-outside", action="store_true", help="blank pixels outside the hematoma")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model id or folder (default: the bundled fused model)")
    parser.add_argument(
        "--model-dir",
        type=Path,
        action="append",
        default=[],
        help="extra folder of installed models (repeatable)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu or cuda")
    parser.add_argument(
        "--weights-file", default=None, help="local ResNet50 weights, for models trained with them"
    )


def _add_checklist_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onset-within-6h", action="store_true", help="confirm onset-to-CT <= 6 h")
    parser.add_argument("--spontaneous", action="store_true", help="confirm spontaneous (non-traumatic) ICH")
    parser.add_argument(
        "--no-conventional-signs",
        action="store_true",
        help="confirm no blend, black hole, swirl, island or satellite sign",
    )


def _add_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label-column", default="label", help="column of the 0/1 outcome")
    parser.add_argument("--split-column", default="split", help="column of the train/test split")
    parser.add_argument(
        "--provenance",
        type=Path,
        default=None,
        help="provenance JSON (default: features_provenance.json beside it)",
    )
    parser.add_argument(
        "--radiomics-params",
        type=Path,
        default=None,
        help="pyradiomics parameter file of the features (required for a table without provenance)",
    )
    parser.add_argument("--ceiling-auc", type=float, default=None, help="best AUC reachable (recorded)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="python -m HematomaExpansionLib",
        description="Hematoma expansion prediction from the first non-contrast head CT (research use only).",
    )
    parser.add_argument("--version", action="version", version=f"HematomaExpansion {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    measure = command("measure", cmd_measure, "hematoma volume, ABC/2, largest cross-section, HU statistics")
    _add_case_arguments(measure)
    measure.add_argument("--out", type=Path, help="folder for measurements.csv")

    extract = command("extract", cmd_extract, "radiomics and ResNet50 features of one case")
    _add_case_arguments(extract)
    extract.add_argument("--out", required=True, type=Path, help="output folder")
    _add_extraction_arguments(extract)

    cohort = command(
        "extract-cohort",
        cmd_extract_cohort,
        "features of every case of a cohort manifest, labelled and split, as one CSV table "
        "(features.csv; CSV only: Parquet would need pyarrow)",
    )
    cohort.add_argument(
        "manifest",
        type=Path,
        help="CSV with columns case_id, ct, hematoma[, segment][, label][, followup_hematoma]"
        "[, followup_volume_ml][, split]; paths relative to the manifest; an empty label is computed "
        "from the follow-up by --expansion; without a split column the split is stratified 80/20",
    )
    cohort.add_argument("--out", required=True, type=Path, help="output folder (cache in OUT/cases)")
    cohort.add_argument("--jobs", type=int, default=1, help="worker processes (0: one per CPU core)")
    cohort.add_argument("--strict", action="store_true", help="stop at the first failing case")
    cohort.add_argument(
        "--expansion",
        default="6ml/33%",
        help="expansion definition for labels computed from the follow-up: absolute growth in mL / "
        "relative growth in %%, e.g. 6ml/33%% (default) or 12.5ml/26%%",
    )
    cohort.add_argument("--split-seed", type=int, default=42, help="seed of the stratified train/test split")
    cohort.add_argument("--test-fraction", type=float, default=0.2, help="test share without a split column")
    cohort.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_extraction_arguments(cohort)

    predict = command("predict", cmd_predict, "risk of hematoma expansion for one case, with a report")
    _add_case_arguments(predict)
    _add_model_arguments(predict)
    _add_checklist_arguments(predict)
    predict.add_argument("--out", required=True, type=Path, help="output folder")
    predict.add_argument(
        "--case-label", default=None, help="name shown in the report (default: the CT file name)"
    )

    predict_cohort = command(
        "predict-cohort", cmd_predict_cohort, "predict every case of a manifest (resumable)"
    )
    predict_cohort.add_argument(
        "manifest", type=Path, help="manifest CSV (case_id, ct, hematoma[, segment], ...)"
    )
    predict_cohort.add_argument("--out", required=True, type=Path, help="output folder")
    _add_model_arguments(predict_cohort)
    predict_cohort.add_argument("--jobs", type=int, default=1, help="worker processes (0: one per core)")
    predict_cohort.add_argument("--strict", action="store_true", help="stop at the first failing case")
    predict_cohort.add_argument("--no-progress", action="store_true", help="no progress bar")

    models = command("models", cmd_models, "list installed models")
    models.add_argument("--model-dir", type=Path, action="append", default=[], help="extra model folder")

    train = command(
        "train",
        cmd_train,
        "fit radiomics-only, deep-only and fused LASSO-SVM models on the training rows of a feature "
        "table; evaluate them on both sets; write model bundles, metrics.json and report.html",
    )
    train.add_argument("features", type=Path, help="feature table (CSV), e.g. from extract-cohort")
    train.add_argument("--out", required=True, type=Path, help="output folder (bundles, metrics, report)")
    _add_table_arguments(train)
    train.add_argument("--train-value", default="train", help="split value of the training rows")
    train.add_argument("--test-value", default="test", help="split value of the test rows")
    train.add_argument("--kinds", default="radiomics,deep,fused", help="comma-separated model kinds")
    train.add_argument("--seed", type=int, default=2024, help="seed of the CV folds and any 80/20 split")
    train.add_argument("--lambda-rule", choices=["1se", "min"], default="1se", help="LASSO lambda choice")
    train.add_argument("--no-univariate-filter", action="store_true", help="skip the Mann-Whitney filter")
    train.add_argument("--no-correlation-prune", action="store_true", help="skip |Spearman| > 0.9 pruning")
    train.add_argument("--model-id-prefix", default="hematoma-expansion", help="bundles are PREFIX-<kind>")
    train.add_argument("--intended-use", default=None, help="note shown with each model (e.g. data, limits)")

    evaluate = command(
        "evaluate", cmd_evaluate, "evaluate model bundles on a feature table; write metrics and report"
    )
    evaluate.add_argument("--models", required=True, nargs="+", type=Path, help="model bundle folders")
    evaluate.add_argument("--features", required=True, type=Path, help="feature table (CSV)")
    evaluate.add_argument("--out", required=True, type=Path, help="output folder (metrics, report)")
    evaluate.add_argument("--split", default="test", help="rows whose split column has this value, or 'all'")
    _add_table_arguments(evaluate)

    phantom = command("phantom", cmd_phantom, "write a synthetic head-CT phantom case")
    phantom.add_argument("--out", required=True, type=Path)
    phantom.add_argument("--case-id", default="phantom")
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--preset", choices=["clinical", "thin"], default="clinical")
    phantom.add_argument("--volume-ml", type=float, default=30.0)
    phantom.add_argument("--lobulation", type=float, default=0.0)
    phantom.add_argument("--tilt-deg", type=float, default=0.0)

    phantom_cohort = command(
        "phantom-cohort",
        cmd_phantom_cohort,
        "write a synthetic validation cohort (phantom CTs, segmentations, manifest.csv) whose "
        "expansion follows the ground-truth model of docs/ground_truth_model.md",
    )
    phantom_cohort.add_argument("--n", type=int, default=235, help="number of cases")
    phantom_cohort.add_argument("--out", required=True, type=Path, help="output folder")
    phantom_cohort.add_argument("--seed", type=int, default=0, help="cohort seed (cases and split)")
    phantom_cohort.add_argument("--test-fraction", type=float, default=0.2, help="share of test cases")
    phantom_cohort.add_argument("--jobs", type=int, default=1, help="worker processes")

    demo = command("demo", cmd_demo, "run the main job on the bundled sample case")
    demo.add_argument("--out", type=Path, default=Path("build/demo"))
    demo.add_argument("--model", default=None, help="model id or folder (default: the bundled fused model)")
    demo.add_argument("--device", default="auto")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except (InputError, ModelError) as error:
        sys.stderr.write(f"error: {error}\n")
        return EXIT_BAD_INPUT
    except Exception:
        logger.exception("unexpected failure in '%s'", args.command)
        return EXIT_UNEXPECTED
