"""The files the page may read: paths inside the served data folder, and uploads kept read-only.

A path typed in the page is resolved (symbolic links followed) and must lie inside the data folder;
a DICOM folder's files must too. An upload is size-checked before anything is written, stored under
a private temporary folder (owner-only) with its file name reduced to a plain name, and made
read-only, so nothing the user gave is ever modified.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from HematomaExpansionLib.common.errors import InputError

logger = logging.getLogger(__name__)

BYTES_PER_MB = 1024 * 1024
DEFAULT_MAX_UPLOAD_MB = 1024


def path_in_data_folder(data_dir: Path, relative: str) -> Path:
    """The file or folder ``relative`` names inside ``data_dir``; refused when it resolves outside it."""
    text = (relative or "").strip()
    if not text:
        raise InputError(f"Give a path inside the data folder {data_dir}, e.g. case01_ct.nrrd.")
    root = data_dir.resolve()
    candidate = (root / text).resolve()
    if not candidate.is_relative_to(root):
        raise InputError(
            f"{text!r} is outside the served data folder {root}; give a path inside it "
            "(paths are relative to it, '..' and links out of it are refused)."
        )
    if not candidate.exists():
        raise InputError(f"{text!r} not found in the data folder {root}.")
    if candidate.is_dir():
        escaping = [p for p in candidate.iterdir() if not p.resolve().is_relative_to(root)]
        if escaping:
            raise InputError(
                f"folder {text!r} holds links out of the data folder {root} ({escaping[0].name}); "
                "copy the files into the data folder instead."
            )
    return candidate


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its client-side name and its bytes."""

    name: str
    content: bytes


def _plain_name(name: str) -> str:
    """The last component of a client file name; refused when nothing usable is left."""
    plain = Path(name.replace("\\", "/")).name
    if plain in ("", ".", "..") or plain.startswith("."):
        raise InputError(f"uploaded file name {name!r} is not a plain file name; rename the file.")
    return plain


class UploadStore:
    """Uploads under one private temporary folder, each in its own subfolder, read-only."""

    def __init__(self, root: Path, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> None:
        self.root = Path(root)
        self.max_upload_bytes = int(max_upload_mb * BYTES_PER_MB)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(stat.S_IRWXU)

    def check_size(self, total_bytes: int) -> None:
        """Refuse an upload larger than the limit (before it is stored)."""
        if total_bytes > self.max_upload_bytes:
            raise InputError(
                f"the upload is {total_bytes / BYTES_PER_MB:.1f} MB, more than this server's limit of "
                f"{self.max_upload_bytes / BYTES_PER_MB:.0f} MB (--max-upload-mb); put the file into the "
                "data folder and open it by its path instead."
            )

    def store(self, uploads: Sequence[Upload]) -> Path:
        """Store the files; returns the file (one upload) or the folder (several: a DICOM series)."""
        if not uploads:
            raise InputError("no file was uploaded; choose a file first.")
        self.check_size(sum(len(u.content) for u in uploads))
        names = [_plain_name(u.name) for u in uploads]
        if len(set(names)) != len(names):
            raise InputError("the uploaded files have duplicate names; upload one series at a time.")
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.root))
        for upload, name in zip(uploads, names, strict=True):
            path = folder / name
            with path.open("xb") as stream:
                stream.write(upload.content)
            path.chmod(stat.S_IRUSR)
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        logger.info("stored %d uploaded file(s) in %s", len(uploads), folder)
        return folder / names[0] if len(uploads) == 1 else folder

    def remove_all(self) -> None:
        """Delete every upload (at server exit); the files are read-only, so permissions are restored first."""
        for dirpath, dirnames, _ in os.walk(self.root):
            for name in dirnames:
                Path(dirpath, name).chmod(stat.S_IRWXU)
        shutil.rmtree(self.root, ignore_errors=True)
