"""Content-Security-Policy: every page carries a policy without inline script, and no template needs one."""

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.curation.test_authorization_matrix import PAGES, jobs  # noqa: F401 -- the fixture the URLs need

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [p for p in ROOT.glob("*/templates") if p.is_dir()]
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
STYLE = re.compile(r"\sstyle\s*=|<style\b", re.IGNORECASE)


def _directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


def _assert_strict(response, *, style=("'self'",)):
    policy = _directives(response)
    assert policy["script-src"] == ["'self'"]
    assert tuple(policy["style-src"]) == style
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("url", [p[1] for p in PAGES if p[2]["admin"] == 200])
def test_every_page_has_a_strict_policy_and_no_inline_script(url, members, jobs):  # noqa: F811
    client = Client()
    client.force_login(members["admin"])
    response = client.get(url.format(**jobs))
    assert response.status_code == 200
    _assert_strict(response)
    html = response.content.decode()
    assert INLINE_SCRIPT.findall(html) == []
    assert EVENT_HANDLER.findall(html) == []
    assert STYLE.findall(html) == []


def test_login_page_and_its_lockout_answer_have_the_policy(members):
    client = Client()
    _assert_strict(client.get("/login/"))
    for _ in range(5):
        response = client.post("/login/", {"username": "viewer", "password": "wrong"})
    assert response.status_code == 429
    _assert_strict(response)


def test_api_docs_load_their_script_from_a_url_and_only_allow_inline_style(members):
    client = Client()
    client.force_login(members["viewer"])
    page = client.get("/api/docs/")
    assert page.status_code == 200
    _assert_strict(page, style=("'self'", "'unsafe-inline'"))
    html = page.content.decode()
    assert INLINE_SCRIPT.findall(html) == []
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(script_url)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content


def test_no_template_has_inline_script_event_handlers_or_style():
    templates = [p for d in TEMPLATE_DIRS for p in d.rglob("*.html")]
    assert ROOT / "frontend/templates/frontend/base.html" in templates  # the scan sees the templates
    offenders = {
        str(p.relative_to(ROOT)): found
        for p in templates
        if (found := INLINE_SCRIPT.findall(t := p.read_text()) + EVENT_HANDLER.findall(t) + STYLE.findall(t))
    }
    assert offenders == {}
