"""First-use dependency check: parsing Resources/requirements.txt and comparing installed versions."""

from __future__ import annotations

from importlib import metadata

import pytest

from HematomaExpansionLib.common.requirements import (
    REQUIREMENTS_FILE,
    FirstUseNeeds,
    first_use_needs,
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


def test_first_use_needs_lists_what_to_install(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("numpy\nsurely-not-an-installed-package-xyz>=1.0\n")
    needs = first_use_needs(path)
    assert needs.missing == ["surely-not-an-installed-package-xyz>=1.0"]
    # the dev environment has PyTorch and pyradiomics
    assert not needs.torch_missing and not needs.radiomics_missing
    assert needs.pip_or_torch_needed
    assert needs.describe() == "surely-not-an-installed-package-xyz>=1.0"
    with_torch = FirstUseNeeds(missing=[], torch_missing=True, radiomics_missing=False)
    assert with_torch.pip_or_torch_needed
    assert with_torch.describe() == "torch, torchvision (PyTorch extension)"
    assert not first_use_needs(REQUIREMENTS_FILE).pip_or_torch_needed
