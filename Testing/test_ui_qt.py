"""The panel's .ui file loaded by Qt's own QUiLoader (PySide6, offscreen), with the module code checked on it.

Debian 12 packages PySide6's offscreen plugin and QtWidgets/QtUiTools link outside the wheel (ldd of
libqoffscreen.so, libQt6Core/Gui/Widgets/UiTools/DBus/OpenGL): libdbus-1-3 libegl1 libfontconfig1
libfreetype6 libgl1 libglib2.0-0 libx11-6 libxcb1 libxkbcommon0 (tools/install_system_packages.sh).

What this proves: Qt itself builds the form from the .ui; every class in it is declared
(``ui_check.KNOWN_WIDGETS``: Qt's own classes come from Qt, the CTK and qMRML ones are stand-ins generated
from their declared header members, ``qt_standins.py``); every property the .ui sets exists on that class
and took its value; every signal-slot connection of the .ui is made by Qt; every ``self.ui.<name>`` of
HematomaExpansion.py is a widget of the loaded form and every member it uses exists there; every PythonQt
``connect("signal(args)", ...)`` names a signal the widget has, with its argument types; every widget bound
with SlicerParameterName offers what Slicer's parameter-node GUI connector uses. That is, the form, the
names, the bindings and the connections are consistent.

What only a run inside 3D Slicer can show: that the real CTK/qMRML widgets behave as their headers say
(scene population, node selection, collapsing), that PythonQt converts the values, that connectGui binds
and updates, that the Logic runs from the buttons, and how the panel looks in Slicer's style (Slicer is
built on Qt 5 or 6 depending on the version; these checks run on Qt 6). The rendering saved here is the
form as Qt lays it out with the stand-ins, before the module code runs (the progress bar is still shown).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6 import QtWidgets
from PySide6.QtCore import QMetaObject, QObject
from PySide6.QtGui import QImage

from qt_standins import load_form, standin_classes
from ui_check import (
    BINDABLE,
    KNOWN_WIDGETS,
    binding_members,
    parameter_fields,
    pythonqt_connections,
    read_connections,
    read_ui,
    signature_name,
    ui_accesses,
)

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "HematomaExpansion"
UI = MODULE_DIR / "Resources" / "UI" / "HematomaExpansion.ui"
MODULE = MODULE_DIR / "HematomaExpansion.py"
ARTIFACTS = REPO / "build" / "test-artifacts" / "qt"


@pytest.fixture(scope="module")
def qt_app() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance()
    if app is None:
        previous = os.environ.get("QT_QPA_PLATFORM")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        app = QtWidgets.QApplication([])
        if previous is None:
            del os.environ["QT_QPA_PLATFORM"]
        else:
            os.environ["QT_QPA_PLATFORM"] = previous
    return app


def _find(form: QtWidgets.QWidget, name: str) -> QObject | None:
    return form if form.objectName() == name else form.findChild(QObject, name)


def _normalized(signature: str) -> str:
    return QMetaObject.normalizedSignature(signature).data().decode()


def _has_member(widget: QObject | type, member: str) -> bool:
    """A property, signal, slot or invokable of the widget's meta-object, or a method PySide6 wraps."""
    if isinstance(widget, type):  # a Qt class, abstract ones included: probe a plain subclass
        widget = type(f"{widget.__name__}Probe", (widget,), {})()
    meta = widget.metaObject()
    methods = {meta.method(i).name().data().decode() for i in range(meta.methodCount())}
    return meta.indexOfProperty(member) >= 0 or member in methods or hasattr(widget, member)


def _property_problems(form: QtWidgets.QWidget, ui_path: Path) -> list[str]:
    problems = []
    for widget in read_ui(ui_path).values():
        loaded = _find(form, widget.name)
        if loaded is None:
            problems.append(f"widget '{widget.name}' is missing from the loaded form")
            continue
        class_name = loaded.metaObject().className()
        for prop in widget.properties:
            declared = loaded.metaObject().indexOfProperty(prop.name) >= 0
            if prop.designable and not declared:
                problems.append(
                    f"widget '{widget.name}': property '{prop.name}' is not declared by {class_name}"
                )
            elif prop.value is not None and loaded.property(prop.name) != prop.value:
                problems.append(
                    f"widget '{widget.name}': property '{prop.name}' is {loaded.property(prop.name)!r}, "
                    f"the .ui sets {prop.value!r}"
                )
    return problems


def _connection_problems(form: QtWidgets.QWidget, ui_path: Path) -> list[str]:
    problems = []
    for connection in read_connections(ui_path):
        sender, receiver = _find(form, connection.sender), _find(form, connection.receiver)
        if sender is None or receiver is None:
            problems.append(f"connection {connection}: a widget is missing from the loaded form")
            continue
        signal, slot = _normalized(connection.signal), _normalized(connection.slot)
        if sender.metaObject().indexOfSignal(signal) < 0:
            problems.append(
                f"'{connection.sender}' ({sender.metaObject().className()}) has no signal {signal}"
            )
        elif receiver.metaObject().indexOfSlot(slot) < 0:
            problems.append(
                f"'{connection.receiver}' ({receiver.metaObject().className()}) has no slot {slot}"
            )
        elif sender.receivers(f"2{signal}") < 1:
            problems.append(
                f"Qt did not connect {connection.sender}.{signal} to {connection.receiver}.{slot}"
            )
    return problems


