"""The panel's .ui file against the module code and the parameter node (no Qt needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ui_check import KNOWN_WIDGETS, check_panel, parameter_fields, read_ui, ui_accesses

MODULE_DIR = Path(__file__).resolve().parents[1] / "HematomaExpansion"
UI = MODULE_DIR / "Resources" / "UI" / "HematomaExpansion.ui"
MODULE = MODULE_DIR / "HematomaExpansion.py"


def test_the_panel_is_consistent():
    assert check_panel(UI, MODULE) == []


def test_the_check_sees_the_panel():
    widgets = read_ui(UI)
    assert widgets["applyButton"].widget_class == "QPushButton"
    assert ("applyButton", "enabled") in ui_accesses(MODULE)
    fields = parameter_fields(MODULE)
    assert fields["inputVolume"] == "vtkMRMLScalarVolumeNode"
    assert fields["draftMinimumHu"] == "float"  # Annotated[float, WithinRange(...)] through an alias
    assert fields["addedModelFolders"] == "list[str]" and fields["resultWarnings"] == "list[str]"
    bound = {w.parameter_name for w in widgets.values() if w.parameter_name}
    assert {"inputVolume", "segmentationNode", "onsetWithin6h", "draftMinimumHu"} <= bound


def test_every_known_class_names_its_documentation():
    assert all(source for source, _, _ in KNOWN_WIDGETS.values())


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / UI.name
    text = UI.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_renamed_widget_is_reported(tmp_path):
    renamed = _variant(tmp_path, 'name="applyButton"', 'name="predictButton"')
    problems = check_panel(renamed, MODULE)
    assert any("self.ui.applyButton" in p for p in problems)


def test_a_wrong_widget_class_is_reported(tmp_path):
    wrong = _variant(
        tmp_path,
        '<widget class="qMRMLTableView" name="featuresTableView"',
        '<widget class="QTableView" name="featuresTableView"',
    )
    assert any("setMRMLTableNode" in p for p in check_panel(wrong, MODULE))
    unknown = _variant(tmp_path, 'class="QProgressBar"', 'class="QFancyBar"')
    assert any("unknown class QFancyBar" in p for p in check_panel(unknown, MODULE))


def test_a_parameter_name_without_field_is_reported(tmp_path):
    renamed = _variant(tmp_path, "<string>onsetWithin6h</string>", "<string>onsetWithin4h</string>")
    assert any("onsetWithin4h" in p for p in check_panel(renamed, MODULE))


def test_a_malformed_ui_file_fails_to_parse(tmp_path):
    broken = tmp_path / "broken.ui"
    broken.write_text(UI.read_text()[:-200])
    with pytest.raises(ET.ParseError):
        read_ui(broken)
