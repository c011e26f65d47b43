"""The centre's settings: text values by key in the `settings` table (pass validity and issuer, the contact key,
dwell per venue category). Upserted, so two officers saving at once cannot fail on a duplicate key."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from central.schema import settings


def get_setting(conn: Connection, key: str) -> str | None:
    return conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()


def settings_with_prefix(conn: Connection, prefix: str) -> dict[str, str]:
    rows = conn.execute(select(settings.c.key, settings.c.value).where(settings.c.key.startswith(prefix)))
    return {key.removeprefix(prefix): value for key, value in rows}


def set_setting(conn: Connection, key: str, value: str) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(settings).values(key=key, value=value)
    conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
