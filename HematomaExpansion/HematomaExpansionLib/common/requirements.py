"""Which Python packages the module needs at first use, and which are missing (no installing here).

The single reader of Resources/requirements.txt. The module installs what is missing at first
use, after one confirmation; this module only decides what is needed, with the standard library,
so it works before any of them is installed.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FirstUseNeeds:
    """What must be installed before the first prediction, and by whom."""

    missing: list[str]  # specifiers from requirements.txt, installed with pip
    torch_missing: bool  # torch or torchvision: the PyTorch extension installs them
    radiomics_missing: bool  # pyradiomics: only the SlicerRadiomics extension brings it

    @property
    def pip_or_torch_needed(self) -> bool:
        """True when something can be installed from within the module."""
        return bool(self.missing) or self.torch_missing

    def describe(self) -> str:
        """The packages to install, as the confirmation question lists them."""
        torch = ["torch, torchvision (PyTorch extension)"] if self.torch_missing else []
        return ", ".join([*self.missing, *torch])


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def first_use_needs(path: Path = REQUIREMENTS_FILE) -> FirstUseNeeds:
    """Check requirements.txt, PyTorch and pyradiomics without importing any of them."""
    return FirstUseNeeds(
        missing=missing_requirements(path),
        torch_missing=not (_importable("torch") and _importable("torchvision")),
        radiomics_missing=not _importable("radiomics"),
    )
