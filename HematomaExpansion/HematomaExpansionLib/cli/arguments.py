"""The argument parser as data: shared argument groups and one :class:`Command` per sub-command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..features.families import DEFAULT_WEIGHTS
from .commands import (
    cmd_demo,
    cmd_evaluate,
    cmd_extract,
    cmd_extract_cohort,
    cmd_measure,
    cmd_models,
    cmd_phantom,
    cmd_phantom_cohort,
    cmd_predict,
    cmd_predict_cohort,
    cmd_seal_model,
    cmd_train,
)
from .sign_phantoms_command import cmd_sign_phantoms
from .signs_command import cmd_signs
from .validate_signs_command import cmd_validate_signs


@dataclass(frozen=True)
class Argument:
    """One ``add_argument`` call: its flags (or name) and keyword options."""

    flags: tuple[str, ...]
    options: dict[str, Any]


def _arg(*flags: str, **options: Any) -> Argument:
    return Argument(flags, options)


DEVICE_HELP = "auto (CUDA, then MPS, then CPU), cpu or cuda"
MODEL_HELP = "model id or folder (default: the bundled fused model)"
CASE_ARGUMENTS = (
    _arg("--ct", required=True, type=Path, help="CT file (NRRD, NIfTI, MHA) or DICOM folder"),
    _arg(
        "--hematoma",
        required=True,
        type=Path,
        help="segmentation (.seg.nrrd) or labelmap file of the hematoma",
    ),
    _arg("--segment", default=None, help="segment name, ID or label value (default: the hematoma)"),
)
EXTRACTION_ARGUMENTS = (
    _arg("--families", default="radiomics,deep", help="comma-separated: radiomics, deep"),
    _arg("--params", type=Path, default=None, help="pyradiomics parameter file (default: bundled v1)"),
    _arg(
        "--weights",
        default=DEFAULT_WEIGHTS,
        help="ResNet50 weights: imagenet1k_v1, imagenet1k_v2, a local .pth file (path#sha256=HEX), or random:SEED",
    ),
    _arg("--device", default="auto", help=DEVICE_HELP),
    _arg("--margin-mm", type=float, default=5.0, help="crop margin around the hematoma"),
    _arg("--window-level", type=float, default=40.0, help="window level (HU)"),
    _arg("--window-width", type=float, default=80.0, help="window width (HU)"),
    _arg("--aggregation", choices=["mean", "concat"], default="mean"),
    _arg("--blank-outside", action="store_true", help="blank pixels outside the hematoma"),
)
MODEL_ARGUMENTS = (
    _arg("--model", default=None, help=MODEL_HELP),
    _arg(
        "--model-dir",
        type=Path,
        action="append",
        default=[],
        help="extra folder of installed models (repeatable)",
    ),
    _arg("--device", default="auto", help=DEVICE_HELP),
    _arg("--weights-file", default=None, help="local ResNet50 weights, for models trained with them"),
)
CHECKLIST_ARGUMENTS = (
    _arg("--onset-within-6h", action="store_true", help="confirm onset-to-CT <= 6 h"),
    _arg("--spontaneous", action="store_true", help="confirm spontaneous (non-traumatic) ICH"),
    _arg(
        "--no-conventional-signs",
        action="store_true",
        help="confirm no blend, black hole, swirl, island or satellite sign",
    ),
)
TABLE_ARGUMENTS = (
    _arg("--label-column", default="label", help="column of the 0/1 outcome"),
    _arg("--split-column", default="split", help="column of the train/test split"),
    _arg(
        "--provenance",
        type=Path,
        default=None,
        help="provenance JSON (default: features_provenance.json beside it)",
    ),
    _arg(
        "--radiomics-params",
        type=Path,
        default=None,
        help="pyradiomics parameter file of the features (required for a table without provenance)",
    ),
    _arg("--ceiling-auc", type=float, default=None, help="best AUC reachable (recorded)"),
)
MANIFEST_HELP = (
    "CSV with columns case_id, ct, hematoma[, segment][, label][, followup_hematoma]"
    "[, followup_volume_ml][, split]; paths relative to the manifest; an empty label is computed "
    "from the follow-up by --expansion; without a split column the split is stratified 80/20"
)
SCHEDULER_HELP = (
    "run the cases on the Dask cluster of this scheduler (tcp://HOST:PORT) instead of local worker "
    "processes; inputs and --out must be on storage the workers share"
)
QUIET_ARGUMENTS = (
    _arg("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bar (for scripts)"),
)
EXPANSION_HELP = (
    "expansion definition for labels computed from the follow-up: absolute growth in mL / "
    "relative growth in %%, e.g. 6ml/33%% (default) or 12.5ml/26%%"
)


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, handler, help text (also its description) and arguments in order."""

    name: str
    handler: Callable[[argparse.Namespace], int]
    help: str
    arguments: tuple[Argument, ...]


