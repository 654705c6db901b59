"""OpenID Connect sign-in against a real provider: django-oidc-provider in its own Django site
(tests/oidc_provider/) served by gunicorn on a loopback port, with its own SQLite file.

Our side runs in Django's test client; the provider side is driven over HTTP with `requests`, as a browser
would: /oidc/authenticate/ → the provider's authorize endpoint (PKCE S256) → its login form → back to our
callback with code and state → our backend redeems the code with the verifier, checks the RS256 ID token
against the provider's JWKS and reads the userinfo groups claim, all over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.contrib.messages import get_messages
from django.core.exceptions import SuspiciousOperation
from django.test import RequestFactory
from django.urls import clear_url_caches
from rest_framework.test import APIClient

from config.settings import oidc_settings_from_env
from curation import oidc_auth
from curation.models import ApiToken, AuditEvent, Membership, MembershipSource, Role, User
from curation.services import accounts
from tests.conftest import IN_CI, ROOT
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

CLIENT_ID = "cxr-curator-test"
CLIENT_SECRET = "provider-side-test-secret"  # noqa: S105 -- a throwaway provider's client
CALLBACK = "http://testserver/oidc/callback/"
PROVIDER_PASSWORD = "provider-password"  # noqa: S105
GROUP_ROLES = {
    "chest-readers": {"chest": "radiologist"},
    "chest-admins": {"chest": "admin"},
}
BACKEND = "curation.oidc_auth.DirectoryOIDCBackend"
AXES = "axes.backends.AxesStandaloneBackend"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _free_socket() -> socket.socket:
    """A listening loopback socket on a free port, handed to gunicorn (fd://) so no other process can take
    the port between choosing and binding it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


@dataclass
class Provider:
    base: str
    env: dict

    @property
    def discovery_url(self) -> str:
        return f"{self.base}/openid/.well-known/openid-configuration"

    def provision(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "tests.oidc_provider.provision", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def set_groups(self, username: str, *groups: str) -> None:
        self.provision("groups", username, *groups)

    def authorize(self, url: str, username: str, password: str = PROVIDER_PASSWORD) -> str:
        """Follow the provider's redirects as a browser, signing in at its login form; returns the URL it
        sends the browser back to (our callback)."""
        browser = requests.Session()
        browser.trust_env = False  # loopback only: no proxy from the environment
        for _ in range(8):
            answer = browser.get(url, allow_redirects=False, timeout=30)
            if answer.status_code == 200 and 'name="password"' in answer.text:
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', answer.text).group(1)
                next_url = parse_qs(urlsplit(answer.url).query)["next"][0]
                form = {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": next_url}
                answer = browser.post(answer.url, data=form, allow_redirects=False, timeout=30)
            assert answer.status_code == 302, answer.text[:2000]
            url = urljoin(answer.url, answer.headers["Location"])
            if url.startswith("http://testserver/"):
                return url
        raise AssertionError(f"the provider never sent the browser back (last URL {url})")


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory):
    """django-oidc-provider under gunicorn with users alice, bob and carol (alice in chest-readers)."""
    gunicorn = Path(sys.executable).parent / "gunicorn"
    missing = [
        name
        for name, present in (
            ("django-oidc-provider", importlib.util.find_spec("oidc_provider") is not None),
            ("gunicorn", gunicorn.exists()),
        )
        if not present
    ]
    if missing:
        message = f"the OpenID Connect tests need {', '.join(missing)} (requirements-dev.txt)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("oidc_provider")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update({"DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings", "OIDC_PROVIDER_DB": str(folder / "db")})
    users = [f"{name}:{PROVIDER_PASSWORD}:" for name in ("alice", "bob", "carol")]
    provider = Provider(base="", env=env)
    provider.provision(
        "setup", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--redirect-uri", CALLBACK,
        *[arg for user in users for arg in ("--user", user)],
    )  # fmt: skip
    sock = _free_socket()
    provider.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    log_path = folder / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(gunicorn), "tests.oidc_provider.wsgi:application", "--bind", f"fd://{sock.fileno()}"]
            + ["--workers", "1", "--threads", "4", "--timeout", "60", "--no-control-socket"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[sock.fileno()],
        )
    sock.close()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()[-3000:]
            try:
                answer = requests.get(provider.discovery_url, timeout=2)
                if answer.status_code == 200 and answer.json().get("issuer") == f"{provider.base}/openid":
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the provider did not answer: " + log_path.read_text()[-3000:]
            time.sleep(0.2)
        yield provider
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


def _remount_urls() -> None:
    """config/urls.py mounts /oidc/ only when OIDC_ENABLED: import it again under the current settings."""
    import config.urls

    importlib.reload(config.urls)
    clear_url_caches()


def _configure(settings, **env: str) -> None:
    variables = {"OIDC_RP_CLIENT_ID": CLIENT_ID, "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET, **env}
    variables.setdefault("OIDC_GROUP_ROLES", json.dumps(GROUP_ROLES))
    variables.setdefault("OIDC_PROVIDER_NAME", "Test Hospital")
    for name, value in oidc_settings_from_env(variables).items():
        setattr(settings, name, value)
    settings.OIDC_ENABLED = True
    settings.LDAP_ENABLED = False
    settings.AUTHENTICATION_BACKENDS = [AXES, BACKEND, *([MODEL_BACKEND] if settings.LOCAL_PASSWORDS else [])]
    oidc_auth._discovered.clear()
    _remount_urls()


@pytest.fixture
def oidc_on(settings):
    """OpenID Connect configured (and /oidc/ mounted) per test; `configure` sets it up, and it is undone."""

    def configure(**env: str):
        _configure(settings, **env)
        return settings

    yield configure
    settings.OIDC_ENABLED = False
    oidc_auth._discovered.clear()
    _remount_urls()


@pytest.fixture
def with_provider(oidc_on, oidc_provider, db):
    """Our site configured against the running provider by its discovery document, alice in chest-readers."""
    oidc_on(OIDC_OP_DISCOVERY_URL=oidc_provider.discovery_url, OIDC_RP_SCOPES="openid email profile groups")
    oidc_provider.set_groups("alice", "chest-readers")
    return oidc_provider


def _start(client, next_url: str = "/") -> tuple[str, dict]:
    start = client.get("/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302
    return start["Location"], {k: v[0] for k, v in parse_qs(urlsplit(start["Location"]).query).items()}


def _callback(client, url: str):
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def _sign_in(client, provider: Provider, username: str, next_url: str = "/"):
    location, _ = _start(client, next_url)
    return _callback(client, provider.authorize(location, username))


def _signed_in_user(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_oidc_code_flow_with_pkce_signs_in_and_maps_the_group_to_a_role(client, with_provider):
    chest = ProjectFactory(slug="chest")

    location, params = _start(client, "/p/chest/")
    state = params["state"]
    verifier = client.session["oidc_states"][state]["code_verifier"]
    callback = with_provider.authorize(location, "alice")
    answer = _callback(client, callback)

    assert location.startswith(f"{with_provider.base}/openid/authorize?")
    assert params["client_id"] == CLIENT_ID
    assert params["response_type"] == "code"
    assert params["redirect_uri"] == CALLBACK
    assert params["scope"] == "openid email profile groups"
    assert params["code_challenge_method"] == "S256"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert params["code_challenge"] == challenge
    assert len(verifier) >= 43
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    assert answer.status_code == 302
    assert answer["Location"] == "/p/chest/"
    user = User.objects.get(username="alice")
    assert _signed_in_user(client) == user
    assert client.session["_auth_user_backend"] == BACKEND
    assert user.email == "alice@hospital.example"
    assert (user.first_name, user.last_name) == ("Alice", "Example")
    assert user.has_usable_password() is False
    membership = Membership.objects.get(user=user)
    assert (membership.project, membership.role, membership.source) == (chest, Role.RADIOLOGIST, MembershipSource.OIDC)
    assert client.get("/p/chest/").status_code == 200
    created = AuditEvent.objects.get(action="user.created", object_id=str(user.pk))
    assert (created.actor, created.after["source"]) == (None, "oidc")
    assert AuditEvent.objects.filter(action="member.added", project=chest).count() == 1


def test_oidc_sign_in_again_follows_the_provider_groups_and_a_removed_group_removes_the_role(client, with_provider):
    chest = ProjectFactory(slug="chest")
    research = ProjectFactory(slug="research")
    _sign_in(client, with_provider, "alice")
    alice = User.objects.get(username="alice")
    MembershipFactory(project=research, user=alice, role=Role.CURATOR)  # given by an admin on the members page
    assert Membership.objects.get(user=alice, project=chest).role == Role.RADIOLOGIST

    with_provider.set_groups("alice", "chest-admins")
    client.logout()
    _sign_in(client, with_provider, "alice")
    promoted = Membership.objects.get(user=alice, project=chest)

    with_provider.set_groups("alice")
    client.logout()
    _sign_in(client, with_provider, "alice")

    assert promoted.role == Role.ADMIN
    assert _signed_in_user(client) == alice
    assert not Membership.objects.filter(user=alice, project=chest).exists()
    kept = Membership.objects.get(user=alice, project=research)
    assert (kept.role, kept.source) == (Role.CURATOR, MembershipSource.LOCAL)
    assert list(
        AuditEvent.objects.filter(project=chest, action__startswith="member.").order_by("pk").values_list("action")
    ) == [("member.added",), ("member.role_changed",), ("member.removed",)]
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_oidc_tampered_state_is_refused_and_a_callback_is_not_replayed(client, with_provider):
    location, _ = _start(client)
    callback = with_provider.authorize(location, "alice")
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    tampered = f"{parts.path}?code={query['code'][0]}&state={query['state'][0][:-4]}abcd"

    refused = client.get(tampered)

    assert refused.status_code == 400
    assert _signed_in_user(client) is None
    assert not User.objects.filter(username="alice").exists()
    # The genuine answer still works once, and only once.
    assert _callback(client, callback).status_code == 302
    assert _signed_in_user(client) == User.objects.get(username="alice")
    client.logout()  # another browser (no state in its session) replaying the answer
    replayed = _callback(client, callback)
    assert (replayed.status_code, replayed["Location"]) == (302, "/login/")
    assert _signed_in_user(client) is None


def test_oidc_does_not_take_over_a_local_account_with_a_password_unless_linking_is_on(client, with_provider, settings):
    bob = UserFactory(username="bob")
    _, key = accounts.create_token(bob, name="made with the local password")

    refused = _sign_in(client, with_provider, "bob")

    assert refused.status_code == 302
    assert refused["Location"] == "/login/"
    assert _signed_in_user(client) is None
    assert "did not succeed" in _messages(refused)[0]
    bob.refresh_from_db()
    assert bob.has_usable_password() is True

    settings.OIDC_LINK_LOCAL_ACCOUNTS = True
    linked = _sign_in(client, with_provider, "bob")

    assert linked.status_code == 302
    assert linked["Location"] == "/"
    assert _signed_in_user(client) == bob
    bob.refresh_from_db()
    assert bob.has_usable_password() is False
    assert accounts.usable_token(key) is None
    assert AuditEvent.objects.filter(action="user.linked_to_directory", object_id=str(bob.pk)).count() == 1


def test_oidc_refusals_are_not_counted_as_password_failures_of_the_address(client, with_provider, settings):
    UserFactory(username="bob")  # has a local password: refused through the provider
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert _sign_in(client, with_provider, "bob")["Location"] == "/login/"

    answer = _sign_in(client, with_provider, "alice")

    assert answer.status_code == 302
    assert _signed_in_user(client) == User.objects.get(username="alice")
    assert not AccessAttempt.objects.exists()


def test_oidc_refuses_inactive_accounts_at_sign_in_and_ends_their_sessions(client, with_provider):
    User.objects.create_user("carol", is_active=False)  # no password: a directory account, deactivated
    refused = _sign_in(client, with_provider, "carol")
    _sign_in(client, with_provider, "alice")
    alice = User.objects.get(username="alice")

    User.objects.filter(pk=alice.pk).update(is_active=False)
    after = client.get("/")

    assert refused["Location"] == "/login/"
    assert not Membership.objects.filter(user__username="carol").exists()
    assert after.status_code == 302
    assert after["Location"].startswith("/login/")


def test_oidc_login_page_offers_the_provider_next_to_the_password_form(client, oidc_on, db):
    oidc_on(OIDC_OP_DISCOVERY_URL="https://idp.invalid/.well-known/openid-configuration")

    page = client.get("/login/?next=/p/chest/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/oidc/authenticate/?next=/p/chest/"' in html
    assert "Sign in with Test Hospital" in html
    assert 'name="password"' in html


def test_oidc_only_login_page_hides_the_password_form(client, oidc_on, settings, db):
    settings.LOCAL_PASSWORDS = False
    oidc_on(OIDC_OP_DISCOVERY_URL="https://idp.invalid/.well-known/openid-configuration")

    html = client.get("/login/").content.decode()

    assert "Sign in with Test Hospital" in html
    assert 'name="password"' not in html
    assert 'name="username"' not in html


def test_oidc_only_site_refuses_a_forged_password_form_and_api_password_sign_in(client, oidc_on, settings, db):
    settings.LOCAL_PASSWORDS = False
    oidc_on(OIDC_OP_DISCOVERY_URL="https://idp.invalid/.well-known/openid-configuration")
    user = UserFactory(username="dora")

    form = client.post("/login/", {"username": "dora", "password": PASSWORD})
    api = APIClient().post("/api/auth/token/", {"username": "dora", "password": PASSWORD}, format="json")

    assert MODEL_BACKEND not in settings.AUTHENTICATION_BACKENDS
    assert form.status_code == 403
    assert "Sign-in with a password is turned off" in form.content.decode()
    assert _signed_in_user(client) is None
    assert authenticate(RequestFactory().post("/login/"), username="dora", password=PASSWORD) is None
    assert api.status_code == 400
    assert not ApiToken.objects.filter(user=user).exists()


def test_oidc_provider_unreachable_sends_back_to_the_login_page_with_a_message(client, oidc_on, db):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    oidc_on(OIDC_OP_DISCOVERY_URL=f"http://127.0.0.1:{port}/.well-known/openid-configuration")

    answer = client.get("/oidc/authenticate/")

    assert answer.status_code == 302
    assert answer["Location"] == "/login/"
    assert _messages(answer) == ["Test Hospital cannot be reached. Try again in a minute."]
    assert "oidc_states" not in client.session


def test_oidc_provider_unreachable_at_the_callback_sends_back_to_the_login_page(client, oidc_on, db):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"
    oidc_on(
        OIDC_OP_AUTHORIZATION_ENDPOINT=f"{down}/authorize",
        OIDC_OP_TOKEN_ENDPOINT=f"{down}/token",
        OIDC_OP_USER_ENDPOINT=f"{down}/userinfo",
        OIDC_OP_JWKS_ENDPOINT=f"{down}/jwks",
    )
    _, params = _start(client)

    answer = client.get("/oidc/callback/", {"code": "some-code", "state": params["state"]})

    assert answer.status_code == 302
    assert answer["Location"] == "/login/"
    assert "did not succeed" in _messages(answer)[0]
    assert _signed_in_user(client) is None


def test_oidc_logout_url_needs_a_post(client, oidc_on, db):
    oidc_on(OIDC_OP_DISCOVERY_URL="https://idp.invalid/.well-known/openid-configuration")
    user = UserFactory(username="erin")
    client.force_login(user)

    assert client.get("/oidc/logout/").status_code == 405
    assert _signed_in_user(client) == user
    assert client.post("/oidc/logout/").status_code == 302
    assert _signed_in_user(client) is None


def test_oidc_urls_are_not_mounted_when_oidc_is_off(client, db):
    assert client.get("/oidc/authenticate/").status_code == 404


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Alice", "alice"),
        ("  alice@hospital.example ", "alice@hospital.example"),
        ("ａｌｉｃｅ", "alice"),  # full-width letters: NFKC makes them the ASCII name
        ("", None),
        ("two words", None),
        ("tab\tname", None),
        ("bell\x07", None),
        ("x" * 151, None),
        (42, None),
        (None, None),
    ],
)
def test_oidc_username_claim_is_cleaned_or_refused(value, expected):
    assert oidc_auth.clean_username(value) == expected


def test_oidc_groups_claim_is_read_whole_or_refused(settings):
    settings.OIDC_GROUPS_CLAIM = "groups"

    assert oidc_auth.groups_from_claims({"groups": ["a", " b ", 7, "c\x00d"]}) == ["a", "b"]
    assert oidc_auth.groups_from_claims({"groups": "solo"}) == ["solo"]
    assert oidc_auth.groups_from_claims({}) == []
    for claims in (
        {"groups": {"a": 1}},
        {"groups": ["g"] * (oidc_auth.MAX_GROUPS + 1)},
        {"_claim_names": {"groups": "src1"}},
    ):
        with pytest.raises(SuspiciousOperation):
            oidc_auth.groups_from_claims(claims)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"aud": "other", "iss": "https://idp", "sub": "1"}, "aud"),
        ({"aud": ["me", "other"], "azp": "other", "iss": "https://idp", "sub": "1"}, "azp"),
        ({"aud": "me", "iss": "https://evil", "sub": "1"}, "iss"),
        ({"aud": "me", "iss": "https://idp", "sub": ""}, "sub"),
    ],
)
def test_oidc_id_token_for_another_client_or_issuer_is_refused(payload, problem):
    with pytest.raises(SuspiciousOperation, match=problem):
        oidc_auth.check_id_token_claims(payload, "me", "https://idp")


