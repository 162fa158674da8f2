"""The panel's .ui file against the module code and the parameter node (no Qt needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ui_check import (
    KNOWN_WIDGETS,
    check_panel,
    members_of,
    parameter_fields,
    pythonqt_connections,
    read_connections,
    read_ui,
    ui_accesses,
)

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
    assert all(declaration.source for declaration in KNOWN_WIDGETS.values())
    for name, declaration in KNOWN_WIDGETS.items():
        if not declaration.is_qt:  # a CTK or Slicer class: the header that declares its members
            assert declaration.source.endswith(f"/{name}.h")
            assert declaration.source.startswith(("commontk/CTK ", "Slicer/Slicer "))
        assert declaration.base is None or declaration.base in KNOWN_WIDGETS


def test_the_check_reads_properties_connections_and_pythonqt_signals():
    widgets = read_ui(UI)
    collapsed = {p.name: p for p in widgets["advancedCollapsibleButton"].properties}["collapsed"]
    assert (collapsed.kind, collapsed.value, collapsed.designable) == ("bool", True, True)
    node_types = {p.name: p for p in widgets["inputVolumeSelector"].properties}["nodeTypes"]
    assert node_types.value == ["vtkMRMLScalarVolumeNode"]
    parameter = {p.name: p for p in widgets["inputVolumeSelector"].properties}["SlicerParameterName"]
    assert not parameter.designable
    connections = read_connections(UI)
    assert ("segmentationSelector", "currentNodeChanged(vtkMRMLNode*)") in {
        (c.sender, c.signal) for c in connections
    }
    assert ("applyButton", "clicked(bool)") in pythonqt_connections(MODULE)
    assert {"setMRMLScene", "mrmlSceneChanged", "setCurrentSegmentID", "enabled"} <= members_of(
        "qMRMLSegmentSelectorWidget"
    )


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


def test_a_connection_to_a_missing_widget_is_reported(tmp_path):
    wrong = _variant(tmp_path, "<receiver>seedPointSelector</receiver>", "<receiver>seedSelector</receiver>")
    assert any("'seedSelector', which is not a widget" in p for p in check_panel(wrong, MODULE))


def test_an_undeclared_pythonqt_signal_name_is_reported(tmp_path):
    module = tmp_path / MODULE.name
    text = MODULE.read_text()
    assert '"currentSegmentChanged(QString)"' in text
    module.write_text(text.replace('"currentSegmentChanged(QString)"', '"segmentChanged(QString)"', 1))
    problems = check_panel(UI, module)
    assert any("self.ui.segmentSelector.segmentChanged" in p for p in problems)


def test_a_binding_the_connector_cannot_serve_is_reported(tmp_path):
    wrong = _variant(
        tmp_path,
        '<widget class="QCheckBox" name="onsetCheckBox">',
        '<widget class="QLabel" name="onsetCheckBox">',
    )
    assert any("bool field 'onsetWithin6h' is bound to a QLabel" in p for p in check_panel(wrong, MODULE))
