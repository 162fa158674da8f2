"""The command handlers: one per sub-command, each over a core function or the module's Logic.

A handler takes the parsed arguments, prints what the user reads on stdout and returns the exit
code; bad input raises ``InputError``/``ModelError``, which :func:`..cli.main` turns into a
one-line error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..common.atomic import write_csv_atomic
from ..reports.text_table import format_table

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _load_case(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from ..mrml.loading import load_case
    from ..mrml.logic import HematomaExpansionLogicBase

    logic = HematomaExpansionLogicBase()
    volume, segmentation = load_case(logic.runtime, args.ct, args.hematoma)
    return logic, volume, segmentation


def cmd_measure(args: argparse.Namespace) -> int:
    """Measure the hematoma of one case and print (and optionally write) the measurements."""
    from ..imaging.measurements import unit_of

    logic, volume, segmentation = _load_case(args)
    measurements = logic.measure(volume, segmentation, args.segment)
    warnings = measurements.pop("warnings")
    rows = [[name, value, unit_of(name)] for name, value in measurements.items()]
    _out(format_table(["measurement", "value", "unit"], rows))
    for warning in warnings:
        _out(f"warning: {warning}")
    if args.out:
        path = write_csv_atomic(Path(args.out) / "measurements.csv", ["measurement", "value", "unit"], rows)
        _out(f"\nwritten: {path}")
    return EXIT_OK


def _extraction_config(args: argparse.Namespace) -> Any:
    from ..features.deep_slices import DeepSliceConfig
    from ..features.families import ExtractionConfig

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


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract radiomics and deep features of one case into a folder."""
    from ..features.deep import save_slice_pngs
    from ..features.families import feature_family
    from ..reports.case_outputs import write_feature_set

    config = _extraction_config(args)
    logic, volume, segmentation = _load_case(args)
    result = logic.extract_features(volume, segmentation, args.segment, config)
    out = Path(args.out)
    written = write_feature_set(result.feature_set, out)
    if result.slice_images is not None:
        written += save_slice_pngs(result.slice_images, out / "slices", offsets_mm=config.deep.offsets_mm)
    counts = dict.fromkeys(("radiomics", "deep"), 0)
    for name in result.feature_set.features:
        counts[feature_family(name)] += 1
    _out(f"extracted {counts['radiomics']} radiomics and {counts['deep']} deep features")
    section = result.cross_section
    _out(f"largest axial cross-section: z = {section.z_mm:.1f} mm, {section.area_mm2:.0f} mm2")
    for warning in result.feature_set.warnings:
        _out(f"warning: {warning}")
    for path in written:
        _out(f"written: {path}")
    return EXIT_OK


def _print_failures(run: Any) -> None:
    """The failed cases of a cohort run, one line each."""
    for failure in run.failures:
        _out(f"  failed: {failure.case_id}: {failure.error_type}: {failure.message}")


@contextlib.contextmanager
def _cluster(args: argparse.Namespace) -> Iterator[Any]:
    """The ``distributed.Client`` of ``--scheduler`` (its address and dashboard printed), or None."""
    if not args.scheduler:
        yield None
        return
    from ..cohort.dask_executor import connect, describe

    client = connect(args.scheduler)
    try:
        for line in describe(client):
            _out(line)
        yield client
    finally:
        client.close()


