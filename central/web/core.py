"""What the centre's pages share: templates, the language, one transaction per request, the signed-in staff
member and their role, CSRF checks, and the security headers of every page.

Pages are rendered on the server (Jinja2, autoescaped) and work without JavaScript. Labels are written in both
languages where they are used, `tr("Vietnamese", "English")`, Vietnamese first: the default for every visitor.
Messages (errors, notices) come from the catalogue (central/web/messages.py), shown by `say(message)`; numbers
and times by the filters `number`, `percent` and `local` (central/formats.py), in the page's language.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from sqlalchemy import Connection, Engine

from central.admission import Admission, pool_limit
from central.formats import duration, local_date_time, local_end, number, percent
from central.national.dashboard import NationalCopies
from central.passkeys import PassKey
from central.readside import Reader
from central.timeutil import aware
from central.web.messages import Message
from central.web.sessions import Session, find_session

HERE = Path(__file__).parent
SESSION_COOKIE = "kc_session"
FORM_COOKIE = "kc_form"  # the double-submit CSRF token of forms shown before signing in (login, declaration)
LANG_COOKIE = "kc_lang"
LANGUAGES = ("vi", "en")
ROLE_NAMES = {
    "administrator": ("Quản trị hệ thống", "Administrator"),
    "unit_officer": ("Cán bộ địa bàn", "Unit officer"),
    "tracer": ("Truy vết", "Tracer"),
    "venue_admin": ("Quản lý địa điểm", "Venue admin"),
}
AUDIT_ACTIONS = {  # what the audit log's action codes mean; an unknown one is shown as its code
    "access-groups-import": ("Nhập nhóm ra vào", "Access groups imported"),
    "access-people-import": ("Nhập người được ra vào", "Enrolled people imported"),
    "access-person-remove": ("Xoá người khỏi danh sách ra vào", "Person removed from the access list"),
    "account-add": ("Thêm tài khoản", "Account added"),
    "account-disable": ("Khoá tài khoản", "Account disabled"),
    "contact-key-set": ("Đặt khoá mã hoá số điện thoại", "Phone encryption key set"),
    "contact-open": ("Mở số điện thoại", "Phone number opened"),
    "device-revoke": ("Thu hồi thiết bị", "Device revoked"),
    "diagnostics-ask": ("Yêu cầu chẩn đoán thiết bị", "Device diagnostics asked"),
    "dwell-set": ("Đặt thời gian lưu lại", "Default stay set"),
    "enroll-sheet": ("In phiếu mã đăng ký", "Enrolment sheet made"),
    "feed-client-add": ("Thêm ứng dụng đọc sự kiện", "Feed client added"),
    "feed-client-revoke": ("Thu hồi ứng dụng đọc sự kiện", "Feed client revoked"),
    "pass-issue": ("Cấp thẻ ra vào", "Access pass issued"),
    "pass-revoke": ("Thu hồi thẻ ra vào", "Access pass revoked"),
    "release-add": ("Thêm bản phát hành", "Release added"),
    "release-pause": ("Tạm dừng cập nhật", "Rollout paused"),
    "release-resume": ("Tiếp tục cập nhật", "Rollout resumed"),
    "release-rollout": ("Bắt đầu cập nhật", "Rollout started"),
    "release-stop": ("Dừng cập nhật", "Rollout stopped"),
    "trust-fetch": ("Tải danh sách tin cậy", "Trust list fetched"),
    "trust-source-add": ("Thêm nguồn danh sách tin cậy", "Trust list source added"),
    "trust-source-remove": ("Xoá nguồn danh sách tin cậy", "Trust list source removed"),
    "units-import": ("Nhập đơn vị hành chính", "Units imported"),
    "venue-edit": ("Sửa địa điểm", "Venue edited"),
    "venue-retire": ("Ngừng địa điểm", "Venue retired"),
    "venues-import": ("Nhập địa điểm", "Venues imported"),
    "webhook-add": ("Thêm webhook", "Webhook added"),
    "webhook-remove": ("Xoá webhook", "Webhook removed"),
    "status-clear": ("Gỡ khỏi danh sách tình trạng", "Removed from the status list"),
    "status-set": ("Đưa vào danh sách tình trạng", "Put on the status list"),
    "trace": ("Truy vết", "Trace"),
    "national-trace": ("Truy vết toàn quốc", "National trace"),
    "venue-rules-set": ("Đổi quy tắc cổng", "Gate rules changed"),
    "visits-inside": ("Xem ai đang ở bên trong", "Who is inside, looked up"),
    "visits-list": ("Xem danh sách khách", "Visits listed"),
}
SECURITY_HEADERS = {
    # No script runs on these pages; styles and images come from here only (inline SVG for charts and QR codes).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login page."""

    def __init__(self, target: str) -> None:
        self.target = target


