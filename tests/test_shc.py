from __future__ import annotations

import json
import random
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import timed
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.credentials.base import Credential, CredentialError, Kind
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.jwk import b64url_decode, b64url_encode, load_jwks, public_key_from_jwk, thumbprint
from kiosk.credentials.shc import MAX_CHUNKS, QR_DIGITS, ShcAssembler, parse_shc
from kiosk.credentials.trust import TrustListError, TrustStore

SHC = Path(__file__).parent / "data" / "shc"
ISS = "https://spec.smarthealth.cards/examples/issuer"
JWKS = json.loads((SHC / "issuer" / ".well-known" / "jwks.json").read_text())
NOW = datetime(2024, 1, 1, tzinfo=UTC)  # after every example's nbf (2023-06-22), before example 03's exp
SINGLE = ["example-00", "example-01", "example-03"]
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())  # a test issuer, for cards the examples do not cover
TEST_ISS = "https://issuer.test/shc"


def example(name: str, part: int = 0) -> str:
    return (SHC / f"{name}-f-qr-code-numeric-value-{part}.txt").read_text().strip()


def claims_of(name: str) -> dict[str, Any]:
    return json.loads((SHC / f"{name}-c-jws-payload-minified.json").read_text())


def trust() -> TrustStore:
    """The example issuer and the test issuer (written with a trailing slash, as some issuers publish it)."""
    entries = [{"iss": ISS, "jwks": JWKS}, {"iss": TEST_ISS + "/", "jwks": {"keys": [jwk_of(ISSUER_KEY)]}}]
    return TrustStore.from_json({"shc_issuers": entries})


