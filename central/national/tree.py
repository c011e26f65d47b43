"""The provinces' unit trees joined under the national root.

Each copy keeps its province's unit ids (they collide across provinces), so a unit is named nationally by its
province and its own id or code: ("67", unit). The national root is the country, above every province's top
units; it is not a row of any table.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection

from central.unittree import Unit, UnitTree


def national_tree(copies: Mapping[str, Connection]) -> list[tuple[str, Unit, int]]:
    """Every unit of every province, depth first, with its province and depth below the national root (a
    province's top units are at depth 1)."""
    return [
        (province, unit, depth)
        for province, conn in sorted(copies.items())
        for unit, depth in UnitTree.load(conn).walk(None)
    ]
