"""Trust lists from their sources (issue 17 part 5): a signed list of DSCs, verified against its pinned anchor,
replaces its source's entries whole; the kiosks follow through the config document they pull.

Every list here is made in the test: an anchor key (ECDSA P-256) signs the JSON of test DSCs (tests/dccmaker.py),
and a loopback HTTP server plays the publisher. No traffic leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from dccmaker import T0, Signer, make_hc1, make_signer, trust_json
from sqlalchemy import select

from central.cli import cli
from central.db import connect
from central.lists import config_document
from central.schema import trust_entries, venues
from central.trustsources.download import check_url
from central.trustsources.dsc import MAX_MALFORMED, convert
from central.trustsources.errors import TrustSourceError
from central.trustsources.store import verify_list
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.hc1 import parse_hc1
from kiosk.credentials.trust import TrustStore
from kiosk.sync.configsync import apply_config

AT = T0 + timedelta(days=30)  # when the kiosk scans the DCCs (made at T0)
NOW = datetime.now(UTC)
LONG = 365 * 40  # days: a DSC valid from T0 until well after today


def live_signer() -> Signer:
    return make_signer(days=LONG)


def dsc_entry(signer: Signer, country: str = "VN", **changed: Any) -> dict[str, Any]:
    """An entry as national lists and the EU gateway publish it."""
    entry = {
        "certificateType": "DSC",
        "country": country,
        "kid": base64.b64encode(signer.kid).decode(),
        "rawData": base64.b64encode(signer.der).decode(),
        "thumbprint": hashlib.sha256(signer.der).hexdigest(),
        "timestamp": "2026-11-01T00:00:00Z",
    }
    return {**entry, **changed}


def signed_list(anchor: ec.EllipticCurvePrivateKey, entries: list[Any], *, raw: bool = False) -> bytes:
    body = json.dumps({"certificates": entries}).encode()
    signature = anchor.sign(body, ec.ECDSA(hashes.SHA256()))
    if raw:
        r, s = decode_dss_signature(signature)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return base64.b64encode(signature) + b"\n" + body


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Centre:
    """The centre's command line on one database, with an anchor key and a folder for the lists it is given."""

    db_url: str
    folder: Path
    anchor: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", self.db_url, *args], catch_exceptions=False)

    def file(self, name: str, data: bytes | str) -> str:
        path = self.folder / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    def add_source(self, name: str, *extra: str, anchor: ec.EllipticCurvePrivateKey | None = None) -> None:
        pem = self.file(f"{name}.pem", public_pem(anchor or self.anchor))
        added = self.run("trust", "source", "add", name, "--anchor", pem, *extra)
        assert added.exit_code == 0, added.output

    def fetch_file(self, name: str, data: bytes) -> Result:
        return self.run("trust", "fetch", name, "--file", self.file(f"{name}.list", data))

    def entries(self, source: str | None = None) -> list[Any]:
        engine = connect(self.db_url)
        try:
            with engine.connect() as conn:
                query = select(trust_entries.c.entry, trust_entries.c.source).order_by(trust_entries.c.id)
                return [r.entry for r in conn.execute(query) if source is None or r.source == source]
        finally:
            engine.dispose()

    def audited(self) -> list[str]:
        from central.schema import audit_log

        engine = connect(self.db_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(select(audit_log.c.action, audit_log.c.subject).order_by(audit_log.c.id))
                return [f"{r.action} {r.subject}" for r in rows]
        finally:
            engine.dispose()

    def kiosk_pull(self, state_dir: Path) -> TrustStore:
        """What a kiosk at venue V1 gets from its next config pull, as it reads it back from its state dir."""
        engine = connect(self.db_url)
        try:
            with engine.begin() as conn:
                venue_id = conn.execute(select(venues.c.id).where(venues.c.code == "V1")).scalar_one()
                document, _ = config_document(conn, "gate-1", venue_id, NOW)
        finally:
            engine.dispose()
        state_dir.mkdir(exist_ok=True)
        assert apply_config(state_dir, document).trust is not None
        return TrustStore.load(state_dir / "trust-list.json")


@pytest.fixture
def centre(db_url: str, tmp_path: Path) -> Centre:
    from central_fixtures import add_unit, add_venue

    engine = connect(db_url)
    add_unit(engine)
    add_venue(engine)
    engine.dispose()
    return Centre(db_url, tmp_path)


def verdict(signer: Signer, trust: TrustStore) -> str:
    credential = parse_hc1(make_hc1(signer), VerifyContext(trust, AT))
    assert credential is not None
    return credential.signature


def test_a_signed_list_reaches_the_kiosk_and_its_dscs_verify_there(centre: Centre, tmp_path: Path) -> None:
    first, second, stranger = live_signer(), live_signer(), live_signer()
    centre.add_source("VN-MOH")
    fetched = centre.fetch_file("VN-MOH", signed_list(centre.anchor, [dsc_entry(first), dsc_entry(second)]))
    assert fetched.exit_code == 0, fetched.output
    assert "VN-MOH: 2 DSCs (2 added, 0 removed, 0 skipped)" in fetched.output
    assert centre.entries("VN-MOH") == [
        {"kid": base64.b64encode(s.kid).decode(), "country": "VN", "certificate": base64.b64encode(s.der).decode()}
        for s in (first, second)
    ]
    trust = centre.kiosk_pull(tmp_path / "kiosk")
    assert (verdict(first, trust), verdict(second, trust), verdict(stranger, trust)) == (
        "valid",
        "valid",
        "unknown-key",
    )
    listed = json.loads(centre.run("trust", "source", "list", "--json").output)
    assert [(s["name"], s["format"], s["entries"]) for s in listed] == [("VN-MOH", "signed-list", 2)]


def test_a_list_that_does_not_verify_changes_nothing_and_says_where(centre: Centre) -> None:
    good, other = live_signer(), live_signer()
    centre.add_source("EU")
    assert centre.fetch_file("EU", signed_list(centre.anchor, [dsc_entry(good)])).exit_code == 0
    before = centre.entries()

    data = bytearray(signed_list(centre.anchor, [dsc_entry(good), dsc_entry(other)]))
    data[-5] ^= 0x01  # one byte of the body
    tampered = centre.fetch_file("EU", bytes(data))
    assert tampered.exit_code == 1 and "signature does not match" in tampered.output, tampered.output

    impostor = ec.generate_private_key(ec.SECP256R1())
    foreign = centre.fetch_file("EU", signed_list(impostor, [dsc_entry(good), dsc_entry(other)]))
    assert foreign.exit_code == 1 and "signed by another key" in foreign.output

    swapped = dsc_entry(other, kid=base64.b64encode(good.kid).decode())  # a known kid on another certificate
    wrong_kid = centre.fetch_file("EU", signed_list(centre.anchor, [dsc_entry(good), swapped]))
    assert wrong_kid.exit_code == 1
    assert f"entry 1: kid {base64.b64encode(good.kid).decode()} is not the certificate's" in wrong_kid.output
    assert "Traceback" not in tampered.output + foreign.output + wrong_kid.output
    assert centre.entries() == before


def test_refetching_replaces_that_sources_entries_only(centre: Centre, tmp_path: Path) -> None:
    by_hand, eu_dsc, kept, revoked, added = (live_signer() for _ in range(5))
    centre.run("trust", "import", centre.file("hand.json", json.dumps(trust_json(by_hand))))
    national = ec.generate_private_key(ec.SECP256R1())
    centre.add_source("EU")
    centre.add_source("VN", anchor=national)
    assert centre.fetch_file("EU", signed_list(centre.anchor, [dsc_entry(eu_dsc, "DE")])).exit_code == 0
    assert centre.fetch_file("VN", signed_list(national, [dsc_entry(kept), dsc_entry(revoked)])).exit_code == 0
    trust = centre.kiosk_pull(tmp_path / "kiosk")
    assert {verdict(s, trust) for s in (by_hand, eu_dsc, kept, revoked)} == {"valid"}

    again = centre.fetch_file("VN", signed_list(national, [dsc_entry(kept), dsc_entry(added)]))
    assert "VN: 2 DSCs (1 added, 1 removed, 0 skipped)" in again.output, again.output
    assert len(centre.entries("EU")) == 1 and len(centre.entries(None)) == 4
    trust = centre.kiosk_pull(tmp_path / "kiosk")
    assert [verdict(s, trust) for s in (by_hand, eu_dsc, kept, added)] == ["valid"] * 4
    assert verdict(revoked, trust) == "unknown-key"  # dropped by its source: fails after the fetch and the pull

    removed = centre.run("trust", "source", "remove", "VN")
    assert "with its 2 trust entries" in removed.output and len(centre.entries()) == 2
    assert [a for a in centre.audited() if a.startswith("trust")] == [
        "trust-source-add EU",
        "trust-source-add VN",
        "trust-fetch EU",
        "trust-fetch VN",
        "trust-fetch VN",
        "trust-source-remove VN",
    ]


class Publisher(http.server.BaseHTTPRequestHandler):
    """Serves `mode` for any path: the list, garbage, 10 MB, no answer within the timeout, or a 404."""

    mode = "list"
    body = b""

    def do_GET(self) -> None:
        if self.mode == "slow":
            time.sleep(2)
        status = 404 if self.mode == "missing" else 200
        self.send_response(status)
        self.end_headers()
        chunks = {"list": [self.body], "garbage": [b"<html>Bad gateway</html>"], "huge": [b"x" * 2**20] * 10}
        try:
            for chunk in chunks.get(self.mode, [b""]):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the centre gave up reading: what it should do

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def publisher() -> Iterator[tuple[str, type[Publisher]]]:
    handler = type("Handler", (Publisher,), {})  # class attributes per test
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/trustList/DSC/", handler
    server.shutdown()
    server.server_close()


def test_fetching_from_the_publisher_keeps_the_last_good_list_when_it_misbehaves(
    centre: Centre, publisher: tuple[str, type[Publisher]]
) -> None:
    url, handler = publisher
    signer = live_signer()
    handler.body = signed_list(centre.anchor, [dsc_entry(signer)])
    centre.add_source("EU", "--url", url)
    fetched = centre.run("trust", "fetch")
    assert fetched.exit_code == 0 and "EU: 1 DSCs" in fetched.output, fetched.output
    before = centre.entries()
    for mode, said in (
        ("garbage", "not a signed list"),
        ("huge", "more than the 8388608 bytes allowed"),
        ("slow", "no answer within 0.5 s"),
        ("missing", "the server answered 404"),
    ):
        handler.mode = mode
        answer = centre.run("trust", "fetch", "EU", "--timeout", "0.5")
        assert answer.exit_code == 1 and said in answer.output and "previous entries are kept" in answer.output, (
            mode,
            answer.output,
        )
        assert "Traceback" not in answer.output and centre.entries() == before


def test_a_raw_signature_verifies_too_and_the_anchor_must_be_p256(centre: Centre) -> None:
    signer = live_signer()
    centre.add_source("NAT")
    raw = centre.fetch_file("NAT", signed_list(centre.anchor, [dsc_entry(signer)], raw=True))
    assert raw.exit_code == 0, raw.output
    p384 = ec.generate_private_key(ec.SECP384R1())
    refused = centre.run("trust", "source", "add", "X", "--anchor", centre.file("p384.pem", public_pem(p384)))
    assert refused.exit_code == 1 and "must be an ECDSA P-256 key" in refused.output
    garbage = centre.run("trust", "source", "add", "Y", "--anchor", centre.file("junk.pem", "not a key"))
    assert garbage.exit_code == 1 and "not a PEM public key or certificate" in garbage.output
    insecure = centre.run(
        "trust",
        "source",
        "add",
        "Z",
        "--url",
        "http://dsc.example/list",
        "--anchor",
        centre.file("a.pem", public_pem(centre.anchor)),
    )
    assert insecure.exit_code == 1 and "must be https://" in insecure.output


def test_expired_dscs_are_skipped_with_a_warning_and_other_types_ignored() -> None:
    live, expired = live_signer(), make_signer(days=730)  # valid until 2023
    csca = {"certificateType": "CSCA", "country": "VN", "kid": "AAAAAAAAAAA=", "rawData": "AAAA"}
    out = convert({"certificates": [dsc_entry(live), dsc_entry(expired), csca]}, NOW, "source EU")
    assert [e["kid"] for e in out.entries] == [base64.b64encode(live.kid).decode()]
    assert out.ignored == 1
    assert out.warnings == [
        f"source EU: entry 1: skipped DSC VN kid {base64.b64encode(expired.kid).decode()}: expired 2023-06-01"
    ]
    with pytest.raises(TrustSourceError, match="no usable DSC"):
        convert([dsc_entry(expired)], NOW, "source EU")


def test_a_few_malformed_entries_are_skipped_more_refuse_the_list() -> None:
    signer = live_signer()
    few = [dsc_entry(signer), "nonsense", dsc_entry(signer, rawData="!!")]
    out = convert(few, NOW, "source EU")
    assert len(out.entries) == 1
    assert out.warnings == [
        "source EU: skipped malformed entry 1: not an object",
        "source EU: skipped malformed entry 2: 'rawData' is not base64",
    ]
    many = [dsc_entry(signer)] + [dsc_entry(signer, country="Viet Nam")] * (MAX_MALFORMED + 1)
    with pytest.raises(TrustSourceError, match=f"more than {MAX_MALFORMED} malformed entries; refused whole"):
        convert(many, NOW, "source EU")


def csca_and_dsc(csca_key: Any, name: str = "CSCA VN") -> tuple[x509.Certificate, Signer]:
    """A CSCA certificate, and a DSC it issued."""
    csca_name = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, name)]
    )
    dsc_key = ec.generate_private_key(ec.SECP256R1())
    until = T0 + timedelta(days=LONG)

    def build(subject: x509.Name, key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(csca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(T0 - timedelta(days=1))
            .not_valid_after(until)
        )

    csca = build(csca_name, csca_key).sign(csca_key, hashes.SHA256())
    dsc_name = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, "DSC")]
    )
    dsc = build(dsc_name, dsc_key).sign(csca_key, hashes.SHA256())
    return csca, Signer(dsc_key, dsc.public_bytes(Encoding.DER), "ES256")