def jwk_of(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    coordinates = {"x": numbers.x.to_bytes(32, "big"), "y": numbers.y.to_bytes(32, "big")}
    return {"kty": "EC", "crv": "P-256", **{k: b64url_encode(v) for k, v in coordinates.items()}}


def to_digits(jws: str) -> str:
    return "".join(f"{ord(c) - 45:02d}" for c in jws)


def make_jws(claims: dict[str, Any], *, header: dict[str, Any] | None = None, raw: bytes | None = None) -> str:
    """A compact JWS signed by ISSUER_KEY, as an issuer makes it (or with the header or payload given)."""
    header = header or {"alg": "ES256", "zip": "DEF", "kid": thumbprint(jwk_of(ISSUER_KEY))}
    deflater = zlib.compressobj(wbits=-15)
    payload = raw if raw is not None else json.dumps(claims, separators=(",", ":")).encode()
    signing_input = (
        b64url_encode(json.dumps(header).encode()) + "." + b64url_encode(deflater.compress(payload) + deflater.flush())
    )
    r, s = decode_dss_signature(ISSUER_KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def make_card(claims: dict[str, Any], **kwargs: Any) -> str:
    return "shc:/" + to_digits(make_jws(claims, **kwargs))


def card_claims(*resources: dict[str, Any], nbf: float = 1_700_000_000, **extra: Any) -> dict[str, Any]:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    return {"iss": TEST_ISS, "nbf": nbf, "vc": {"credentialSubject": {"fhirBundle": bundle}}, **extra}


CTX = VerifyContext(trust(), NOW)


def example_02_chunks() -> list[str]:
    return [example("example-02", i) for i in range(3)]


def attempt(text: str, ctx: VerifyContext = CTX) -> Credential | CredentialError | None:
    try:
        return parse_shc(text, ctx)
    except CredentialError as exc:
        return exc


# Keys


def test_thumbprints_of_the_example_keys_are_their_kids():
    for jwk in JWKS["keys"]:
        assert thumbprint(jwk) == jwk["kid"]
    assert sorted(load_jwks(JWKS)) == sorted(jwk["kid"] for jwk in JWKS["keys"])


def test_the_thumbprint_ignores_members_outside_rfc_7638():
    jwk = JWKS["keys"][0]
    assert thumbprint({k: jwk[k] for k in ("crv", "kty", "x", "y")}) == jwk["kid"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kid": "not-the-thumbprint"}, "thumbprint"),
        ({"d": "c2VjcmV0"}, "private"),
        ({"crv": "P-384"}, "P-256"),
        ({"x": "AAAA"}, "32 bytes"),
        ({"y": JWKS["keys"][1]["y"]}, "point"),
        ({"x": "not base64!"}, "base64url"),
    ],
)
def test_a_bad_key_is_refused_with_the_reason(change: dict[str, str], message: str):
    with pytest.raises(ValueError, match=message):
        load_jwks({"keys": [JWKS["keys"][0] | change]})


@pytest.mark.parametrize("jwks", [None, [], {"keys": {}}, {"keys": ["x"]}, {"no": "keys"}])
def test_a_key_set_that_is_not_one_is_refused(jwks: object):
    with pytest.raises(ValueError, match="jwks"):
        load_jwks(jwks)


def test_keys_for_other_uses_are_skipped():
    other = {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}
    assert list(load_jwks({"keys": [other, JWKS["keys"][0]]})) == [JWKS["keys"][0]["kid"]]


def test_public_key_from_jwk_gives_the_key():
    key = public_key_from_jwk(jwk_of(ISSUER_KEY))
    assert key.public_numbers() == ISSUER_KEY.public_key().public_numbers()


def test_a_trust_list_with_a_bad_key_set_names_the_entry():
    with pytest.raises(TrustListError, match=r"shc_issuers\[0\].*thumbprint"):
        TrustStore.from_json({"shc_issuers": [{"iss": ISS, "jwks": {"keys": [JWKS["keys"][0] | {"kid": "x"}]}}]})


def test_base64url_must_be_canonical():
    assert b64url_decode("AQ") == b"\x01"
    with pytest.raises(ValueError, match="canonical"):
        b64url_decode("AR")  # the same byte with a non-zero unused bit


# The example cards


@pytest.mark.parametrize("name", SINGLE)
def test_every_example_card_verifies(name: str):
    credential = parse_shc(example(name), CTX)
    claims = claims_of(name)
    assert credential is not None and credential.valid
    assert (credential.kind, credential.signature, credential.expiry) == (Kind.SHC, "valid", "ok")
    assert credential.issuer == claims["iss"] and credential.identity is None
    assert credential.details["nbf"] == datetime.fromtimestamp(claims["nbf"], UTC).isoformat()
    patient = claims["vc"]["credentialSubject"]["fhirBundle"]["entry"][0]["resource"]
    name_part = patient["name"][0]
    assert credential.name == " ".join([*name_part["given"], name_part["family"]])
    assert credential.birth_date == patient["birthDate"]
    assert credential.details["patient"] == {"name": credential.name, "birthDate": patient["birthDate"]}


def test_vaccinations_are_counted_in_order():
    credential = parse_shc(example("example-00"), CTX)
    assert credential is not None and credential.details["immunizations"] == 3
    assert [(h.kind, h.doses, h.date) for h in credential.health] == [
        ("vaccination", 1, datetime(2021, 1, 1, tzinfo=UTC)),
        ("vaccination", 2, datetime(2021, 1, 29, tzinfo=UTC)),
        ("vaccination", 3, datetime(2022, 9, 5, tzinfo=UTC)),
    ]


def test_the_three_chunk_example_assembles_in_any_order_with_repeats():
    chunks = example_02_chunks()
    scans = [chunks[2], chunks[2], chunks[0], chunks[2], chunks[0], chunks[1]]
    assembler = ShcAssembler()
    results = [assembler.add(text, now=float(i)) for i, text in enumerate(scans)]
    assert results[:-1] == [None] * 5 and results[-1] is not None
    credential = parse_shc(results[-1], CTX)
    assert credential is not None and credential.valid
    entries = claims_of("example-02")["vc"]["credentialSubject"]["fhirBundle"]["entry"]
    observations = sum(e["resource"]["resourceType"] == "Observation" for e in entries)
    assert [h.kind for h in credential.health] == ["test"] * observations
    assert assembler.pending() == {}


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_chunks_with_duplicates_always_assemble_the_card(seed: int):
    rng = random.Random(seed)
    scans = example_02_chunks() * 3
    rng.shuffle(scans)
    assembler = ShcAssembler()
    whole = next(w for i, text in enumerate(scans) if (w := assembler.add(text, now=float(i))) is not None)
    assert whole == "shc:/" + "".join(chunk.split("/", 3)[3] for chunk in example_02_chunks())


def test_a_lone_chunk_is_a_partial_card():
    credential = parse_shc(example("example-02", 1), CTX)
    assert credential == Credential(Kind.SHC, problem="partial", details={"part": 2, "parts": 3})
    assert not credential.valid


# Tampering and trust


def regions(text: str) -> dict[str, range]:
    """Digit positions of the JWS header, payload and signature in `shc:/<digits>`."""
    digits = text.removeprefix("shc:/")
    jws = "".join(chr(int(digits[i : i + 2]) + 45) for i in range(0, len(digits), 2))
    first, second = jws.index("."), jws.rindex(".")
    start = len("shc:/")
    return {
        "header": range(start, start + 2 * first),
        "payload": range(start + 2 * first + 2, start + 2 * second),
        "signature": range(start + 2 * second + 2, len(text)),
    }


def tampered(text: str, position: int) -> str:
    """`text` with the digit at `position` changed to one that keeps the pair a base64url character if one does."""
    for replacement in "0123456789":
        if replacement == text[position]:
            continue
        changed = text[:position] + replacement + text[position + 1 :]
        pair_start = position - (position - 5) % 2
        char = chr(int(changed[pair_start : pair_start + 2]) + 45)
        if char.isalnum() or char in "-_":
            return changed
    return text[:position] + str((int(text[position]) + 1) % 10) + text[position + 1 :]


@pytest.mark.parametrize("name", SINGLE)
def test_a_changed_digit_anywhere_never_verifies(name: str):
    text = example(name)
    for region, positions in regions(text).items():
        outcomes = [attempt(tampered(text, p)) for p in positions]
        assert not any(isinstance(o, Credential) and o.signature == "valid" for o in outcomes), region
        if region == "signature":  # the last character may only break the encoding: a typed error
            assert sum(isinstance(o, Credential) and o.signature == "invalid" for o in outcomes) >= len(outcomes) - 2


def test_one_digit_in_the_payload_gives_an_invalid_signature_or_a_typed_error():
    text = example("example-00")
    middle = regions(text)["payload"][len(regions(text)["payload"]) // 2]
    outcome = attempt(tampered(text, middle))
    assert isinstance(outcome, CredentialError) or (outcome is not None and outcome.signature == "invalid")


def test_an_unknown_issuer_gives_unknown_key():
    credential = parse_shc(example("example-00"), VerifyContext(TrustStore(), NOW))
    assert credential is not None and credential.signature == "unknown-key" and not credential.valid
    assert credential.name == "John B. Anyperson"  # still read, so the guard can see whose card it is


def test_a_known_issuer_without_that_key_gives_unknown_key():
    other_key_only = {"keys": [JWKS["keys"][1]]}
    ctx = VerifyContext(TrustStore.from_json({"shc_issuers": [{"iss": ISS, "jwks": other_key_only}]}), NOW)
    credential = parse_shc(example("example-00"), ctx)
    assert credential is not None and credential.signature == "unknown-key"


def test_the_issuer_is_matched_without_its_trailing_slash():
    credential = parse_shc(make_card(card_claims(iss=TEST_ISS + "/")), CTX)
    assert credential is not None and credential.signature == "valid"


def test_chunks_of_two_cards_mixed_never_verify():
    ours = make_jws(card_claims({"resourceType": "Patient", "name": [{"family": "Other"}]}))
    third = len(ours) // 3
    pieces = [ours[:third], ours[third : 2 * third], ours[2 * third :]]
    assembler = ShcAssembler()
    assembler.add(example("example-02", 0), now=0.0)
    whole = [assembler.add(f"shc:/{i}/3/{to_digits(p)}", now=1.0) for i, p in enumerate(pieces[1:], start=2)][-1]
    assert whole is not None
    outcome = attempt(whole)
    assert isinstance(outcome, CredentialError) or (outcome is not None and outcome.signature != "valid")


# Expiry


@pytest.mark.parametrize(
    ("now", "expiry"),
    [
        (datetime(2023, 6, 22, 16, 13, tzinfo=UTC), "not-yet-valid"),  # 6 minutes before nbf
        (datetime(2023, 6, 22, 16, 16, tzinfo=UTC), "ok"),  # 3 minutes before nbf: clock skew allowed
        (datetime(2024, 6, 21, 16, 19, tzinfo=UTC), "ok"),  # just before exp
        (datetime(2024, 6, 21, 16, 20, tzinfo=UTC), "expired"),
    ],
)
def test_expiry_of_a_card_with_exp(now: datetime, expiry: str):
    credential = parse_shc(example("example-03"), VerifyContext(trust(), now))
    assert credential is not None and credential.expiry == expiry and credential.signature == "valid"
    assert credential.expires_at == datetime.fromtimestamp(claims_of("example-03")["exp"], UTC)


def test_a_card_without_exp_does_not_expire():
    credential = parse_shc(example("example-00"), VerifyContext(trust(), NOW + timedelta(days=3650)))
    assert credential is not None and credential.expiry == "ok" and credential.expires_at is None


# Cards of our own test issuer: results, headers, payload limits


def observation(code: str | None) -> dict[str, Any]:
    value = {"coding": [{"system": "http://snomed.info/sct", "code": code}]} if code else None
    return {"resourceType": "Observation", "effectiveDateTime": "2023-11-30T08:00:00Z", "valueCodeableConcept": value}


def test_test_results_say_whether_negative():
    codes = ["260385009", "260415000", "10828004", "260373001", None]
    credential = parse_shc(make_card(card_claims(*(observation(c) for c in codes))), CTX)
    assert credential is not None and credential.valid
    assert [h.negative for h in credential.health] == [True, True, False, False, None]
    assert credential.health[0].date == datetime(2023, 11, 30, 8, tzinfo=UTC)


def test_only_completed_immunizations_count():
    shots = [
        {"resourceType": "Immunization", "status": s, "occurrenceDateTime": "2021"}
        for s in ("completed", "entered-in-error", "completed")
    ]
    credential = parse_shc(make_card(card_claims(*shots)), CTX)
    assert credential is not None and [h.doses for h in credential.health] == [1, 2]
    assert credential.health[0].date == datetime(2021, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "header", [{"alg": "ES384", "zip": "DEF", "kid": "k"}, {"alg": "ES256", "kid": "k"}, {"alg": "ES256", "zip": "DEF"}]
)
def test_a_header_other_than_es256_deflate_with_kid_is_refused(header: dict[str, str]):
    with pytest.raises(CredentialError) as caught:
        parse_shc(make_card(card_claims(), header=header), CTX)
    assert caught.value.reason == "bad-header"


@pytest.mark.parametrize(
    ("claims", "raw"),
    [
        ({"nbf": 1_700_000_000, "vc": {}}, None),  # no iss
        (card_claims(nbf=float("nan")), None),
        (card_claims(nbf=10**30), None),
        (card_claims(exp="tomorrow"), None),
        ({"iss": TEST_ISS, "nbf": 1_700_000_000}, None),  # no FHIR bundle
        ({}, b"[" * 60_000),  # nesting beyond the recursion limit
        ({}, b"\xff\xfe not json"),
    ],
)
def test_a_signed_payload_that_is_not_a_card_is_a_typed_error(claims: dict[str, Any], raw: bytes | None):
    with pytest.raises(CredentialError) as caught:
        parse_shc(make_card(claims, raw=raw), CTX)
    assert caught.value.reason == "bad-payload"


def test_a_deflate_bomb_is_refused_quickly():
    text = make_card({}, raw=b" " * 5_000_000)
    outcome, seconds = timed(lambda: attempt(text))
    assert isinstance(outcome, CredentialError) and outcome.reason == "too-large" and seconds < 0.05


# Malformed text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("shc:/", "malformed"),
        ("shc:/123", "malformed"),  # odd number of digits
        ("shc:/5699", "malformed"),  # 99 is above 77
        ("shc:/56 76", "malformed"),
        ("shc:/٥٦", "malformed"),  # Arabic-Indic digits are digits to int(), not to a QR code
        ("shc:/0/3/5676", "bad-chunk"),
        ("shc:/4/3/5676", "bad-chunk"),
        (f"shc:/1/{MAX_CHUNKS + 1}/5676", "bad-chunk"),
        ("shc:/1/2/" + "56" * QR_DIGITS, "too-long"),
        ("shc:/" + "5" * 80_000, "too-long"),
        ("shc:/" + to_digits("a.b"), "malformed"),
        ("shc:/" + to_digits("e30.e30.e30"), "bad-header"),  # "{}" header
    ],
)
def test_broken_text_is_a_typed_error_with_a_stable_reason(text: str, reason: str):
    with pytest.raises(CredentialError) as caught:
        parse_shc(text, CTX)
    assert caught.value.reason == reason and caught.value.kind == Kind.SHC
    fragment = text[5:25]
    assert not fragment or fragment not in str(caught.value)  # never the scanned text in a message


