"""Plain-text tables for the command line and text summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table with aligned columns; floats with 2 decimals unless large."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return (
                f"{value:.4g}" if abs(value) >= 1e5 or (value != 0 and abs(value) < 1e-2) else f"{value:.2f}"
            )
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(c)), *(len(r[i]) for r in text)) if text else len(c) for i, c in enumerate(columns)]
    line = "  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = [
        "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
        for r in text
    ]
    return "\n".join([line, rule, *body])
