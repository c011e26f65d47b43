"""Who is inside a venue (central/visits.py): the staff page /venues/{code}/inside, now or at a time of today
(?at=18:00), for the roll call of an evacuation. Read on a phone at the assembly point, or printed.

For the venue's admins, the unit officers above it and administrators (central/web/venuescope.py). Every look-up
is audited, as it lists people; the page shows no name and no ID number, only a visitor's last 4 digits and
shortened subject keys. No script: the browser's own print command prints it (the page's print styles drop the
navigation and the form).

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from central.localtime import local_zone
from central.visits import Inside, VisitsError, audited_inside, roll_call_time
from central.web.core import Web, client_address
from central.web.messages import Message
from central.web.venuescope import ROLES, page_venue

VenueCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
At = Annotated[str, Query(max_length=40, pattern=r"^[^\x00]*$")]
SHORT_KEY = 8  # hex digits of a subject key shown: enough to tell people apart on one list
SAYS = {key: Message(f"inside.{key}") for key in ("basis", "print", "no_one")}  # the page's sentences


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    @app.get("/venues/{code}/inside", response_class=HTMLResponse, include_in_schema=False)
    def inside_page(request: Request, conn: Tx, code: VenueCode, at: At = "") -> Response:
        session = web.staff(request, conn, *ROLES)
        venue = page_venue(conn, session.account, code)
        now = web.clock()

        def page(found: Inside | None, error: Message | None = None, status: int = 200) -> Response:
            return web.render(
                request,
                "inside.html",
                session=session,
                status=status,
                venue=venue,
                found=found,
                error=error,
                says=SAYS,
                clock=_clock,
                short=SHORT_KEY,
            )

        try:
            moment = roll_call_time(at, now)
        except VisitsError:
            return page(None, Message("inside.at"), status=422)
        found = audited_inside(
            conn,
            venue.code,
            moment,
            actor=session.account.username,
            reason="",
            now=now,
            address=client_address(request),
        )
        return page(found)


def _clock(moment: datetime) -> str:
    """A time of the roll call's day, local: 09:05."""
    return moment.astimezone(local_zone()).strftime("%H:%M")
