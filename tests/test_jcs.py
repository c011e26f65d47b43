"""RFC 8785 JSON Canonicalization Scheme: the RFC's own examples, and agreement with ECMAScript where node exists."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.credentials.jcs import canonicalize, number_to_string

# RFC 8785 Appendix B: IEEE 754 double (hex) -> ECMAScript string.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def double(hex_bits: str) -> float:
    return float(struct.unpack(">d", bytes.fromhex(hex_bits))[0])


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_numbers_of_appendix_b(bits: str, expected: str):
    assert number_to_string(double(bits)) == expected
    assert canonicalize(double(bits)) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinities_are_refused(bits: str):
    with pytest.raises(ValueError, match="NaN"):
        canonicalize([double(bits)])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (333333333.3333333, "333333333.3333333"),
        (1e23, "1e+23"),
        (9007199254740992, "9007199254740992"),
        (9007199254740993, "9007199254740992"),  # an integer is a double in JSON: it rounds, as in ECMAScript
        (2.0, "2"),
        (-4.5, "-4.5"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_numbers(value: float, expected: str):
    assert canonicalize(value) == expected.encode()


def test_integer_beyond_the_double_range_is_refused():
    with pytest.raises(ValueError, match="range"):
        canonicalize(10**400)


def test_example_of_section_3_2_2():
    text = r"""{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"""
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonicalize(json.loads(text)) == expected.encode("utf-8")


def test_sorting_example_of_section_3_2_3():
    text = r"""{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }"""
    canonical = canonicalize(json.loads(text))
    assert json.loads(canonical, object_pairs_hook=lambda pairs: [value for _, value in pairs]) == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",  # U+1F600 is D83D DE00 in UTF-16: before U+FB33, unlike in code point order
        "Hebrew Letter Dalet With Dagesh",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x00\x1f\x7f", "\\u0000\\u001f\x7f"),  # other controls in lower-case hex; DEL is not a control here
        ("\b\f\n\r\t", "\\b\\f\\n\\r\\t"),
        ("/\u2028é", "/\u2028é"),  # no escaping of the solidus, line separator or non-ASCII
    ],
)
def test_string_escapes(text: str, expected: str):
    assert canonicalize(text) == f'"{expected}"'.encode()


def test_lone_surrogate_is_refused():
    with pytest.raises(ValueError, match="surrogate"):
        canonicalize({"a": "\ud800"})


@pytest.mark.parametrize("value", [{1: "a"}, {"a": {1, 2}}, b"bytes"])
def test_non_json_types_are_refused(value: object):
    with pytest.raises(TypeError):
        canonicalize(value)


def test_deep_nesting_is_a_value_error_not_a_crash():
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        canonicalize(deep)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES.filter(lambda v: "\ud800" not in json.dumps(v)))
def test_canonical_form_is_a_fixed_point_and_ignores_member_order(value: object):
    canonical = canonicalize(value)
    assert canonicalize(json.loads(canonical)) == canonical
    if isinstance(value, dict):
        assert canonicalize(dict(reversed(list(value.items())))) == canonical


@pytest.mark.skipif(shutil.which("node") is None, reason="node (an ECMAScript engine) is not installed")
@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=50, max_size=50))
def test_numbers_agree_with_ecmascript(values: list[float]):
    script = "const l=require('fs').readFileSync(0,'utf8').trim().split(',');console.log(l.map(Number).join('\\n'))"
    text = ",".join(repr(v) for v in values)
    result = subprocess.run(["node", "-e", script], input=text, capture_output=True, text=True, check=True)
    assert result.stdout.split() == [number_to_string(v) for v in values]
