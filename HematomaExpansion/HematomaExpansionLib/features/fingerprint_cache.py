"""Backbone fingerprints kept on disk, so that a new process need not run the network to know one.

An entry is a small JSON file in the user cache folder (``$XDG_CACHE_HOME/HematomaExpansion`` or
``~/.cache/HematomaExpansion``, sub-folder ``backbone_fingerprints``), named by the SHA-256 of its
key: the weights identity (the weights file's SHA-256, or ``random:<seed>``), the torch and
torchvision versions, the device type and dtype the backbone computes in and the fingerprint
method. An entry is used only when the key stored in it equals the key asked for and its checksum
(SHA-256 of key and fingerprint) matches; anything else (no entry, unreadable, not JSON, another
key, an edited value) is a miss: the fingerprint is computed and the entry rewritten atomically.

An entry forged together with its checksum is not detected, and is harmless: the weights are
identified by ``backbone_id`` (their SHA-256 or seed, never cached), so a wrong fingerprint can
only make a model trained with the true one refuse the features, never accept other weights.
A cache folder that cannot be written is logged and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision

from ..common.atomic import write_json_atomic
from ..common.hashing import sha256_bytes

logger = logging.getLogger(__name__)

CACHE_SUBFOLDER = Path("HematomaExpansion") / "backbone_fingerprints"


def cache_folder() -> Path:
    """Where fingerprints are kept: ``$XDG_CACHE_HOME`` (default ``~/.cache``) / HematomaExpansion."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / CACHE_SUBFOLDER


def fingerprint_key(weights: str, device: str, dtype: torch.dtype, method: str) -> dict[str, str]:
    """What a fingerprint depends on: weights identity, library versions, device type, dtype, method."""
    return {
        "weights": weights,
        "torch_version": str(torch.__version__),
        "torchvision_version": str(torchvision.__version__),
        "device_type": torch.device(device).type,
        "dtype": str(dtype).removeprefix("torch."),
        "method": method,
    }


def _text(key: dict[str, str]) -> str:
    return json.dumps(key, sort_keys=True)


def _checksum(key: dict[str, str], fingerprint: str) -> str:
    return sha256_bytes(f"{_text(key)}\n{fingerprint}".encode())


def entry_path(key: dict[str, str], folder: Path | None = None) -> Path:
    """The file that holds the fingerprint of ``key``."""
    return (folder or cache_folder()) / f"{sha256_bytes(_text(key).encode())[:32]}.json"


def _read(path: Path, key: dict[str, str]) -> str | None:
    """The stored fingerprint when the entry is intact and for ``key``; None otherwise."""
    try:
        entry: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("ignoring unreadable backbone fingerprint cache entry %s (%s)", path, error)
        return None
    fingerprint = entry.get("fingerprint") if isinstance(entry, dict) else None
    if (
        not isinstance(fingerprint, str)
        or entry.get("key") != key
        or entry.get("checksum") != _checksum(key, fingerprint)
    ):
        logger.warning("ignoring backbone fingerprint cache entry %s: it is corrupt or edited", path)
        return None
    return fingerprint


def cached_fingerprint(key: dict[str, str], compute: Callable[[], str], folder: Path | None = None) -> str:
    """The fingerprint of ``key`` from the cache, or ``compute()`` stored for the next process."""
    path = entry_path(key, folder)
    fingerprint = _read(path, key)
    if fingerprint is not None:
        return fingerprint
    fingerprint = compute()
    entry = {"key": key, "fingerprint": fingerprint, "checksum": _checksum(key, fingerprint)}
    try:
        write_json_atomic(path, entry)
    except OSError as error:
        logger.warning(
            "cannot write the backbone fingerprint cache %s (%s); continuing without it", path, error
        )
    return fingerprint