def test_oidc_id_token_for_us_passes():
    oidc_auth.check_id_token_claims(
        {"aud": ["me", "x"], "azp": "me", "iss": "https://idp", "sub": "7"}, "me", "https://idp"
    )


def _check_with(env_extra: dict, tmp_path) -> subprocess.CompletedProcess:
    """`manage.py check` in a fresh process with these variables, and the backends it ends up with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "OIDC_", "LDAP_"))}
    env.update({"DJANGO_SECRET_KEY": "x" * 60, "VAR_DIR": str(tmp_path), "OIDC_RP_CLIENT_ID": CLIENT_ID, **env_extra})
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "from django.core.management import call_command; call_command('check'); "
        "print('BACKENDS', settings.AUTHENTICATION_BACKENDS)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_oidc_settings_start_without_reaching_the_provider_and_without_local_passwords(tmp_path):
    # .invalid never resolves: starting must not need the provider.
    done = _check_with(
        {"OIDC_OP_DISCOVERY_URL": "https://idp.invalid/.well-known/openid-configuration", "LOCAL_PASSWORDS": "0"},
        tmp_path,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"BACKENDS ['{AXES}', '{BACKEND}']" in done.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OIDC_OP_DISCOVERY_URL": "https://idp.example/.well-known/openid-configuration", "OIDC_GROUP_ROLES": "{"},
            "OIDC_GROUP_ROLES is not valid JSON",
        ),
        (
            {"OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.example/authorize"},
            "needs OIDC_OP_DISCOVERY_URL or OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT",
        ),
        (
            {"OIDC_OP_DISCOVERY_URL": "http://idp.example/.well-known/openid-configuration"},
            "OIDC_OP_DISCOVERY_URL must be an https:// URL",
        ),
        (
            {"OIDC_OP_DISCOVERY_URL": "https://idp.example/x", "OIDC_RP_SIGN_ALGO": "none"},
            "OIDC_RP_SIGN_ALGO must be one of",
        ),
    ],
    ids=["malformed-group-roles", "missing-endpoints", "plain-http", "unsigned"],
)
def test_oidc_misconfiguration_stops_the_start_with_a_clear_error(env, message, tmp_path):
    done = _check_with(env, tmp_path)

    assert done.returncode != 0
    assert message in done.stderr
