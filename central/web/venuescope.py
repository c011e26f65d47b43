"""Which venues a staff member may see: an administrator every venue, a unit officer the venues in their unit and
below it, a venue admin their own. Shared by the pages about one venue (its gate rules, who is inside).

A venue they may not see is refused as an unknown one is, so no one learns which codes exist outside their area.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import Connection

from central.accounts import Account
from central.admin import Venue, find_venue
from central.errors import Denied, NotFound
from central.unittree import in_subtree
from central.web.core import NotAllowed

ROLES = ("unit_officer", "venue_admin")  # and administrators


def seen_venue(conn: Connection, account: Account, code: str) -> Venue:
    """The venue `code` if `account` may see it. An account that sees the whole tree is told that a venue is
    unknown (NotFound); any other is refused in the same words for an unknown venue and one outside its area
    (Denied)."""
    whole_tree = account.role == "administrator" or (account.role == "unit_officer" and account.unit_id is None)
    try:
        venue = find_venue(conn, code)
    except NotFound:
        if whole_tree:
            raise
        raise Denied(f"no venue {code} in your area") from None
    if account.role == "venue_admin":
        seen = account.venue_id == venue.id
    else:
        seen = whole_tree or (account.role == "unit_officer" and in_subtree(conn, account.unit_id, venue.unit_id))
    if not seen:
        raise Denied(f"no venue {code} in your area")
    return venue


def page_venue(conn: Connection, account: Account, code: str) -> Venue:
    """`seen_venue`, refused as the pages refuse: the page for no such page (404), or for not allowed (403)."""
    try:
        return seen_venue(conn, account, code)
    except NotFound:
        raise HTTPException(404) from None
    except Denied:
        raise NotAllowed() from None
