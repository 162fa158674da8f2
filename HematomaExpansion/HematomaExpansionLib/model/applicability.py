"""The population the method was built for, as a checklist stored with every result.

Lu et al. studied spontaneous intracerebral hemorrhage imaged within 6 hours of onset, and the
model is meant to add information beyond the conventional CT signs of expansion. Items left
unchecked do not block a prediction; they turn into warnings shown with the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

CONVENTIONAL_SIGNS = ("blend sign", "black hole sign", "swirl sign", "island sign", "satellite sign")


@dataclass(frozen=True)
class ApplicabilityChecklist:
    """What the reader confirmed about the case (False = not confirmed)."""

    onset_to_ct_within_6h: bool = False
    spontaneous_ich: bool = False
    no_conventional_signs: bool = False

    def unmet(self) -> list[str]:
        """Warnings for the items not confirmed."""
        messages = {
            "onset_to_ct_within_6h": "onset-to-CT time within 6 hours not confirmed: the model was built on "
            "first CTs within 6 hours of symptom onset",
            "spontaneous_ich": "spontaneous (non-traumatic) ICH not confirmed: the model was not built for "
            "traumatic, tumoural or secondary hemorrhage",
            "no_conventional_signs": "absence of conventional expansion signs ("
            + ", ".join(CONVENTIONAL_SIGNS)
            + ") not confirmed: the model is meant for cases without them",
        }
        return [messages[f.name] for f in fields(self) if not getattr(self, f.name)]

    def as_dict(self) -> dict[str, bool]:
        """Plain values for provenance and reports."""
        return asdict(self)