COMMANDS = (
    Command(
        "measure",
        cmd_measure,
        "hematoma volume, ABC/2, largest cross-section, HU statistics",
        (*CASE_ARGUMENTS, _arg("--out", type=Path, help="folder for measurements.csv")),
    ),
    Command(
        "signs",
        cmd_signs,
        "conventional CT signs of expansion measured on one case (blend, black hole, hypodensity/swirl, "
        "island, satellite; Barras categories, BAT score): a table and signs.json",
        (
            *CASE_ARGUMENTS,
            _arg("--out", required=True, type=Path, help="folder for signs.json"),
            _arg(
                "--onset-to-ct-h",
                type=float,
                default=None,
                help="hours from symptom onset to the CT, for the BAT score (without it: no BAT score)",
            ),
        ),
    ),
    Command(
        "extract",
        cmd_extract,
        "radiomics and ResNet50 features of one case",
        (
            *CASE_ARGUMENTS,
            _arg("--out", required=True, type=Path, help="output folder"),
            *EXTRACTION_ARGUMENTS,
        ),
    ),
    Command(
        "extract-cohort",
        cmd_extract_cohort,
        "features of every case of a cohort manifest, labelled and split, as one CSV table "
        "(features.csv; CSV only: Parquet would need pyarrow)",
        (
            _arg("manifest", type=Path, help=MANIFEST_HELP),
            _arg("--out", required=True, type=Path, help="output folder (cache in OUT/cases)"),
            _arg("--jobs", type=int, default=1, help="worker processes (0: one per CPU core)"),
            _arg("--strict", action="store_true", help="stop at the first failing case"),
            _arg("--expansion", default="6ml/33%", help=EXPANSION_HELP),
            _arg("--split-seed", type=int, default=42, help="seed of the stratified train/test split"),
            _arg("--test-fraction", type=float, default=0.2, help="test share without a split column"),
            _arg("--scheduler", default=None, help=SCHEDULER_HELP),
            *QUIET_ARGUMENTS,
            *EXTRACTION_ARGUMENTS,
            _arg(
                "--clinical-baseline-volume",
                action="store_true",
                help="add the measured baseline volume as the covariate clinical_baseline_volume_ml",
            ),
        ),
    ),
    Command(
        "predict",
        cmd_predict,
        "risk of hematoma expansion for one case, with a report",
        (
            *CASE_ARGUMENTS,
            *MODEL_ARGUMENTS,
            *CHECKLIST_ARGUMENTS,
            _arg(
                "--out",
                required=True,
                type=Path,
                help="result folder: a new or empty one, or one with an earlier result, which is replaced "
                "as a whole; the files of a run appear together or not at all",
            ),
            _arg(
                "--overwrite",
                action="store_true",
                help="also write into a folder that holds other files (they are kept beside the result)",
            ),
            _arg("--case-label", default=None, help="name shown in the report (default: the CT file name)"),
            _arg(
                "--clinical",
                nargs="+",
                default=[],
                metavar="NAME=VALUE",
                help="clinical covariates the model needs, e.g. onset_to_ct_h=2.5 gcs=14 anticoagulation=0 "
                "(names with or without the clinical_ prefix)",
            ),
        ),
    ),
    Command(
        "predict-cohort",
        cmd_predict_cohort,
        "predict every case of a manifest (resumable)",
        (
            _arg("manifest", type=Path, help="manifest CSV (case_id, ct, hematoma[, segment], ...)"),
            _arg("--out", required=True, type=Path, help="output folder"),
            *MODEL_ARGUMENTS,
            _arg("--jobs", type=int, default=1, help="worker processes (0: one per core)"),
            _arg("--strict", action="store_true", help="stop at the first failing case"),
            _arg("--scheduler", default=None, help=SCHEDULER_HELP),
            *QUIET_ARGUMENTS,
        ),
    ),
    Command(
        "models",
        cmd_models,
        "list installed models",
        (_arg("--model-dir", type=Path, action="append", default=[], help="extra model folder"),),
    ),
    Command(
        "seal-model",
        cmd_seal_model,
        "re-seal a model bundle after a deliberate edit of its model.json: check the card against the "
        "schema and model.npz, then record the card's new SHA-256 (card_sha256)",
        (_arg("folder", type=Path, help="model folder (model.json + model.npz)"),),
    ),
    Command(
        "train",
        cmd_train,
        "fit radiomics-only, deep-only, fused, clinical and combined LASSO-SVM models on the training "
        "rows of a feature table; evaluate them on both sets; write model bundles, metrics.json and report.html",
        (
            _arg("features", type=Path, help="feature table (CSV), e.g. from extract-cohort"),
            _arg("--out", required=True, type=Path, help="output folder (bundles, metrics, report)"),
            *TABLE_ARGUMENTS,
            _arg("--train-value", default="train", help="split value of the training rows"),
            _arg("--test-value", default="test", help="split value of the test rows"),
            _arg(
                "--kinds",
                default="radiomics,deep,fused",
                help="comma-separated model kinds: radiomics, deep, fused, clinical (clinical_* columns), "
                "combined (imaging features + clinical_* columns)",
            ),
            _arg(
                "--impute",
                choices=["median"],
                default=None,
                help="fill missing clinical_* values with the training median (recorded in the cards); "
                "without it a missing value is refused",
            ),
            _arg("--seed", type=int, default=2024, help="seed of the CV folds and any 80/20 split"),
            _arg("--lambda-rule", choices=["1se", "min"], default="1se", help="LASSO lambda choice"),
            _arg("--no-univariate-filter", action="store_true", help="skip the Mann-Whitney filter"),
            _arg("--no-correlation-prune", action="store_true", help="skip |Spearman| > 0.9 pruning"),
            _arg("--model-id-prefix", default="hematoma-expansion", help="bundles are PREFIX-<kind>"),
            _arg("--intended-use", default=None, help="note shown with each model (e.g. data, limits)"),
        ),
    ),
    Command(
        "evaluate",
        cmd_evaluate,
        "evaluate model bundles on a feature table; write metrics and report",
        (
            _arg("--models", required=True, nargs="+", type=Path, help="model bundle folders"),
            _arg("--features", required=True, type=Path, help="feature table (CSV)"),
            _arg("--out", required=True, type=Path, help="output folder (metrics, report)"),
            _arg("--split", default="test", help="rows whose split column has this value, or 'all'"),
            *TABLE_ARGUMENTS,
        ),
    ),
    Command(
        "phantom",
        cmd_phantom,
        "write a synthetic head-CT phantom case",
        (
            _arg("--out", required=True, type=Path),
            _arg("--case-id", default="phantom"),
            _arg("--seed", type=int, default=0),
            _arg("--preset", choices=["clinical", "thin"], default="clinical"),
            _arg("--volume-ml", type=float, default=30.0),
            _arg("--lobulation", type=float, default=0.0),
            _arg("--tilt-deg", type=float, default=0.0),
        ),
    ),
    Command(
        "phantom-cohort",
        cmd_phantom_cohort,
        "write a synthetic validation cohort (phantom CTs, segmentations, manifest.csv) whose "
        "expansion follows the ground-truth model of docs/ground_truth_model.md",
        (
            _arg("--n", type=int, default=235, help="number of cases"),
            _arg("--out", required=True, type=Path, help="output folder"),
            _arg("--seed", type=int, default=0, help="cohort seed (cases and split)"),
            _arg("--test-fraction", type=float, default=0.2, help="share of test cases"),
            _arg("--jobs", type=int, default=1, help="worker processes"),
            _arg("--scheduler", default=None, help=SCHEDULER_HELP),
            *QUIET_ARGUMENTS,
        ),
    ),
    Command(
        "sign-phantoms",
        cmd_sign_phantoms,
        "write phantom CTs with each conventional sign at known size, contrast and position, sign-free "
        "and tricky controls, and manifest.csv with the truth (docs/sign_validation)",
        (
            _arg("--out", required=True, type=Path, help="output folder"),
            _arg("--n-per-sign", type=int, default=40, help="cases per sign, half above its threshold"),
            _arg("--n-per-control", type=int, default=10, help="cases per control scenario"),
            _arg("--seed", type=int, default=0, help="seed of every case"),
            _arg("--jobs", type=int, default=1, help="worker processes"),
            *QUIET_ARGUMENTS,
        ),
    ),
    Command(
        "validate-signs",
        cmd_validate_signs,
        "measure the signs on every sign phantom and write sensitivity and specificity per sign with "
        "95%% Wilson intervals, per-case calls, example figures and README.md into --out",
        (
            _arg("--manifest", required=True, type=Path, help="manifest.csv written by sign-phantoms"),
            _arg("--out", required=True, type=Path, help="report folder (e.g. docs/sign_validation)"),
            _arg("--jobs", type=int, default=1, help="worker processes"),
            *QUIET_ARGUMENTS,
        ),
    ),
    Command(
        "demo",
        cmd_demo,
        "run the main job on the bundled sample case",
        (
            _arg("--out", type=Path, default=Path("build/demo")),
            _arg("--model", default=None, help=MODEL_HELP),
            _arg("--device", default="auto"),
        ),
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="python -m HematomaExpansionLib",
        description="Hematoma expansion prediction from the first non-contrast head CT (research use only).",
    )
    parser.add_argument("--version", action="version", version=f"HematomaExpansion {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        sub.set_defaults(handler=command.handler)
        for argument in command.arguments:
            sub.add_argument(*argument.flags, **argument.options)
    return parser
