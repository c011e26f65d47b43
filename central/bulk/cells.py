"""The cells of units.csv and venues.csv: a code is what other rows and the command line name a place by, so it
is short and plain; a name or an address is text people read, so it is normalised (NFC, single spaces) and may
hold no control or invisible character that a spreadsheet or a copy from a web page let in.

Each check adds its `Problem` (line, column) and answers None, so that an import collects every problem of a file
before it refuses it.
"""

from __future__ import annotations

import re
import unicodedata

from central.people.csvfile import Problems, Row

MAX_CODE = 64  # units.code and venues.code are String(64)
MAX_NAME = 200
MAX_ADDRESS = 300
CODE_PATTERN = re.compile(r"[A-Za-z0-9._-]+")
CODE_HINT = "letters, digits, '.', '_' or '-'"
ZEROS_HINT = "(a spreadsheet drops leading zeros: format the column as text)"
HIDDEN = {"Cc", "Cf", "Cs", "Co"}  # control, format (zero-width), surrogate and private-use characters


def hidden_character(text: str) -> str | None:
    """The first control or invisible character in `text`, as U+XXXX; None if there is none."""
    for char in text:
        if unicodedata.category(char) in HIDDEN:
            return f"U+{ord(char):04X}"
    return None


def clean_cells(row: Row, problems: Problems) -> bool:
    """Whether every cell of the row is free of control and invisible characters (a problem for each that is not)."""
    clean = True
    for column, value in row.cells.items():
        found = hidden_character(value)
        if found:
            problems.add(row.line, column, f"a control or invisible character ({found}): retype the cell")
            clean = False
    return clean


def code(row: Row, column: str, problems: Problems, *, required: bool = True) -> str | None:
    """The row's code in `column` (None, with a problem, if it is missing or not a plain code)."""
    value = row[column]
    if not value:
        if required:
            problems.add(row.line, column, "empty: every row needs one")
        return None
    if len(value) > MAX_CODE:
        problems.add(row.line, column, f"longer than {MAX_CODE} characters")
        return None
    if not CODE_PATTERN.fullmatch(value):
        problems.add(row.line, column, f"not a code: {CODE_HINT} only")
        return None
    return value


def text(row: Row, column: str, problems: Problems, *, limit: int, required: bool) -> str | None:
    """The row's text in `column`, NFC with single spaces; None if empty (a problem if `required`) or too long."""
    value = " ".join(unicodedata.normalize("NFC", row[column]).split())
    if not value:
        if required:
            problems.add(row.line, column, "empty: every row needs one")
        return None
    if len(value) > limit:
        problems.add(row.line, column, f"longer than {limit} characters ({len(value)})")
        return None
    return value
