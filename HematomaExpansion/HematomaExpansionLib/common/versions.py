"""Software versions for provenance, read from package metadata (nothing heavy is imported)."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata

from .. import __version__


def software_versions(packages: Sequence[str]) -> dict[str, str]:
    """This extension's, Python's and each installed package's version ('not installed' otherwise)."""
    versions = {"hematoma_expansion": __version__, "python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
