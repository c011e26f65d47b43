"""What a feed client or a webhook endpoint covers: the whole subtree of one unit, or one venue.

Stored as a unit id or a venue id (exactly one of them); resolved here to the venue ids it covers, from the unit
tree loaded whole (central/unittree.py), so a unit added below later is covered from then on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from central.admin import unit_id, venue_id
from central.errors import CentralError
from central.schema import units, venues
from central.unittree import UnitTree


@dataclass(frozen=True)
class Scope:
    unit_id: int | None = None
    venue_id: int | None = None

    def venue_ids(self, conn: Connection) -> list[int] | None:
        """The venues covered: one for a venue scope, the subtree's for a unit scope."""
        if self.venue_id is not None:
            return [self.venue_id]
        subtree = UnitTree.load(conn).subtree_ids(self.unit_id)
        return list(conn.execute(select(venues.c.id).where(venues.c.unit_id.in_(subtree))).scalars())

    def covers(self, venue_unit_path: list[int], venue: int) -> bool:
        """Whether this scope covers `venue`, whose unit and the units above it are `venue_unit_path`."""
        if self.venue_id is not None:
            return self.venue_id == venue
        return self.unit_id in venue_unit_path


def parse_scope(conn: Connection, unit: str | None, venue: str | None) -> Scope:
    """A scope from a --unit or --venue code (exactly one), checked against the database."""
    if bool(unit) == bool(venue):
        raise CentralError("give exactly one of --unit CODE (that unit and every unit below it) or --venue CODE")
    if unit:
        return Scope(unit_id=unit_id(conn, unit))
    return Scope(venue_id=venue_id(conn, str(venue)))


def scope_label(conn: Connection, scope: Scope) -> str:
    """ "unit HN" or "venue V1": how lists and pages name a scope."""
    if scope.venue_id is not None:
        code = conn.execute(select(venues.c.code).where(venues.c.id == scope.venue_id)).scalar()
        return f"venue {code}"
    code = conn.execute(select(units.c.code).where(units.c.id == scope.unit_id)).scalar()
    return f"unit {code}"


def unit_path_of_venue(conn: Connection, venue: int, tree: UnitTree | None = None) -> list[int]:
    """The ids of the venue's unit and every unit above it."""
    unit = conn.execute(select(venues.c.unit_id).where(venues.c.id == venue)).scalar()
    if unit is None:
        return []
    return [u.id for u in (tree or UnitTree.load(conn)).path(int(unit))]