class NotAllowed(Exception):
    """Signed in, but this page is not for this role or this part of the tree."""


class Web:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        secret: bytes,
        pass_key: PassKey | None = None,
        secure_cookies: bool = False,
        reader: Reader | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.engine = engine
        # One transaction per request, admitted with the API's (central/admission.py), committed before the page
        # is sent (scope="function").
        self.transaction = (admission or Admission(pool_limit(engine))).dependency(engine)
        self.reader = reader or Reader(engine)  # the dashboard's and tracing's reads: a standby's, if given
        self.national = NationalCopies(engine)  # on the national centre, the provinces' copies (the dashboard)
        self.clock = clock
        self.secret = secret  # subject keys from ID numbers, as kiosks make them
        self.pass_key = pass_key  # signs declaration passes; None: the declaration form says it is not offered
        self.secure_cookies = secure_cookies
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=StrictUndefined,  # a missing variable is an error in the tests, not an empty cell
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters |= {"local": _local_filter, "local_end": _end_filter, "number": _number_filter}
        self.env.filters |= {"percent": _percent_filter, "duration": _duration_filter}
        self.env.globals |= {"role_names": ROLE_NAMES, "audit_actions": AUDIT_ACTIONS}

    # Who is asking

    def session(self, request: Request, conn: Connection) -> Session | None:
        return find_session(conn, request.cookies.get(SESSION_COOKIE), self.clock())

    def staff(self, request: Request, conn: Connection, *roles: str) -> Session:
        """The signed-in staff member, if their role is one of `roles` (administrators always are)."""
        session = self.session(request, conn)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if roles and not session.account.can(*roles):
            raise NotAllowed()
        return session

    @staticmethod
    def check_csrf(expected: str | None, given: str | None) -> None:
        if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
            raise NotAllowed()

    # Pages

    def render(
        self,
        request: Request,
        template: str,
        *,
        session: Session | None = None,
        status: int = 200,
        form_token: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        lang = language(request)

        def tr(vi: str, en: str) -> str:
            return en if lang == "en" else vi

        def say(message: Message) -> str:
            return message.text(lang)

        html = self.env.get_template(template).render(
            request=request,
            lang=lang,
            tr=tr,
            say=say,
            session=session,
            account=session.account if session else None,
            csrf=session.csrf if session else form_token,
            path_with_lang=lambda code: _with_lang(request, code),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=self.secure_cookies)
        if form_token and session is None:
            self.set_cookie(response, FORM_COOKIE, form_token, max_age=3600)
        response.headers["Cache-Control"] = "no-store"
        return response

    def set_cookie(self, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="lax", secure=self.secure_cookies, path="/"
        )


@pass_context
def _local_filter(context: Context, moment: datetime | None, seconds: bool = False) -> str:
    """A stored time (UTC; naive from SQLite) in the centre's local zone, written in the page's language."""
    value = aware(moment)
    return "" if value is None else local_date_time(value, context["lang"], seconds=seconds)


@pass_context
def _end_filter(context: Context, moment: datetime | None) -> str:
    """A stored end time (UTC) as `formats.local_end` writes it in the page's language."""
    value = aware(moment)
    return "" if value is None else local_end(value, context["lang"])


@pass_context
def _number_filter(context: Context, value: float) -> str:
    return number(value, context["lang"])


@pass_context
def _duration_filter(context: Context, seconds: float) -> str:
    return duration(seconds, context["lang"])


@pass_context
def _percent_filter(context: Context, value: float | None) -> str:
    return percent(value, context["lang"])


def form_token(request: Request) -> str:
    """The form cookie's token if the browser has one, else a new one (set by `render`)."""
    token = request.cookies.get(FORM_COOKIE)
    return token if token and 20 <= len(token) <= 100 else secrets.token_urlsafe(32)


def language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in LANGUAGES else "vi"


def is_page(path: str) -> bool:
    """Whether `path` is for people (a page, its styles) rather than the kiosks' API."""
    return not path.startswith("/api/") and path != "/healthz"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never //other.host or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/staff"
    return target


def login_url(target: str) -> str:
    return "/login?next=" + quote(target, safe="")


def _with_lang(request: Request, code: str) -> str:
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    params["lang"] = code
    return request.url.path + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
