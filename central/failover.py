"""What the centre answers while its database fails over (docs/scale.md, "What a kiosk sees during a failover"):
a lost or refused PostgreSQL connection, or a write reaching a node that is now a standby, is a 503 with
Retry-After, which the kiosk retries; the transaction was rolled back, and a batch sent again is stored once.
Any other database error is a bug: raised again, a 500 with its traceback in the log."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError

# PostgreSQL's answers while a primary fails over: the server going away or not yet accepting (57P01-57P03), and a
# write reaching a node that is now a standby (25006, read_only_sql_transaction).
FAILOVER_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "25006"})

log = logging.getLogger("central.api")


def add_failover_handler(app: FastAPI) -> None:
    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        if not database_unavailable(exc):
            raise exc
        first_line = str(exc.orig).strip().split("\n", 1)[0][:200]
        log.warning("%s %s: database unavailable (%s): answered 503", request.method, request.url.path, first_line)
        return JSONResponse(
            {"detail": "the database is unavailable (failing over?): try again shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )


def database_unavailable(exc: DBAPIError) -> bool:
    """A lost or refused PostgreSQL connection, or a write sent to a standby; not SQLite's errors (a locked file
    keeps its 500 here, as before)."""
    if exc.connection_invalidated:
        return True
    if not type(exc.orig).__module__.startswith("psycopg"):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is None:  # no answer from any server: connecting failed (refused, timed out)
        return type(exc.orig).__name__ == "OperationalError"
    return str(sqlstate).startswith("08") or sqlstate in FAILOVER_SQLSTATES
