"""Reading an import file (groups.csv, people.csv): UTF-8 text, a first line naming the columns, one row a line.

Files come from spreadsheets, so what Excel writes is read: a byte order mark, CRLF line ends, `;` between
columns (its list separator where the decimal comma is used, as in Vietnam), blank rows and empty trailing
cells. Everything else that is off is a `Problem` naming the line and the column; the importers collect them
all and refuse the whole file (`ImportRefused`), so that nothing is half-imported and one reading of the message
is enough to fix the file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from central.errors import CentralError

if TYPE_CHECKING:
    from _csv import Reader

MAX_SHOWN = 20  # problems listed in a refusal; a file wrong on every line says so after these


@dataclass(frozen=True)
class Problem:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ImportRefused(CentralError):
    """A file refused whole; `problems` says where and why (never with an ID number or a name in it)."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(_message(source, self.problems))


def _message(source: str, problems: list[Problem]) -> str:
    if len(problems) == 1:
        return f"{source}, {problems[0]}; nothing imported"
    shown = "".join(f"\n  {problem}" for problem in problems[:MAX_SHOWN])
    more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
    return f"{source}: {len(problems)} problems, nothing imported:{shown}{more}"


class Problems:
    """The problems of one file, collected row by row."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[Problem] = []

    def add(self, line: int, column: str | None, message: str) -> None:
        self.found.append(Problem(line, column, message))

    def check(self) -> None:
        """ImportRefused if any problem was found."""
        if self.found:
            raise ImportRefused(self.source, self.found)


@dataclass(frozen=True)
class Row:
    """A row's cells by column (stripped; a column the file lacks reads as empty), and its first line."""

    line: int
    cells: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[Row]


def read_table(data: bytes, source: str, *, known: Sequence[str], required: Sequence[str]) -> Table:
    """The rows of a CSV file whose first line names columns among `known`, with all of `required`.
    ImportRefused if the file is not UTF-8, is empty, or its header or a row's cell count is wrong."""
    text = _text(data, source)
    if not text.strip():
        problem = Problem(1, None, f"the file is empty: its first line names the columns ({', '.join(known)})")
        raise ImportRefused(source, [problem])
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if ";" in first and "," not in first else ",")
    problems = Problems(source)
    try:
        columns = _header(next(reader), known, required, problems)
        problems.check()
        rows = _rows(reader, columns, problems)
    except csv.Error as exc:  # a NUL byte, a field past csv's size limit
        problems.add(reader.line_num, None, f"not CSV: {exc}")
        raise ImportRefused(source, problems.found) from None
    problems.check()
    return Table(tuple(c for c in columns if c), rows)


def _text(data: bytes, source: str) -> str:
    data = data.removeprefix(codecs.BOM_UTF8)  # Excel's "CSV UTF-8" starts with one
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        hint = "save it as CSV UTF-8 (Excel: Save As, CSV UTF-8)"
        raise ImportRefused(source, [Problem(line, None, f"not UTF-8 text: {hint}")]) from None


def _header(cells: list[str], known: Sequence[str], required: Sequence[str], problems: Problems) -> list[str]:
    """The column of each cell ("" for a cell with no name: its column must stay empty)."""
    columns = [cell.strip().lower() for cell in cells]
    for column in columns:
        if column and column not in known:
            problems.add(
                1, None, f"unknown column {column[:40]!r} (the first line names columns of {', '.join(known)})"
            )
    for column in sorted({c for c in columns if c and columns.count(c) > 1}):
        problems.add(1, None, f"column {column!r} given twice")
    for column in required:
        if column not in columns:
            problems.add(1, None, f"no column {column!r}")
    return columns


def _rows(reader: Reader, columns: list[str], problems: Problems) -> list[Row]:
    rows: list[Row] = []
    line = reader.line_num + 1  # where the next row starts
    for cells in reader:
        start, line = line, reader.line_num + 1
        values = [cell.strip() for cell in cells]
        if not any(values):
            continue  # a blank line, or a row of empty cells a spreadsheet left
        if (len(values) > len(columns) and any(values[len(columns) :])) or len(values) < len(columns):
            problems.add(start, None, f"{len(values)} cells, where the first line names {len(columns)} columns")
        elif any(value for column, value in zip(columns, values, strict=False) if not column):
            problems.add(start, None, "a value in a column whose first line is empty")
        else:
            rows.append(Row(start, {c: v for c, v in zip(columns, values, strict=False) if c}))
    return rows
