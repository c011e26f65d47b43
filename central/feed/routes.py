"""The feed's route, `GET /api/v1/events?after=<cursor>&limit=N` (docs/feeds.md), added to the API's app.

No `from __future__ import annotations` here: FastAPI reads the route annotations at runtime.
"""

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query
from sqlalchemy import Connection, Engine

from central.errors import CentralError
from central.feed.clients import client_of, mark_used
from central.feed.cursor import MAX_CURSOR
from central.feed.page import DEFAULT_LIMIT, MAX_LIMIT, read_page
from central.ratelimit import RateLimiter, bearer_token


def add_feed_route(app: FastAPI, engine: Engine, clock: Callable[[], datetime], limits: RateLimiter) -> None:
    def transaction() -> Iterator[Connection]:
        with engine.begin() as conn:
            yield conn

    Tx = Annotated[Connection, Depends(transaction, scope="function")]

    @app.get(
        "/api/v1/events",
        responses={
            400: {"description": "not a cursor of this feed"},
            401: {"description": "missing, unknown or revoked feed token"},
        },
    )
    def feed(
        conn: Tx,
        authorization: Annotated[str | None, Header()] = None,
        after: Annotated[str, Query(max_length=MAX_CURSOR, description="next_cursor of the last page")] = "",
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        """The events of the token's scope after the cursor, in ingest order (docs/feeds.md)."""
        token = bearer_token(authorization)
        try:
            client = client_of(conn, token)
        except CentralError:
            limits.distrust(token)
            raise
        limits.vouch(str(token))
        page = read_page(conn, client.scope, after, limit)
        mark_used(conn, client, clock())
        return page.as_json()
