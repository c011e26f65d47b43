"""RFC 8785 JSON Canonicalization Scheme (JCS): the one byte string a JSON value is signed as.

Signers of ICAO VDS-NC seals (and other JSON signature formats) sign the canonical form, so a verifier must
reproduce it exactly whatever member order or number spelling the QR code used: members sorted by the UTF-16
code units of their names, no whitespace, strings with only the mandatory escapes, and numbers as ECMAScript's
Number.prototype.toString writes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal


def canonicalize(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 form of `value` (dict, list or tuple, str, int, float, bool, None).

    Raises ValueError for what JSON cannot carry (NaN, infinities, integers beyond the double range, lone
    surrogates, nesting deeper than Python's recursion limit) and TypeError for other Python types.
    """
    parts: list[str] = []
    try:
        _write(value, parts)
        return "".join(parts).encode("utf-8")
    except RecursionError:
        raise ValueError("JSON value is nested too deeply to canonicalize") from None
    except UnicodeEncodeError:
        raise ValueError("JSON string holds a lone surrogate, which has no UTF-8 form") from None


def number_to_string(number: float) -> str:
    """`number` as ECMAScript Number.prototype.toString writes it (ECMA-262, section 6.1.6.1.20)."""
    if not math.isfinite(number):
        raise ValueError("NaN and infinities are not JSON numbers")
    if number == 0:
        return "0"  # also -0
    if number < 0:
        return "-" + number_to_string(-number)
    # repr() gives the shortest digits that round-trip, choosing the closest on ties, as ECMAScript requires.
    decimal = Decimal(repr(number)).normalize()
    _, digit_tuple, exponent = decimal.as_tuple()
    assert isinstance(exponent, int)  # finite, so never "n", "N" or "F"
    digits = "".join(map(str, digit_tuple))
    return _layout(digits, exponent + len(digits))


def _layout(digits: str, n: int) -> str:
    """Place the decimal point: the value is 0.`digits` x 10**n, with k = len(digits) significant digits."""
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    exponent = f"e{'+' if n > 0 else '-'}{abs(n - 1)}"
    return (digits if k == 1 else f"{digits[0]}.{digits[1:]}") + exponent


def _write(value: object, parts: list[str]) -> None:
    if value is None or isinstance(value, bool):
        parts.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, int | float):
        parts.append(number_to_string(_as_double(value)))
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, Mapping):
        _write_object(value, parts)
    elif isinstance(value, list | tuple):
        _write_array(value, parts)
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON type")


def _write_object(value: Mapping[object, object], parts: list[str]) -> None:
    if not all(isinstance(name, str) for name in value):
        raise TypeError("JSON object member names must be strings")
    parts.append("{")
    for i, name in enumerate(sorted(value, key=_utf16_key)):
        parts.append("," if i else "")
        parts.append(_string(str(name)) + ":")
        _write(value[name], parts)
    parts.append("}")


def _write_array(value: Sequence[object], parts: list[str]) -> None:
    parts.append("[")
    for i, item in enumerate(value):
        parts.append("," if i else "")
        _write(item, parts)
    parts.append("]")


def _as_double(value: int | float) -> float:
    try:
        return float(value)  # JSON numbers are IEEE 754 doubles: large integers lose digits, as in ECMAScript
    except OverflowError:
        raise ValueError("integer is beyond the range of a JSON number") from None


def _utf16_key(name: object) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the sequence of UTF-16 code units does.
    return str(name).encode("utf-16-be", "surrogatepass")


def _string(value: str) -> str:
    # json.dumps without ASCII escaping writes exactly the RFC 8785 escapes: \" \\ \b \f \n \r \t, other
    # controls as lower-case \u00xx, everything else (DEL, U+2028, non-ASCII) as itself.
    return json.dumps(value, ensure_ascii=False)