@pytest.mark.parametrize("text", ["", "shc:", "HC1:6BF", "https://example.com/shc:/56", " shc:/56"])
def test_other_text_is_not_a_health_card(text: str):
    assert parse_shc(text, CTX) is None


def test_the_longest_accepted_text_is_fast():
    header = b64url_encode(b'{"alg":"ES256","zip":"DEF","kid":"k"}')
    jws = f"{header}.{'A' * (MAX_CHUNKS * QR_DIGITS // 2 - len(header) - 4)}.AA"
    text = "shc:/" + to_digits(jws)
    assert len(text) == len("shc:/") + MAX_CHUNKS * QR_DIGITS
    outcome, seconds = timed(lambda: attempt(text))
    assert isinstance(outcome, CredentialError) and seconds < 0.05


# The assembler's memory


def test_the_assembler_holds_a_few_sets_at_most():
    assembler = ShcAssembler(max_sets=3)
    for parts in range(2, MAX_CHUNKS + 1):
        assembler.add(f"shc:/1/{parts}/5676", now=float(parts))
    assert assembler.pending() == {MAX_CHUNKS - 2: 1, MAX_CHUNKS - 1: 1, MAX_CHUNKS: 1}


def test_the_assembler_drops_a_set_after_its_time():
    chunks = example_02_chunks()
    assembler = ShcAssembler(max_age_s=60.0)
    assembler.add(chunks[0], now=0.0)
    assembler.add(chunks[1], now=30.0)
    assert assembler.add(chunks[2], now=61.0) is None  # the first two were dropped
    assert assembler.pending() == {3: 1}


