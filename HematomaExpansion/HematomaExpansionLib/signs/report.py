"""The measured signs of one case: a result per sign, the Barras categories and the BAT score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..common.jsonsafe import json_safe
from .parameters import SignParameters

SIGN_NAMES = ("blend", "black_hole", "hypodensity", "island", "satellite")
SIGN_TITLES = {
    "blend": "blend sign",
    "black_hole": "black hole sign",
    "hypodensity": "any hypodensity (swirl sign)",
    "island": "island sign",
    "satellite": "satellite sign",
}
TABLE_COLUMNS = ("sign", "present", "measured", "threshold", "where")


@dataclass(frozen=True)
class SignResult:
    """One sign: its yes/no call, the quantities it rests on (units in the names) and where it is.

    ``evidence`` holds the deciding region when there is one: ``center_lps_mm`` (x, y, z in LPS
    physical space), ``z_mm`` (the axial slice), its size, and ``summary`` (one line for tables).
    """

    present: bool
    quantities: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe ``{"present", "quantities", "evidence"}`` (NaN as None)."""
        return json_safe(
            {"present": self.present, "quantities": self.quantities, "evidence": self.evidence},
            non_finite_as_none=True,
        )


@dataclass(frozen=True)
class SignsReport:
    """All measured signs of one case, as the ``signs`` command, ``predict`` and the panels show them.

    ``signs`` is keyed by :data:`SIGN_NAMES`; ``barras_shape`` and ``barras_density`` are the Barras
    categories 1-5 (``barras`` holds what they were counted from); ``bat_score`` is the BAT score
    0-5, None without an onset-to-CT time (``bat`` holds its points). ``provenance``: software
    versions, the parameters' SHA-256, the grid the signs were read on, the inputs' names.
    """

    signs: dict[str, SignResult]
    barras_shape: int
    barras_density: int
    bat_score: int | None
    barras: dict[str, Any] = field(default_factory=dict)
    bat: dict[str, Any] = field(default_factory=dict)
    onset_to_ct_h: float | None = None
    parameters: SignParameters = field(default_factory=SignParameters)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def present(self) -> list[str]:
        """Names of the signs measured present, in :data:`SIGN_NAMES` order."""
        return [name for name in SIGN_NAMES if self.signs[name].present]

    @property
    def present_titles(self) -> list[str]:
        """Titles of the signs measured present ("blend sign", ...), for messages and the checklist."""
        return [SIGN_TITLES[name] for name in self.present]

    @property
    def any_present(self) -> bool:
        """True when at least one sign is measured present."""
        return bool(self.present)

    def suggestion_text(self) -> str:
        """What the panels show beside the checklist's "no conventional signs": the measurement and its suggestion."""
        if not self.any_present:
            return 'Measured: no conventional sign. Suggestion: tick "no conventional signs" after checking the CT.'
        found = [
            f"{SIGN_TITLES[name]} ({self.signs[name].evidence.get('measured', '')}, "
            f"slice z {self.signs[name].evidence.get('z_mm', float('nan')):.1f} mm)"
            for name in self.present
        ]
        return (
            f'Measured: {"; ".join(found)}. Suggestion: leave "no conventional signs" unticked; the model was '
            "not built for patients with these signs."
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe document: one entry per sign, then ``barras``, ``bat``, ``parameters``, ``provenance``."""
        document: dict[str, Any] = {name: self.signs[name].as_dict() for name in SIGN_NAMES}
        document["barras"] = {
            "shape_category": self.barras_shape,
            "density_category": self.barras_density,
            **self.barras,
        }
        document["bat"] = {"score": self.bat_score, "onset_to_ct_h": self.onset_to_ct_h, **self.bat}
        document["parameters"] = self.parameters.as_dict()
        document["provenance"] = self.provenance
        return json_safe(document, non_finite_as_none=True)

    def table_rows(self) -> list[list[Any]]:
        """Rows under :data:`TABLE_COLUMNS` for reports/text_table: one per sign, Barras and BAT."""
        rows: list[list[Any]] = []
        for name in SIGN_NAMES:
            result = self.signs[name]
            evidence = result.evidence
            rows.append(
                [
                    SIGN_TITLES[name],
                    "yes" if result.present else "no",
                    evidence.get("measured", ""),
                    evidence.get("threshold", ""),
                    evidence.get("summary", ""),
                ]
            )
        rows.append(
            ["Barras shape category", self.barras_shape, self.barras.get("shape_measured", ""), "1-5", ""]
        )
        rows.append(
            [
                "Barras density category",
                self.barras_density,
                self.barras.get("density_measured", ""),
                "1-5",
                "",
            ]
        )
        bat = "n/a (no onset-to-CT time)" if self.bat_score is None else self.bat_score
        rows.append(["BAT score", bat, self.bat.get("measured", ""), ">= 3 high risk", ""])
        return rows
