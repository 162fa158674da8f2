"""The module's self-test scenarios (HematomaExpansionTest in Slicer) on the headless runtime."""

from __future__ import annotations

import unittest

import pytest

from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.mrml.selftest import SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_selftest_scenario(runtime, scenario):
    scenario(HematomaExpansionLogicBase(runtime), unittest.TestCase())
