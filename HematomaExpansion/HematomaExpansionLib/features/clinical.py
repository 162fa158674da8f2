"""Clinical covariates: the feature family of values a clinician gives (onset-to-CT time, GCS, ...).

Covariates are declared by name, never guessed: a feature-table or manifest column is a covariate
when its name starts with ``clinical_``; the unit is the end of the name (``clinical_onset_to_ct_h``,
``clinical_sbp_mmhg``), and the values are numbers or 0/1 (``binary``). A column whose training
values are all 0 or 1 is binary, any other numeric. Known covariates carry a plausible range
(:data:`PLAUSIBLE_RANGES`); others are unbounded. The clinical feature family
(``families.ClinicalFamily``) has the list of its :class:`CovariateSpec` as its identity, recorded
in the model card's ``extractor`` under ``clinical_covariates``.

``clinical_baseline_volume_ml`` is measured, not asked: ``extract-cohort --clinical-baseline-volume``
copies the measured baseline volume into it, and prediction measures it on the segmentation.
Importing this module is cheap (standard library only), like :mod:`.families`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..common.errors import InputError

CLINICAL_PREFIX = "clinical_"
IDENTITY_KEY = "clinical_covariates"
#: The covariate measured on the segmentation (the baseline hematoma volume), never asked for.
MEASURED_BASELINE_VOLUME = "clinical_baseline_volume_ml"
#: Unit by the end of the name (longest match wins).
UNIT_SUFFIXES = {
    "_h": "h",
    "_min": "min",
    "_d": "d",
    "_y": "years",
    "_mmhg": "mmHg",
    "_ml": "mL",
    "_kg": "kg",
    "_mg_dl": "mg/dL",
    "_mmol_l": "mmol/L",
    "_pct": "%",
    "_bpm": "1/min",
    "_inr": "INR",
}
#: The covariate the BAT score of the measured signs also uses.
ONSET_TO_CT = "clinical_onset_to_ct_h"
#: Plausible ranges (minimum, maximum) of known covariates; a value outside is refused.
PLAUSIBLE_RANGES: dict[str, tuple[float | None, float | None]] = {
    "clinical_gcs": (3.0, 15.0),
    "clinical_nihss": (0.0, 42.0),
    ONSET_TO_CT: (0.0, 72.0),
    "clinical_sbp_mmhg": (40.0, 300.0),
    "clinical_dbp_mmhg": (20.0, 200.0),
    "clinical_age_y": (0.0, 120.0),
    MEASURED_BASELINE_VOLUME: (0.0, None),
}
_BINARY_TEXT = {"0": 0.0, "1": 1.0, "no": 0.0, "yes": 1.0, "false": 0.0, "true": 1.0}


@dataclass(frozen=True)
class CovariateSpec:
    """One covariate a model uses: its column name, unit, kind and allowed range (None: open)."""

    name: str
    unit: str
    kind: Literal["numeric", "binary"]
    minimum: float | None = None
    maximum: float | None = None

    @property
    def short_name(self) -> str:
        """The name without the ``clinical_`` prefix (``gcs``), as ``predict --clinical`` takes it."""
        return self.name.removeprefix(CLINICAL_PREFIX)

    @property
    def measured(self) -> bool:
        """True for the covariate measured on the segmentation instead of asked for."""
        return self.name == MEASURED_BASELINE_VOLUME

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the model card's ``extractor.clinical_covariates`` entries)."""
        return asdict(self)

    def problem(self, value: float) -> str | None:
        """What is wrong with ``value`` for this covariate, or None."""
        if not math.isfinite(value):
            return f"{self.short_name}={value} is not a finite number"
        if self.kind == "binary" and value not in (0.0, 1.0):
            return f"{self.short_name}={value:g} must be 0 or 1"
        low = self.minimum if self.minimum is not None else -math.inf
        high = self.maximum if self.maximum is not None else math.inf
        if not low <= value <= high:
            return f"{self.short_name}={value:g} is outside {_range_text(self)}"
        return None


def _range_text(spec: CovariateSpec) -> str:
    low = "-inf" if spec.minimum is None else f"{spec.minimum:g}"
    high = "inf" if spec.maximum is None else f"{spec.maximum:g}"
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{low}-{high}{unit}"


def is_clinical(name: str) -> bool:
    """True for a covariate column name (``clinical_*``)."""
    return name.startswith(CLINICAL_PREFIX) and len(name) > len(CLINICAL_PREFIX)


def unit_of(name: str) -> str:
    """The unit the end of a covariate name declares ('' when none: a score or a 0/1 flag)."""
    endings = [suffix for suffix in UNIT_SUFFIXES if name.endswith(suffix)]
    return UNIT_SUFFIXES[max(endings, key=len)] if endings else ""


def spec_for_column(name: str, values: Iterable[float]) -> CovariateSpec:
    """The spec of covariate column ``name`` from its (finite) training values: binary when all are 0/1."""
    finite = [v for v in values if math.isfinite(v)]
    binary = bool(finite) and all(v in (0.0, 1.0) for v in finite)
    if binary:
        return CovariateSpec(name, "", "binary", 0.0, 1.0)
    minimum, maximum = PLAUSIBLE_RANGES.get(name, (None, None))
    return CovariateSpec(name, unit_of(name), "numeric", minimum, maximum)


