"""First-use dependency check: parsing Resources/requirements.txt and comparing installed versions."""

from __future__ import annotations

from importlib import metadata

import pytest

from HematomaExpansionLib.common.requirements import (
    REQUIREMENTS_FILE,
    missing_requirements,
    read_requirements,
)


def test_bundled_requirements_are_satisfied_in_the_dev_environment():
    names = [name for name, _ in read_requirements(REQUIREMENTS_FILE)]
    assert "scikit-learn" in names
    assert missing_requirements(REQUIREMENTS_FILE) == []


def test_missing_and_too_old_packages_are_reported(tmp_path):
    numpy_version = metadata.version("numpy")
    major = int(numpy_version.split(".")[0])
    path = tmp_path / "requirements.txt"
    path.write_text(
        f"# comment\nnumpy>={major}.0\nnumpy>={major + 1}.0  # too new\nsurely-not-an-installed-package-xyz\n"
    )
    assert missing_requirements(path) == [f"numpy>={major + 1}.0", "surely-not-an-installed-package-xyz"]


def test_unsupported_specifiers_are_refused(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("numpy==1.0\n")
    with pytest.raises(ValueError, match=r"numpy==1\.0"):
        read_requirements(path)
