"""Rows to a vtkMRMLTableNode (typed columns, units) and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import vtk


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)


def table_node_from_rows(
    scene: Any,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    name: str,
    node: Any = None,
    units: dict[str, str] | None = None,
) -> Any:
    """Fill a vtkMRMLTableNode (new, or ``node``) with typed columns: numbers as double, else text."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    was_modified = node.StartModify()
    node.RemoveAllColumns()
    for index, column in enumerate(columns):
        values = [row[index] for row in rows]
        numeric = all(_is_number(v) for v in values)
        array = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
        array.SetName(column)
        for value in values:
            array.InsertNextValue(float(value) if numeric else str(value))
        node.AddColumn(array)
        if units and column in units:
            node.SetColumnUnitLabel(column, units[column])
    node.EndModify(was_modified)
    return node


def table_node_rows(node: Any) -> list[dict[str, Any]]:
    """Read a table node back as a list of {column: value} rows."""
    table = node.GetTable()
    columns = [table.GetColumn(c) for c in range(table.GetNumberOfColumns())]
    return [
        {column.GetName(): column.GetValue(r) for column in columns} for r in range(table.GetNumberOfRows())
    ]
