"""Playwright on Debian's Chromium (never `playwright install`), against pytest-django's live server."""

import os

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page():
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by fixtures
    # and assertions here are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        yield page
        # ORM calls made while Playwright's loop runs get their own connection; close it here,
        # inside the same context, or the test database cannot be dropped at the end.
        from django.db import connections

        connections.close_all()
        context.close()
        browser.close()
