"""The list of venues on /venues: in a staff member's area, searched by code or name (without diacritics too),
filtered by unit and by state, one page at a time in code order (keyset: `after` the last code shown, never an
OFFSET that reads every row before the page).

A page is two queries whatever the number of venues: the page's venues (at most `limit` + 1, to know whether there
is a next page) and the figures of their kiosks. The states are correlated EXISTS over the index on
`devices.venue_id`, so a filter reads a venue's few kiosks for each venue it looks at, never every device. (No
index on `last_seen_at`: every heartbeat would rewrite it; see migration 0012.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Exists, and_, exists, or_, select, true

from central.progress import ONLINE_WINDOW
from central.schema import devices, units, venues
from central.timeutil import aware
from central.venues.search import fill_missing, matches

PAGE = 50
STATES = ("", "none", "online", "offline", "retired", "any")  # "": every venue in use (not retired); "any": all


@dataclass(frozen=True)
class ListedVenue:
    code: str
    name: str
    unit_code: str
    unit_name: str
    category: str
    retired_at: datetime | None
    kiosks: int  # enrolled and not revoked
    online: int  # of those, heard within 15 minutes (the dashboard's rule)
    worst_backlog: int | None  # the largest backlog their last heartbeats gave; None: none told

    @property
    def offline(self) -> int:
        return self.kiosks - self.online


@dataclass(frozen=True)
class VenuePage:
    venues: list[ListedVenue]
    next_after: str | None  # the code the next page starts after; None: this is the last page


def list_venues(
    conn: Connection,
    now: datetime,
    *,
    unit_ids: Sequence[int] | None = None,
    venue_id: int | None = None,
    query: str = "",
    state: str = "",
    after: str = "",
    limit: int = PAGE,
) -> VenuePage:
    """Venues in `unit_ids` (None: any unit) or the one `venue_id`, matching `query` and in `state` (one of
    STATES), by code, from the first code after `after`."""
    if state not in STATES:
        raise ValueError(f"no venue state {state!r}")
    cut = now.astimezone(UTC) - ONLINE_WINDOW
    where: list[ColumnElement[bool]] = [_state(state, cut)]
    if unit_ids is not None:
        where.append(venues.c.unit_id.in_(list(unit_ids)))
    if venue_id is not None:
        where.append(venues.c.id == venue_id)
    if query.strip():
        fill_missing(conn)
        found = matches(query)
        where.append(found if found is not None else true())
    if after:
        where.append(venues.c.code > after)
    rows = conn.execute(
        select(venues.c.id, venues.c.code, venues.c.name, venues.c.category, venues.c.retired_at,
               units.c.code.label("unit_code"), units.c.name.label("unit_name"))
        .join(units, units.c.id == venues.c.unit_id)
        .where(*where)
        .order_by(venues.c.code)
        .limit(limit + 1)
    ).all()  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    figures = _kiosk_figures(conn, [row.id for row in rows], cut)
    listed = [
        ListedVenue(row.code, row.name, row.unit_code, row.unit_name, row.category, aware(row.retired_at),
                    *figures.get(row.id, (0, 0, None)))
        for row in rows
    ]  # fmt: skip
    return VenuePage(listed, rows[-1].code if more and rows else None)


def _has_kiosk(*conditions: ColumnElement[bool]) -> Exists:
    return exists().where(devices.c.venue_id == venues.c.id, devices.c.revoked_at.is_(None), *conditions)


def _state(state: str, cut: datetime) -> ColumnElement[bool]:
    in_use = venues.c.retired_at.is_(None)
    quiet = or_(devices.c.last_seen_at.is_(None), devices.c.last_seen_at < cut)
    if state == "any":
        return true()
    if state == "retired":
        return venues.c.retired_at.is_not(None)
    if state == "none":
        return and_(in_use, ~_has_kiosk())
    if state == "online":
        return and_(in_use, _has_kiosk(), ~_has_kiosk(quiet))
    if state == "offline":
        return and_(in_use, _has_kiosk(quiet))
    return in_use


def _kiosk_figures(conn: Connection, venue_ids: list[int], cut: datetime) -> dict[int, tuple[int, int, int | None]]:
    """Per venue: kiosks not revoked, how many heard since `cut`, the worst backlog they last told."""
    if not venue_ids:
        return {}
    rows = conn.execute(
        select(devices.c.venue_id, devices.c.last_seen_at, devices.c.last_heartbeat["backlog"].as_string()).where(
            devices.c.venue_id.in_(venue_ids), devices.c.revoked_at.is_(None)
        )
    )
    found: dict[int, tuple[int, int, int | None]] = {}
    for venue_id, seen, backlog in rows:
        kiosks, online, worst = found.get(venue_id, (0, 0, None))
        heard = aware(seen)
        told = _count(backlog)
        worst = told if worst is None or (told is not None and told > worst) else worst
        found[venue_id] = (kiosks + 1, online + (heard is not None and heard >= cut), worst)
    return found


def _count(value: Any) -> int | None:
    """A backlog as the heartbeat stored it (a JSON number; text from PostgreSQL's ->>); None if it is not one."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None
