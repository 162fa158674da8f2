"""Pieces of the self-contained HTML reports: tables and figures embedded as PNG data URIs."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any


def figure_png(figure: Any, **savefig_options: Any) -> bytes:
    """A matplotlib figure as PNG bytes, without a "Software" entry (bytes depend only on the drawing)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None}, **savefig_options)
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    """A data URI that embeds PNG bytes in an <img> element."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _numeric_cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def html_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], css: str = "", numbers: bool = False
) -> str:
    """An HTML table of escaped cells; with ``numbers``, numbers get 4 significant digits and class "num"."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    cell = _numeric_cell if numbers else (lambda value: f"<td>{html.escape(str(value))}</td>")
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows)
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
