"""Webhook endpoints: added, listed and removed by `kiosk-central webhooks`, shown on the staff page /webhooks.

A URL is checked when it is added: http or https, a host, no user name or password in it (secrets go in the
signing secret, never in a URL that is printed and logged). Where it points is the administrator's choice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, func, select

from central.errors import CentralError, Conflict, NotFound
from central.feed.clients import check_name
from central.feed.payload import FIELDS, check_fields
from central.feed.scope import Scope, scope_label
from central.timeutil import aware
from central.webhooks.tables import webhook_endpoints, webhook_outbox

MAX_URL = 2000


@dataclass(frozen=True)
class Endpoint:
    id: int
    name: str
    url: str
    secret: str
    fields: tuple[str, ...]


def check_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host and no credentials; CentralError saying what is wrong."""
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise CentralError(f"URL: at most {MAX_URL} characters, no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CentralError(f"URL {url[:80]!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CentralError(f"URL {url[:80]!r}: give an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise CentralError("URL: no user name or password in it; the receiver checks the signature instead")
    del port
    return url


def add_endpoint(
    conn: Connection, name: str, url: str, scope: Scope, fields: list[str] | None, now: datetime
) -> tuple[int, str]:
    """A new endpoint; returns its id and its signing secret (printed once by the command)."""
    check_name(name, "an endpoint's")
    check_url(url)
    try:
        chosen = check_fields(fields if fields is not None else list(FIELDS))
    except ValueError as exc:
        raise CentralError(f"--fields: {exc}") from None
    if conn.execute(select(webhook_endpoints.c.id).where(webhook_endpoints.c.name == name)).first():
        raise Conflict(f"webhook endpoint {name} exists already")
    secret = secrets.token_hex(32)
    row = {"name": name, "url": url, "secret": secret, "fields": chosen, "created_at": now, "failures": 0}
    result = conn.execute(
        webhook_endpoints.insert().values({**row, "unit_id": scope.unit_id, "venue_id": scope.venue_id})
    )
    return int(result.inserted_primary_key[0]), secret  # type: ignore[index]


def remove_endpoint(conn: Connection, name: str) -> int:
    """Remove an endpoint and what it had still to receive; returns how many events that was."""
    found = conn.execute(select(webhook_endpoints.c.id).where(webhook_endpoints.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"no webhook endpoint {name}; see kiosk-central webhooks list")
    dropped = conn.execute(delete(webhook_outbox).where(webhook_outbox.c.endpoint_id == found)).rowcount
    conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == found))
    return int(dropped)


def endpoint_states(conn: Connection, endpoint_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Each endpoint with its backlog and delivery state, failing ones first, then by name."""
    backlog = (
        select(webhook_outbox.c.endpoint_id, func.count().label("backlog"))
        .group_by(webhook_outbox.c.endpoint_id)
        .subquery()
    )
    query = select(webhook_endpoints, func.coalesce(backlog.c.backlog, 0).label("backlog")).outerjoin(
        backlog, backlog.c.endpoint_id == webhook_endpoints.c.id
    )
    if endpoint_ids is not None:
        query = query.where(webhook_endpoints.c.id.in_(endpoint_ids or [-1]))
    found = []
    for row in conn.execute(query):
        found.append(
            {
                "name": row.name,
                "host": urlsplit(row.url).hostname or "",
                "url": row.url,
                "scope": scope_label(conn, Scope(row.unit_id, row.venue_id)),
                "scope_kind": "venue" if row.venue_id is not None else "unit",
                "unit_id": row.unit_id,
                "venue_id": row.venue_id,
                "fields": list(row.fields),
                "backlog": int(row.backlog),
                "failures": int(row.failures),
                "last_success_at": aware(row.last_success_at),
                "last_error_at": aware(row.last_error_at),
                "last_error": row.last_error,
                "next_attempt_at": aware(row.next_attempt_at),
            }
        )
    found.sort(key=lambda e: (e["failures"] == 0, e["name"]))
    return found