def _module_problems(form: QtWidgets.QWidget, ui_path: Path, module_path: Path) -> list[str]:
    problems = []
    for name, member in sorted(ui_accesses(module_path), key=lambda a: (a[0], a[1] or "")):
        loaded = _find(form, name)
        if loaded is None:
            problems.append(f"{module_path.name} uses self.ui.{name}, which the loaded form lacks")
        elif member is not None and not _has_member(loaded, member):
            problems.append(
                f"{module_path.name} uses self.ui.{name}.{member}: {type(loaded).__name__} lacks it"
            )
    for name, signature in pythonqt_connections(module_path):
        loaded = _find(form, name)
        if loaded is not None and loaded.metaObject().indexOfSignal(_normalized(signature)) < 0:
            class_name = loaded.metaObject().className()
            problems.append(f'self.ui.{name}.connect("{signature}"): {class_name} declares no such signal')
    fields = parameter_fields(module_path)
    for widget in read_ui(ui_path).values():
        loaded = _find(form, widget.name)
        if widget.parameter_name is None or loaded is None or widget.parameter_name not in fields:
            continue
        if loaded.property("SlicerParameterName") != widget.parameter_name:
            problems.append(f"widget '{widget.name}' lost its SlicerParameterName")
        for member in binding_members(fields[widget.parameter_name], widget.widget_class) or ():
            if not _has_member(loaded, member):
                problems.append(
                    f"binding '{widget.name}' needs {widget.widget_class}.{member}, which it lacks"
                )
    return problems


def check_with_qt(ui_path: Path, module_path: Path) -> tuple[QtWidgets.QWidget | None, list[str]]:
    """The loaded form and every problem found by loading it and checking the module code on it."""
    form, problems = load_form(ui_path)
    if form is None:
        return None, problems
    problems += _property_problems(form, ui_path)
    problems += _connection_problems(form, ui_path)
    problems += _module_problems(form, ui_path, module_path)
    return form, problems


