"""The population the method was built for, as a checklist stored with every result.

Lu et al. studied spontaneous intracerebral hemorrhage imaged within 6 hours of onset, and the
model is meant to add information beyond the conventional CT signs of expansion. Items left
unchecked do not block a prediction; they turn into warnings shown with the result. The signs
measured by ``signs.measure_signs`` are a suggestion beside the reader's own call: both are
recorded, and a measured sign gives a warning even when the reader overrides it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

CONVENTIONAL_SIGNS = ("blend sign", "black hole sign", "swirl sign", "island sign", "satellite sign")


@dataclass(frozen=True)
class ApplicabilityChecklist:
    """What the reader confirmed about the case (False = not confirmed)."""

    onset_to_ct_within_6h: bool = False
    spontaneous_ich: bool = False
    no_conventional_signs: bool = False
    measured_signs: tuple[str, ...] | None = None  # titles of the signs measured present; None: not measured

    @property
    def suggested_no_conventional_signs(self) -> bool | None:
        """The measurement's suggestion for ``no_conventional_signs`` (None when not measured)."""
        return None if self.measured_signs is None else not self.measured_signs

    def with_measured(self, sign_titles: Iterable[str]) -> ApplicabilityChecklist:
        """This checklist with the titles of the signs measured present recorded beside the reader's call."""
        return replace(self, measured_signs=tuple(sign_titles))

    def measured_sign_warnings(self) -> list[str]:
        """The warning for signs measured present, saying when the reader's call overrides them."""
        if not self.measured_signs:
            return []
        warning = (
            f"conventional sign(s) of expansion measured on this CT: {', '.join(self.measured_signs)}. "
            "The model was not built for patients with these signs (it is meant for cases without "
            "them): check the measured evidence before using the risk"
        )
        if self.no_conventional_signs:
            warning += "; the reader confirmed no conventional signs, overriding the measurement"
        return [warning]

    def unmet(self) -> list[str]:
        """Warnings for the items not confirmed, then for the signs measured present."""
        messages = {
            "onset_to_ct_within_6h": "onset-to-CT time within 6 hours not confirmed: the model was built on "
            "first CTs within 6 hours of symptom onset",
            "spontaneous_ich": "spontaneous (non-traumatic) ICH not confirmed: the model was not built for "
            "traumatic, tumoural or secondary hemorrhage",
            "no_conventional_signs": "absence of conventional expansion signs ("
            + ", ".join(CONVENTIONAL_SIGNS)
            + ") not confirmed: the model is meant for cases without them",
        }
        unconfirmed = [text for name, text in messages.items() if not getattr(self, name)]
        return [*unconfirmed, *self.measured_sign_warnings()]

    def report_rows(self) -> list[list[str]]:
        """(item, value) rows for reports: the reader's confirmations, then the measurement."""
        rows = [
            [name.replace("_", " ") + " (confirmed)", "yes" if getattr(self, name) else "no"]
            for name in ("onset_to_ct_within_6h", "spontaneous_ich", "no_conventional_signs")
        ]
        measured = "not measured" if self.measured_signs is None else ", ".join(self.measured_signs) or "none"
        return [*rows, ["conventional signs measured present", measured]]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for provenance and reports: the confirmed items, the measured signs, the suggestion."""
        values = asdict(self)
        values["measured_signs"] = None if self.measured_signs is None else list(self.measured_signs)
        values["suggested_no_conventional_signs"] = self.suggested_no_conventional_signs
        return values