def test_the_gateways_array_is_checked_against_the_pinned_cscas() -> None:
    pinned_key = ec.generate_private_key(ec.SECP256R1())
    csca, issued = csca_and_dsc(pinned_key)
    _, other_country = csca_and_dsc(ec.generate_private_key(ec.SECP256R1()), "CSCA XX")
    _, forged = csca_and_dsc(ec.generate_private_key(ec.SECP256R1()))  # same issuer name, another key
    row = SimpleNamespace(name="EU", format="dccg", anchor=csca.public_bytes(Encoding.PEM).decode())
    array = [dsc_entry(issued), dsc_entry(other_country, "XX")]
    out = verify_list(row, json.dumps(array).encode(), NOW, "source EU")
    assert [e["kid"] for e in out.entries] == [base64.b64encode(issued.kid).decode()]
    assert out.warnings and "issued by none of the pinned CSCAs" in out.warnings[0]
    assert trust_from(out.entries).dcc.keys() == {issued.kid}
    with pytest.raises(TrustSourceError, match=r"entry 1 .*signature does not verify"):
        verify_list(row, json.dumps([dsc_entry(issued), dsc_entry(forged)]).encode(), NOW, "source EU")


def trust_from(entries: list[dict[str, str]]) -> TrustStore:
    return TrustStore.from_json({"certificates": entries})


def test_only_https_or_loopback_urls() -> None:
    check_url("https://de.dscg.example/trustList/DSC/")
    check_url("http://127.0.0.1:8000/list")
    with pytest.raises(TrustSourceError, match="must be https://"):
        check_url("http://dsc.example/list")
