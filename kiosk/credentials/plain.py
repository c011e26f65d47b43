"""Decoded CBOR and JSON as plain data: what a parser may read fields from, and what a credential may carry.

cbor2 turns tags into Python objects (decimals, regular expressions, sets, bignums, shared and cyclic
references), and a JSON reader accepts NaN, Infinity and lone surrogates. No credential holds any of these, and
none can be written as JSON or printed: a signed payload holding one is refused before any field is read
(`plain_problem`), and whatever a parser puts in `Credential.details` is reduced to JSON data (`json_safe`).
The one tag let through is the date-time (tags 0 and 1): deployed certificates use it (Hungary's and Sweden's
DCCs write the test sample time so, in the EU test vectors), and JSON holds it as ISO 8601 text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import cbor2

MAX_DEPTH = 32  # a DCC nests 6 levels, a SMART Health Card's FHIR bundle about 12
MAX_VALUES = 10_000  # a large SMART Health Card (the spec's example 02) holds 1,709 in 32 KB
INT_LIMIT = 2**64  # CBOR's own integers; a larger one came from a bignum tag
DETAILS_DEPTH = 8  # what `kiosk verify` shows is shallow
_LABEL = re.compile(r"-?[A-Za-z0-9_.]{1,24}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN = frozenset({bytes, type(None), datetime})
_Trail = tuple[Any, "_Trail"] | None  # (key, the trail of its container): shared by siblings, built in O(1)


def plain_problem(tree: object) -> str | None:
    """What in `tree` no credential holds, and where (never the value); None if it is plain data: text, byte
    strings, integers within 64 bits, finite numbers, true, false, null, date-times, arrays, and maps keyed by
    text or integers, no deeper than MAX_DEPTH, no more than MAX_VALUES values in all, and no array or map met
    twice (a cycle, or a small payload of a huge number of paths)."""
    if not isinstance(tree, Mapping | list | tuple):
        problem = _scalar_problem(tree)
        return None if problem is None else f"{problem}, at the top"
    return _Walk(tree).problem()


class _Walk:
    """Depth first over the arrays and maps, each with its depth and the keys that lead to it (a path is made
    only for a message); the common values are checked inline, without an ABC check: hostile input has 10,000."""

    def __init__(self, tree: Mapping[Any, Any] | list[Any] | tuple[Any, ...]) -> None:
        self.stack: list[tuple[Any, int, _Trail]] = [(tree, 1, None)]
        self.walked = 1
        self.seen = {id(tree)}

    def problem(self) -> str | None:
        while self.stack:
            container, depth, trail = self.stack.pop()
            is_map = isinstance(container, Mapping)
            for key, value in container.items() if is_map else enumerate(container):
                self.walked += 1
                if self.walked > MAX_VALUES:
                    return f"more than {MAX_VALUES} values"
                if is_map and not _plain_key(key):
                    return f"a map key that is {_key_kind(key)}, at {_path(trail)}"
                kind = type(value)
                if (kind is int and -INT_LIMIT <= value < INT_LIMIT) or (kind is str and value.isascii()):
                    continue
                problem = self.enter(value, depth, (key, trail)) if kind not in _PLAIN else None
                if problem is not None:
                    return f"{problem}, at {_path((key, trail))}"
        return None

    def enter(self, value: object, depth: int, trail: _Trail) -> str | None:
        """Queue an array or a map (None), or say what is wrong with `value`."""
        if not isinstance(value, Mapping | list | tuple):
            return _scalar_problem(value)
        if depth >= MAX_DEPTH:
            return f"nesting deeper than {MAX_DEPTH} levels"
        if value and id(value) in self.seen:  # only CBOR's value sharing (tags 28, 29) makes one twice
            return "a value shared by reference"
        self.seen.add(id(value))
        self.stack.append((value, depth + 1, trail))
        return None


def _scalar_problem(value: object) -> str | None:
    if isinstance(value, str):
        return None if value.isascii() or _is_unicode(value) else "text that is not Unicode"
    if isinstance(value, bool) or type(value) in _PLAIN:
        return None
    if isinstance(value, int):
        return None if -INT_LIMIT <= value < INT_LIMIT else "an integer beyond 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number that is not finite"
    return _special(value)


def _plain_key(key: object) -> bool:
    if isinstance(key, str):
        return key.isascii() or _is_unicode(key)
    return isinstance(key, int) and not isinstance(key, bool) and -INT_LIMIT <= key < INT_LIMIT


def _path(trail: _Trail) -> str:
    labels = []
    while trail is not None:
        key, trail = trail
        labels.append(_label(key))
    return "/".join(reversed(labels)) or "the top"


def _special(value: object) -> str:
    """What a value that is not plain data is, in the words of CBOR (only tags make such Python objects)."""
    if isinstance(value, cbor2.CBORTag):
        return f"a CBOR tag ({value.tag})"
    if isinstance(value, cbor2.CBORSimpleValue):
        return f"a CBOR simple value ({value.value})"
    if value is cbor2.undefined:
        return "a CBOR simple value (undefined)"
    return f"a CBOR tag ({type(value).__name__})"


def _key_kind(key: object) -> str:
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "true or false"),
        (bytes, "a byte string"),
        ((list, tuple), "an array"),
        (Mapping, "a map"),
        (float, "a floating-point number"),
        (int, "an integer beyond 64 bits"),
        (str, "text that is not Unicode"),
        (type(None), "null"),
    ]
    return next((words for kind, words in kinds if isinstance(key, kind)), _special(key))


def _label(key: object) -> str:
    """A map key as it may appear in a message: short integers and names as they are, anything else as "?"."""
    text = str(key) if isinstance(key, int) and -INT_LIMIT <= key < INT_LIMIT else key
    return text if isinstance(text, str) and _LABEL.fullmatch(text) else "?"


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a JSON escape (or a file name) that is not a character
        return False
    return True


def unicode_text(text: str) -> str:
    """`text` with any lone surrogate replaced by U+FFFD, so that it can be written as UTF-8."""
    return text if text.isascii() or _is_unicode(text) else _SURROGATE.sub("\ufffd", text)


def json_safe(value: object) -> Any:
    """`value` as JSON data, whatever it holds: a map keeps its text and integer keys (as text), and anything
    JSON cannot hold (byte strings, tags, NaN, huge integers, deep nesting, too many values) becomes a note of
    what it was, never its content."""
    return _JsonSafe().convert(value, 0)


class _JsonSafe:
    def __init__(self) -> None:
        self.left = MAX_VALUES  # shared references can make a small tree of a huge number of paths

    def convert(self, value: object, depth: int) -> Any:
        self.left -= 1
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value if -INT_LIMIT <= value < INT_LIMIT else "(an integer beyond 64 bits)"
        if isinstance(value, float):
            return value if math.isfinite(value) else "(a number that is not finite)"
        if isinstance(value, str):
            return unicode_text(value)
        if isinstance(value, bytes):
            return f"({len(value)} bytes)"
        if isinstance(value, datetime):
            return value.isoformat()
        if not isinstance(value, Mapping | list | tuple):
            return f"({_special(value)})"
        if depth >= DETAILS_DEPTH or self.left < 0:
            return "(nested too deep)" if depth >= DETAILS_DEPTH else "(too many values)"
        if isinstance(value, Mapping):
            keys = [(_json_key(k), v) for k, v in value.items()]
            return {k: self.convert(v, depth + 1) for k, v in keys if k is not None}
        return [self.convert(v, depth + 1) for v in value]


def _json_key(key: object) -> str | None:
    if isinstance(key, str):
        return unicode_text(key)
    if type(key) is int and -INT_LIMIT <= key < INT_LIMIT:
        return str(key)
    return None
