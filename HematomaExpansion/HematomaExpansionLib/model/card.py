"""The model card (``model.json``): reading, JSON Schema validation and the seal that makes it tamper-evident.

The seal ``card_sha256`` is the SHA-256 of the card's canonical JSON (keys sorted, no spaces, UTF-8)
without ``card_sha256`` itself. The card records ``model_npz_sha256``, so the seal covers the arrays
too. It detects any change made without re-sealing; it is a checksum, not a signature: whoever can
write the folder can re-seal it, as ``seal-model`` does for a deliberate edit.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ..common.errors import ModelError
from ..common.hashing import sha256_bytes

SCHEMA_VERSION = 1
CARD_FILE = "model.json"
SEAL_KEY = "card_sha256"
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "Resources" / "Schemas" / "model_card.schema.json"
SEAL_COMMAND = "python -m HematomaExpansionLib seal-model"


def card_digest(card: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``card`` without its seal."""
    unsealed = {key: value for key, value in card.items() if key != SEAL_KEY}
    text = json.dumps(unsealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_bytes(text.encode("utf-8"))


@cache
def _validator() -> Any:
    import jsonschema  # imported at first use: Slicer installs it with the module's requirements

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def validate_card(card: Any, card_path: Path) -> None:
    """Raise ModelError naming the file and the JSON path of the first field that breaks the schema."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(card))
    if error is not None:
        raise ModelError(
            f"{card_path} does not follow the model card schema ({SCHEMA_FILE.name}) at "
            f"{error.json_path}: {error.message}. Reinstall or retrain the model."
        )


def read_card(card_path: Path) -> dict[str, Any]:
    """Parse ``model.json``, check its schema version and validate it against the schema (not the seal)."""
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{card_path} is not valid JSON: {error}") from error
    if not isinstance(card, dict) or card.get("schema_version") != SCHEMA_VERSION:
        found = card.get("schema_version") if isinstance(card, dict) else None
        raise ModelError(
            f"{card_path} has schema version {found!r}; this software reads version {SCHEMA_VERSION}"
        )
    validate_card(card, card_path)
    return card


def check_seal(card: dict[str, Any], card_path: Path) -> None:
    """Raise ModelError when ``card`` is unsealed or was changed after it was sealed."""
    recorded = card.get(SEAL_KEY)
    reseal = f"{SEAL_COMMAND} {card_path.parent}"
    if recorded is None:
        raise ModelError(
            f"{card_path} is not sealed (no {SEAL_KEY}; written by an older version?): check the card, "
            f"then seal it with `{reseal}`"
        )
    if card_digest(card) != recorded:
        raise ModelError(
            f"{card_path} was changed after it was sealed (its content no longer matches {SEAL_KEY} "
            f"{recorded[:12]}...). If you edited it deliberately, check the edit and re-seal it with "
            f"`{reseal}`; otherwise reinstall the model"
        )
