"""The tree of administrative units, loaded whole: a country has thousands of units at most, so one query a
request and walks in memory beat a recursive query per question.

A unit officer sees their unit and everything below it (`in_subtree`); an administrator (no unit) sees all.
The tree has any depth (Vietnam dropped the district level in 2025). Siblings are ordered by their code, the
order of the statistics office's administrative codes. A unit whose parent chain loops (impossible through
`admin.add_unit`, possible by hand in SQL) is never reached from the top, so it is not visible to anyone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, select

from central.errors import NotFound
from central.schema import units


@dataclass(frozen=True)
class Unit:
    id: int
    code: str
    name: str
    parent_id: int | None


class UnitTree:
    """Every unit, with its children and parent; `None` stands for the top (above the provinces)."""

    def __init__(self, all_units: list[Unit]) -> None:
        self.units = {unit.id: unit for unit in all_units}
        self._children: dict[int | None, list[Unit]] = defaultdict(list)
        for unit in sorted(all_units, key=lambda u: (u.code, u.id)):
            self._children[unit.parent_id].append(unit)

    @classmethod
    def load(cls, conn: Connection) -> UnitTree:
        rows = conn.execute(select(units.c.id, units.c.code, units.c.name, units.c.parent_id))
        return cls([Unit(row.id, row.code, row.name, row.parent_id) for row in rows])

    def get(self, unit_id: int) -> Unit:
        try:
            return self.units[unit_id]
        except KeyError:
            raise NotFound(f"no administrative unit with id {unit_id}") from None

    def children(self, unit_id: int | None) -> list[Unit]:
        """The direct children of `unit_id` (of the top when None), by code."""
        return self._children.get(unit_id, [])

    def walk(self, root: int | None) -> list[tuple[Unit, int]]:
        """`root` and every unit below it, depth first in code order, each with its depth below `root` (0)."""
        found: list[tuple[Unit, int]] = []
        stack: list[tuple[Unit, int]] = [(u, 1) for u in reversed(self.children(root))]
        if root is not None:
            stack = [(self.get(root), 0)]
        while stack:
            unit, depth = stack.pop()
            found.append((unit, depth))
            stack.extend((child, depth + 1) for child in reversed(self.children(unit.id)))
        return found

    def subtree_ids(self, root: int | None) -> list[int]:
        return [unit.id for unit, _ in self.walk(root)]

    def branches(self, root: int | None) -> dict[int, int]:
        """For every unit strictly below `root`: the direct child of `root` whose subtree it is in."""
        branch_of: dict[int, int] = {}
        for child in self.children(root):
            for unit, _ in self.walk(child.id):
                branch_of[unit.id] = child.id
        return branch_of

    def path(self, unit_id: int) -> list[Unit]:
        """The units from the top down to `unit_id`, both ends included."""
        path = [self.get(unit_id)]
        while path[-1].parent_id is not None and len(path) <= len(self.units):
            path.append(self.get(path[-1].parent_id))
        return path[::-1]

    def contains(self, root: int | None, unit_id: int) -> bool:
        """Whether `unit_id` is `root` or below it (anything reachable from the top when `root` is None)."""
        if unit_id not in self.units:
            return False
        seen: set[int] = set()
        current: int | None = unit_id
        while current is not None and current not in seen:
            if current == root:
                return True
            seen.add(current)
            current = self.units[current].parent_id
        return root is None and current is None


def breadcrumb(conn: Connection, unit_id: int | None, *, tree: UnitTree | None = None) -> list[Unit]:
    """The units from the top down to `unit_id` (empty for the top); NotFound for an unknown id."""
    if unit_id is None:
        return []
    return (tree or UnitTree.load(conn)).path(unit_id)


def visible_units(conn: Connection, root_unit_id: int | None, *, tree: UnitTree | None = None) -> list[Unit]:
    """What an account attached to `root_unit_id` may look at: that unit and all below it, depth first."""
    return [unit for unit, _ in (tree or UnitTree.load(conn)).walk(root_unit_id)]


def in_subtree(conn: Connection, root: int | None, unit: int, *, tree: UnitTree | None = None) -> bool:
    """Whether `unit` is `root` itself or below it; an officer of `root` may see `unit` only if so."""
    return (tree or UnitTree.load(conn)).contains(root, unit)
