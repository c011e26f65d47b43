"""A browser-less staff member for the web tests: requests with cookies, reading CSRF tokens from the forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime
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
