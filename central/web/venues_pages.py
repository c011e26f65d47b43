"""The venue admin pages (docs/rollout.md, section 2): /venues, the venues in a staff member's area, searched and
filtered, one page at a time; /venues/{code}, one venue with its kiosks and their last heartbeats, its edit form,
its retirement, and revoking a kiosk. The queries are central/venues/'s; who sees which venue is venuescope's.

Who may do what, and why:
- administrators and unit officers (in their unit and below) see, edit, retire and revoke: the register of
  venues is the unit's, reported upward on the dashboard, and moving a venue to another unit is a unit's decision
  (within the officer's own area only, so no venue is moved out of sight by mistake);
- a venue admin sees their venue and may revoke its kiosks: they are on site, the first to know that a kiosk was
  stolen, broken or replaced, and revoking can only stop a device (a new one needs an enrolment code); they may
  not rename, move or retire the venue.

Every change is audited with its values before and after, and every form carries the session's CSRF token.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from contextlib import suppress
from datetime import datetime
from typing import Annotated, Any, cast
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from central import audit
from central.categories import CATEGORIES, category_name
from central.unittree import Unit, UnitTree
from central.venues.changes import VenueChangeError, Who, edit_venue, history, retire_venue, revoke_kiosk
from central.venues.detail import venue_details, venue_kiosks
from central.venues.listing import list_venues
from central.web.core import Web, client_address
from central.web.messages import Message
from central.web.sessions import Session
from central.web.venuescope import ROLES, page_venue

NoNul = r"^[^\x00]*$"  # PostgreSQL stores no NUL: a lookup with one would be a 500
VenueCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
DeviceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
Search = Annotated[str, Query(max_length=100, pattern=NoNul)]
UnitCode = Annotated[str, Query(max_length=64, pattern=NoNul)]
State = Annotated[str, Query(max_length=8, pattern=r"^(|none|online|offline|retired)$")]
After = Annotated[str, Query(max_length=64, pattern=NoNul)]
Csrf = Annotated[str, Form(max_length=100)]
Reason = Annotated[str, Form(max_length=500, pattern=NoNul)]
FILTER_DEPTH = 2  # the unit filter offers the staff member's unit and two levels below; deeper ones by link
FILTER_MOST = 500  # options in the unit filter at most
AUDIT_NAMES = {  # central/venues/changes.py's ACTIONS
    "venue-edit": ("Sửa thông tin địa điểm", "Venue edited"),
    "venue-retire": ("Cho địa điểm ngừng hoạt động", "Venue retired"),
    "device-revoke": ("Thu hồi thiết bị", "Device revoked"),
}
CHANGE_NAMES = {  # the values a change's audit entry keeps, as the venue's history names them
    "name": ("Tên", "Name"),
    "category": ("Loại", "Category"),
    "unit": ("Địa bàn", "Unit"),
    "retired_at": ("Ngừng hoạt động lúc", "Retired at"),
    "kiosks": ("Kiosk đang hoạt động", "Active kiosks"),
    "enrolment_codes_expired": ("Mã đăng ký bị huỷ", "Enrolment codes cancelled"),
    "device": ("Thiết bị", "Device"),
    "revoked_at": ("Thu hồi lúc", "Revoked at"),
}
DONE = {"edited", "unchanged", "retired", "revoked"}  # what ?done= says after a change (the catalogue's venue.done.*)
STATE_NAMES = {
    "": ("Đang hoạt động", "In use"),
    "none": ("Chưa có kiosk", "No kiosk yet"),
    "online": ("Mọi kiosk đang trực tuyến", "All kiosks online"),
    "offline": ("Có kiosk mất kết nối", "Some kiosks offline"),
    "retired": ("Đã ngừng hoạt động", "Retired"),
}


def add_routes(app: FastAPI, web: Web) -> None:
    known = cast(dict[str, tuple[str, str]], web.env.globals["audit_actions"])
    web.env.globals["audit_actions"] = known | AUDIT_NAMES  # the audit log names these changes too
    _list_route(app, web)
    _venue_routes(app, web)
    _change_routes(app, web)


def _list_route(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    @app.get("/venues", response_class=HTMLResponse, include_in_schema=False)
    def venues_page(
        request: Request, conn: Tx, q: Search = "", unit: UnitCode = "", state: State = "", after: After = ""
    ) -> Response:
        session = web.staff(request, conn, *ROLES)
        account = session.account
        tree = UnitTree.load(conn)
        root = None if account.role == "venue_admin" else account.unit_id
        unit_ids = None if root is None else tree.subtree_ids(root)
        error, status = None, 200
        if unit and account.role != "venue_admin":
            chosen = _unit_in(tree, root, unit)
            if chosen is None:
                error, status = Message("venues.unit", {"code": unit[:64]}), 422
            unit_ids = tree.subtree_ids(chosen) if chosen is not None else []
        venue_id = account.venue_id if account.role == "venue_admin" else None
        listed = "any" if venue_id is not None and not state else state  # a venue admin's one venue, even retired
        found = list_venues(
            conn, web.clock(), unit_ids=unit_ids, venue_id=venue_id, query=q, state=listed, after=after.strip()
        )
        asked = {"q": q, "unit": unit, "state": state}
        return web.render(
            request,
            "venues.html",
            session=session,
            status=status,
            found=found,
            asked=asked,
            error=error,
            units=[] if account.role == "venue_admin" else _filter_units(tree, root),
            states=STATE_NAMES,
            category_name=category_name,
            no_match=Message("venues.none"),
            next_url=_list_url(asked | {"after": found.next_after}) if found.next_after else None,
            first_url=_list_url(asked) if after else None,
        )


def _who(web: Web, request: Request, session: Session, reason: str) -> Who:
    return Who(session.account.username, reason, web.clock(), client_address(request))


def _venue_page(
    web: Web, request: Request, conn: Connection, session: Session, code: str, *,
    errors: dict[str, Message] | None = None, values: dict[str, str] | None = None, status: int = 200,
) -> Response:  # fmt: skip
    """The venue's page; after a refused change, with the refusal at its form and what was typed kept."""
    venue = page_venue(conn, session.account, code)
    details = venue_details(conn, venue.id)
    done = request.query_params.get("done")
    return web.render(
        request,
        "venue.html",
        session=session,
        status=status,
        venue=details,
        kiosks=venue_kiosks(conn, venue.id, web.clock()),
        history=[_with_times(entry) for entry in history(conn, details.code)],
        audit_names=AUDIT_NAMES,
        change_names=CHANGE_NAMES,
        no_reason=audit.NO_REASON,
        can_manage=session.account.can("unit_officer"),
        categories=CATEGORIES,
        category_name=category_name,
        errors=errors or {},
        values=values or {"name": details.name, "category": details.category, "unit": details.unit_code},
        done=Message(f"venue.done.{done}") if done in DONE else None,
    )


