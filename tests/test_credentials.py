from __future__ import annotations

import json
import unicodedata

import pytest
from conftest import CCCD_AN, PCCOVID_AN, timed
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.credentials import Credential, Identity, Kind, SubjectKeyer, read_credential
from kiosk.credentials.cccd import parse_cccd
from kiosk.credentials.pccovid import parse_pccovid

KEYER = SubjectKeyer(b"test secret of 32 bytes, not real")


def test_cccd_with_diacritics():
    credential = read_credential(CCCD_AN)
    assert credential == Credential(
        Kind.CCCD, Identity("VN-ID", "001090012345"), name="Nguyễn Văn An", birth_date="1990-02-01"
    )


@pytest.mark.parametrize(
    "text",
    [
        "079203012345||Trần Thị Bích Ngọc|15062003|Nữ|12 Lê Lợi, Bến Thành, TP. Hồ Chí Minh|10082021",
        "079203012345|Trần Thị Bích Ngọc|15062003|Nữ|12 Lê Lợi, Bến Thành|10082021",  # 6-field variant
        "079203012345||Trần Thị Bích Ngọc|15062003|Nữ|Tổ 3|Khu phố 2|Bến Thành|10082021",  # | in address
    ],
)
def test_cccd_variants(text: str):
    credential = read_credential(text)
    assert credential.kind == Kind.CCCD and credential.problem is None
    assert credential.identity == Identity("VN-ID", "079203012345")
    assert credential.birth_date == "2003-06-15"


def test_cccd_name_is_normalised_to_nfc():
    decomposed = unicodedata.normalize("NFD", CCCD_AN)
    assert read_credential(decomposed).name == "Nguyễn Văn An"


def test_cccd_with_an_impossible_date_is_malformed_not_unknown():
    credential = read_credential("001090012345||Nguyễn Văn An|31021990|Nam|Hà Nội|15082021")
    assert credential == Credential(Kind.CCCD, problem="malformed")


def test_pccovid_code():
    credential = read_credential(PCCOVID_AN)
    assert credential.kind == Kind.PC_COVID
    assert credential.identity == Identity("VN-ID", "001090012345")
    assert credential.birth_date == "1990-02-01"


def test_pccovid_masked_number_falls_back_to_the_qid():
    credential = read_credential("0010900*****|NGUYEN VAN AN|19**-**-**|0|Q0123456789ABCDE|<1<09******78<")
    assert credential.identity == Identity("PCCOVID-QID", "Q0123456789ABCDE")
    assert credential.birth_date is None


def test_pccovid_partly_masked_birth_date_keeps_the_year():
    credential = read_credential("001090012345|NGUYEN VAN AN|1990-**-**|0|Q01234567|")
    assert credential.birth_date == "1990"


def test_pccovid_old_nine_digit_id():
    assert read_credential("123456789|LE THI HOA|1975-12-31|1|QABCDEF12|<2<").identity == Identity(
        "VN-CMND", "123456789"
    )


def test_same_person_same_key_whether_cccd_or_pccovid():
    by_card = read_credential(CCCD_AN).identity
    by_app = read_credential(PCCOVID_AN).identity
    assert by_card is not None and by_app is not None
    assert KEYER.key(by_card) == KEYER.key(by_app)
    assert len(KEYER.key(by_card)) == 32


def test_key_depends_on_the_secret():
    identity = Identity("VN-ID", "001090012345")
    assert KEYER.key(identity) != SubjectKeyer(b"another secret, also 32 bytes!!!").key(identity)


def test_the_key_of_a_credential_is_the_one_it_carries_else_that_of_its_identity():
    by_card = read_credential(CCCD_AN)
    assert by_card.identity is not None and KEYER.key_of(by_card) == KEYER.key(by_card.identity)
    assert KEYER.key_of(Credential(Kind.PASS, subject_key="0" * 32)) == "0" * 32
    assert KEYER.key_of(Credential(Kind.UNKNOWN)) is None


def test_a_credential_carries_only_json_data_whatever_a_parser_hands_it():
    """Issue 12: details and texts reach `kiosk verify --json`, the terminal and the logs' neighbours."""
    import cbor2
    from dccmaker import HUGE, nested

    cycle: list[object] = []
    cycle.append(cycle)
    details = {b"bytes key": 1, (1, 2): 2, 3: "int key", "nan": float("nan"), "inf": float("-inf"), "big": HUGE,
               "tag": cbor2.CBORTag(1004, "x"), "bytes": b"\x00", "set": frozenset({1}), "deep": nested(100),
               "cycle": cycle, "text": "a\ud800b", "fine": [1, 2.5, "x", None, True, {"k": "v"}]}  # fmt: skip
    credential = Credential(Kind.UNKNOWN, name="An\udcff", issuer="\ud800", details=details)
    written = json.dumps(credential.details, allow_nan=False, ensure_ascii=False).encode("utf-8")
    assert json.loads(written)["fine"] == [1, 2.5, "x", None, True, {"k": "v"}]
    assert credential.details["text"] == "a\ufffdb" and credential.details["3"] == "int key"
    assert set(credential.details) == {"3", "nan", "inf", "big", "tag", "bytes", "set", "deep", "cycle", "text",
                                       "fine"}  # fmt: skip
    assert all(isinstance(credential.details[k], str) for k in ("nan", "inf", "big", "tag", "bytes", "set"))
    assert (credential.name, credential.issuer) == ("An\ufffd", "\ufffd")
    assert Credential(Kind.SHC, details={"part": 2, "parts": 3}).details == {"part": 2, "parts": 3}


def test_short_secret_is_refused():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SubjectKeyer(b"short")


@pytest.mark.parametrize("text", ["https://example.vn/menu", "", "|||||", "hc1:lower case", "a" * 100_000])
def test_other_codes_are_unknown(text: str):
    assert read_credential(text) == Credential(Kind.UNKNOWN)


def test_a_broken_certificate_is_of_its_kind_and_malformed():
    assert read_credential("HC1:not really") == Credential(Kind.EU_DCC, problem="malformed")


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=300) | st.builds("|".join, st.lists(st.text(max_size=20))))
def test_any_text_gives_a_credential_never_an_exception(text: str):
    credential, seconds = timed(lambda: read_credential(text))
    assert isinstance(credential, Credential) and seconds < 0.05


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=4, max_size=10))
def test_parsers_return_none_or_raise_only_their_own_error(fields: list[str]):
    text = "|".join(fields)
    for parse in (parse_cccd, parse_pccovid):
        try:
            parse(text)
        except ValueError as exc:
            assert type(exc).__name__ == "CredentialError"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_a_trailing_line_break_changes_neither_kind_nor_key(ending: str):
    for text in (CCCD_AN, PCCOVID_AN, "0010900*****|NGUYEN VAN AN|19**-**-**|0|Q0123456789ABCDE"):
        plain, broken = read_credential(text), read_credential(text + ending)
        assert broken == plain and plain.problem is None
        assert plain.identity is not None and KEYER.key(broken.identity) == KEYER.key(plain.identity)


def test_a_line_break_inside_a_number_is_not_an_id():
    assert read_credential("001090012345\n|NGUYEN VAN AN|1990-02-01|1|Q0123456789ABCDE|").kind == Kind.PC_COVID
    assert read_credential("001090012345\n|NGUYEN VAN AN|1990-02-01|1|Q0123456789ABCDE|").problem == "malformed"
