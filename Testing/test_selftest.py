"""The module's self-test scenarios (HematomaExpansionTest in Slicer) on the headless runtime."""

from __future__ import annotations

import ast
import unittest
from pathlib import Path

import pytest

from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.mrml.selftest import SCENARIOS

MODULE = Path(__file__).resolve().parents[1] / "HematomaExpansion" / "HematomaExpansion.py"
SCENARIO_NAMES = [s.__name__.removeprefix("scenario_") for s in SCENARIOS]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_NAMES)
def test_selftest_scenario(runtime, scenario):
    scenario(HematomaExpansionLogicBase(runtime), unittest.TestCase())


def _test_class_methods() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    (test_class,) = [
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "HematomaExpansionTest"
    ]
    return {n.name: n for n in test_class.body if isinstance(n, ast.FunctionDef)}


def test_the_module_test_runs_each_scenario_as_its_own_test_method():
    """In Slicer each scenario is reported by its own test_<name>, and runTest calls them all in order."""
    methods = _test_class_methods()
    for name in SCENARIO_NAMES:
        attributes = {n.attr for n in ast.walk(methods[f"test_{name}"]) if isinstance(n, ast.Attribute)}
        assert f"scenario_{name}" in attributes, f"test_{name} does not run scenario_{name}"
    called = [
        n.func.attr
        for n in ast.walk(methods["runTest"])
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr.startswith("test_")
    ]
    assert called == [f"test_{name}" for name in SCENARIO_NAMES]