def _venue_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    @app.get("/venues/{code}", response_class=HTMLResponse, include_in_schema=False)
    def one_venue(request: Request, conn: Tx, code: VenueCode) -> Response:
        return _venue_page(web, request, conn, web.staff(request, conn, *ROLES), code)

    @app.post("/venues/{code}", response_class=HTMLResponse, include_in_schema=False)
    def edit(
        request: Request,
        conn: Tx,
        code: VenueCode,
        csrf: Csrf = "",
        name: Annotated[str, Form(max_length=400)] = "",
        category: Annotated[str, Form(max_length=32)] = "",
        unit: Annotated[str, Form(max_length=64, pattern=NoNul)] = "",
        reason: Reason = "",
    ) -> Response:
        session = web.staff(request, conn, "unit_officer")
        web.check_csrf(session.csrf, csrf)
        venue = page_venue(conn, session.account, code)
        values = {"name": name, "category": category, "unit": unit}
        unit_id = _unit_in(UnitTree.load(conn), session.account.unit_id, unit.strip())
        try:
            if unit_id is None:
                raise VenueChangeError("venue.unit")
            changed = edit_venue(
                conn, venue.id, name=name, category=category, unit_id=unit_id, who=_who(web, request, session, reason)
            )
        except VenueChangeError as refused:
            message = Message(refused.problem, {"code": unit.strip()[:64]} if refused.problem == "venue.unit" else {})
            return _venue_page(web, request, conn, session, code, errors={"edit": message}, values=values, status=422)
        return _done(venue.code, "edited" if changed else "unchanged")


