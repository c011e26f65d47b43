"""The webhook endpoints in a staff member's area, on the staff page /webhooks: each one's backlog, last success,
last error and next retry, failing ones first (docs/feeds.md). Read-only: endpoints are added and removed with
`kiosk-central webhooks`, which audits it.

An administrator (or an officer with no unit) sees every endpoint; a unit officer those scoped to a unit in their
subtree or to a venue in it; a venue admin those scoped to their venue. The page shows the receiver's host, not
its whole URL (a path or query may carry the receiver's own token), and never the signing secret.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, select

from central.accounts import Account
from central.schema import venues
from central.unittree import UnitTree
from central.web.core import Web
from central.web.messages import Message
from central.webhooks.endpoints import endpoint_states
from central.webhooks.tables import webhook_endpoints

ROLES = ("unit_officer", "venue_admin")  # and administrators
SAYS = {key: Message(f"webhooks.{key}") for key in ("none", "read_only", "failing", "ok", "never")}


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    @app.get("/webhooks", response_class=HTMLResponse, include_in_schema=False)
    def webhooks_page(request: Request, conn: Tx) -> Response:
        session = web.staff(request, conn, *ROLES)
        found = endpoint_states(conn, seen_endpoints(conn, session.account))
        for endpoint in found:
            endpoint["error"] = error_message(endpoint["last_error"])
        return web.render(request, "webhooks.html", session=session, endpoints=found, says=SAYS)


def error_message(error: str | None) -> Message | None:
    """The delivery worker's last error (central/webhooks/delivery.py writes it in English, for the command line
    and the log) as the page says it in its language."""
    if not error:
        return None
    if match := re.match(r"HTTP (\d{3}): redirect", error):
        return Message("webhooks.error.redirect", {"status": match[1]})
    if match := re.match(r"HTTP (\d{3})", error):
        return Message("webhooks.error.http", {"status": match[1]})
    if match := re.match(r"no answer within ([0-9.]+) s", error):
        return Message("webhooks.error.timeout", {"seconds": match[1]})
    if error.startswith("cannot connect"):
        return Message("webhooks.error.connect")
    return Message("webhooks.error.other")


def seen_endpoints(conn: Connection, account: Account) -> list[int] | None:
    """The ids of the endpoints `account` may see; None for all of them."""
    if account.role == "administrator" or (account.role == "unit_officer" and account.unit_id is None):
        return None
    rows = list(conn.execute(select(webhook_endpoints.c.id, webhook_endpoints.c.unit_id, webhook_endpoints.c.venue_id)))
    if account.role == "venue_admin":
        return [row.id for row in rows if row.venue_id is not None and row.venue_id == account.venue_id]
    tree = UnitTree.load(conn)
    units = set(tree.subtree_ids(account.unit_id))
    venue_unit: dict[int, Any] = dict(conn.execute(select(venues.c.id, venues.c.unit_id)).all())
    return [row.id for row in rows if row.unit_id in units or venue_unit.get(row.venue_id) in units]
