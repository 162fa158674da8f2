"""Static check of the module panel: .ui file, widget use in the module code, parameter-node names.

No Qt is needed: the .ui XML and the module's source are read as text/AST and compared with a
list of the widget classes the panel may use, each with the members our code calls and where
they are documented.
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

QT_DOCS = "Qt 5 class reference (doc.qt.io/qt-5)"
CTK_DOCS = "CTK API (commontk.org/docs/html)"
SLICER_DOCS = "Slicer API (apidocs.slicer.org)"

# class -> (documentation source, base class, members our code may use)
KNOWN_WIDGETS: dict[str, tuple[str, str | None, frozenset[str]]] = {
    "QWidget": (
        QT_DOCS,
        None,
        frozenset(
            {
                "enabled",
                "toolTip",
                "show",
                "hide",
                "setVisible",
                "visible",
                "connect",
                "setEnabled",
                "blockSignals",
            }
        ),
    ),
    "QLabel": (QT_DOCS, "QWidget", frozenset({"text", "setText", "wordWrap"})),
    "QAbstractButton": (
        QT_DOCS,
        "QWidget",
        frozenset({"text", "setText", "checked", "setChecked", "clicked", "toggled"}),
    ),
    "QPushButton": (QT_DOCS, "QAbstractButton", frozenset()),
    "QCheckBox": (QT_DOCS, "QAbstractButton", frozenset()),
    "QComboBox": (
        QT_DOCS,
        "QWidget",
        frozenset(
            {
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
            }
        ),
    ),
    "QDoubleSpinBox": (
        QT_DOCS,
        "QWidget",
        frozenset({"value", "setValue", "minimum", "maximum", "valueChanged"}),
    ),
    "QProgressBar": (QT_DOCS, "QWidget", frozenset({"value", "setValue", "minimum", "maximum"})),
    "QGroupBox": (QT_DOCS, "QWidget", frozenset({"title", "setTitle"})),
    "QTableView": (QT_DOCS, "QWidget", frozenset()),
    "ctkCollapsibleButton": (CTK_DOCS, "QAbstractButton", frozenset({"collapsed", "setCollapsed"})),
    "ctkCollapsibleGroupBox": (CTK_DOCS, "QGroupBox", frozenset({"collapsed", "setCollapsed"})),
    "ctkPathLineEdit": (
        CTK_DOCS,
        "QWidget",
        frozenset({"currentPath", "setCurrentPath", "filters", "nameFilters", "currentPathChanged"}),
    ),
    "qMRMLWidget": (SLICER_DOCS, "QWidget", frozenset({"setMRMLScene", "mrmlScene", "mrmlSceneChanged"})),
    "qMRMLNodeComboBox": (
        SLICER_DOCS,
        "QWidget",
        frozenset(
            {
                "currentNode",
                "setCurrentNode",
                "currentNodeID",
                "setMRMLScene",
                "nodeTypes",
                "currentNodeChanged",
            }
        ),
    ),
    "qMRMLSegmentSelectorWidget": (
        SLICER_DOCS,
        "qMRMLWidget",
        frozenset(
            {
                "currentNode",
                "setCurrentNode",
                "currentSegmentID",
                "setCurrentSegmentID",
                "currentSegmentChanged",
            }
        ),
    ),
    "qMRMLTableView": (
        SLICER_DOCS,
        "QTableView",
        frozenset({"setMRMLTableNode", "mrmlTableNode", "setMRMLScene"}),
    ),
}
# Layout classes and spacers may appear in a .ui without being widgets the code touches.
LAYOUT_CLASSES = {"QVBoxLayout", "QHBoxLayout", "QFormLayout", "QGridLayout"}
# parameterNodeWrapper field type -> widget classes that can be bound to it with SlicerParameterName.
BINDABLE = {
    "bool": {"QCheckBox"},
    "float": {"QDoubleSpinBox", "ctkSliderWidget"},
    "int": {"QSpinBox"},
    "str": {"QLineEdit", "QComboBox"},
}


def members_of(widget_class: str) -> set[str]:
    """Members a class offers, its bases' included."""
    members: set[str] = set()
    while widget_class is not None:
        _, base, own = KNOWN_WIDGETS[widget_class]
        members |= own
        widget_class = base
    return members


@dataclass(frozen=True)
class UiWidget:
    name: str
    widget_class: str
    parameter_name: str | None


def read_ui(path: Path) -> dict[str, UiWidget]:
    """Widgets of a .ui file by object name (raises ET.ParseError on a malformed file)."""
    root = ET.parse(path).getroot()
    widgets = {}
    for element in root.iter("widget"):
        parameter = element.find("./property[@name='SlicerParameterName']/string")
        widgets[element.get("name")] = UiWidget(
            element.get("name"), element.get("class"), parameter.text if parameter is not None else None
        )
    return widgets


def ui_accesses(module_path: Path) -> set[tuple[str, str | None]]:
    """(widget name, member or None) for every ``self.ui.<name>[.<member>]`` in the module code."""
    accesses = set()
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ui"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"
        ):
            accesses.add((node.attr, None))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner = node.value
            if isinstance(inner.value, ast.Attribute) and inner.value.attr == "ui":
                accesses.add((inner.attr, node.attr))
    return accesses


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


def check_panel(ui_path: Path, module_path: Path) -> list[str]:
    """All problems found; an empty list means the panel is consistent."""
    problems = []
    widgets = read_ui(ui_path)
    for widget in widgets.values():
        if widget.widget_class not in KNOWN_WIDGETS and widget.widget_class not in LAYOUT_CLASSES:
            problems.append(f"{ui_path.name}: widget '{widget.name}' has unknown class {widget.widget_class}")
    for name, member in sorted(ui_accesses(module_path), key=lambda a: (a[0], a[1] or "")):
        widget = widgets.get(name)
        if widget is None:
            problems.append(f"{module_path.name} uses self.ui.{name}, which is not in {ui_path.name}")
        elif (
            member is not None
            and widget.widget_class in KNOWN_WIDGETS
            and member not in members_of(widget.widget_class)
        ):
            problems.append(
                f"{module_path.name} uses self.ui.{name}.{member}, not a member of {widget.widget_class}"
            )
    fields = parameter_fields(module_path)
    for widget in widgets.values():
        if widget.parameter_name is None:
            continue
        annotation = fields.get(widget.parameter_name)
        if annotation is None:
            problems.append(
                f"{ui_path.name}: widget '{widget.name}' has SlicerParameterName '{widget.parameter_name}', "
                "which is not a parameter-node field"
            )
        elif annotation.startswith("vtkMRML"):
            if widget.widget_class != "qMRMLNodeComboBox":
                problems.append(f"node field '{widget.parameter_name}' is bound to a {widget.widget_class}")
        elif widget.widget_class not in BINDABLE.get(annotation, set()):
            problems.append(
                f"{annotation} field '{widget.parameter_name}' is bound to a {widget.widget_class}"
            )
    return problems