def _change_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    @app.post("/venues/{code}/retire", response_class=HTMLResponse, include_in_schema=False)
    def retire(
        request: Request, conn: Tx, code: VenueCode, csrf: Csrf = "", reason: Reason = "",
        confirm: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:  # fmt: skip
        session = web.staff(request, conn, "unit_officer")
        web.check_csrf(session.csrf, csrf)
        venue = page_venue(conn, session.account, code)
        try:
            if confirm != "yes":
                raise VenueChangeError("venue.confirm")
            retire_venue(conn, venue.id, who=_who(web, request, session, reason))
        except VenueChangeError as refused:
            errors = {"retire": Message(refused.problem)}
            return _venue_page(web, request, conn, session, code, errors=errors, status=422)
        return _done(venue.code, "retired")

    @app.post("/venues/{code}/kiosks/{device}/revoke", response_class=HTMLResponse, include_in_schema=False)
    def revoke(
        request: Request, conn: Tx, code: VenueCode, device: DeviceId, csrf: Csrf = "", reason: Reason = ""
    ) -> Response:
        session = web.staff(request, conn, *ROLES)
        web.check_csrf(session.csrf, csrf)
        venue = page_venue(conn, session.account, code)
        try:
            revoke_kiosk(conn, venue.id, device, who=_who(web, request, session, reason))
        except VenueChangeError as refused:
            values = {"device": device[:64]} if refused.problem == "venue.device" else {}
            errors = {"revoke": Message(refused.problem, values)}
            return _venue_page(web, request, conn, session, code, errors=errors, status=422)
        return _done(venue.code, "revoked")


def _with_times(entry: dict[str, Any]) -> dict[str, Any]:
    """An audit entry whose times before and after (kept as ISO text) are datetimes, to show in local time."""
    detail = entry.get("detail")
    if not isinstance(detail, dict):
        return entry
    for side in ("before", "after"):
        values = detail.get(side)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if key.endswith("_at") and isinstance(value, str):
                with suppress(ValueError):  # not a time: shown as kept
                    values[key] = datetime.fromisoformat(value)
    return entry


def _done(code: str, what: str) -> Response:
    return RedirectResponse(f"/venues/{quote(code, safe='')}?done={what}", status_code=303)


def _unit_in(tree: UnitTree, root: int | None, code: str) -> int | None:
    """The id of the unit `code` if it is `root` or below it (anywhere when `root` is None); else None."""
    for unit in tree.units.values():
        if unit.code == code:
            return unit.id if tree.contains(root, unit.id) else None
    return None


def _filter_units(tree: UnitTree, root: int | None) -> list[tuple[Unit, int]]:
    """The units the filter offers: `root` and up to FILTER_DEPTH levels below it (fewer when that would be more
    than FILTER_MOST options: a whole country's communes), depth first, each with its depth."""
    walked = tree.walk(root)
    top = min((depth for _, depth in walked), default=0)
    for deepest in range(FILTER_DEPTH, -1, -1):
        offered = [(unit, depth - top) for unit, depth in walked if depth - top <= deepest]
        if len(offered) <= FILTER_MOST:
            return offered
    return offered[:FILTER_MOST]


def _list_url(params: dict[str, Any]) -> str:
    kept = {name: value for name, value in params.items() if value}
    return "/venues" + ("?" + urlencode(kept) if kept else "")
