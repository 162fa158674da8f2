"""Synthetic validation cohort: phantom cases whose expansion follows a fixed ground-truth model.

The model and every parameter distribution are documented in docs/ground_truth_model.md; the
constants below are that page in code and must not be tuned to favour any classifier. In short:
the log-odds of expansion rise with lobulation, density heterogeneity (texture SD, blend
fraction), hypodense foci and log baseline volume; an unobserved factor ~ N(0, 1) adds to them;
the label is drawn from the resulting probability. ``true_probability`` is the probability given
the image parameters (the unobserved factor averaged out), so its AUC is the ceiling any
image-based model can reach.

Each case draws its hematoma, acquisition, outcome and phantom seeds from separate streams of
``SeedSequence(seed, spawn_key=(0, index))``: case ``index`` is identical whatever ``n`` or
``jobs``, and the acquisition (slice thickness, tilt, axis order, noise) is independent of the
label by construction.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import logging
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from ..cohort.manifest import ExpansionDefinition, assign_split
from ..common.atomic import write_text_atomic
from ..common.errors import InputError
from ..evaluation.metrics import delong_ci
from ..synthetic.phantom import HematomaSpec, generate_phantom, write_case

logger = logging.getLogger(__name__)

# The labels follow the default expansion definition (growth >= 6 mL or >= 33% of the baseline).
EXPANSION = ExpansionDefinition()

# Parameter distributions (docs/ground_truth_model.md, "Case parameters").
VOLUME_RANGE_ML = (2.0, 80.0)
LOBULATION_MAX = 0.35
HETEROGENEITY_MAX_HU = 12.0
BLEND_PROBABILITY = 0.4
FOCI_PROBABILITIES = (0.45, 0.20, 0.15, 0.10, 0.10)  # 0, 1, 2, 3, 4 hypodense foci
SLICE_CHOICES_MM = (5.0, 4.0, 3.0, 2.0, 1.0)
SLICE_PROBABILITIES = (0.45, 0.10, 0.10, 0.15, 0.20)
THIN_PRESET_MAX_SLICE_MM = 2.0
TILT_PROBABILITY = 0.35
REORDER_PROBABILITY = 0.10
# Every (axis permutation, flip flags) pair; entry 0 is the identity.
AXIS_LAYOUTS = tuple(
    itertools.product(itertools.permutations(range(3)), itertools.product((False, True), repeat=3))
)
MAX_PHANTOM_ATTEMPTS = 50

_GAUSS_HERMITE_NODES, _GAUSS_HERMITE_WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_GAUSS_HERMITE_WEIGHTS = _GAUSS_HERMITE_WEIGHTS / _GAUSS_HERMITE_WEIGHTS.sum()


@dataclass(frozen=True)
class GroundTruthModel:
    """Log-odds of expansion from the hematoma's image parameters (see docs/ground_truth_model.md)."""

    intercept: float = -5.8
    per_lobulation: float = 10.0
    per_heterogeneity_hu: float = 0.20
    per_blend_fraction: float = 5.0
    per_hypodense_focus: float = 0.80
    per_log_volume: float = 1.0
    reference_volume_ml: float = 15.0
    unobserved_sd: float = 1.0

    def image_logit(self, hematoma: HematomaSpec) -> float:
        """eta: the log-odds carried by the image parameters (without the unobserved factor)."""
        return float(
            self.intercept
            + self.per_lobulation * hematoma.lobulation
            + self.per_heterogeneity_hu * hematoma.heterogeneity_hu
            + self.per_blend_fraction * hematoma.blend_fraction
            + self.per_hypodense_focus * hematoma.n_hypodense_foci
            + self.per_log_volume * math.log(hematoma.volume_ml / self.reference_volume_ml)
        )

    def probability(self, image_logit: float | np.ndarray) -> float | np.ndarray:
        """P(expansion | image) = E[sigmoid(eta + e)], e ~ N(0, unobserved_sd^2) (Gauss-Hermite)."""
        eta = np.asarray(image_logit, dtype=float)
        values = expit(eta[..., None] + self.unobserved_sd * _GAUSS_HERMITE_NODES) @ _GAUSS_HERMITE_WEIGHTS
        return float(values) if values.ndim == 0 else values


GROUND_TRUTH = GroundTruthModel()


def expansion_threshold_ml(baseline_ml: float) -> float:
    """Smallest growth (mL) that counts as expansion under the default definition."""
    return min(EXPANSION.absolute_ml, EXPANSION.relative * baseline_ml)


def followup_volume_ml(baseline_ml: float, growth_factor: float) -> float:
    """Follow-up volume: baseline + ``growth_factor`` x the expansion threshold of the baseline.

    A factor >= 1 expands under the default definition, a factor < 1 does not; the cohort draws
    1.1-4 for expanding cases and -0.5 to 0.9 for stable ones.
    """
    return baseline_ml + growth_factor * expansion_threshold_ml(baseline_ml)


