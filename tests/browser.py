"""Headless Chromium for the web tests: Debian's chromium package driven by Playwright (no browser download).

`make test` installs chromium (scripts/system-deps.sh); a missing browser fails the tests rather than skipping
them, as PostgreSQL does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    path = os.environ.get("KIOSK_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("no chromium: run scripts/system-deps.sh chromium (make test does)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 412, "height": 915}, locale="vi-VN")  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()
