"""Which Python packages from Resources/requirements.txt are missing or too old (no installing here).

The module installs them at first use, after one confirmation; this module only decides what is
needed, with the standard library, so it works before any of them is installed.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

REQUIREMENTS_FILE = Path(__file__).resolve().parents[2] / "Resources" / "requirements.txt"
_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:>=\s*([0-9][0-9.]*))?\s*(?:#.*)?$")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def read_requirements(path: Path = REQUIREMENTS_FILE) -> list[tuple[str, str | None]]:
    """(name, minimum version or None) for each requirement line (only ``name`` and ``name>=x.y``)."""
    requirements = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"unsupported requirement line in {path}: {line!r} (use 'name' or 'name>=x.y')")
        requirements.append((match.group(1), match.group(2)))
    return requirements


def missing_requirements(path: Path = REQUIREMENTS_FILE) -> list[str]:
    """Requirement specifiers (as written) that are not installed or older than required."""
    missing = []
    for name, minimum in read_requirements(path):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(f"{name}>={minimum}" if minimum else name)
            continue
        if minimum and _version_tuple(installed) < _version_tuple(minimum):
            missing.append(f"{name}>={minimum}")
    return missing
