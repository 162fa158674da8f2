"""Cheap builders for model bundle tests: copies, card edits that re-seal or not, replaced archives.

``independent_seal`` recomputes the card seal from its documented definition (SHA-256 of the card's
canonical JSON without ``card_sha256``: keys sorted, no spaces, UTF-8), not with the library's code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

CARD, ARRAYS = "model.json", "model.npz"


def independent_seal(card: dict[str, Any]) -> str:
    """The card seal as the README defines it."""
    unsealed = {k: v for k, v in card.items() if k != "card_sha256"}
    text = json.dumps(unsealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def copy_bundle(source: Path, target: Path) -> Path:
    """A copy of the bundle folder ``source`` (every file) at ``target``."""
    shutil.copytree(source, target)
    return target


def read_card(folder: Path) -> dict[str, Any]:
    return json.loads((folder / CARD).read_text(encoding="utf-8"))


def write_card(folder: Path, card: dict[str, Any], reseal: bool) -> None:
    """Write ``card`` as model.json; with ``reseal``, with the seal of its new content."""
    card = dict(card)
    if reseal:
        card["card_sha256"] = independent_seal(card)
    (folder / CARD).write_text(json.dumps(card, indent=2), encoding="utf-8")


def replace_npz(
    folder: Path, data: bytes, update_card: bool, arrays: dict[str, list[int]] | None = None
) -> None:
    """Put ``data`` in place of model.npz; with ``update_card``, make the card (hash, seal, and
    optionally its ``arrays`` listing) match it, as someone re-sealing a forged archive would."""
    (folder / ARRAYS).write_bytes(data)
    if update_card:
        card = read_card(folder)
        card["model_npz_sha256"] = hashlib.sha256(data).hexdigest()
        if arrays is not None:
            card["arrays"] = arrays
        write_card(folder, card, reseal=True)
