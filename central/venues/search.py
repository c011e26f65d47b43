"""Search without diacritics: "benh vien" finds "Bệnh viện", "DN-01" finds "dn-01".

Each venue keeps its code and name folded (`venues.folded`: lower case, accents and the bar of "đ" dropped, spaces
collapsed) with the name it was folded from (`folded_from`). Before a search, every venue whose name is not the
one folded (added or renamed since by any path: these pages, the command line, venues.csv) is folded again, so no
other writer has to know about it; then a search is a LIKE over one column, in the database, on SQLite and
PostgreSQL alike (neither folds Vietnamese by itself: SQLite's lower() is ASCII only, `unaccent` is an extension).
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import ColumnElement, Connection, and_, bindparam, select, update

from central.schema import venues

MAX_WORDS = 8  # a search longer than this is cut: each word is one LIKE over the scope
ESCAPE = "\\"


def fold(text: str) -> str:
    """`text` in lower case without diacritics, spaces collapsed: what a search and a venue are compared as."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())


def venue_key(code: str, name: str) -> str:
    return fold(f"{code} {name}")


def fill_missing(conn: Connection, limit: int = 10_000) -> int:
    """Fold the venues whose `folded` is missing or stale (their name changed since), in one executemany;
    returns how many."""
    stale = venues.c.folded_from.is_(None) | venues.c.folded_from.is_distinct_from(venues.c.name)
    rows = conn.execute(select(venues.c.id, venues.c.code, venues.c.name).where(stale).limit(limit)).all()
    if rows:
        statement = update(venues).where(venues.c.id == bindparam("venue"))
        statement = statement.values(folded=bindparam("key"), folded_from=bindparam("name_was"))
        conn.execute(
            statement, [{"venue": i, "key": venue_key(code, name), "name_was": name} for i, code, name in rows]
        )
    return len(rows)


def matches(query: str) -> ColumnElement[bool] | None:
    """The condition "every word of `query` is in the venue's folded code and name"; None for an empty query."""
    words = fold(query).split()[:MAX_WORDS]
    if not words:
        return None
    return and_(*(venues.c.folded.like(f"%{_escaped(word)}%", escape=ESCAPE) for word in words))


def _escaped(word: str) -> str:
    return word.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