@dataclass(frozen=True)
class CaseParameters:
    """Everything drawn for one case before its images are made."""

    index: int
    case_id: str
    hematoma: HematomaSpec
    preset: str
    slice_mm: float
    tilt_deg: float
    axes_order: tuple[int, int, int]
    flip_axes: tuple[bool, bool, bool]
    noise_sd_hu: float
    image_logit: float
    unobserved_logit: float
    true_probability: float
    label: int
    growth_factor: float


def _scaled(u: float, low: float, high: float) -> float:
    """A uniform(0, 1) variate mapped to uniform(low, high)."""
    return float(low + u * (high - low))


def _log_scaled(u: float, low: float, high: float) -> float:
    """A uniform(0, 1) variate mapped to log-uniform(low, high)."""
    return float(np.exp(_scaled(u, np.log(low), np.log(high))))


def _category(u: float, probabilities: tuple[float, ...]) -> int:
    """Index drawn from ``probabilities`` by inverting their cumulative sum at ``u``."""
    return min(bisect.bisect_right(list(itertools.accumulate(probabilities)), u), len(probabilities) - 1)


def _stream(seed: int, index: int, part: int) -> np.random.Generator:
    """Stream ``part`` of case ``index``: child ``part`` of ``SeedSequence(seed, spawn_key=(0, index))``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, index, part)))


_HEMATOMA, _ACQUISITION, _OUTCOME, _PHANTOM = range(4)


def _draw_hematoma(u: np.ndarray) -> HematomaSpec:
    """Hematoma parameters from 15 uniform variates (one per parameter, whatever the branch)."""
    mean_hu = _scaled(u[4], 55.0, 75.0)
    return HematomaSpec(
        volume_ml=_log_scaled(u[0], *VOLUME_RANGE_ML),
        offset_mm=None,
        semi_axis_ratios=(1.0, _log_scaled(u[1], 0.9, 1.6), _log_scaled(u[2], 0.7, 1.2)),
        yaw_deg=_scaled(u[3], -40.0, 40.0),
        lobulation=_scaled(u[5], 0.0, LOBULATION_MAX),
        mean_hu=mean_hu,
        heterogeneity_hu=_scaled(u[6], 0.0, HETEROGENEITY_MAX_HU),
        blend_fraction=_scaled(u[8], 0.10, 0.45) if u[7] < BLEND_PROBABILITY else 0.0,
        blend_hu=mean_hu - _scaled(u[9], 15.0, 30.0),
        n_hypodense_foci=_category(u[10], FOCI_PROBABILITIES),
        focus_radius_mm=_scaled(u[11], 2.0, 4.0),
        focus_hu=_scaled(u[12], 20.0, 35.0),
        oedema_mm=_scaled(u[13], 0.0, 6.0),
        oedema_hu=_scaled(u[14], 14.0, 22.0),
    )


def sample_case(seed: int, index: int) -> CaseParameters:
    """Draw case ``index`` of the cohort with ``seed`` (no images; fast)."""
    hematoma = _draw_hematoma(_stream(seed, index, _HEMATOMA).random(15))

    u = _stream(seed, index, _ACQUISITION).random(6)
    slice_mm = SLICE_CHOICES_MM[_category(u[0], SLICE_PROBABILITIES)]
    tilt_deg = _scaled(u[2], 5.0, 20.0) if u[1] < TILT_PROBABILITY else 0.0
    layout = 1 + min(int(u[4] * (len(AXIS_LAYOUTS) - 1)), len(AXIS_LAYOUTS) - 2)
    axes_order, flip_axes = AXIS_LAYOUTS[layout if u[3] < REORDER_PROBABILITY else 0]

    outcome = _stream(seed, index, _OUTCOME)
    eta = GROUND_TRUTH.image_logit(hematoma)
    unobserved = GROUND_TRUTH.unobserved_sd * float(outcome.standard_normal())
    v = outcome.random(3)
    label = int(v[0] < expit(eta + unobserved))
    return CaseParameters(
        index=index,
        case_id=f"phantom_{index:04d}",
        hematoma=hematoma,
        preset="thin" if slice_mm <= THIN_PRESET_MAX_SLICE_MM else "clinical",
        slice_mm=slice_mm,
        tilt_deg=tilt_deg,
        axes_order=tuple(axes_order),
        flip_axes=tuple(flip_axes),
        noise_sd_hu=_scaled(u[5], 3.0, 8.0),
        image_logit=eta,
        unobserved_logit=unobserved,
        true_probability=float(GROUND_TRUTH.probability(eta)),
        label=label,
        growth_factor=_log_scaled(v[1], 1.1, 4.0) if label else _scaled(v[2], -0.5, 0.9),
    )


def phantom_seeds(seed: int, index: int) -> list[int]:
    """Phantom generator seeds to try, in order, for case ``index``."""
    return _stream(seed, index, _PHANTOM).integers(0, 2**31 - 1, size=MAX_PHANTOM_ATTEMPTS).tolist()


def sample_parameters(n: int, seed: int) -> list[CaseParameters]:
    """Cases 0 .. n-1 of the cohort with ``seed``, parameters only."""
    return [sample_case(seed, index) for index in range(n)]


@dataclass(frozen=True)
class CohortPlan:
    """The cases of a cohort and their train/test split, before any image is made."""

    cases: list[CaseParameters]
    split: list[str]


def plan_cohort(n: int, seed: int, test_fraction: float = 0.2) -> CohortPlan:
    """Sample cases 0 .. n-1 and split them: stratified by label, seeded by ``seed``
    (:func:`cohort.assign_split`, the split ``extract-cohort`` draws for manifests without one)."""
    cases = sample_parameters(n, seed)
    try:
        split = assign_split([case.label for case in cases], seed=seed, test_fraction=test_fraction)
    except InputError as error:
        raise InputError(
            f"phantom cohort of {n} cases with seed {seed} cannot be split ({error}); "
            "use a larger n or another seed"
        ) from error
    return CohortPlan(cases, split)


# --------------------------------------------------------------------------- writing


MANIFEST_COLUMNS = (
    "case_id",
    "ct",
    "hematoma",
    "label",
    "followup_volume_ml",
    "split",
    "baseline_volume_ml",
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


def generate_case(seed: int, index: int, cases_dir: str | os.PathLike) -> dict[str, Any]:
    """Make and write case ``index``; return its manifest row (without ``split``) and byte count.

    If the hematoma does not fit in the brain or field of view, the next phantom seed of the case
    is tried (new lobe pattern and site; same parameters and label).
    """
    case = sample_case(seed, index)
    for phantom_seed in phantom_seeds(seed, index):
        try:
            phantom = generate_phantom(
                case.hematoma,
                preset=case.preset,
                seed=phantom_seed,
                noise_sd_hu=case.noise_sd_hu,
                slice_mm=case.slice_mm,
                tilt_deg=case.tilt_deg,
                axes_order=case.axes_order,
                flip_axes=case.flip_axes,
            )
            break
        except InputError as error:
            logger.debug("%s: phantom seed %d does not fit (%s)", case.case_id, phantom_seed, error)
    else:
        raise RuntimeError(f"{case.case_id}: no phantom seed fits after {MAX_PHANTOM_ATTEMPTS} attempts")
    paths = write_case(phantom, cases_dir, case.case_id)
    truth = phantom.truth
    baseline_ml = float(truth["volume_ml"])
    spec = case.hematoma
    row = {
        "case_id": case.case_id,
        "ct": f"{Path(cases_dir).name}/{paths['ct'].name}",
        "hematoma": f"{Path(cases_dir).name}/{paths['hematoma'].name}",
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
    n_bytes = sum(p.stat().st_size for p in paths.values())
    return {"row": row, "bytes": n_bytes}


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


def generate_cohort(
    n: int,
    out_dir: str | os.PathLike,
    seed: int,
    test_fraction: float = 0.2,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> CohortSummary:
    """Write ``n`` phantom cases under ``out_dir/cases`` and ``out_dir/manifest.csv``.

    The output depends only on ``n``, ``seed`` and ``test_fraction`` (byte-identical for any
    ``jobs``). ``progress(done, n)`` is called after each case.
    """
    problems = []
    if not isinstance(n, int) or n < 1:
        problems.append(f"n={n!r} must be a positive integer")
    if not 0.0 < test_fraction < 1.0:
        problems.append(f"test_fraction={test_fraction!r} must lie strictly between 0 and 1")
    if not isinstance(jobs, int) or jobs < 1:
        problems.append(f"jobs={jobs!r} must be a positive integer")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        problems.append(f"output folder {out} exists and is not a folder")
    if problems:
        raise InputError("phantom cohort: " + "; ".join(problems))

    start = time.perf_counter()
    plan = plan_cohort(n, seed, test_fraction)
    cases_dir = out / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Any]] = {}
    if jobs == 1:
        for index in range(n):
            results[index] = generate_case(seed, index, cases_dir)
            if progress:
                progress(len(results), n)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(generate_case, seed, index, cases_dir): index for index in range(n)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress:
                    progress(len(results), n)
    ordered = [results[index] for index in range(n)]
    labels = np.array([case.label for case in plan.cases], dtype=int)
    probabilities = np.array([case.true_probability for case in plan.cases], dtype=float)

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result, part in zip(ordered, plan.split, strict=True):
        writer.writerow({**result["row"], "split": part})
    manifest = write_text_atomic(out / "manifest.csv", buffer.getvalue())

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
