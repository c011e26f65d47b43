"""Contact tracing for tracers: whom to trace (ID number, QR code text or picture, or subject key), the window
and why; the visits and the ranked contacts on the page, or as CSV. Each trace is written to the audit log in
the same transaction as the query. A tracer with a unit sees the visits and contacts at venues of that unit and
below; an administrator sees all.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from central.admin import venue_units
from central.national.tracing import audited_national_trace
from central.readside import DataAge
from central.tracevisits import MAX_DWELL_MIN
from central.tracing import DEFAULT_WINDOW_DAYS, TraceError, TraceResult, local_time, record_trace, trace
from central.unittree import UnitTree
from central.web.core import NotAllowed, Web, client_address
from central.web.messages import Message, PageError
from central.web.sessions import Session
from central.web.subjects import read_picture, subject_of


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    def page(
        request: Request,
        session: Session,
        *,
        status: int = 200,
        values: dict[str, str] | None = None,
        result: TraceResult | None = None,
        error: Message | None = None,
        age: DataAge | None = None,
    ) -> Response:
        return web.render(
            request, "trace.html", session=session, status=status, values=values or {}, result=result, error=error,
            age=age,
        )  # fmt: skip

    @app.get("/trace", response_class=HTMLResponse, include_in_schema=False)
    def trace_form(request: Request, conn: Tx) -> Response:
        return page(request, web.staff(request, conn, "tracer"))

    @app.post("/trace", include_in_schema=False)
    def trace_post(
        request: Request,
        conn: Tx,
        csrf: Annotated[str, Form()] = "",
        identity_number: Annotated[str, Form()] = "",
        qr_text: Annotated[str, Form()] = "",
        subject_key: Annotated[str, Form()] = "",
        qr_image: Annotated[UploadFile | None, File()] = None,
        start: Annotated[str, Form()] = "",
        end: Annotated[str, Form()] = "",
        default_dwell_min: Annotated[str, Form()] = "",
        second_degree: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        output: Annotated[str, Form()] = "page",
    ) -> Response:
        session = web.staff(request, conn, "tracer")
        web.check_csrf(session.csrf, csrf)
        values = {"identity_number": identity_number[:40], "subject_key": subject_key[:64], "start": start[:32]}
        values |= {"end": end[:32], "default_dwell_min": default_dwell_min[:5], "second_degree": second_degree}
        values |= {"reason": reason[:500]}
        try:
            if not reason.strip():
                raise PageError("trace.reason")
            picture = read_picture(qr_image)
            key = subject_of(
                web.secret, identity_number=identity_number, qr_text=qr_text[:4000], picture=picture,
                subject_key=subject_key,
            )  # fmt: skip
            since, until = _window(start, end, web.clock())
            dwell = _dwell(default_dwell_min)
            now = web.clock()
            known = web.national.provinces(conn)
            if known:  # the national centre: every province's copy
                result, age = _national_trace(web, conn, known, session, request, key, since, until, dwell, reason,
                                              second_degree=bool(second_degree), output=output), None  # fmt: skip
            else:
                # The trace reads where reads go (a standby, if any); its record is written here, on the primary,
                # and committed before the page is sent.
                result, age = web.reader.read(
                    lambda reading: trace(
                        reading, key, since, until, default_dwell_min=dwell, second_degree=bool(second_degree), now=now
                    ),
                    now,
                )
                record_trace(
                    conn,
                    result,
                    actor=session.account.username,
                    reason=reason,
                    now=now,
                    address=client_address(request),
                    detail={"scope": session.account.unit_code or "all", "output": output},
                )
        except PageError as refused:
            return page(request, session, status=422, values=values, error=refused.message)
        result = _in_scope(conn, result, session)
        if output == "csv":
            name = f"truy-vet-{result.subject_key[:8]}.csv"
            return Response(
                "\ufeff" + result.as_csv(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
            )
        return page(request, session, values=values, result=result, age=age)


def _national_trace(
    web: Web,
    conn: Connection,
    known: dict[str, str],
    session: Session,
    request: Request,
    key: str,
    since: datetime,
    until: datetime,
    dwell: int | None,
    reason: str,
    *,
    second_degree: bool,
    output: str,
) -> TraceResult:
    """Every province's copy traced and merged, venues named nationally ("67:V1"), recorded in the national
    centre's audit log. For the national centre's unscoped accounts (administrators): its tree is the provinces'."""
    if session.account.unit_id is not None:
        raise NotAllowed()
    with web.national.reading(known) as copies:
        found = audited_national_trace(
            conn, copies, key, since, until, actor=session.account.username, reason=reason, default_dwell_min=dwell,
            second_degree=second_degree, now=web.clock(), address=client_address(request), detail={"output": output},
        )  # fmt: skip
    return found.combined()


def _window(start: str, end: str, now: datetime) -> tuple[datetime, datetime]:
    """From and to as typed (local time), by default the 14 days to now; PageError if they are not a window."""
    try:
        until = local_time(end) if end.strip() else now
    except TraceError:
        raise PageError("trace.end") from None
    try:
        since = local_time(start) if start.strip() else until - timedelta(days=DEFAULT_WINDOW_DAYS)
    except TraceError:
        raise PageError("trace.start") from None
    if since >= until:
        raise PageError("trace.window")
    return since, until


def _dwell(minutes: str) -> int | None:
    """The default stay in minutes, None when not given (each venue's category's)."""
    if not minutes.strip():
        return None
    if not minutes.strip().isdigit() or not 1 <= int(minutes) <= MAX_DWELL_MIN:
        raise PageError("trace.dwell", most=MAX_DWELL_MIN)
    return int(minutes)


def _in_scope(conn: Connection, result: TraceResult, session: Session) -> TraceResult:
    """Only the visits and contacts at venues in the tracer's unit and below (all for an unscoped account)."""
    root = session.account.unit_id
    if root is None:
        return result
    tree = UnitTree.load(conn)
    allowed = {code for code, unit in venue_units(conn) if tree.contains(root, unit)}
    return replace(
        result,
        visits=[v for v in result.visits if v.venue in allowed],
        contacts=[c for c in result.contacts if c.venue in allowed],
    )
