"""The toolkit of the self-contained HTML reports: one stylesheet, tables, figures as PNG data URIs."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

#: The stylesheet of every report (the case report and the training/evaluation report).
STYLESHEET = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
  padding: 0 1.5em; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
thead th { background: #f0f0f0; }
td.num, section th, section td { text-align: right; font-variant-numeric: tabular-nums; }
section th:first-child, section td:first-child, table.kv td, table.kv th { text-align: left; }
code { font-size: .9em; word-break: break-all; }
figure { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; }
figure img { max-width: 520px; } figure.wide img { max-width: 1000px; }
figcaption { font-size: .85em; color: #555; max-width: 520px; }
.note, .banner { background: #fff6e0; border-left: 4px solid #e0a000; padding: .5em 1em; margin: .8em 0; }
.risk { font-size: 2.8em; font-weight: 700; } .high { color: #b3261e; } .low { color: #1b6e3c; }
.slices { display: flex; gap: 8px; flex-wrap: wrap; } .slices figure { margin: 0; text-align: center; }
.warn { color: #8a4b00; }
"""


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
