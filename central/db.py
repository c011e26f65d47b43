"""Connecting to the central database: SQLite (the embedded default) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic.command import upgrade
from alembic.config import Config
from sqlalchemy import URL, Engine, create_engine, event, make_url

DEFAULT_URL = "sqlite:///kiosk-central.db"
PREPARE_THRESHOLD = "prepare_threshold"
MIGRATIONS = Path(__file__).parent / "migrations"


def resolve_url(flag: str | None) -> str:
    """--db, else $KIOSK_CENTRAL_DB, else a SQLite file in the current directory."""
    url = flag or os.environ.get("KIOSK_CENTRAL_DB") or DEFAULT_URL
    for plain in ("postgresql://", "postgres://"):  # `pg_autoctl show uri` prints postgres://
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url.removeprefix(plain)  # psycopg 3, not psycopg2
    return _multi_host(url)


def _multi_host(url: str) -> str:
    """libpq's multi-host form (`user@h1:p1,h2:p2/db?target_session_attrs=read-write`, a primary and its standby
    as `pg_autoctl show uri` gives them) in the form SQLAlchemy parses (`user@/db?host=h1:p1&host=h2:p2&...`):
    its URL parser takes one host, and reads the rest of a libpq list as a bad port number."""
    scheme, separator, rest = url.partition("://")
    authority, _, path = rest.partition("/")
    user, at, hosts = authority.rpartition("@")
    if not separator or "," not in hosts:
        return url
    database, _, query = path.partition("?")
    params = "&".join([*(f"host={host}" for host in hosts.split(",") if host), *([query] if query else [])])
    return f"{scheme}://{user}{at}/{database}?{params}"


def engine_options(url: str) -> tuple[URL, dict[str, Any]]:
    """The URL without psycopg's `prepare_threshold`, and that option as create_engine's connect_args.

    psycopg prepares a statement on the server after 5 executions on a connection. Behind pgbouncer in
    transaction mode (1.18 is Debian 12's), the next transaction may run on another server connection, where that
    name is missing or names another statement: `?prepare_threshold=none` turns preparing off (docs/scale.md, "A
    pooler in front"). SQLAlchemy would hand psycopg the URL's text, which fails every query, hence taken out
    here: `none` (or empty) never prepares, a number prepares after that many executions."""
    parsed = make_url(url)
    value = parsed.query.get(PREPARE_THRESHOLD)
    if value is None or parsed.get_backend_name() != "postgresql":
        return parsed, {}
    text = value[-1] if isinstance(value, tuple) else value
    try:
        threshold = None if text.strip().lower() in ("", "none") else int(text)
    except ValueError:
        raise ValueError(f"prepare_threshold={text[:20]!r} in the database URL: give none or a whole number") from None
    return parsed.difference_update_query([PREPARE_THRESHOLD]), {PREPARE_THRESHOLD: threshold}


def make_engine(url: str, **pool: Any) -> Engine:
    """An engine for `url`, not migrated (a standby, a national copy: their schema comes from elsewhere); `pool`:
    create_engine's pool options (pool_size, ...)."""
    plain, connect_args = engine_options(url)
    engine = create_engine(plain, pool_pre_ping=True, future=True, connect_args=connect_args, **pool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def connect(url: str, **pool: Any) -> Engine:
    """An engine for `url`, migrated to the latest schema; `pool`: create_engine's pool options (pool_size, ...)."""
    engine = make_engine(url, **pool)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # "held" is answered after the commit: it must survive a power cut
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
