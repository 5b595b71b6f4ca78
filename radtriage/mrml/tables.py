"""Typed MRML tables (``vtkMRMLTableNode``) from and to rows of Python values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from vtkmodules.vtkCommonCore import vtkDoubleArray, vtkLongLongArray, vtkStringArray

ColumnSpec = Sequence[tuple[str, type]] | Mapping[str, type]

_ARRAY_FOR_TYPE = {str: vtkStringArray, float: vtkDoubleArray, int: vtkLongLongArray}
_FORBIDDEN_IN_STRINGS = ('"', "\t", "\n", "\r")  # Slicer's TSV table storage neither quotes nor escapes these


def _column_list(columns: ColumnSpec) -> list[tuple[str, type]]:
    """Columns as ``[(name, type), ...]`` with types among str, float, int."""
    items = list(columns.items()) if isinstance(columns, Mapping) else [tuple(c) for c in columns]
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise ValueError(f"column names must be unique, got {names}")
    for name, column_type in items:
        if column_type not in _ARRAY_FOR_TYPE:
            raise ValueError(f"column {name!r}: type must be str, float or int, got {column_type!r}")
    return items  # type: ignore[return-value]


def _cell(value: Any, column: str, column_type: type) -> Any:
    """A row value converted to its column's type (None: '' or NaN; None in an int column is an error)."""
    if column_type is str:
        text = "" if value is None else str(value)
        if any(ch in text for ch in _FORBIDDEN_IN_STRINGS):
            raise ValueError(f"column {column!r}: text with quotes, tabs or line breaks does not survive saving")
        return text
    if column_type is float:
        return math.nan if value is None else float(value)
    if value is None:
        raise ValueError(f"column {column!r}: an int column cannot hold a missing value (use float)")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"column {column!r}: {value!r} is not an integer")
    return int(value)


def table_node_from_rows(
    scene: Any, name: str, columns: ColumnSpec, rows: Sequence[Mapping[str, Any] | Sequence[Any]]
) -> Any:
    """Add a ``vtkMRMLTableNode`` with typed columns; rows are dicts by column name or sequences in column order."""
    column_list = _column_list(columns)
    arrays = []
    for column, column_type in column_list:
        array = _ARRAY_FOR_TYPE[column_type]()
        array.SetName(column)
        arrays.append(array)
    for row_number, row in enumerate(rows):
        if isinstance(row, Mapping):
            unknown = set(row) - {c for c, _ in column_list}
            if unknown:
                raise ValueError(f"row {row_number}: unknown columns {sorted(unknown)}")
            values = [row.get(column) for column, _ in column_list]
        else:
            values = list(row)
            if len(values) != len(column_list):
                raise ValueError(f"row {row_number}: expected {len(column_list)} values, got {len(values)}")
        for array, (column, column_type), value in zip(arrays, column_list, values, strict=True):
            array.InsertNextValue(_cell(value, column, column_type))
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    was_modifying = node.StartModify()
    for array in arrays:
        node.AddColumn(array)
    node.EndModify(was_modifying)
    return node


def _python_type(array: Any) -> type:
    """str, float or int for a VTK column array."""
    if array.IsA("vtkStringArray") or not array.IsA("vtkDataArray"):
        return str
    return float if array.GetDataType() in (10, 11) else int  # VTK_FLOAT, VTK_DOUBLE


def columns_of_table(node: Any) -> list[tuple[str, type]]:
    """The table's columns as ``[(name, type), ...]``."""
    table = node.GetTable()
    return [(table.GetColumn(c).GetName(), _python_type(table.GetColumn(c))) for c in range(table.GetNumberOfColumns())]


def rows_from_table(node: Any) -> list[dict[str, Any]]:
    """The table's rows as dicts of column name to a typed value (str, float or int)."""
    table = node.GetTable()
    columns = [table.GetColumn(c) for c in range(table.GetNumberOfColumns())]
    types = [_python_type(a) for a in columns]
    return [
        {array.GetName(): column_type(array.GetValue(r)) for array, column_type in zip(columns, types, strict=True)}
        for r in range(table.GetNumberOfRows())
    ]
