"""Access passes at the centre (issue 15, item 2): issued and kept, verified offline by a kiosk with the trust list
the centre serves, revoked through the status list, and a single-use pass let in twice flagged when the two
gates' uploads arrive. On SQLite and PostgreSQL (the `db_url` fixture), over real HTTP where kiosks are involved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from central_fixtures import SECRET, CentralServer, FakeClock, enrolled_device, make_event
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.accesspasses import double_uses, issue, revoke
from central.cli import cli
from central.errors import CentralError, NotFound
from central.lists import status_list, trust_list
from central.passkeys import PassKey
from kiosk.credentials import Kind, read_credential
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.trust import TrustStore
from kiosk.policy import VenuePolicy
from kiosk.policy.statuslist import StatusList

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
HOLDER = "0123456789abcdef0123456789abcdef"
KEY = PassKey.of(Ed25519PrivateKey.generate())


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock(NOW), pass_key=KEY) as central:
        yield central


def issued(server: CentralServer, **changes: object):
    options: dict[str, object] = {
        "venue": "FACTORY-1",
        "kind": "badge",
        "holder": HOLDER,
        "valid_from": NOW,
        "valid_until": NOW + timedelta(days=30),
        "single_use": False,
        "key": KEY,
        "issuer": "VN-67",
        "now": NOW,
        "actor": "test",
    } | changes
    with server.engine.begin() as conn:
        return issue(conn, **options)  # type: ignore[arg-type]


def kiosk_view(server: CentralServer) -> tuple[TrustStore, StatusList]:
    with server.engine.connect() as conn:
        return TrustStore.from_json(trust_list(conn, NOW)), StatusList.from_json(status_list(conn, NOW))


def test_a_badge_the_centre_issues_is_verified_offline_with_the_trust_list_it_serves(server: CentralServer) -> None:
    enrolled_device(server, "FACTORY-1").close()
    badge = issued(server)
    trust, status = kiosk_view(server)
    credential = read_credential(badge.text, VerifyContext(trust, NOW + timedelta(hours=1)))
    assert (credential.kind, credential.valid, credential.subject_key) == (Kind.ACCESS_PASS, True, HOLDER)
    policy = VenuePolicy(mode="access", venue="FACTORY-1", status=status)
    assert policy.decide(credential, HOLDER, NOW + timedelta(hours=1)).reason == "badge-ok"
    with server.engine.begin() as conn:
        revoke(conn, badge.pass_id, now=NOW, actor="test", reason="badge lost")
    _, status = kiosk_view(server)
    policy = VenuePolicy(mode="access", venue="FACTORY-1", status=status)
    assert policy.decide(credential, HOLDER, NOW + timedelta(hours=1)).reason == "pass-revoked"


def test_what_could_not_be_used_at_a_gate_is_not_issued(server: CentralServer) -> None:
    enrolled_device(server, "FACTORY-1").close()
    for changes, said in [
        ({"kind": "vip"}, "not 'vip'"),
        ({"holder": None}, "needs its holder"),
        ({"valid_until": NOW}, "must end after it starts"),
        ({"valid_until": NOW + timedelta(days=401)}, "within 400 days"),
        ({"venue": "NOWHERE"}, "no venue NOWHERE"),
        ({"key": PassKey.of(Ed25519PrivateKey.generate())}, "not in the trust list"),
    ]:
        with pytest.raises(CentralError, match=said):
            issued(server, **changes)
    with server.engine.begin() as conn, pytest.raises(NotFound):
        revoke(conn, "f" * 32, now=NOW, actor="test", reason="")


def test_a_single_use_pass_let_in_by_two_cut_off_gates_is_flagged_when_both_uploads_arrive(
    server: CentralServer,
) -> None:
    entry, exit_gate = enrolled_device(server, "FACTORY-1", name="entry"), enrolled_device(server, "FACTORY-1")
    ticket = issued(server, kind="ticket", holder=None, single_use=True, valid_until=NOW + timedelta(hours=8))
    other = issued(server, kind="visitor", single_use=True)
    assert ticket.subject_key == ticket.pass_id and other.subject_key == other.pass_id
    at = (NOW + timedelta(minutes=5)).timestamp()

    def entered(subject: str, seq: int, direction: str = "in", decision: str = "ACCEPT") -> dict[str, object]:
        return make_event(
            seq=seq, wall_time=at + seq, kind="access-pass", subject_key=subject, direction=direction,
            decision=decision, reason="ticket-ok" if decision == "ACCEPT" else "pass-used",
        )  # fmt: skip

    assert entry.upload([entered(ticket.subject_key, 1), entered(other.subject_key, 2)]).status_code == 200
    with server.engine.connect() as conn:
        assert double_uses(conn, NOW) == []  # one entry each so far
    # The second gate was cut off: it let the ticket in again, refused the visitor pass, and saw both leave.
    second = [
        entered(ticket.subject_key, 1),
        entered(other.subject_key, 2, decision="DENY"),
        entered(ticket.subject_key, 3, direction="out"),
    ]
    assert exit_gate.upload(second).status_code == 200
    with server.engine.connect() as conn:
        (found,) = double_uses(conn, NOW)
        assert double_uses(conn, NOW, venue="ELSEWHERE") == []
    assert (found.pass_id, found.venue, found.type) == (ticket.pass_id, "FACTORY-1", "ticket")
    assert sorted(device for device, _ in found.entries) == sorted([entry.device_id, exit_gate.device_id])
    entry.close()
    exit_gate.close()


def test_the_command_line_issues_revokes_and_reports(server: CentralServer, tmp_path: Path) -> None:
    enrolled_device(server, "FACTORY-1").close()
    secret = tmp_path / "kiosk-central.secret"
    secret.write_text(SECRET.hex())
    secret.chmod(0o600)
    key_file = tmp_path / "kiosk-central.pass-key"
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key_file.write_bytes(KEY.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    key_file.chmod(0o600)
    base = ["--db", server.db_url, "--secret-file", str(secret), "access-pass"]
    runner = CliRunner()
    png = tmp_path / "badge.png"
    answer = runner.invoke(
        cli, [*base, "issue", "FACTORY-1", "--type", "visitor", "--cccd", "001099012345", "--days", "1", "--json",
              "--png", str(png)],
    )  # fmt: skip
    assert answer.exit_code == 0, answer.output
    made = json.loads(answer.stdout)
    assert made["text"].startswith("AC1:") and png.read_bytes().startswith(b"\x89PNG")
    assert "001099012345" not in answer.output
    refused = runner.invoke(cli, [*base, "issue", "FACTORY-1", "--type", "badge"])
    assert refused.exit_code == 1 and "needs its holder" in refused.output
    unzoned = runner.invoke(cli, [*base, "issue", "FACTORY-1", "--type", "ticket", "--from", "2026-12-07T08:00"])
    assert unzoned.exit_code == 1 and "has no offset" in unzoned.output
    revoked = runner.invoke(cli, [*base, "revoke", made["pass_id"], "--reason", "visit cancelled"])
    assert revoked.exit_code == 0, revoked.output
    report = runner.invoke(cli, [*base, "double-uses", "--json"])
    assert report.exit_code == 0 and json.loads(report.stdout) == []
