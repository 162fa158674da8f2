"""The synthetic cohort's ground truth: parameter distributions, expansion model, and the cases drawn.

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
label by construction. The synthetic clinical covariates (:func:`clinical_covariates`) are noisy
functions of the unobserved factor drawn from a fifth stream, so they change no other draw.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ..cohort.labels import ExpansionDefinition, assign_split
from ..common.errors import InputError
from .spec import HematomaSpec

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


_HEMATOMA, _ACQUISITION, _OUTCOME, _PHANTOM, _CLINICAL = range(5)


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


@dataclass(frozen=True)
class ClinicalModel:
    """Synthetic covariates as noisy functions of the unobserved factor e (docs/ground_truth_model.md)."""

    onset_median_h: float = 3.0
    onset_per_e: float = -0.5  # ln(hours) per unit of e: expanding patients come earlier
    onset_noise_sd: float = 0.5
    onset_range_h: tuple[float, float] = (0.5, 24.0)
    gcs_mean: float = 13.0
    gcs_per_e: float = -1.0
    gcs_noise_sd: float = 1.5
    anticoagulation_intercept: float = -1.6
    anticoagulation_per_e: float = 1.0
    sbp_mean_mmhg: float = 165.0
    sbp_per_e_mmhg: float = 15.0
    sbp_noise_sd_mmhg: float = 20.0
    sbp_range_mmhg: tuple[float, float] = (90.0, 250.0)


CLINICAL_MODEL = ClinicalModel()


def clinical_covariates(seed: int, index: int, unobserved_logit: float) -> dict[str, float]:
    """The synthetic covariates of case ``index`` (manifest columns ``clinical_*``).

    Drawn from the case's own clinical stream, so that the hematoma, acquisition, outcome and phantom
    streams, and with them the images and labels, are those of a cohort without covariates.
    """
    m = CLINICAL_MODEL
    rng = _stream(seed, index, _CLINICAL)
    z = rng.standard_normal(3)
    u = float(rng.random())
    log_onset = math.log(m.onset_median_h) + m.onset_per_e * unobserved_logit + m.onset_noise_sd * z[0]
    gcs = m.gcs_mean + m.gcs_per_e * unobserved_logit + m.gcs_noise_sd * z[1]
    sbp = m.sbp_mean_mmhg + m.sbp_per_e_mmhg * unobserved_logit + m.sbp_noise_sd_mmhg * z[2]
    anticoagulated = u < expit(m.anticoagulation_intercept + m.anticoagulation_per_e * unobserved_logit)
    return {
        "clinical_onset_to_ct_h": round(float(np.clip(math.exp(log_onset), *m.onset_range_h)), 1),
        "clinical_gcs": float(np.clip(round(gcs), 3, 15)),
        "clinical_anticoagulation": float(anticoagulated),
        "clinical_sbp_mmhg": float(np.clip(round(sbp), *m.sbp_range_mmhg)),
    }


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
    (:func:`..cohort.labels.assign_split`, the split ``extract-cohort`` draws for manifests without one)."""
    cases = sample_parameters(n, seed)
    try:
        split = assign_split([case.label for case in cases], seed=seed, test_fraction=test_fraction)
    except InputError as error:
        raise InputError(
            f"phantom cohort of {n} cases with seed {seed} cannot be split ({error}); "
            "use a larger n or another seed"
        ) from error
    return CohortPlan(cases, split)
