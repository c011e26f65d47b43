"""Issuing a pass: a declaration stored (subject key, status, answers, the phone sealed) with its signed `HD1:`
pass (docs/pass-format.md); a stored phone opened for the health service, audited; expired declarations purged.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Connection, delete, select

from central.audit import record
from central.declarations.form import SEVERITY, DeclarationForm, Status, status_for
from central.declarations.settings import DEFAULT_ISSUER, MAX_VALID_H, contact_public_key
from central.errors import CentralError, NotFound
from central.schema import declarations, status_entries, trust_entries
from central.sealing import open_sealed, seal
from central.timeutil import aware
from kiosk.credentials import SubjectKeyer
from kiosk.credentials.passes import PassClaims, issue_pass
from kiosk.ids import uuid7


@dataclass(frozen=True)
class Issued:
    """A stored declaration and its pass. `contact_stored` False: no contact key was set, the phone was dropped."""

    declaration_id: str
    subject_key: str
    status: Status
    declared_at: datetime
    expires_at: datetime
    pass_text: str
    contact_stored: bool


def submit(
    conn: Connection,
    form: DeclarationForm,
    *,
    secret: bytes,
    pass_key: Ed25519PrivateKey,
    kid: bytes,
    now: datetime,
    valid_h: int,
    issuer: str = DEFAULT_ISSUER,
) -> Issued:
    """Store the declaration and issue its pass, valid `valid_h` hours from `now` (whole seconds, as in the pass).

    CentralError if the pass key is not in the trust list yet: kiosks could not verify the pass."""
    if not 1 <= valid_h <= MAX_VALID_H:
        raise CentralError(f"a pass is valid 1 to {MAX_VALID_H} hours, not {valid_h}")
    if not _kid_published(conn, kid):
        raise CentralError("the pass key is not in the trust list; run: kiosk-central pass-key publish")
    ident = uuid7(int(now.timestamp() * 1000))
    declared = now.replace(microsecond=0)
    expires = declared + timedelta(hours=valid_h)
    subject_key = SubjectKeyer(secret).key(form.identity())
    # The health service's word outranks the answers: someone on the status list gets at least that colour.
    status = max(status_for(form.flags()), listed_status(conn, subject_key, now), key=SEVERITY.index)
    contact = contact_public_key(conn)
    sealed = None if contact is None else seal(form.phone.encode(), contact, contact_context(str(ident)))
    text = issue_pass(PassClaims(subject_key, declared, status, expires, ident.bytes, issuer), pass_key, kid)
    conn.execute(
        declarations.insert().values(
            id=str(ident),
            subject_key=subject_key,
            declared_at=declared,
            expires_at=expires,
            status=status,
            answers=stored_answers(form),
            contact_sealed=sealed,
        )
    )
    return Issued(str(ident), subject_key, status, declared, expires, text, sealed is not None)


def listed_status(conn: Connection, subject_key: str, now: datetime) -> Status:
    """The person's colour on the status list now (green when not listed, cleared or expired)."""
    row = conn.execute(
        select(status_entries.c.status, status_entries.c.until).where(
            status_entries.c.subject_key == subject_key, ~status_entries.c.cleared
        )
    ).first()
    if row is None or row.status not in ("red", "yellow"):
        return "green"
    until = aware(row.until)
    return "green" if until is not None and until <= now else row.status


def stored_answers(form: DeclarationForm) -> dict[str, Any]:
    """What is kept of the answers: what the status was judged from, no identity and no phone."""
    return {
        "symptoms": list(form.symptoms),
        "contact_confirmed": form.contact_confirmed,
        "lockdown_area": form.lockdown_area,
        "travel": form.travel,
        "language": form.language,
    }


def _kid_published(conn: Connection, kid: bytes) -> bool:
    wanted = base64.b64encode(kid).decode("ascii")
    rows = conn.execute(select(trust_entries.c.entry).where(trust_entries.c.section == "pass_keys"))
    return any(isinstance(row.entry, dict) and row.entry.get("kid") == wanted for row in rows)


def contact_context(declaration_id: str) -> bytes:
    """What a declaration's phone is sealed under: it opens for this declaration only."""
    return f"declaration-contact:{declaration_id}".encode()


def open_contact(
    conn: Connection,
    declaration_id: str,
    private_key: X25519PrivateKey,
    *,
    actor: str,
    reason: str,
    now: datetime,
    address: str | None = None,
) -> str:
    """The phone of a declaration, recorded in the audit log in the same transaction.

    NotFound if there is no such declaration or it has no phone; SealError if the key does not open it."""
    row = conn.execute(
        select(declarations.c.subject_key, declarations.c.contact_sealed).where(declarations.c.id == declaration_id)
    ).first()
    if row is None:
        raise NotFound(f"no declaration {declaration_id}")
    if row.contact_sealed is None:
        raise NotFound(f"declaration {declaration_id} has no phone: no contact key was set when it was made")
    phone = open_sealed(bytes(row.contact_sealed), private_key, contact_context(declaration_id)).decode()
    record(
        conn,
        at=now,
        actor=actor,
        action="contact-open",
        subject=row.subject_key,
        reason=reason,
        detail={"declaration": declaration_id},
        address=address,
    )
    return phone


def purge(conn: Connection, expired_before: datetime) -> int:
    """Delete the declarations whose pass expired before `expired_before`; how many."""
    return int(conn.execute(delete(declarations).where(declarations.c.expires_at < expired_before)).rowcount)
