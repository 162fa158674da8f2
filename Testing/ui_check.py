"""Static check of the module panel: .ui file, widget use in the module code, parameter-node names.

No Qt is needed: the .ui XML and the module's source are read as text/AST and compared with
``KNOWN_WIDGETS``, the one declaration of the widget classes the panel may use. Each class names the
source that defines it and the members the .ui, the module code and Slicer's parameter-node GUI
connectors use. ``Testing/qt_standins.py`` builds the PySide6 stand-ins of the CTK and qMRML classes
from the same declaration, and ``Testing/test_ui_qt.py`` checks the Qt classes' entries against Qt itself.
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

QT_SOURCE = "Qt class reference (doc.qt.io), checked against PySide6 by Testing/test_ui_qt.py"
CTK_HEADERS = "commontk/CTK Libs/Widgets/"
MRML_HEADERS = "Slicer/Slicer Libs/MRML/Widgets/"
SEGMENTATIONS_HEADERS = "Slicer/Slicer Modules/Loadable/Segmentations/Widgets/"
GUI_CONNECTORS = "Slicer/Slicer Base/Python/slicer/parameterNodeWrapper/guiConnectors.py"


@dataclass(frozen=True)
class WidgetClass:
    """A widget class the panel may use, with the members of its own (its bases add theirs).

    Qt classes list the members our code calls in ``methods`` (PythonQt wraps every public method of
    a Qt class). A CTK or qMRML class lists its Q_PROPERTYs, signals, and public slots or
    Q_INVOKABLE methods (all that PythonQt exposes of it) as C++ signatures from its header.
    """

    source: str
    base: str | None
    methods: frozenset[str] = frozenset()
    properties: dict[str, str] = field(default_factory=dict)  # name -> C++ type
    signals: tuple[str, ...] = ()
    slots: tuple[str, ...] = ()  # public slots and Q_INVOKABLE methods

    @property
    def is_qt(self) -> bool:
        """True for Qt's own classes, which PySide6 provides; the others get stand-ins."""
        return self.source == QT_SOURCE

    def own_members(self) -> set[str]:
        """Names of the members this class adds to its base."""
        return (
            set(self.methods)
            | set(self.properties)
            | {signature_name(s) for s in self.signals}
            | {signature_name(s) for s in self.slots}
        )


def signature_name(signature: str) -> str:
    """``currentNodeChanged`` of ``currentNodeChanged(vtkMRMLNode*)``."""
    return signature.split("(", 1)[0]


def signature_arguments(signature: str) -> tuple[str, ...]:
    """``("vtkMRMLNode*",)`` of ``currentNodeChanged(vtkMRMLNode*)``."""
    inside = signature.split("(", 1)[1].rstrip(")").strip()
    return tuple(argument.strip() for argument in inside.split(",")) if inside else ()


def _qt(base: str | None, *methods: str) -> WidgetClass:
    return WidgetClass(QT_SOURCE, base, methods=frozenset(methods))


