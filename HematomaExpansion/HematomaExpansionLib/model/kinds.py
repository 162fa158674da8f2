"""Model kinds: which feature families a radiomics, deep or fused model uses."""

from __future__ import annotations

from collections.abc import Sequence

from ..common.errors import InputError
from ..features.families import feature_family

FAMILIES_BY_KIND: dict[str, tuple[str, ...]] = {
    "radiomics": ("radiomics",),
    "deep": ("deep",),
    "fused": ("radiomics", "deep"),
}
MODEL_KINDS: tuple[str, ...] = tuple(FAMILIES_BY_KIND)


def check_kind(kind: str) -> None:
    """Raise InputError unless ``kind`` is one of :data:`MODEL_KINDS`."""
    if kind not in MODEL_KINDS:
        raise InputError(f"model kind must be one of {MODEL_KINDS}, not {kind!r}")


def features_for_kind(names: Sequence[str], kind: str) -> list[str]:
    """The feature columns a model of ``kind`` uses: deep ones (``deep_*``), the others, or all."""
    check_kind(kind)
    return [n for n in names if feature_family(n) in FAMILIES_BY_KIND[kind]]
