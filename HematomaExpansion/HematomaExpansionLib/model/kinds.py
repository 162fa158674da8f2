"""Model kinds: which feature families a radiomics, deep, fused, clinical or combined model uses.

``combined`` uses every family: the imaging families the feature table holds (radiomics, deep or
both) plus the clinical covariates. A model's extractor identity covers the families its features
belong to (:func:`families_of`), so a combined model of a radiomics-only table records no deep
identity.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..common.errors import InputError
from ..features.families import FEATURE_FAMILIES, feature_family

FAMILIES_BY_KIND: dict[str, tuple[str, ...]] = {
    "radiomics": ("radiomics",),
    "deep": ("deep",),
    "fused": ("radiomics", "deep"),
    "clinical": ("clinical",),
    "combined": ("radiomics", "deep", "clinical"),
}
MODEL_KINDS: tuple[str, ...] = tuple(FAMILIES_BY_KIND)
#: What ``train`` fits unless told otherwise: the imaging kinds (clinical ones need ``clinical_*`` columns).
DEFAULT_KINDS: tuple[str, ...] = ("radiomics", "deep", "fused")
_IMAGING_FAMILIES = ("radiomics", "deep")


def check_kind(kind: str) -> None:
    """Raise InputError unless ``kind`` is one of :data:`MODEL_KINDS`."""
    if kind not in MODEL_KINDS:
        raise InputError(f"model kind must be one of {MODEL_KINDS}, not {kind!r}")


def features_for_kind(names: Sequence[str], kind: str) -> list[str]:
    """The feature columns a model of ``kind`` uses: those of the kind's families, in table order."""
    check_kind(kind)
    return [n for n in names if feature_family(n) in FAMILIES_BY_KIND[kind]]


def families_of(names: Sequence[str]) -> tuple[str, ...]:
    """The feature families of ``names``, in registry order (radiomics, deep, clinical)."""
    present = {feature_family(n) for n in names}
    return tuple(f for f in FEATURE_FAMILIES if f in present)


def missing_families(names: Sequence[str], kind: str) -> list[str]:
    """The families a table with columns ``names`` lacks for a model of ``kind`` (empty: none).

    ``combined`` needs the clinical family and at least one imaging family; the other kinds need
    all of theirs.
    """
    present = set(families_of(features_for_kind(names, kind)))
    if kind == "combined":
        imaging = [] if present & set(_IMAGING_FAMILIES) else [" or ".join(_IMAGING_FAMILIES)]
        return imaging + ([] if "clinical" in present else ["clinical"])
    return [f for f in FAMILIES_BY_KIND[kind] if f not in present]
