"""Atomic output: a file is written to a temporary file beside it and renamed over the target; the
files of one result are written to a staging folder beside their folder and moved into place at the end.

A failed write names the target in its ``OSError`` (``filename``), so that a full disk can be
reported as one line (:func:`disk_full_message`).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})  # no EDQUOT on Windows


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (0o666 less the process umask)."""
    return 0o666 & ~_umask()


def _commit(temporary: Path, path: Path) -> None:
    """Give the finished temporary file the usual permissions and rename it over ``path``."""
    temporary.chmod(_default_file_mode())
    temporary.replace(path)


@contextmanager
def _naming_errors(temporary: Path, path: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` that names no file (a failed write) or ``temporary`` as one naming ``path``."""
    try:
        yield
    except OSError as error:
        named = Path(error.filename) if error.filename else temporary
        if named != temporary and not named.is_relative_to(temporary):
            raise
        target = path / named.relative_to(temporary)
        raise OSError(error.errno, error.strerror or str(error), str(target)) from error


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the user's quota) is full."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def disk_full_message(error: OSError) -> str:
    """One line for a full disk: which path could not be written and what to do."""
    return (
        f"the disk is full: could not write {error.filename or 'an output file'} ({error.strerror}); "
        "free some space or choose another output folder, and run again"
    )


def require_folder(path: Path | str) -> Path:
    """``path`` as a folder to write into: refused when it, or the nearest existing parent, is a file."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == path else f"is inside {existing}, which is a file"
        raise InputError(f"output folder {path} {where}; give a folder (new or existing) instead")
    return path


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
        with _naming_errors(temporary_path, path):
            yield temporary_path
            _commit(temporary_path, path)
    finally:
        temporary_path.unlink(missing_ok=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _move_into_place(staging: Path, folder: Path, replaced: Collection[str]) -> None:
    """Move the staged entries into ``folder``; its entries named in ``replaced`` go, others stay."""
    if not folder.exists():
        staging.rename(folder)
        return
    if all(entry.name in replaced for entry in folder.iterdir()):
        # Only an earlier result is there: swap the whole folder in two renames.
        trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
        try:
            folder.rename(trash / folder.name)
            staging.rename(folder)
        finally:
            shutil.rmtree(trash, ignore_errors=True)
        return
    for name in replaced:
        _remove(folder / name)
    for entry in staging.iterdir():
        entry.replace(folder / entry.name)


@contextmanager
def staged_folder(folder: Path | str, replaced: Collection[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``folder``; on success its entries take their place in ``folder``.

    All or nothing: on error the staging folder is removed and ``folder`` is untouched. On success
    the entries of ``folder`` named in ``replaced`` (an earlier result) are removed and the staged
    ones moved in; other entries are kept. A failed write names its path in ``folder``.
    """
    folder = require_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        with _naming_errors(staging, folder):
            yield staging
        staging.chmod(0o777 & ~_umask())
        _move_into_place(staging, folder, replaced)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
