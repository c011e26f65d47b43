"""What central/db.py makes of a database URL: psycopg's prepare_threshold, for a centre behind pgbouncer in
transaction mode (docs/scale.md, "A pooler in front"), taken out of the URL and given to psycopg as a number or
None; with `none`, no statement is prepared on the server however often it runs."""

from __future__ import annotations

import os

import pytest
from central_fixtures import PG_ENV
from sqlalchemy import text

from central.db import connect, engine_options, resolve_url


def test_prepare_threshold_leaves_the_url_for_psycopg() -> None:
    url, args = engine_options("postgresql+psycopg://kiosk@db/kiosk?prepare_threshold=none&connect_timeout=2")
    assert args == {"prepare_threshold": None}
    assert url.render_as_string() == "postgresql+psycopg://kiosk@db/kiosk?connect_timeout=2"
    assert engine_options("postgresql+psycopg://kiosk@db/kiosk?prepare_threshold=3")[1] == {"prepare_threshold": 3}
    assert engine_options("postgresql+psycopg://kiosk@db/kiosk")[1] == {}
    assert engine_options("sqlite:///central.db")[1] == {}
    with pytest.raises(ValueError, match="prepare_threshold='often' in the database URL"):
        engine_options("postgresql+psycopg://kiosk@db/kiosk?prepare_threshold=often")


@pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"needs PostgreSQL (${PG_ENV})")
@pytest.mark.parametrize(("threshold", "prepared"), [("", 1), ("none", 0)])
def test_with_none_nothing_is_prepared_on_the_server(threshold: str, prepared: int) -> None:
    base = resolve_url(os.environ[PG_ENV])
    engine = connect(base + (f"?prepare_threshold={threshold}" if threshold else ""))
    try:
        with engine.connect() as conn:
            for _ in range(7):  # psycopg prepares after 5 executions by default
                conn.execute(text("SELECT count(*) FROM units WHERE id = :id"), {"id": 1})
            count = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()
    finally:
        engine.dispose()
    assert count == prepared
