"""The deployment dashboard: a unit's figures, its child units to drill into, its venues, offline devices,
charts, and the CSV for the report upward. A unit officer sees their unit and the units below it, nothing else;
a venue admin sees their venue's unit page narrowed to their venue; an administrator sees the whole tree.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from dataclasses import replace
from typing import Annotated, NamedTuple

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from central import admin
from central.accounts import Account
from central.categories import CATEGORIES, category_name
from central.errors import NotFound
from central.national.dashboard import national_report, province_states
from central.national.subscription import CopyState
from central.progress import UnitReport, as_csv, coverage_chart, scans_chart, unit_report
from central.readside import DataAge
from central.unittree import UnitTree
from central.web.core import NotAllowed, Web, language
from central.web.sessions import Session

# A unit's code, as the tree's links give it; no NUL (PostgreSQL stores none: a lookup with one was a 500).
UnitCode = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    def report_for(request: Request, conn: Connection, unit: str | None) -> Shown:
        session = web.staff(request, conn, "unit_officer", "venue_admin")
        account = session.account
        known = web.national.provinces(conn)
        if known:  # the national centre: the provinces' copies
            return _national(web, known, session, unit)
        tree = UnitTree.load(conn)
        root = _root(conn, account)
        unit_id = root if not unit or account.role == "venue_admin" else _unit_id(conn, unit)
        if (unit_id is None and root is not None) or (unit_id is not None and not tree.contains(root, unit_id)):
            raise NotAllowed()  # outside their area; an unknown code is refused the same way (no probing)
        now = web.clock()
        # Who may see what, on the primary (sessions, accounts); the figures where reads go (a standby, if any).
        report, age = web.reader.read(lambda reading: unit_report(reading, unit_id, now), now)
        if account.role == "venue_admin":
            report = _only_venue(report, account.venue_code)
        return Shown(session, report, age, [])

    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request, conn: Tx, unit: UnitCode = None) -> Response:
        session, report, age, provinces = report_for(request, conn, unit)
        lang = language(request)
        venue_only = session.account.role == "venue_admin"
        return web.render(
            request,
            "dashboard.html",
            session=session,
            report=report,
            categories=CATEGORIES,
            category_name=category_name,
            scans_svg="" if venue_only else scans_chart(report, lang),
            coverage_svg="" if venue_only else coverage_chart(report, lang),
            venue_only=venue_only,
            age=age,
            provinces=provinces,
            national=bool(provinces),
        )

    @app.get("/dashboard.csv", include_in_schema=False)
    def dashboard_csv(request: Request, conn: Tx, unit: UnitCode = None) -> Response:
        session, report, _, _ = report_for(request, conn, unit)
        if session.account.role == "venue_admin":
            raise NotAllowed()  # the report upward is a unit's, with its neighbours' venues
        code = report.unit.code if report.unit else "ca-nuoc"
        name = f"tien-do-{code}-{report.today.isoformat()}.csv"
        return Response(
            as_csv(report, language(request)).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )


class Shown(NamedTuple):
    session: Session
    report: UnitReport
    age: DataAge | None  # None: the national centre, whose figures are as old as each province's copy
    provinces: list[CopyState]  # the national centre's province copies, how each stands; [] on a province's


def _national(web: Web, known: dict[str, str], session: Session, unit: str | None) -> Shown:
    """The country, or a province's unit ("67:660"), from the provinces' copies: for the national centre's
    administrators and unscoped unit officers (its accounts have no unit of their own: its tree is the provinces')."""
    if session.account.unit_id is not None or session.account.role == "venue_admin":
        raise NotAllowed()
    with web.national.reading(known) as copies:
        try:
            report = national_report(copies, unit, web.clock())
        except NotFound:
            raise NotAllowed() from None  # refused as on a province's centre (no probing)
        return Shown(session, report, None, province_states(copies))


def _root(conn: Connection, account: Account) -> int | None:
    """The top of what `account` may see: their unit, or their venue's unit; None: the whole tree."""
    if account.role == "venue_admin" and account.venue_id is not None:
        return admin.venue_unit_id(conn, account.venue_id)
    return account.unit_id


def _unit_id(conn: Connection, code: str) -> int | None:
    try:
        return admin.unit_id(conn, code[:64])
    except NotFound:
        raise NotAllowed() from None


def _only_venue(report: UnitReport, venue_code: str | None) -> UnitReport:
    """A venue admin's view: the venue's own row and offline devices, not its neighbours'."""
    return replace(
        report,
        children=[],
        venues=[v for v in report.venues if v.code == venue_code],
        offline=[d for d in report.offline if d.venue_code == venue_code],
    )
