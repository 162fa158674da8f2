"""How the training report and its figures name models and sets and write numbers."""

from __future__ import annotations

_KIND_LABELS = {
    "radiomics": "Radiomics",
    "deep": "Deep",
    "fused": "Fused",
    "clinical": "Clinical",
    "combined": "Combined",
}
_SET_LABELS = {"train": "training set", "test": "test set"}


def display_name(name: str) -> str:
    """'Radiomics', 'Deep', 'Fused' for the kinds; a model id stays as it is."""
    return _KIND_LABELS.get(name, name)


def set_label(set_name: str) -> str:
    """'training set', 'test set', or the quoted name of another set."""
    return _SET_LABELS.get(set_name, f"'{set_name}' set")


def number(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; "n/a" for None (a NaN in the metrics document)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def p_value(value: float | None) -> str:
    """A p-value with 3 decimals, "<0.001" below that, "n/a" for None."""
    if value is None:
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def with_interval(value: float | None, low: float | None, high: float | None, sep: str = "-") -> str:
    """'0.812 (0.701-0.905)': a value and its confidence interval."""
    return f"{number(value)} ({number(low)}{sep}{number(high)})"
