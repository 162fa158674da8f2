"""PySide6 stand-ins of the panel's CTK and qMRML classes, and a QUiLoader that creates only declared classes.

Each stand-in is generated from its entry in ``ui_check.KNOWN_WIDGETS``: a subclass of the real Qt base
class that declares exactly the listed Q_PROPERTYs, signals and slots (C++ signatures, so Qt's string
connections match them as they match the real classes). Values are only stored: a property or a
``setX(value)`` slot stores what ``x()`` returns. None of CTK's or Slicer's behaviour is imitated beyond
the painting that makes the layout readable (collapsible headers, combo boxes, path fields).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6 import QtWidgets
from PySide6.QtCore import Property as QtProperty
from PySide6.QtCore import QFile, QIODevice, QRect, Qt, Signal, Slot, qInstallMessageHandler
from PySide6.QtUiTools import QUiLoader

from ui_check import KNOWN_WIDGETS, signature_arguments, signature_name

# A Q_FLAGS type is an int to Qt's property system and to PythonQt (ctk.ctkPathLineEdit.Files).
PROPERTY_TYPES = {"ctkPathLineEdit::Filters": "int"}
DEFAULTS: dict[str, Callable[[], object]] = {"bool": bool, "int": int, "QString": str, "QStringList": list}
QWIDGETSIZE_MAX = (1 << 24) - 1


def _key(name: str) -> str:
    """Storage key shared by a property ``x``, a slot ``setX(value)`` and an invokable ``x()``."""
    return name.lower()


class _StandIn:
    """Storage and hooks shared by the generated stand-ins."""

    def _set_up(self) -> None:
        """Build the children that paint the widget (rendering mixins override it)."""

    def _changed(self, key: str, value: object) -> None:
        """React to a stored value (rendering mixins override it)."""

    def _store(self) -> dict[str, object]:
        return self.__dict__.setdefault("_values", {})


def _property(name: str, cpp_type: str) -> QtProperty:
    qt_type = PROPERTY_TYPES.get(cpp_type, cpp_type)
    default = DEFAULTS[qt_type]

    def getter(self: _StandIn) -> object:
        return self._store().get(_key(name), default())

    def setter(self: _StandIn, value: object) -> None:
        self._store()[_key(name)] = value
        self._changed(_key(name), value)

    return QtProperty(qt_type, getter, setter)


def _slot(name: str, signatures: list[str]) -> Callable:
    def slot(self: _StandIn, *arguments: object) -> object:
        if not arguments:
            return self._store().get(_key(name))
        key = _key(name[3:] if name.startswith("set") else name)
        self._store()[key] = arguments[0] if len(arguments) == 1 else arguments
        self._changed(key, self._store()[key])
        return None

    for signature in signatures:
        slot = Slot(*signature_arguments(signature), name=name)(slot)
    return slot


def _signal(signatures: list[str]) -> Signal:
    if len(signatures) == 1:
        return Signal(*signature_arguments(signatures[0]))
    return Signal(*[list(signature_arguments(s)) for s in signatures])


def _by_name(signatures: tuple[str, ...]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for signature in signatures:
        grouped.setdefault(signature_name(signature), []).append(signature)
    return grouped


class _CollapsibleHeader(_StandIn):
    """ctkCollapsibleButton's look: a button-like header with an arrow above the contents."""

    def _header_height(self) -> int:
        return self.fontMetrics().height() + 10

    def _set_up(self) -> None:
        self.setContentsMargins(0, self._header_height(), 0, 0)

    def _changed(self, key: str, value: object) -> None:
        if key == "collapsed":
            self.setMaximumHeight(self._header_height() if value else QWIDGETSIZE_MAX)

    def paintEvent(self, event: object) -> None:  # noqa: N802 (Qt's name)
        painter = QtWidgets.QStylePainter(self)
        button = QtWidgets.QStyleOptionButton()
        button.initFrom(self)
        button.rect = QRect(0, 0, self.width(), self._header_height())
        painter.drawControl(QtWidgets.QStyle.ControlElement.CE_PushButtonBevel, button)
        arrow = QtWidgets.QStyleOption()
        arrow.initFrom(self)
        arrow.rect = QRect(6, 0, 12, self._header_height())
        collapsed = self._store().get("collapsed", False)
        element = QtWidgets.QStyle.PrimitiveElement
        painter.drawPrimitive(
            element.PE_IndicatorArrowRight if collapsed else element.PE_IndicatorArrowDown, arrow
        )
        text_rect = QRect(24, 0, self.width() - 24, self._header_height())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.text())


