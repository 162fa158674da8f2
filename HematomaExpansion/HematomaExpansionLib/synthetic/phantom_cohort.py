"""Write the synthetic validation cohort: phantom case files, ``manifest.csv`` and the ceiling AUC.

The cases, their labels and the split come from :mod:`.ground_truth`; this module makes their
images (:mod:`.phantom`) and writes them, in worker processes if asked. The output depends only
on ``n``, ``seed`` and ``test_fraction``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cohort.runner import map_in_order
from ..common.atomic import write_text_atomic
from ..common.errors import InputError
from ..evaluation.roc import delong_ci
from .case_files import write_case
from .ground_truth import (
    MAX_PHANTOM_ATTEMPTS,
    CaseParameters,
    clinical_covariates,
    followup_volume_ml,
    phantom_seeds,
    plan_cohort,
    sample_case,
)
from .phantom import Phantom, generate_phantom

logger = logging.getLogger(__name__)


MANIFEST_COLUMNS = (
    "case_id",
    "ct",
    "hematoma",
    "label",
    "followup_volume_ml",
    "split",
    "baseline_volume_ml",
    "clinical_onset_to_ct_h",
    "clinical_gcs",
    "clinical_anticoagulation",
    "clinical_sbp_mmhg",
    "true_probability",
    "true_image_logit",
    "true_unobserved_logit",
    "true_volume_ml",
    "true_lobulation",
    "true_heterogeneity_hu",
    "true_blend_fraction",
    "true_blend_hu",
    "true_n_hypodense_foci",
    "true_focus_radius_mm",
    "true_focus_hu",
    "true_mean_hu",
    "true_semi_axis_ratios",
    "true_yaw_deg",
    "true_oedema_mm",
    "true_oedema_hu",
    "true_offset_mm",
    "true_preset",
    "true_slice_mm",
    "true_tilt_deg",
    "true_axes_order",
    "true_flip_axes",
    "true_noise_sd_hu",
    "true_phantom_seed",
)


def _number(value: float) -> str:
    return f"{value:.10g}"


def _vector(values: Any) -> str:
    return " ".join(_number(float(v)) for v in values)


def _make_phantom(case: CaseParameters, seed: int) -> Phantom:
    """The case's phantom: if the hematoma does not fit in the brain or field of view, the next
    phantom seed of the case is tried (new lobe pattern and site; same parameters and label)."""
    for phantom_seed in phantom_seeds(seed, case.index):
        try:
            return generate_phantom(
                case.hematoma,
                preset=case.preset,
                seed=phantom_seed,
                noise_sd_hu=case.noise_sd_hu,
                slice_mm=case.slice_mm,
                tilt_deg=case.tilt_deg,
                axes_order=case.axes_order,
                flip_axes=case.flip_axes,
            )
        except InputError as error:
            logger.debug("%s: phantom seed %d does not fit (%s)", case.case_id, phantom_seed, error)
    raise RuntimeError(f"{case.case_id}: no phantom seed fits after {MAX_PHANTOM_ATTEMPTS} attempts")


def _manifest_row(
    case: CaseParameters, truth: dict[str, Any], files: dict[str, str], clinical: dict[str, float]
) -> dict[str, str]:
    """The manifest row of a case (without ``split``): files, label, volumes, covariates and the truth."""
    baseline_ml = float(truth["volume_ml"])
    spec = case.hematoma
    return {
        **{name: _number(value) for name, value in clinical.items()},
        "case_id": case.case_id,
        "ct": files["ct"],
        "hematoma": files["hematoma"],
        "label": str(case.label),
        "followup_volume_ml": _number(followup_volume_ml(baseline_ml, case.growth_factor)),
        "baseline_volume_ml": _number(baseline_ml),
        "true_probability": _number(case.true_probability),
        "true_image_logit": _number(case.image_logit),
        "true_unobserved_logit": _number(case.unobserved_logit),
        "true_volume_ml": _number(spec.volume_ml),
        "true_lobulation": _number(spec.lobulation),
        "true_heterogeneity_hu": _number(spec.heterogeneity_hu),
        "true_blend_fraction": _number(spec.blend_fraction),
        "true_blend_hu": _number(spec.blend_hu),
        "true_n_hypodense_foci": str(spec.n_hypodense_foci),
        "true_focus_radius_mm": _number(spec.focus_radius_mm),
        "true_focus_hu": _number(spec.focus_hu),
        "true_mean_hu": _number(spec.mean_hu),
        "true_semi_axis_ratios": _vector(spec.semi_axis_ratios),
        "true_yaw_deg": _number(spec.yaw_deg),
        "true_oedema_mm": _number(spec.oedema_mm),
        "true_oedema_hu": _number(spec.oedema_hu),
        "true_offset_mm": _vector(truth["offset_mm"]),
        "true_preset": case.preset,
        "true_slice_mm": _number(case.slice_mm),
        "true_tilt_deg": _number(case.tilt_deg),
        "true_axes_order": " ".join(str(a) for a in case.axes_order),
        "true_flip_axes": " ".join(str(int(f)) for f in case.flip_axes),
        "true_noise_sd_hu": _number(case.noise_sd_hu),
        "true_phantom_seed": str(truth["seed"]),
    }


def generate_case(seed: int, index: int, cases_dir: str | os.PathLike) -> dict[str, Any]:
    """Make and write case ``index``; return its manifest row (without ``split``) and byte count."""
    case = sample_case(seed, index)
    phantom = _make_phantom(case, seed)
    paths = write_case(phantom, cases_dir, case.case_id)
    files = {role: f"{Path(cases_dir).name}/{paths[role].name}" for role in ("ct", "hematoma")}
    n_bytes = sum(p.stat().st_size for p in paths.values())
    clinical = clinical_covariates(seed, index, case.unobserved_logit)
    return {"row": _manifest_row(case, phantom.truth, files, clinical), "bytes": n_bytes}


@dataclass(frozen=True)
class CohortSummary:
    """What ``generate_cohort`` wrote, with the ceiling AUC (AUC of the true probabilities)."""

    n: int
    n_positive: int
    n_train: int
    n_test: int
    n_test_positive: int
    ceiling_auc: float
    ceiling_auc_ci: tuple[float, float]
    ceiling_auc_test: float
    seed: int
    manifest_path: Path
    total_bytes: int
    elapsed_s: float

    @property
    def positive_rate(self) -> float:
        return self.n_positive / self.n

    def lines(self) -> list[str]:
        """Human-readable summary."""

        def auc_text(value: float) -> str:
            return "n/a (one class only)" if math.isnan(value) else f"{value:.3f}"

        ci = (
            ""
            if math.isnan(self.ceiling_auc_ci[0])
            else " (95% CI {:.3f}-{:.3f})".format(*self.ceiling_auc_ci)
        )
        return [
            f"cases: {self.n} (seed {self.seed}), expanding: {self.n_positive} ({100 * self.positive_rate:.1f}%)",
            f"split: {self.n_train} train / {self.n_test} test ({self.n_test_positive} expanding in test)",
            f"ceiling AUC (true probabilities): {auc_text(self.ceiling_auc)}{ci}",
            f"ceiling AUC on the test split: {auc_text(self.ceiling_auc_test)}",
            f"manifest: {self.manifest_path}",
            f"size on disk: {self.total_bytes / 2**20:.1f} MiB; time: {self.elapsed_s:.1f} s",
        ]


def _ceiling(labels: np.ndarray, probabilities: np.ndarray) -> tuple[float, tuple[float, float]]:
    if np.unique(labels).size < 2:
        return math.nan, (math.nan, math.nan)
    result = delong_ci(labels, probabilities)
    return result.auc, (result.ci_low, result.ci_high)


def _check_arguments(n: int, out: Path, test_fraction: float, jobs: int) -> None:
    problems = []
    if not isinstance(n, int) or n < 1:
        problems.append(f"n={n!r} must be a positive integer")
    if not 0.0 < test_fraction < 1.0:
        problems.append(f"test_fraction={test_fraction!r} must lie strictly between 0 and 1")
    if not isinstance(jobs, int) or jobs < 1:
        problems.append(f"jobs={jobs!r} must be a positive integer")
    if out.exists() and not out.is_dir():
        problems.append(f"output folder {out} exists and is not a folder")
    if problems:
        raise InputError("phantom cohort: " + "; ".join(problems))


def _generate_cases(
    n: int,
    seed: int,
    cases_dir: Path,
    jobs: int,
    progress: Callable[[int, int], None] | None,
    scheduler: Any = None,
) -> list[dict[str, Any]]:
    """:func:`generate_case` for cases 0 .. n-1, here, on a local cluster of ``jobs`` worker processes
    or on a Dask cluster (``scheduler``, a ``distributed.Client``), in order."""
    calls = [(seed, index, str(cases_dir.resolve())) for index in range(n)]
    return map_in_order(generate_case, calls, jobs, progress, client=scheduler, writes_to=cases_dir)


def _write_manifest(path: Path, rows: list[dict[str, str]], split: list[str]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row, part in zip(rows, split, strict=True):
        writer.writerow({**row, "split": part})
    return write_text_atomic(path, buffer.getvalue())


def generate_cohort(
    n: int,
    out_dir: str | os.PathLike,
    seed: int,
    test_fraction: float = 0.2,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    scheduler: Any = None,
) -> CohortSummary:
    """Write ``n`` phantom cases under ``out_dir/cases`` and ``out_dir/manifest.csv``.

    The output depends only on ``n``, ``seed`` and ``test_fraction`` (byte-identical for any
    ``jobs`` or ``scheduler``). ``progress(done, n)`` is called after each case. With ``scheduler``
    (a ``distributed.Client``) the cases are made on its Dask cluster, which must share ``out_dir``.
    """
    out = Path(out_dir)
    _check_arguments(n, out, test_fraction, jobs)
    start = time.perf_counter()
    plan = plan_cohort(n, seed, test_fraction)
    cases_dir = out / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    ordered = _generate_cases(n, seed, cases_dir, jobs, progress, scheduler)
    manifest = _write_manifest(out / "manifest.csv", [r["row"] for r in ordered], plan.split)

    labels = np.array([case.label for case in plan.cases], dtype=int)
    probabilities = np.array([case.true_probability for case in plan.cases], dtype=float)
    test = np.array(plan.split) == "test"
    ceiling, ceiling_ci = _ceiling(labels, probabilities)
    summary = CohortSummary(
        n=n,
        n_positive=int(labels.sum()),
        n_train=int((~test).sum()),
        n_test=int(test.sum()),
        n_test_positive=int(labels[test].sum()),
        ceiling_auc=ceiling,
        ceiling_auc_ci=ceiling_ci,
        ceiling_auc_test=_ceiling(labels[test], probabilities[test])[0],
        seed=seed,
        manifest_path=manifest,
        total_bytes=sum(r["bytes"] for r in ordered) + manifest.stat().st_size,
        elapsed_s=time.perf_counter() - start,
    )
    logger.info("phantom cohort written: %s", "; ".join(summary.lines()))
    return summary
