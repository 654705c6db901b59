"""Sign-in throttling: repeated failures lock an account per client address (and per account from anywhere),
on the login page and on POST /api/auth/token/; staff can end a lockout."""

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from curation.models import ApiToken, AuditEvent
from curation.signin import client_ip
from tests.factories import PASSWORD, UserFactory

WRONG = "not-the-password"


def _login(client, username, password, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def _token(client, username, password, **extra):
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json", **extra)


def test_five_wrong_passwords_on_the_login_page_lock_the_account_even_for_the_right_password(members):
    # Given a browser at one address
    client = Client()
    # When it guesses the curator's password five times
    statuses = [_login(client, "curator", WRONG).status_code for _ in range(5)]
    # Then the fifth guess is already refused as a lockout
    assert statuses == [200, 200, 200, 200, 429]
    # And the right password now gets the login page with the lockout message, status 429, and no session
    response = _login(client, "curator", PASSWORD)
    assert response.status_code == 429
    assert b'data-testid="locked-out"' in response.content
    assert b"Too many failed sign-in attempts for this account" in response.content
    assert b'name="password"' in response.content
    assert "_auth_user_id" not in client.session


def test_five_wrong_passwords_on_the_token_endpoint_lock_the_account(members):
    client = APIClient()
    statuses = [_token(client, "curator", WRONG).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    response = _token(client, "curator", PASSWORD)
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"
    assert ApiToken.objects.count() == 0


def test_failures_on_the_page_and_the_api_count_together(members):
    # Given three failures on the login page and one on the API from the same address
    for _ in range(3):
        _login(Client(), "curator", WRONG)
    _token(APIClient(), "curator", WRONG)
    # When the fifth failure comes through the API
    response = _token(APIClient(), "curator", WRONG)
    # Then the account is locked on both doors
    assert response.status_code == 429
    assert _login(Client(), "curator", PASSWORD).status_code == 429


def test_another_account_at_the_same_address_still_signs_in(members):
    # Given the curator locked out at the hospital gateway's address
    for _ in range(5):
        _login(Client(), "curator", WRONG)
    # When the viewer signs in from that same address
    page = _login(Client(), "viewer", PASSWORD)
    api = _token(APIClient(), "viewer", PASSWORD)
    # Then both work
    assert (page.status_code, page["Location"]) == (302, "/")
    assert api.status_code == 200


def test_the_locked_account_signs_in_from_another_address_until_the_account_wide_limit(members, settings):
    settings.AXES_ACCOUNT_FAILURE_LIMIT = 8
    # Given the curator locked out at one address
    for _ in range(5):
        _token(APIClient(), "curator", WRONG, REMOTE_ADDR="198.51.100.1")
    assert _token(APIClient(), "curator", PASSWORD, REMOTE_ADDR="198.51.100.1").status_code == 429
    # When the curator signs in from another address
    # Then it works (its success clears only its own address's failures)
    assert _token(APIClient(), "curator", PASSWORD, REMOTE_ADDR="198.51.100.2").status_code == 200
    # But failures spread over more addresses reach the account-wide limit (5 + 1 + 1 + 1 = 8)
    for address in ["198.51.100.3", "198.51.100.4", "198.51.100.5"]:
        _token(APIClient(), "curator", WRONG, REMOTE_ADDR=address)
    # And then the account is locked from every address, even a new one with the right password
    assert _token(APIClient(), "curator", PASSWORD, REMOTE_ADDR="198.51.100.9").status_code == 429
    assert _login(Client(REMOTE_ADDR="198.51.100.9"), "curator", PASSWORD).status_code == 429


def test_a_success_clears_that_clients_failures(members):
    client = APIClient()
    for _ in range(4):
        _token(client, "curator", WRONG)
    assert _token(client, "curator", PASSWORD).status_code == 200
    statuses = [_token(client, "curator", WRONG).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 400]


def test_without_the_proxy_setting_x_forwarded_for_is_ignored(members, settings):
    settings.SIGNIN_BEHIND_PROXY = False
    # Given an attacker who sends a different X-Forwarded-For with every guess
    statuses = [
        _token(APIClient(), "curator", WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)
    ]
    # Then the guesses still count against their real address
    assert statuses == [400, 400, 400, 400, 429]


def test_behind_the_proxy_each_forwarded_client_counts_separately(members, settings):
    settings.SIGNIN_BEHIND_PROXY = True
    settings.SIGNIN_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    # Given one client behind the gateway locking the curator out, forging the left of the header each time
    for n in range(5):
        _token(APIClient(), "curator", WRONG, HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 203.0.113.7", **proxy)
    assert _token(APIClient(), "curator", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy).status_code == 429
    # When the curator signs in from another client behind the same gateway
    response = _token(APIClient(), "curator", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy)
    # Then it works
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("behind_proxy", "count", "forwarded", "expected"),
    [
        (False, 1, "203.0.113.7", "10.0.0.2"),
        (True, 1, "203.0.113.7", "203.0.113.7"),
        (True, 1, "1.1.1.1, 203.0.113.7", "203.0.113.7"),
        (True, 2, "1.1.1.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (True, 1, "", "10.0.0.2"),
        (True, 1, "not-an-address", "10.0.0.2"),
        (True, 3, "203.0.113.7", "10.0.0.2"),
    ],
)
def test_client_ip_reads_x_forwarded_for_only_behind_a_proxy(settings, behind_proxy, count, forwarded, expected):
    settings.SIGNIN_BEHIND_PROXY = behind_proxy
    settings.SIGNIN_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_staff_reset_ends_a_lockout_and_is_audited(members, api):
    # Given the curator locked out
    for _ in range(5):
        _token(APIClient(), "curator", WRONG)
    assert _token(APIClient(), "curator", PASSWORD).status_code == 429
    staff = UserFactory(username="ops", is_staff=True)
    # When site staff reset the lockout
    response = api(staff).post("/api/auth/lockouts/reset/", {"username": "curator"}, format="json")
    # Then the curator signs in again, and the reset is in the audit trail
    assert response.status_code == 200
    assert response.json() == {"username": "curator", "attempts_cleared": 1}
    assert _token(APIClient(), "curator", PASSWORD).status_code == 200
    event = AuditEvent.objects.get(action="signin.lockout_reset")
    assert (event.actor_username, event.object_repr, event.project_id) == ("ops", "curator", None)


def test_a_project_admin_who_is_not_staff_may_not_reset_a_lockout(members, api):
    for _ in range(5):
        _token(APIClient(), "curator", WRONG)
    response = api(members["admin"]).post("/api/auth/lockouts/reset/", {"username": "curator"}, format="json")
    assert response.status_code == 403
    assert _token(APIClient(), "curator", PASSWORD).status_code == 429
