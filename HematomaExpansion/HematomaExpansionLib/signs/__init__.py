"""Conventional CT signs of expansion, measured: blend, black hole, hypodensity (swirl), island, satellite.

``measure_signs(ct, mask)`` returns a :class:`SignsReport` with a :class:`SignResult` per sign
(present, the quantity the defining publication uses, the evidence in LPS mm), the Barras shape
and density categories and the BAT score. Every threshold is a field of :class:`SignParameters`
with its published default. Public names are imported on first use.
"""

from __future__ import annotations

from ..common.lazy import lazy_exports

_EXPORTS = {
    ".parameters": ("SignParameters",),
    ".report": ("SIGN_NAMES", "SIGN_TITLES", "TABLE_COLUMNS", "SignResult", "SignsReport"),
    ".measure": ("measure_signs",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