KNOWN_WIDGETS: dict[str, WidgetClass] = {
    "QWidget": _qt(
        None,
        "enabled",
        "toolTip",
        "show",
        "hide",
        "setVisible",
        "visible",
        "connect",
        "setEnabled",
        "blockSignals",
        "layout",
    ),
    "QLabel": _qt("QWidget", "text", "setText", "wordWrap"),
    "QAbstractButton": _qt("QWidget", "text", "setText", "checked", "setChecked", "clicked", "toggled"),
    "QPushButton": _qt("QAbstractButton", "checkable"),
    "QCheckBox": _qt("QAbstractButton", "stateChanged"),
    "QComboBox": _qt(
        "QWidget",
        "addItem",
        "clear",
        "count",
        "currentData",
        "currentIndex",
        "setCurrentIndex",
        "currentText",
        "findData",
        "itemData",
        "currentIndexChanged",
    ),
    "QDoubleSpinBox": _qt("QWidget", "value", "setValue", "minimum", "maximum", "valueChanged"),
    "QSpinBox": _qt("QWidget", "value", "setValue", "minimum", "maximum", "setRange", "valueChanged"),
    "QLineEdit": _qt("QWidget", "text", "setText", "textChanged"),
    "QProgressBar": _qt("QWidget", "value", "setValue", "minimum", "maximum"),
    "QGroupBox": _qt("QWidget", "title", "setTitle"),
    "QTableView": _qt("QWidget"),
    "ctkCollapsibleButton": WidgetClass(
        CTK_HEADERS + "ctkCollapsibleButton.h",
        "QAbstractButton",
        properties={"collapsed": "bool"},
        signals=("contentsCollapsed(bool)",),
    ),
    "ctkCollapsibleGroupBox": WidgetClass(
        CTK_HEADERS + "ctkCollapsibleGroupBox.h", "QGroupBox", properties={"collapsed": "bool"}
    ),
    "ctkPathLineEdit": WidgetClass(
        CTK_HEADERS + "ctkPathLineEdit.h",
        "QWidget",
        properties={
            "currentPath": "QString",
            "filters": "ctkPathLineEdit::Filters",
            "nameFilters": "QStringList",
        },
        signals=("currentPathChanged(QString)",),
        slots=("setCurrentPath(QString)",),
    ),
    "qMRMLWidget": WidgetClass(
        MRML_HEADERS + "qMRMLWidget.h",
        "QWidget",
        signals=("mrmlSceneChanged(vtkMRMLScene*)",),
        slots=("setMRMLScene(vtkMRMLScene*)", "mrmlScene()"),
    ),
    "qMRMLNodeComboBox": WidgetClass(
        MRML_HEADERS + "qMRMLNodeComboBox.h",
        "QWidget",
        properties={
            "currentNodeID": "QString",
            "nodeTypes": "QStringList",
            "showChildNodeTypes": "bool",
            "noneEnabled": "bool",
            "addEnabled": "bool",
            "removeEnabled": "bool",
        },
        signals=("currentNodeChanged(vtkMRMLNode*)",),
        slots=("setMRMLScene(vtkMRMLScene*)", "setCurrentNode(vtkMRMLNode*)", "currentNode()"),
    ),
    "qMRMLSegmentSelectorWidget": WidgetClass(
        SEGMENTATIONS_HEADERS + "qMRMLSegmentSelectorWidget.h",
        "qMRMLWidget",
        properties={"noneEnabled": "bool", "segmentationNodeSelectorVisible": "bool"},
        signals=("currentNodeChanged(vtkMRMLNode*)", "currentSegmentChanged(QString)"),
        slots=(
            "setCurrentNode(vtkMRMLNode*)",
            "currentNode()",
            "setCurrentSegmentID(QString)",
            "currentSegmentID()",
        ),
    ),
    "qMRMLTableView": WidgetClass(
        MRML_HEADERS + "qMRMLTableView.h",
        "QTableView",
        signals=("mrmlSceneChanged(vtkMRMLScene*)",),
        slots=("setMRMLScene(vtkMRMLScene*)", "setMRMLTableNode(vtkMRMLNode*)", "mrmlTableNode()"),
    ),
}
# Layout classes and spacers may appear in a .ui without being widgets the code touches.
LAYOUT_CLASSES = {"QVBoxLayout", "QHBoxLayout", "QFormLayout", "QGridLayout"}
# parameterNodeWrapper field type -> widget class -> the members its GUI connector (GUI_CONNECTORS) uses.
NODE_FIELD = "vtkMRMLNode"  # any vtkMRML*Node field
BINDABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "bool": {"QCheckBox": ("stateChanged", "checked"), "QPushButton": ("toggled", "checked", "checkable")},
    "float": {"QDoubleSpinBox": ("valueChanged", "value", "minimum", "maximum")},
    "int": {"QSpinBox": ("valueChanged", "value")},
    "str": {"QLineEdit": ("textChanged", "text"), "QComboBox": ("currentIndexChanged", "currentIndex")},
    NODE_FIELD: {"qMRMLNodeComboBox": ("currentNodeChanged", "nodeTypes", "currentNode", "setCurrentNode")},
}


def members_of(widget_class: str) -> set[str]:
    """Members a class offers, its bases' included."""
    members: set[str] = set()
    while widget_class is not None:
        declaration = KNOWN_WIDGETS[widget_class]
        members |= declaration.own_members()
        widget_class = declaration.base
    return members


@dataclass(frozen=True)
class UiProperty:
    name: str
    kind: str  # the value's element: string, bool, number, double, stringlist, rect, set, ...
    value: object  # str, bool, int, float or list[str]; None for kinds not read here
    designable: bool  # False for dynamic properties (stdset="0"), such as SlicerParameterName


@dataclass(frozen=True)
class UiWidget:
    name: str
    widget_class: str
    parameter_name: str | None
    properties: tuple[UiProperty, ...] = ()


@dataclass(frozen=True)
class UiConnection:
    sender: str
    signal: str
    receiver: str
    slot: str


def _property_value(kind: str, element: ET.Element) -> object:
    text = element.text or ""
    readers = {
        "string": lambda: text,
        "bool": lambda: text == "true",
        "number": lambda: int(text),
        "double": lambda: float(text),
        "stringlist": lambda: [item.text or "" for item in element.findall("string")],
    }
    return readers[kind]() if kind in readers else None


def read_ui(path: Path) -> dict[str, UiWidget]:
    """Widgets of a .ui file by object name (raises ET.ParseError on a malformed file)."""
    root = ET.parse(path).getroot()
    widgets = {}
    for element in root.iter("widget"):
        properties = []
        for prop in element.findall("property"):
            value_element = prop[0] if len(prop) else ET.Element("string")
            properties.append(
                UiProperty(
                    prop.get("name"),
                    value_element.tag,
                    _property_value(value_element.tag, value_element),
                    prop.get("stdset") != "0",
                )
            )
        parameter = next((p.value for p in properties if p.name == "SlicerParameterName"), None)
        widgets[element.get("name")] = UiWidget(
            element.get("name"), element.get("class"), parameter, tuple(properties)
        )
    return widgets


