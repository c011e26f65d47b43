"""A venue's gate rules (central/gaterules.py): a staff page, /venues/{code}/rules, and the same as JSON for
scripts, GET and PUT /api/v1/venues/{code}/rules.

Both take the staff session of the pages; the API's PUT sends the session's CSRF token in an X-CSRF-Token header
(GET answers with it), as a form sends it in a field. Who sees which venue is central/web/venuescope.py's. The
API answers in JSON, as the kiosks' API does; it is in the OpenAPI document (central/openapi.json), the pages are
not. The visit lists are a textarea each on the page, one entry a line.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, Header, Path, Query, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie
from pydantic import BaseModel
from sqlalchemy import Connection

from central import audit
from central.admin import Venue
from central.errors import Denied, Unauthenticated
from central.gaterules import ACTION, NAMES, RULES, VISIT_LISTS, GateRules, RulesError, entries, replace_rules, rules_of
from central.web.core import SESSION_COOKIE, NotAllowed, Web, client_address
from central.web.messages import Message
from central.web.sessions import Session, find_session
from central.web.venuescope import ROLES, page_venue, seen_venue

NUMBERS = frozenset(RULES) - {"mode", "strangers", "language"}
HISTORY = 20
# A venue's code as a path segment; no NUL (PostgreSQL stores none: a lookup with one would be a 500).
VenueCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
Text = Annotated[str, Form(max_length=40)]
Lines = Annotated[str, Form(max_length=20_000)]  # 50 lines of 80 characters, and room to say which are too many
Reason = Annotated[str, Form(max_length=500, pattern=r"^[^\x00]*$")]
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="staff session",
    auto_error=False,
    description="The staff session of the pages: sign in at /login first.",
)
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in"},
    403: {"description": "not for this account, a venue outside its area, or no X-CSRF-Token"},
    404: {"description": "no such venue (to an account that sees every venue)"},
}

# What the page and its history call the rules and their choices: (Vietnamese, English).
RULE_NAMES = {
    "mode": ("Chế độ kiểm tra", "Gate mode"),
    "strangers": ("Người chưa đăng ký", "People not enrolled"),
    "anti_passback_s": ("Chống quay lại (giây)", "Anti-passback (seconds)"),
    "trust_list_max_h": ("Tuổi tối đa của danh sách tin cậy (giờ)", "Greatest age of the trust list (hours)"),
    "vaccination_wait_days": ("Số ngày chờ sau mũi tiêm cuối", "Days to wait after the last dose"),
    "test_max_age_h": ("Hiệu lực xét nghiệm âm tính (giờ)", "A negative test counts for (hours)"),
    "recovery_max_days": ("Hiệu lực giấy khỏi bệnh (ngày)", "A recovery counts for (days)"),
    "relay_hold_s": ("Thời gian mở cổng (giây)", "Time the gate stays open (seconds)"),
    "language": ("Ngôn ngữ của kiosk", "Language of the kiosks"),
    "visit_hosts": ("Người khách đến gặp", "Whom visitors come to see"),
    "visit_purposes": ("Mục đích đến", "Purposes of a visit"),
}
CHOICES = {
    "mode": {
        "log-only": ("Chỉ ghi nhận lượt qua, không chặn ai", "Log only: record every passage, stop nobody"),
        "identity": ("Nhận diện: mã có định danh, đối chiếu danh sách tình trạng", "Identity: a code naming a person"),
        "certificate": ("Chứng nhận y tế: tiêm chủng, xét nghiệm, khỏi bệnh", "Health certificate"),
        "pass": ("Mã khai báo y tế do trung tâm cấp", "Health declaration pass from the centre"),
        "access": ("Kiểm soát ra vào: chỉ người đã đăng ký", "Access control: enrolled people only"),
    },
    "strangers": {
        "deny": ("Từ chối", "Refuse"),
        "review": ("Gọi bảo vệ kiểm tra", "Call the guard"),
        "visitor": ("Đưa đến quầy tiếp khách", "Send to the visitor desk"),
    },
    "language": {"vi": ("Tiếng Việt", "Vietnamese"), "en": ("Tiếng Anh", "English")},
}


class RulesAnswer(BaseModel):
    """A venue's gate rules; a rule left out is each kiosk's own config."""

    venue: str
    rules: GateRules


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    def page(
        request: Request,
        conn: Connection,
        session: Session,
        venue: Venue,
        values: dict[str, Any],
        errors: dict[str, Message] | None = None,
        status: int = 200,
        reason: str = "",
    ) -> Response:
        return web.render(
            request,
            "rules.html",
            session=session,
            status=status,
            venue=venue,
            values=values,
            errors=errors or {},
            names=RULE_NAMES,
            choices=CHOICES,
            history=audit.entries_about(conn, ACTION, venue.code, HISTORY),
            no_reason=audit.NO_REASON,
            reason=reason,
        )

    @app.get("/venues/{code}/rules", response_class=HTMLResponse, include_in_schema=False)
    def rules_page(request: Request, conn: Tx, code: VenueCode) -> Response:
        session = web.staff(request, conn, *ROLES)
        venue = page_venue(conn, session.account, code)
        values = {name: "\n".join(v) if name in VISIT_LISTS else v for name, v in rules_of(conn, venue.code).items()}
        return page(request, conn, session, venue, values)

    @app.post("/venues/{code}/rules", response_class=HTMLResponse, include_in_schema=False)
    def set_rules(
        request: Request,
        conn: Tx,
        code: VenueCode,
        csrf: Annotated[str, Form(max_length=100)] = "",
        mode: Text = "",
        strangers: Text = "",
        anti_passback_s: Text = "",
        trust_list_max_h: Text = "",
        vaccination_wait_days: Text = "",
        test_max_age_h: Text = "",
        recovery_max_days: Text = "",
        relay_hold_s: Text = "",
        language: Text = "",
        visit_hosts: Lines = "",
        visit_purposes: Lines = "",
        reason: Reason = "",
    ) -> Response:
        session = web.staff(request, conn, *ROLES)
        web.check_csrf(session.csrf, csrf)
        venue = page_venue(conn, session.account, code)
        typed = [mode, strangers, anti_passback_s, trust_list_max_h, vaccination_wait_days, test_max_age_h]
        typed += [recovery_max_days, relay_hold_s, language]
        given = {name: value.strip() for name, value in zip(RULES, typed, strict=True)}
        wanted: dict[str, object] = {name: _form_value(name, value) for name, value in given.items() if value}
        lists = {"visit_hosts": visit_hosts, "visit_purposes": visit_purposes}
        wanted |= {name: entries(text, "\n") for name, text in lists.items() if entries(text, "\n")}
        given |= lists
        try:  # nothing is written when a value is refused
            replace_rules(
                conn,
                venue.code,
                wanted,
                actor=session.account.username,
                reason=reason,
                now=web.clock(),
                address=client_address(request),
            )
        except RulesError as refused:
            errors = {name: Message(f"rules.{name}") for name in refused.problems if name in NAMES}
            return page(request, conn, session, venue, given, errors, status=422, reason=reason)
        return RedirectResponse(f"/venues/{quote(venue.code, safe='')}/rules", status_code=303)

    _api_routes(app, web)


def _api_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    def api_session(conn: Connection, cookie: str | None) -> Session:
        session = find_session(conn, cookie, web.clock())
        if session is None:
            raise Unauthenticated("sign in at /login first: this API takes the staff pages' session cookie")
        if not session.account.can(*ROLES):
            raise Denied("gate rules are for administrators, unit officers and venue admins")
        return session

    @app.get("/api/v1/venues/{code}/rules", response_model=RulesAnswer, tags=["staff"], responses=REFUSALS)
    def get_rules(conn: Tx, code: VenueCode, cookie: Annotated[str | None, Security(SESSION)]) -> Response:
        """A venue's gate rules, and the CSRF token a PUT sends back (the X-CSRF-Token header)."""
        session = api_session(conn, cookie)
        venue = seen_venue(conn, session.account, code)
        body = {"venue": venue.code, "rules": rules_of(conn, venue.code)}
        return JSONResponse(body, headers={"X-CSRF-Token": session.csrf, "Cache-Control": "no-store"})

    @app.put("/api/v1/venues/{code}/rules", response_model=RulesAnswer, tags=["staff"], responses=REFUSALS)
    def put_rules(
        request: Request,
        conn: Tx,
        code: VenueCode,
        body: GateRules,
        cookie: Annotated[str | None, Security(SESSION)],
        x_csrf_token: Annotated[str | None, Header(max_length=100)] = None,
        reason: Annotated[str, Query(max_length=500, pattern=r"^[^\x00]*$")] = "",
    ) -> Response:
        """Make the venue's gate rules exactly the body's: a rule left out (or null) goes back to each kiosk's own
        config. The venue's kiosks take the change at their next config pull; it is audited with `reason`."""
        session = api_session(conn, cookie)
        try:
            web.check_csrf(session.csrf, x_csrf_token)
        except NotAllowed:
            raise Denied("missing or wrong X-CSRF-Token header: send the one GET answered with") from None
        venue = seen_venue(conn, session.account, code)
        done = replace_rules(
            conn,
            venue.code,
            body.model_dump(exclude_none=True),
            actor=session.account.username,
            reason=reason,
            now=web.clock(),
            address=client_address(request),
        )
        return JSONResponse({"venue": venue.code, "rules": done.after}, headers={"Cache-Control": "no-store"})


def _form_value(name: str, value: str) -> str:
    """A number as typed on a phone or a Vietnamese keyboard: a decimal comma is a decimal point."""
    return value.replace(",", ".") if name in NUMBERS else value
