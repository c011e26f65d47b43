"""The access list a kiosk pulls (docs/access-list.md): its venue's groups and people, and the ETag that says
whether the copy a kiosk holds is still the list, read from the version row alone.

The ETag carries the centre's time zone as well as the version: the windows are local times, so a kiosk must
pull the list again when the zone they are read in changes, though no group or person did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from central.localtime import local_zone
from central.people.versions import list_version, read_version
from central.schema import access_groups, access_members, access_people, venues


def list_etag(version: int | str) -> str:
    """The ETag of the list at `version` (an int, or the document's "version")."""
    return f'"{version}@{local_zone().key}"'


def access_etag(conn: Connection, venue_id: int) -> str:
    """The ETag of the venue's list now: one read of its version row, none of its groups or people."""
    return list_etag(list_version(conn, venue_id))


def access_list(conn: Connection, venue_id: int, now: datetime) -> dict[str, Any]:
    """The venue's access list as of `now`: {"version", "venue", "issued_at", "timezone", "groups", "people",
    "badges"}."""
    version = read_version(conn, venue_id)  # first, and held: the rest is this version's
    venue = conn.execute(select(venues.c.code).where(venues.c.id == venue_id)).scalar_one()
    query = select(access_groups).where(access_groups.c.venue_id == venue_id).order_by(access_groups.c.id)
    groups = [
        {
            "id": row.id,
            "name": row.name,
            "valid_from": row.valid_from.isoformat() if row.valid_from else None,
            "valid_until": row.valid_until.isoformat() if row.valid_until else None,
            "windows": row.windows,
            "gates": row.gates,
        }
        for row in conn.execute(query)
    ]
    people: dict[str, list[int]] = {}
    members = (
        select(access_members.c.subject_key, access_members.c.group_id)
        .where(access_members.c.venue_id == venue_id)
        .order_by(access_members.c.subject_key, access_members.c.group_id)
    )
    for key, group in conn.execute(members):
        people.setdefault(key, []).append(group)
    badged = select(access_people.c.subject_key, access_people.c.badge).where(
        access_people.c.venue_id == venue_id, access_people.c.badge.is_not(None)
    )
    badges = {key: badge for key, badge in conn.execute(badged) if key in people}
    return {
        "version": str(version),
        "venue": venue,
        "issued_at": now.isoformat(),
        "timezone": local_zone().key,
        "groups": groups,
        "people": people,
        "badges": badges,
    }
