"""Turning pydantic's validation errors into messages a technician can act on: file, line, key, what to do."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, TypeGuard

from pydantic import BaseModel, ValidationError

from kiosk.errors import KioskError

_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\s*(#.*)?$")
_ARRAY = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"\s]+?)\s*=")


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in a config file."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(KioskError, ValueError):
    """The configuration is not valid; `problems` lists every mistake found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each dotted key path of a TOML text to its 1-based line (tables and simple keys)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}  # [[scanners]]: how many seen, so keys get pydantic's index
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _ARRAY.match(line):
            name = _split(match.group(1))
            arrays[name] = arrays.get(name, -1) + 1
            table = (*name, str(arrays[name]))
            lines.setdefault(table, number)
        elif match := _TABLE.match(line):
            table = _split(match.group(1))
            lines.setdefault(table, number)
        elif match := _KEY.match(line):
            lines.setdefault(table + _split(match.group(1)), number)
    return lines


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"') for part in dotted.split("."))


def problems_from_validation(
    exc: ValidationError, text: str, source: str, root: type[BaseModel]
) -> list[ConfigProblem]:
    """One problem per pydantic error of `root`, located by line where the key appears in `text`."""
    lines = key_lines(text)
    problems = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        problems.append(ConfigProblem(source, _line_for(loc, lines), ".".join(loc), _message(error, root)))
    return problems


def _line_for(loc: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _message(error: Any, root: type[BaseModel]) -> str:
    if error["type"] == "extra_forbidden":
        return _unknown_key(error["loc"], root)
    message = str(error["msg"]).removeprefix("Value error, ")
    shown = _as_toml(error["input"])
    if shown is None:  # a whole table (a rule across its keys): the message names the keys
        return message
    return f"{message} (got {shown[:60]}{'...' if len(shown) > 60 else ''})"


def _as_toml(value: object) -> str | None:
    """`value` as it is written in the TOML file (a string quoted, true not True); None for a table."""
    if isinstance(value, dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        items = [_as_toml(item) for item in value]
        return "[" + ", ".join(item if item is not None else "{...}" for item in items) + "]"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _unknown_key(loc: tuple[Any, ...], root: type[BaseModel]) -> str:
    allowed = _allowed_keys(root, loc[:-1])
    hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
    return f"unknown key{suggestion} (allowed here: {', '.join(sorted(allowed))})"


def _allowed_keys(root: type[BaseModel], parent: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = root
    for part in parent:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None) if field else None
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if _is_model(a)]
        if not candidates:
            return []
        model = candidates[0]
    return list(model.model_fields)


def _is_model(candidate: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)