def cmd_extract_cohort(args: argparse.Namespace) -> int:
    """Extract the features of every case of a manifest into one labelled, split feature table."""
    from ..cohort.labels import ExpansionDefinition
    from ..mrml.cohort_jobs import extract_cohort

    config, expansion = _extraction_config(args), ExpansionDefinition.parse(args.expansion)
    with _cluster(args) as client:
        extraction = extract_cohort(
            args.manifest,
            args.out,
            config=config,
            expansion=expansion,
            split_seed=args.split_seed,
            test_fraction=args.test_fraction,
            jobs=args.jobs,
            strict=args.strict,
            progress=not args.quiet,
            scheduler=client,
            clinical_baseline_volume=args.clinical_baseline_volume,
        )
    run, provenance = extraction.run, extraction.provenance
    n_cases = len(run.results) + len(run.failures)
    _out(
        f"{n_cases} cases: {len(run.results)} extracted ({run.n_computed} computed, {run.n_cached} cached), "
        f"{len(run.failures)} failed, in {run.elapsed_s:.1f} s"
    )
    _print_failures(run)
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


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict the risk of hematoma expansion for one case and write a report."""
    from ..features.clinical import covariates_from_pairs
    from ..model.applicability import ApplicabilityChecklist
    from ..reports.case_outputs import check_result_folder, prediction_lines, write_prediction

    check_result_folder(Path(args.out), args.overwrite)  # before minutes of work
    clinical = covariates_from_pairs(args.clinical)
    logic, volume, segmentation = _load_case(args)
    logic.model_dirs = list(args.model_dir)
    checklist = ApplicabilityChecklist(
        onset_to_ct_within_6h=args.onset_within_6h,
        spontaneous_ich=args.spontaneous,
        no_conventional_signs=args.no_conventional_signs,
    )
    result = logic.predict(
        volume,
        segmentation,
        args.segment,
        args.model,
        args.device,
        args.weights_file,
        checklist,
        clinical=clinical,
    )
    case_label = args.case_label or Path(args.ct).name
    for line in prediction_lines(result, case_label):
        _out(line)
    _out(f"conventional signs: {result.signs.suggestion_text()}")
    checklist = checklist.with_measured(result.signs.present_titles)  # the report shows both calls
    intended_use = result.provenance.get("model_intended_use", "")
    written = write_prediction(result, Path(args.out), case_label, checklist, intended_use, args.overwrite)
    for path in written:
        _out(f"written: {path}")
    return EXIT_OK


def cmd_predict_cohort(args: argparse.Namespace) -> int:
    """Predict every case of a manifest with one model."""
    from ..model.registry import load_model
    from ..mrml.cohort_jobs import predict_cohort

    bundle = load_model(args.model, args.model_dir)
    with _cluster(args) as client:
        prediction = predict_cohort(
            args.manifest,
            args.out,
            bundle,
            device=args.device,
            weights_file=args.weights_file,
            jobs=args.jobs,
            strict=args.strict,
            progress=not args.quiet,
            scheduler=client,
        )
    run = prediction.run
    _out(
        f"model {bundle.model_id}: {len(run.results)} cases predicted ({run.n_computed} computed, "
        f"{run.n_cached} cached), {len(run.failures)} failed, in {run.elapsed_s:.1f} s"
    )
    _print_failures(run)
    for path in prediction.paths.values():
        _out(f"written: {path}")
    if not prediction.rows:
        sys.stderr.write(f"error: no case could be predicted; see {run.errors_path}\n")
        return EXIT_UNEXPECTED
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    """List the installed models."""
    from ..model.registry import DEFAULT_MODEL_ID, available_models

    for summary in available_models(args.model_dir):
        marker = " (default)" if summary.model_id == DEFAULT_MODEL_ID else ""
        _out(f"{summary.describe()}{marker}\n  folder: {summary.folder}")
    return EXIT_OK


def cmd_seal_model(args: argparse.Namespace) -> int:
    """Re-seal a model card after a deliberate edit; print what changed."""
    from ..model.bundle_writer import seal_bundle
    from ..model.card import CARD_FILE

    old, new = seal_bundle(args.folder)
    card = Path(args.folder) / CARD_FILE
    if old == new:
        _out(f"{card} is sealed already (card_sha256 {new}); nothing written")
    else:
        _out(f"sealed {card}: card_sha256 {old or 'none'} -> {new}")
    return EXIT_OK


def _feature_table(args: argparse.Namespace, path: Path) -> Any:
    from ..evaluation.feature_table import read_feature_table

    return read_feature_table(
        path, args.label_column, args.split_column, args.provenance, args.radiomics_params
    )


def cmd_train(args: argparse.Namespace) -> int:
    """Train radiomics, deep and fused models on a feature table; write bundles, metrics, report."""
    from ..evaluation.training_run import train_models
    from ..model.config import TrainingConfig

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
        impute=args.impute,
    )
    for line in result.lines():
        _out(line)
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate saved model bundles on the rows of a feature table; write metrics and report."""
    from ..evaluation.evaluation_run import evaluate_models

    table = _feature_table(args, args.features)
    result = evaluate_models(args.models, table, args.out, split=args.split, ceiling_auc=args.ceiling_auc)
    for line in result.lines():
        _out(line)
    return EXIT_OK


def cmd_phantom(args: argparse.Namespace) -> int:
    """Write one synthetic head-CT phantom case (CT .nrrd + hematoma .seg.nrrd)."""
    from ..synthetic import HematomaSpec, generate_phantom, write_case

    spec = HematomaSpec(volume_ml=args.volume_ml, lobulation=args.lobulation)
    phantom = generate_phantom(spec, preset=args.preset, seed=args.seed, tilt_deg=args.tilt_deg)
    paths = write_case(phantom, args.out, args.case_id)
    for kind, path in paths.items():
        _out(f"{kind}: {path}")
    return EXIT_OK


def cmd_phantom_cohort(args: argparse.Namespace) -> int:
    """Write a synthetic validation cohort (phantom cases, manifest) and print its ceiling AUC."""
    from ..cohort.progress import ProgressBar
    from ..synthetic.phantom_cohort import generate_cohort

    bar = ProgressBar(max(args.n, 0), enabled=not args.quiet)
    try:
        with _cluster(args) as client:
            summary = generate_cohort(
                args.n,
                args.out,
                args.seed,
                test_fraction=args.test_fraction,
                jobs=args.jobs,
                progress=lambda done, total: bar.advance(f"{done}/{total}"),
                scheduler=client,
            )
    finally:
        bar.close()
    for line in summary.lines():
        _out(line)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the bundled sample: load it into a Slicer scene and predict with the bundled model."""
    from ..synthetic.sample import write_sample_case

    out = Path(args.out)
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
        overwrite=False,
        case_label="sample (synthetic phantom)",
        clinical=[],
    )
    return cmd_predict(predict_args)
