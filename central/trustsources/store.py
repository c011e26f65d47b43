"""The sources in the database, and a verified list put in place of its source's previous entries.

Verification (`verify_list`) touches no database and happens before `replace_entries` opens its transaction:
a list that fails any check changes nothing, and the kiosks keep the entries they had. Replacing deletes the
source's own rows and inserts the new list's in one transaction, so a DSC the publisher dropped (revoked) leaves
with the next fetch, while other sources' entries and those imported by hand (`source` NULL) stay as they were.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, select

from central.errors import Conflict, NotFound
from central.schema import trust_entries
from central.trustsources.anchor import check_anchor, csca_certificates, list_key
from central.trustsources.download import check_url
from central.trustsources.dsc import Converted, convert
from central.trustsources.errors import TrustSourceError
from central.trustsources.signedlist import verify
from central.trustsources.tables import trust_sources
from kiosk.credentials.trust import TrustListError, TrustStore

FORMATS = ("signed-list", "dccg")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Replaced:
    """What a fetch changed in the source's entries."""

    total: int
    added: int
    removed: int


def add_source(conn: Connection, name: str, url: str | None, fmt: str, anchor: str, now: datetime) -> str:
    """Record a source (its anchor checked for its format); returns the anchor's fingerprint."""
    if not NAME.match(name):
        raise TrustSourceError(f"source name {name!r}: letters, digits, '.', '_', '-', at most 64")
    if fmt not in FORMATS:
        raise TrustSourceError(f"source {name}: format must be one of {', '.join(FORMATS)}")
    if url is not None:
        check_url(url)
    fingerprint = check_anchor(anchor, fmt, f"source {name}: anchor")
    if conn.execute(select(trust_sources.c.id).where(trust_sources.c.name == name)).first():
        raise Conflict(f"source {name} exists; remove it first to change its URL or anchor")
    conn.execute(trust_sources.insert().values(name=name, url=url, format=fmt, anchor=anchor, created_at=now))
    return fingerprint


def sources(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(trust_sources).order_by(trust_sources.c.name)))


def source(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(select(trust_sources).where(trust_sources.c.name == name)).first()
    if row is None:
        raise NotFound(f"no trust source {name!r} (kiosk-central trust source list)")
    return row


def remove_source(conn: Connection, name: str) -> int:
    """Forget a source and take its entries off the trust list; returns how many entries went."""
    source(conn, name)
    removed = conn.execute(delete(trust_entries).where(trust_entries.c.source == name)).rowcount
    conn.execute(delete(trust_sources).where(trust_sources.c.name == name))
    return int(removed)


def verify_list(row: Row[Any], data: bytes, now: datetime, where: str) -> Converted:
    """The entries of a source's list, after every check of its format; refused whole (TrustSourceError)."""
    if row.format == "signed-list":
        converted = convert(verify(data, list_key(row.anchor, f"{where}: anchor"), where), now, where)
    else:
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise TrustSourceError(f"{where}: not JSON: {exc}") from None
        converted = convert(document, now, where, csca_certificates(row.anchor, f"{where}: anchor"))
    try:  # as a kiosk will read it: a list no kiosk could load is refused here, not at every gate
        TrustStore.from_json({"certificates": converted.entries})
    except TrustListError as exc:
        raise TrustSourceError(f"{where}: {exc}") from None
    return converted


def replace_entries(conn: Connection, row: Row[Any], converted: Converted, data: bytes, now: datetime) -> Replaced:
    """Put a verified list in place of the source's entries. `row` is the source as it was verified with: if its
    anchor changed meanwhile (another administrator), the list is refused rather than imported unverified."""
    current = source(conn, row.name)
    if current.anchor != row.anchor or current.format != row.format:
        raise TrustSourceError(f"source {row.name}: its anchor changed during the fetch; fetch again")
    mine = trust_entries.c.source == row.name
    before = {_key(r.entry) for r in conn.execute(select(trust_entries.c.entry).where(mine))}
    after = {_key(e) for e in converted.entries}
    conn.execute(delete(trust_entries).where(mine))
    conn.execute(
        trust_entries.insert(),
        [{"section": "certificates", "entry": e, "added_at": now, "source": row.name} for e in converted.entries],
    )
    conn.execute(
        trust_sources.update()
        .where(trust_sources.c.name == row.name)
        .values(fetched_at=now, fetched_sha256=hashlib.sha256(data).hexdigest(), entry_count=len(converted.entries))
    )
    return Replaced(len(after), len(after - before), len(before - after))


def _key(entry: Any) -> str:
    return json.dumps(entry, sort_keys=True)