def read_connections(path: Path) -> list[UiConnection]:
    """The signal-slot connections a .ui file declares (made by the loader)."""
    root = ET.parse(path).getroot()
    return [
        UiConnection(*(c.findtext(tag, "") for tag in ("sender", "signal", "receiver", "slot")))
        for c in root.iter("connection")
    ]


def _is_self_ui(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "ui"
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def ui_accesses(module_path: Path) -> set[tuple[str, str | None]]:
    """(widget name, member or None) for every ``self.ui.<name>[.<member>]`` in the module code."""
    accesses = set()
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_self_ui(node.value):
            accesses.add((node.attr, None))
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and _is_self_ui(node.value.value)
        ):
            accesses.add((node.value.attr, node.attr))
    return accesses


def pythonqt_connections(module_path: Path) -> list[tuple[str, str]]:
    """(widget name, signal signature) of every PythonQt ``self.ui.<name>.connect("signal(args)", ...)``."""
    connections = []
    for node in ast.walk(ast.parse(module_path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "connect"
            and isinstance(node.func.value, ast.Attribute)
            and _is_self_ui(node.func.value.value)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            connections.append((node.func.value.attr, node.args[0].value))
    return connections


def _field_type(annotation: ast.expr, aliases: dict[str, ast.expr]) -> str:
    """The type a field holds: module-level aliases resolved, ``Annotated[T, ...]`` unwrapped to T."""
    if isinstance(annotation, ast.Name) and annotation.id in aliases:
        return _field_type(aliases[annotation.id], aliases)
    if (
        isinstance(annotation, ast.Subscript)
        and isinstance(annotation.value, ast.Name)
        and annotation.value.id == "Annotated"
        and isinstance(annotation.slice, ast.Tuple)
    ):
        return _field_type(annotation.slice.elts[0], aliases)
    return ast.unparse(annotation)


def parameter_fields(module_path: Path) -> dict[str, str]:
    """Field name -> type text of the @parameterNodeWrapper class in the module."""
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    aliases = {
        stmt.targets[0].id: stmt.value
        for stmt in tree.body
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
    }
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            (isinstance(d, ast.Name) and d.id == "parameterNodeWrapper") for d in node.decorator_list
        ):
            return {
                stmt.target.id: _field_type(stmt.annotation, aliases)
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            }
    return {}


def binding_members(field_type: str, widget_class: str) -> tuple[str, ...] | None:
    """Members the parameter-node GUI connector uses to bind this widget, None if it cannot bind it."""
    key = NODE_FIELD if field_type.startswith("vtkMRML") else field_type
    return BINDABLE.get(key, {}).get(widget_class)


def _class_problems(ui_name: str, widgets: dict[str, UiWidget]) -> list[str]:
    return [
        f"{ui_name}: widget '{w.name}' has unknown class {w.widget_class}"
        for w in widgets.values()
        if w.widget_class not in KNOWN_WIDGETS and w.widget_class not in LAYOUT_CLASSES
    ]


def _access_problems(module_path: Path, ui_name: str, widgets: dict[str, UiWidget]) -> list[str]:
    problems = []
    used = ui_accesses(module_path) | {
        (name, signature_name(s)) for name, s in pythonqt_connections(module_path)
    }
    for name, member in sorted(used, key=lambda a: (a[0], a[1] or "")):
        widget = widgets.get(name)
        if widget is None:
            problems.append(f"{module_path.name} uses self.ui.{name}, which is not in {ui_name}")
        elif (
            member is not None
            and widget.widget_class in KNOWN_WIDGETS
            and member not in members_of(widget.widget_class)
        ):
            problems.append(
                f"{module_path.name} uses self.ui.{name}.{member}, not a member of {widget.widget_class}"
            )
    return problems


def _binding_problems(module_path: Path, ui_name: str, widgets: dict[str, UiWidget]) -> list[str]:
    problems = []
    fields = parameter_fields(module_path)
    for widget in widgets.values():
        if widget.parameter_name is None:
            continue
        annotation = fields.get(widget.parameter_name)
        if annotation is None:
            problems.append(
                f"{ui_name}: widget '{widget.name}' has SlicerParameterName '{widget.parameter_name}', "
                "which is not a parameter-node field"
            )
            continue
        members = binding_members(annotation, widget.widget_class)
        if members is None:
            problems.append(
                f"{annotation} field '{widget.parameter_name}' is bound to a {widget.widget_class}"
            )
        elif widget.widget_class in KNOWN_WIDGETS:
            missing = sorted(set(members) - members_of(widget.widget_class))
            if missing:
                problems.append(f"{widget.widget_class} lacks {missing}, which binding '{widget.name}' needs")
    return problems


def check_panel(ui_path: Path, module_path: Path) -> list[str]:
    """All problems found; an empty list means the panel is consistent."""
    widgets = read_ui(ui_path)
    problems = _class_problems(ui_path.name, widgets)
    problems += _access_problems(module_path, ui_path.name, widgets)
    problems += _binding_problems(module_path, ui_path.name, widgets)
    for connection in read_connections(ui_path):
        for end in (connection.sender, connection.receiver):
            if end not in widgets:
                problems.append(f"{ui_path.name}: a connection names '{end}', which is not a widget")
    return problems