def test_a_different_chunk_at_a_held_position_starts_the_card_over():
    chunks = example_02_chunks()
    assembler = ShcAssembler()
    assembler.add(chunks[0], now=0.0)
    assembler.add("shc:/2/3/5676", now=1.0)
    assembler.add(chunks[1], now=2.0)  # differs from the part 2 held: another card, so the set starts over
    assert assembler.pending() == {3: 1}


@pytest.mark.parametrize("text", [example("example-00"), "shc:/1/3/567", "shc:/1/1/5676", "HC1:x", ""])
def test_the_assembler_ignores_what_is_not_a_chunk(text: str):
    assembler = ShcAssembler()
    assert assembler.add(text, now=0.0) is None and assembler.pending() == {}


# Fuzzing: only the typed error, never over 50 ms


SHC_TEXT = st.builds(
    "shc:/{}".format,
    st.text(alphabet="0123456789", max_size=3000)
    | st.text(alphabet="0123456789/", max_size=60)
    | st.text(alphabet=st.characters(), max_size=300),
)


def check_parse(text: str) -> None:
    outcome, seconds = timed(lambda: attempt(text))  # anything but CredentialError propagates and fails the test
    assert seconds < 0.05
    assert outcome is None or outcome.kind == Kind.SHC


@settings(max_examples=2000, deadline=None)
@given(SHC_TEXT)
def test_any_shc_text_gives_a_credential_or_the_typed_error(text: str):
    check_parse(text)


@settings(max_examples=2000, deadline=None)
@given(
    st.sampled_from(SINGLE), st.lists(st.tuples(st.integers(0, 2000), st.text("0123456789", max_size=3)), max_size=4)
)
def test_mutated_example_cards_give_a_credential_or_the_typed_error(name: str, edits: list[tuple[int, str]]):
    text = example(name)
    for position, replacement in edits:
        at = 5 + position % (len(text) - 5)
        text = text[:at] + replacement + text[at + 1 :]
    check_parse(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(SHC_TEXT | st.sampled_from(example_02_chunks()), max_size=20))
def test_the_assembler_never_raises(texts: list[str]):
    assembler = ShcAssembler()
    for i, text in enumerate(texts):
        whole = assembler.add(text, now=float(i))
        if whole is not None:
            check_parse(whole)
    assert len(assembler.pending()) <= 3
