"""A browser-less staff member for the web tests: requests with cookies, reading CSRF tokens from the forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import requests
from central_fixtures import CentralServer

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_account(server: CentralServer, username: str, role: str, **where: str) -> None:
    from central.accounts import add_account as add

    with server.engine.begin() as conn:
        add(conn, username, PASSWORD, role, datetime.now(UTC), **where)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


class Staff:
    def __init__(self, server: CentralServer) -> None:
        self.base = server.url
        self.session = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=30, allow_redirects=False, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> requests.Response:
        return self.session.post(self.base + path, data=data, timeout=30, allow_redirects=False, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> requests.Response:
        page = self.get("/login")
        return self.post("/login", {"username": username, "password": password, "csrf": csrf_of(page.text)})

    def form_post(self, page_path: str, path: str, data: dict[str, str]) -> requests.Response:
        """POST `data` to `path` with the CSRF token of the form on `page_path`, as a browser would."""
        token = csrf_of(self.get(page_path).text)
        return self.post(path, {**data, "csrf": token})


# What a person reads on a page, and the words of the other language in it.
ENGLISH_WORDS = re.compile(
    r"\b(the|is|are|not|no|please|must|give|of|and|or|with|your|you|this|that|be|was|has|have|can|cannot|"
    r"could|from|for|than|only|found|error|allowed|there|should|try|again|too|many)\b",
    re.IGNORECASE,
)  # not "a", "an", "in", "to", "on": Vietnamese words too ("in" is to print, "to" is big)
VIETNAMESE_LETTERS = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.IGNORECASE)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_READ_ATTRIBUTES = ("aria-label", "title", "alt", "placeholder")


class _VisibleText(HTMLParser):
    """Text nodes and the attributes people read (labels, tooltips), outside script, style, textarea (the
    person's own words) and any element marked as another language (the link to switch language)."""

    def __init__(self, lang: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = lang
        self.stack: list[bool] = []  # per open element: is its content skipped
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skipped = bool(self.stack and self.stack[-1])
        skipped |= tag in ("script", "style", "textarea")
        skipped |= tag != "html" and values.get("lang") not in (None, self.lang)
        if not skipped:
            self.texts.extend(value for name, value in attrs if name in _READ_ATTRIBUTES and value)
        if tag not in _VOID:
            self.stack.append(skipped)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not (self.stack and self.stack[-1]):
            self.texts.extend(value for name, value in attrs if name in _READ_ATTRIBUTES and value)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() and not (self.stack and self.stack[-1]):
            self.texts.append(" ".join(data.split()))


def visible_texts(html: str, lang: str) -> list[str]:
    parser = _VisibleText(lang)
    parser.feed(html)
    parser.close()
    return parser.texts


def wrong_language(html: str, lang: str) -> list[str]:
    """The texts of a page in `lang` ("vi" or "en") that are written in the other language."""
    other = ENGLISH_WORDS if lang == "vi" else VIETNAMESE_LETTERS
    return [text for text in visible_texts(html, lang) if other.search(text)]
