"""Atomic file output: write to a temporary file in the target folder, then rename over the target."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (0o666 less the process umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename.

    The temporary name keeps the target's suffixes so writers that choose a format by file
    name (SimpleITK, matplotlib) behave as for the target. On error the target is untouched.
    The file gets the usual permissions, not mkstemp's owner-only ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".tmp"
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        temporary_path.chmod(_default_file_mode())
        temporary_path.replace(path)
    finally:
        temporary_path.unlink(missing_ok=True)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write text (UTF-8) atomically and return the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write bytes atomically and return the path."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_csv_atomic(path: Path | str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write a header and rows as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def write_json_atomic(path: Path | str, data: Any) -> Path:
    """Write indented UTF-8 JSON atomically (non-JSON values as strings)."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