def _copy(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {source.name}"
    copy = tmp_path / source.name
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    return copy


def test_qt_loads_the_panel_and_the_module_code_fits_it(qt_app):
    form, problems = check_with_qt(UI, MODULE)
    assert problems == []
    assert form.metaObject().className() == "qMRMLWidget"
    # HematomaExpansion.py calls uiWidget.setMRMLScene(...) on the form itself.
    assert form.metaObject().indexOfSlot("setMRMLScene(vtkMRMLScene*)") >= 0
    assert _find(form, "advancedCollapsibleButton").property("collapsed") is True
    assert _find(form, "inputVolumeSelector").property("nodeTypes") == ["vtkMRMLScalarVolumeNode"]
    assert _find(form, "draftMinimumHuSpinBox").value() == 45.0
    assert not _find(form, "applyButton").isEnabled()
    assert form.receivers("2mrmlSceneChanged(vtkMRMLScene*)") == 5


def test_the_panel_rendering_is_saved(qt_app):
    form, problems = check_with_qt(UI, MODULE)
    assert problems == []
    form.resize(max(380, form.sizeHint().width()), form.sizeHint().height())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "panel.png"
    assert form.grab().save(str(path))
    image = QImage(str(path))
    assert (image.width(), image.height()) == (form.width(), form.height())
    button = _find(form, "applyButton").geometry()
    inside = image.copy(button.adjusted(4, 4, -4, -4))
    colours = {inside.pixel(x, y) for x in range(inside.width()) for y in range(inside.height())}
    assert len(colours) > 2  # the button's text is painted, not a blank area


def test_the_qt_classes_are_declared_as_qt_defines_them(qt_app):
    for name, declaration in KNOWN_WIDGETS.items():
        if not declaration.is_qt:
            continue
        qt_class = getattr(QtWidgets, name)
        assert declaration.base is None or issubclass(qt_class, getattr(QtWidgets, declaration.base)), name
        missing = [m for m in declaration.methods if not _has_member(qt_class, m)]
        assert missing == [], name
    for field_type, classes in BINDABLE.items():
        for class_name, members in classes.items():
            if KNOWN_WIDGETS[class_name].is_qt:
                qt_class = getattr(QtWidgets, class_name)
                assert [m for m in members if not _has_member(qt_class, m)] == [], (field_type, class_name)


def test_the_standins_declare_exactly_their_declarations(qt_app):
    for name, standin in standin_classes().items():
        declaration = KNOWN_WIDGETS[name]
        meta = standin().metaObject()
        assert (meta.className(), meta.superClass().className()) == (name, declaration.base)
        properties = {meta.property(i).name() for i in range(meta.propertyOffset(), meta.propertyCount())}
        methods = {
            meta.method(i).methodSignature().data().decode()
            for i in range(meta.methodOffset(), meta.methodCount())
        }
        assert properties == set(declaration.properties)
        assert methods == {_normalized(s) for s in declaration.signals + declaration.slots}
        assert {signature_name(s) for s in declaration.signals} <= {
            meta.method(i).name().data().decode()
            for i in range(meta.methodCount())
            if meta.method(i).methodType() == meta.method(i).MethodType.Signal
        }


def test_an_undeclared_class_fails(qt_app, tmp_path):
    ui = _copy(tmp_path, UI, 'class="QProgressBar"', 'class="QFancyBar"')
    _, problems = check_with_qt(ui, MODULE)
    assert any("class QFancyBar, which KNOWN_WIDGETS does not declare" in p for p in problems)


def test_an_undeclared_property_fails(qt_app, tmp_path):
    extra = '<property name="showHidden"><bool>true</bool></property><property name="nodeTypes">'
    ui = _copy(tmp_path, UI, '<property name="nodeTypes">', extra)
    _, problems = check_with_qt(ui, MODULE)
    assert (
        "widget 'inputVolumeSelector': property 'showHidden' is not declared by qMRMLNodeComboBox" in problems
    )
    ui = _copy(tmp_path, UI, '<property name="wordWrap">', '<property name="wordWrapping">')
    _, problems = check_with_qt(ui, MODULE)
    assert "widget 'modelSummaryLabel': property 'wordWrapping' is not declared by QLabel" in problems


def test_an_undeclared_signal_of_a_ui_connection_fails(qt_app, tmp_path):
    signal = "<signal>currentNodeChanged(vtkMRMLNode*)</signal>"
    ui = _copy(tmp_path, UI, signal, "<signal>currentNodeChanged(QString)</signal>")
    _, problems = check_with_qt(ui, MODULE)
    assert "'segmentationSelector' (qMRMLNodeComboBox) has no signal currentNodeChanged(QString)" in problems
    assert any(p.startswith("Qt: QObject::connect: No such signal") for p in problems)


def test_an_undeclared_slot_of_a_ui_connection_fails(qt_app, tmp_path):
    slot = "<slot>setCurrentNode(vtkMRMLNode*)</slot>"
    ui = _copy(tmp_path, UI, slot, "<slot>setSegmentationNode(vtkMRMLNode*)</slot>")
    _, problems = check_with_qt(ui, MODULE)
    assert (
        "'segmentSelector' (qMRMLSegmentSelectorWidget) has no slot setSegmentationNode(vtkMRMLNode*)"
        in problems
    )


def test_a_self_ui_name_the_form_lacks_fails(qt_app, tmp_path):
    ui = _copy(tmp_path, UI, 'name="draftButton"', 'name="draftHematomaButton"')
    _, problems = check_with_qt(ui, MODULE)
    assert "HematomaExpansion.py uses self.ui.draftButton, which the loaded form lacks" in problems


def test_a_member_the_widget_lacks_fails(qt_app, tmp_path):
    module = _copy(tmp_path, MODULE, "self.ui.progressBar.hide()", "self.ui.progressBar.fold()")
    _, problems = check_with_qt(UI, module)
    assert "HematomaExpansion.py uses self.ui.progressBar.fold: QProgressBar lacks it" in problems


def test_an_undeclared_pythonqt_signal_fails(qt_app, tmp_path):
    old = 'self.ui.draftButton.connect("clicked(bool)"'
    module = _copy(tmp_path, MODULE, old, 'self.ui.draftButton.connect("clicked(int)"')
    _, problems = check_with_qt(UI, module)
    assert 'self.ui.draftButton.connect("clicked(int)"): QPushButton declares no such signal' in problems
    old = '"currentPathChanged(QString)", self.onWeightsFileChanged'
    module = _copy(tmp_path, MODULE, old, '"pathChanged(QString)", self.onWeightsFileChanged')
    _, problems = check_with_qt(UI, module)
    expected = 'self.ui.weightsFilePathLineEdit.connect("pathChanged(QString)"): ctkPathLineEdit declares no such signal'
    assert expected in problems


def test_a_binding_member_the_widget_lacks_fails(qt_app, monkeypatch):
    monkeypatch.setitem(BINDABLE["bool"], "QCheckBox", ("stateChanged", "checkedState"))
    _, problems = check_with_qt(UI, MODULE)
    assert "binding 'onsetCheckBox' needs QCheckBox.checkedState, which it lacks" in problems


def test_a_standin_stores_what_its_setters_set(qt_app):
    classes = standin_classes()
    path = classes["ctkPathLineEdit"]()
    path.setCurrentPath("/data/ct.nrrd")
    assert path.property("currentPath") == "/data/ct.nrrd"
    segment = classes["qMRMLSegmentSelectorWidget"]()
    assert segment.currentSegmentID() is None
    segment.setCurrentSegmentID("Hematoma")
    assert segment.currentSegmentID() == "Hematoma"
    assert isinstance(segment, classes["qMRMLWidget"]) and isinstance(segment, QtWidgets.QWidget)