class _PathField(_StandIn):
    """ctkPathLineEdit's look: a line edit and a browse button."""

    def _set_up(self) -> None:
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._line = QtWidgets.QLineEdit(self)
        layout.addWidget(self._line)
        layout.addWidget(QtWidgets.QToolButton(self, text="..."))

    def _changed(self, key: str, value: object) -> None:
        if key == "currentpath":
            self._line.setText(str(value))


class _NodeCombo(_StandIn):
    """qMRMLNodeComboBox's and qMRMLSegmentSelectorWidget's look: a combo box (empty without a scene)."""

    def _set_up(self) -> None:
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QtWidgets.QComboBox(self))


RENDERING: dict[str, type] = {
    "ctkCollapsibleButton": _CollapsibleHeader,
    "ctkPathLineEdit": _PathField,
    "qMRMLNodeComboBox": _NodeCombo,
    "qMRMLSegmentSelectorWidget": _NodeCombo,
}


def standin_classes() -> dict[str, type]:
    """A PySide6 class for every declared class that is not Qt's own, named like the class it stands for."""
    classes: dict[str, type] = {}

    def build(name: str) -> type:
        if name in classes:
            return classes[name]
        declaration = KNOWN_WIDGETS[name]
        base = KNOWN_WIDGETS[declaration.base]
        base_class = getattr(QtWidgets, declaration.base) if base.is_qt else build(declaration.base)
        qt_class = next(c for c in base_class.__mro__ if c.__module__.startswith("PySide6"))
        namespace: dict[str, object] = {"__doc__": f"Stand-in for {name}, declared in {declaration.source}."}
        namespace |= {n: _property(n, t) for n, t in declaration.properties.items()}
        namespace |= {n: _signal(s) for n, s in _by_name(declaration.signals).items()}
        namespace |= {n: _slot(n, s) for n, s in _by_name(declaration.slots).items()}

        def initialize(self: _StandIn, parent: QtWidgets.QWidget | None = None) -> None:
            qt_class.__init__(self, parent)
            self._set_up()

        namespace["__init__"] = initialize
        classes[name] = type(name, (RENDERING.get(name, _StandIn), base_class), namespace)
        return classes[name]

    for name, declaration in KNOWN_WIDGETS.items():
        if not declaration.is_qt:
            build(name)
    return classes


class StandInLoader(QUiLoader):
    """Creates Qt's own declared classes with Qt, the other declared ones as stand-ins, and reports the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._standins = standin_classes()

    def createWidget(  # noqa: N802 (Qt's name)
        self, class_name: str, parent: QtWidgets.QWidget | None = None, name: str = ""
    ) -> object:
        declaration = KNOWN_WIDGETS.get(class_name)
        widget = None
        if declaration is None:
            self.problems.append(
                f"widget '{name}' has class {class_name}, which KNOWN_WIDGETS does not declare"
            )
        elif not declaration.is_qt:
            widget = self._standins[class_name](parent)
        else:
            widget = super().createWidget(class_name, parent, name)
            if widget is None:
                self.problems.append(f"widget '{name}': Qt has no class {class_name}")
        widget = widget if widget is not None else QtWidgets.QWidget(parent)
        widget.setObjectName(name)
        return widget


@contextmanager
def qt_messages() -> Iterator[list[str]]:
    """Collect the warnings Qt logs meanwhile (a failed connection, a property it cannot set)."""
    messages: list[str] = []
    previous = qInstallMessageHandler(lambda kind, context, message: messages.append(message))
    try:
        yield messages
    finally:
        qInstallMessageHandler(previous)


def load_form(ui_path: Path) -> tuple[QtWidgets.QWidget | None, list[str]]:
    """The form QUiLoader builds from a .ui file, and the problems met (undeclared classes, Qt warnings)."""
    loader = StandInLoader()
    ui_file = QFile(str(ui_path))
    if not ui_file.open(QIODevice.OpenModeFlag.ReadOnly):
        return None, [f"cannot open {ui_path}"]
    with qt_messages() as messages:
        form = loader.load(ui_file)
    ui_file.close()
    problems = loader.problems + [f"Qt: {m}" for m in messages]
    if form is None:
        problems.append(f"QUiLoader could not load {ui_path.name}: {loader.errorString()}")
    return form, problems