def covariate_identity(specs: Sequence[CovariateSpec]) -> list[dict[str, Any]]:
    """The family's extractor identity: the specs as JSON-ready dicts, in column order."""
    return [spec.as_dict() for spec in specs]


def specs_from_identity(identity: Sequence[Mapping[str, Any]] | None) -> list[CovariateSpec]:
    """The specs recorded by :func:`covariate_identity` (an empty list for None)."""
    return [CovariateSpec(**dict(entry)) for entry in identity or ()]


def required_covariates(bundle_or_card: Any) -> list[CovariateSpec]:
    """The covariates a user must give to predict with a model (bundle or card), in input order.

    Only the model's input features count; the measured baseline volume is left out.
    """
    card = getattr(bundle_or_card, "card", bundle_or_card)
    specs = {s.name: s for s in specs_from_identity(card.get("extractor", {}).get(IDENTITY_KEY))}
    return [specs[n] for n in card["input_features"] if n in specs and not specs[n].measured]


def _as_number(spec: CovariateSpec, value: str | float) -> float | None:
    if isinstance(value, str):
        text = value.strip().lower()
        if spec.kind == "binary" and text in _BINARY_TEXT:
            return _BINARY_TEXT[text]
        try:
            return float(text)
        except ValueError:
            return None
    return float(value)


def _canonical_names(values: Mapping[str, str | float]) -> dict[str, str | float]:
    """``values`` keyed by full column names (``gcs`` and ``clinical_gcs`` both name clinical_gcs)."""
    named: dict[str, str | float] = {}
    for key, value in values.items():
        name = key.strip()
        name = name if name.startswith(CLINICAL_PREFIX) else CLINICAL_PREFIX + name
        if name in named:
            raise InputError(f"clinical value {name.removeprefix(CLINICAL_PREFIX)!r} is given twice")
        named[name] = value
    return named


def parse_covariates(specs: Sequence[CovariateSpec], values: Mapping[str, str | float]) -> dict[str, float]:
    """The values of ``specs`` (keys with or without ``clinical_``) as floats, keyed by column name.

    Raises one InputError that names every missing, non-numeric or out-of-range value. Values of
    other names are not returned (see :func:`unused_covariates`).
    """
    named = _canonical_names(values)
    parsed: dict[str, float] = {}
    missing: list[str] = []
    problems: list[str] = []
    for spec in specs:
        given = named.get(spec.name)
        if given is None or (isinstance(given, str) and not given.strip()):
            missing.append(f"{spec.short_name} ({spec.kind}{', ' + spec.unit if spec.unit else ''})")
            continue
        number = _as_number(spec, given)
        problem = f"{spec.short_name}={given!r} is not a number" if number is None else spec.problem(number)
        if problem:
            problems.append(problem)
        else:
            parsed[spec.name] = number
    if missing or problems:
        parts = ([f"missing: {', '.join(missing)}"] if missing else []) + problems
        raise InputError(
            f"clinical values: {'; '.join(parts)}. Give each as NAME=VALUE (e.g. --clinical "
            f"{' '.join(f'{s.short_name}=...' for s in specs[:3])})"
        )
    return parsed


def onset_to_ct_h(values: Mapping[str, str | float] | None) -> float | None:
    """The onset-to-CT time among clinical values (``onset_to_ct_h``, hours), for the BAT score of the
    measured signs; None when not given. Checked like a covariate (a number in its plausible range)."""
    given = _canonical_names(values or {}).get(ONSET_TO_CT)
    if given is None or (isinstance(given, str) and not given.strip()):
        return None
    spec = CovariateSpec(ONSET_TO_CT, unit_of(ONSET_TO_CT), "numeric", *PLAUSIBLE_RANGES[ONSET_TO_CT])
    return parse_covariates([spec], {ONSET_TO_CT: given})[ONSET_TO_CT]


def unused_covariates(specs: Sequence[CovariateSpec], values: Mapping[str, str | float]) -> list[str]:
    """The names in ``values`` that are not among ``specs`` (the model does not use them)."""
    wanted = {spec.name for spec in specs}
    return [name.removeprefix(CLINICAL_PREFIX) for name in _canonical_names(values) if name not in wanted]


def covariates_from_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["gcs=14", "onset_to_ct_h=2.5"]`` (``predict --clinical``) as {name: text}; InputError when malformed."""
    values: dict[str, str] = {}
    malformed = [pair for pair in pairs if "=" not in pair or not pair.split("=", 1)[0].strip()]
    if malformed:
        raise InputError(f"--clinical takes NAME=VALUE pairs (e.g. gcs=14), not {', '.join(malformed)}")
    for pair in pairs:
        name, value = pair.split("=", 1)
        if name.strip() in values:
            raise InputError(f"--clinical gives {name.strip()!r} twice")
        values[name.strip()] = value.strip()
    return values
