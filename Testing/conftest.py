"""Shared pytest fixtures: a fresh headless Slicer scene per test."""

from __future__ import annotations

import pytest


@pytest.fixture
def runtime():
    """The headless Slicer runtime on slicer-core, its scene cleared before each test."""
    from HematomaExpansionLib.mrml.runtime import SlicerRuntime

    rt = SlicerRuntime.current()
    rt.clear()
    return rt
