"""The per-case result cache of a cohort run: keys from input hashes and configuration, JSON entries.

Each result is cached as ``<out_dir>/cases/<case_id>.json`` under a key, the SHA-256 of

- the bytes of every input file (all files of a DICOM folder, by relative path),
- the case's other fields (``key_fields()``, e.g. the segment name),
- the caller's ``cache_key`` (the extractor identity, the model, ...).

Entries are written atomically; an unreadable entry or one made under another key is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ..common.atomic import write_text_atomic
from ..common.errors import InputError
from ..common.hashing import sha256_bytes, sha256_file

logger = logging.getLogger(__name__)

CASES_FOLDER = "cases"
CACHE_SCHEMA = 1


class RunnableCase(Protocol):
    """What the runner needs of a case: its ID and what its result depends on."""

    case_id: str

    def input_files(self) -> Mapping[str, Path]:
        """Input files (or DICOM folders) by role, e.g. {"ct": ..., "hematoma": ...}."""
        ...

    def key_fields(self) -> Mapping[str, Any]:
        """Other JSON-ready values the case's result depends on (e.g. the segment name)."""
        ...


def path_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (relative paths and bytes, sorted)."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if not path.is_dir():
        raise InputError(f"input not found: {path}")
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def case_cache_key(case: RunnableCase, cache_key: Mapping[str, Any]) -> str:
    """The key a case's cached result is valid for (see the module docstring)."""
    document = {
        "schema": CACHE_SCHEMA,
        "inputs": {role: path_sha256(path) for role, path in sorted(case.input_files().items())},
        "fields": dict(case.key_fields()),
        "config": dict(cache_key),
    }
    return sha256_bytes(json.dumps(document, sort_keys=True, default=str).encode())


def cache_path(out_dir: Path, case_id: str) -> Path:
    """Where the cached result of a case lives."""
    return out_dir / CASES_FOLDER / f"{case_id}.json"


def read_cached(path: Path, case_id: str, key: str) -> dict[str, Any] | None:
    """The cached result when it exists and was made under ``key``; otherwise None."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable cache file %s (%s); the case is recomputed", path, error)
        return None
    if not isinstance(entry, dict) or entry.get("case_id") != case_id or entry.get("cache_key") != key:
        return None
    result = entry.get("result")
    return result if isinstance(result, dict) else None


def write_cached(path: Path, case_id: str, key: str, result: dict[str, Any], seconds: float) -> None:
    """Write a case's result with its key and computing time, atomically."""
    entry = {"case_id": case_id, "cache_key": key, "seconds": seconds, "result": result}
    write_text_atomic(path, json.dumps(entry, indent=1, default=str) + "\n")
