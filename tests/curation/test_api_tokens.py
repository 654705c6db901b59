"""Named API tokens: create, list, revoke; refused when revoked, expired, after a password change or
deactivation; stored only as a hash; every create and revoke audited; the account screens."""

import hashlib
from datetime import timedelta

from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from curation.models import ApiToken, AuditEvent
from curation.services import accounts
from tests.factories import PASSWORD


def _client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_sign_in_creates_a_named_token_stored_only_as_a_hash(members):
    # When the curator signs in for a named token that expires in 30 days
    response = APIClient().post(
        "/api/auth/token/",
        {"username": "curator", "password": PASSWORD, "name": "ci", "expires_in_days": 30},
        format="json",
    )
    # Then the answer is the key, and the database holds only its hash and a short prefix
    assert response.status_code == 200
    key = response.json()["token"]
    assert list(response.json()) == ["token"]
    token = ApiToken.objects.get()
    assert (token.user.username, token.name) == ("curator", "ci")
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert token.prefix == key[:12]
    assert key.startswith("cxr_") and len(key) == 47
    stored = " ".join(str(v) for v in ApiToken.objects.values_list().get())
    assert key not in stored
    assert round((token.expires_at - token.created_at) / timedelta(days=1)) == 30
    # And the key authenticates
    assert _client(key).get("/api/me/").json()["username"] == "curator"


def test_sign_in_without_a_name_gets_the_default_name(members):
    response = APIClient().post("/api/auth/token/", {"username": "viewer", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    assert ApiToken.objects.get().name == "api"


def test_create_list_and_revoke_tokens_through_the_api(members, api):
    viewer = members["viewer"]
    # Given the viewer creates a token
    created = api(viewer).post("/api/auth/tokens/", {"name": "laptop"}, format="json")
    assert created.status_code == 201
    body = created.json()
    key = body.pop("token")
    token = ApiToken.objects.get()
    assert body == {
        "id": token.pk,
        "name": "laptop",
        "prefix": key[:12],
        "created_at": body["created_at"],
        "last_used_at": None,
        "expires_at": None,
        "revoked_at": None,
        "state": "active",
    }
    # When they use it, then list their tokens
    listed = _client(key).get("/api/auth/tokens/").json()["results"]
    # Then the list shows it, used, without the key
    assert [(t["id"], t["name"], t["state"]) for t in listed] == [(token.pk, "laptop", "active")]
    assert listed[0]["last_used_at"] is not None
    assert key not in str(listed)
    # When they revoke it
    assert _client(key).delete(f"/api/auth/tokens/{token.pk}/").status_code == 204
    # Then the key no longer authenticates, and the list says why
    refused = _client(key).get("/api/me/")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Token"
    assert api(viewer).get("/api/auth/tokens/").json()["results"][0]["state"] == "revoked"


def test_token_create_and_revoke_are_audited_without_a_project(members, api):
    token, key = accounts.create_token(members["curator"], name="nightly")
    accounts.revoke_token(members["curator"], token)
    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor_username", "project_id", "after"))
    assert events[-2:] == [
        (
            "token.created",
            "curator",
            None,
            {"user": "curator", "name": "nightly", "prefix": key[:12], "expires_at": None},
        ),
        ("token.revoked", "curator", None, {"reason": "revoked by owner"}),
    ]


def test_another_users_token_is_a_404_and_stays_active(members, api):
    token, key = accounts.create_token(members["admin"], name="admin's")
    response = api(members["curator"]).delete(f"/api/auth/tokens/{token.pk}/")
    assert response.status_code == 404
    assert _client(key).get("/api/me/").status_code == 200


def test_an_expired_token_gets_401(members):
    token, key = accounts.create_token(members["viewer"], expires_in_days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _client(key).get("/api/me/").status_code == 401
    assert accounts.token_state(ApiToken.objects.get(pk=token.pk)) == "expired"


def test_an_unknown_key_gets_401(members):
    assert _client("cxr_not-a-real-key").get("/api/me/").status_code == 401


def test_a_password_change_through_the_service_revokes_every_token(members):
    curator = members["curator"]
    keys = [accounts.create_token(curator, name=n)[1] for n in ("a", "b")]
    revoked = accounts.change_password(curator, curator, "a-new-long-passphrase-42", old_password=PASSWORD)
    assert revoked == 2
    assert [_client(k).get("/api/me/").status_code for k in keys] == [401, 401]
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 0
    reasons = list(AuditEvent.objects.filter(action="token.revoked").values_list("after", flat=True))
    assert reasons == [{"reason": "password changed"}] * 2


def test_a_password_set_elsewhere_still_refuses_older_tokens(members, api):
    # Given a token, and then a password changed outside our services (the Django admin, changepassword)
    curator = members["curator"]
    token, key = accounts.create_token(curator, name="old")
    curator.set_password("changed-in-the-admin-99")
    curator.save()
    # Then the older token is refused and listed as revoked, while a new one works
    assert _client(key).get("/api/me/").status_code == 401
    assert api(curator).get("/api/auth/tokens/").json()["results"][0]["state"] == "revoked"
    _, new_key = accounts.create_token(curator, name="new")
    assert _client(new_key).get("/api/me/").status_code == 200


def test_deactivation_revokes_tokens_and_an_inactive_user_is_refused_anyway(members, db):
    from tests.factories import UserFactory

    staff = UserFactory(username="ops", is_staff=True)
    _, key_a = accounts.create_token(members["viewer"], name="a")
    _, key_b = accounts.create_token(members["radiologist"], name="b")
    # When staff deactivate the viewer through the service
    assert accounts.deactivate_user(staff, members["viewer"]) == 1
    # And the radiologist is deactivated by a bare flag (e.g. the Django admin)
    members["radiologist"].is_active = False
    members["radiologist"].save()
    # Then neither token authenticates
    assert [_client(k).get("/api/me/").status_code for k in (key_a, key_b)] == [401, 401]
    assert ApiToken.objects.get(name="a").revoked_at is not None


def test_last_used_is_written_at_most_once_a_minute(members):
    token, key = accounts.create_token(members["viewer"])
    _client(key).get("/api/me/")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    # Used again within the minute: unchanged
    recent = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recent)
    _client(key).get("/api/me/")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == recent
    # Used after a minute: updated
    old = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=old)
    _client(key).get("/api/me/")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > old


def test_logging_out_ends_the_session_but_not_the_tokens(members):
    # Tokens are independent of sessions (README): revoke them on the tokens page.
    client = Client()
    client.force_login(members["viewer"])
    _, key = accounts.create_token(members["viewer"])
    client.post("/logout/")
    assert client.get("/").status_code == 302
    assert _client(key).get("/api/me/").status_code == 200


def test_bad_token_requests_are_400s_naming_the_field(members, api):
    response = api(members["viewer"]).post("/api/auth/tokens/", {"expires_in_days": 0}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["expires_in_days"]
    response = api(members["viewer"]).post("/api/auth/tokens/", {"name": "x" * 101}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["name"]


# --- The account screens ------------------------------------------------------------------------


def test_tokens_page_creates_a_token_and_shows_its_key_once(members):
    client = Client()
    client.force_login(members["radiologist"])
    # When they create a token on the page
    response = client.post("/account/tokens/", {"name": "workstation", "expires_in_days": "7"})
    # Then the key is on this answer only
    assert response.status_code == 200
    token = ApiToken.objects.get()
    key = response.context["new_key"]
    assert key.encode() in response.content
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert round((token.expires_at - token.created_at) / timedelta(days=1)) == 7
    again = client.get("/account/tokens/")
    assert key.encode() not in again.content
    assert token.prefix.encode() in again.content
    assert b"workstation" in again.content


def test_tokens_page_revokes_your_token_and_404s_on_anothers(members):
    mine, _ = accounts.create_token(members["radiologist"], name="mine")
    theirs, _ = accounts.create_token(members["curator"], name="theirs")
    client = Client()
    client.force_login(members["radiologist"])
    response = client.post(f"/account/tokens/{mine.pk}/revoke/")
    assert (response.status_code, response["Location"]) == (302, "/account/tokens/")
    assert client.post(f"/account/tokens/{theirs.pk}/revoke/").status_code == 404
    assert [t.revoked_at is not None for t in ApiToken.objects.order_by("id")] == [True, False]


def test_tokens_page_rejects_a_bad_expiry(members):
    client = Client()
    client.force_login(members["viewer"])
    response = client.post("/account/tokens/", {"name": "x", "expires_in_days": "-3"})
    assert response.status_code == 400
    assert b"Give a whole number of days from 1 to 3650." in response.content
    assert ApiToken.objects.count() == 0


def test_password_page_changes_the_password_revokes_tokens_and_keeps_the_session(members):
    viewer = members["viewer"]
    _, key = accounts.create_token(viewer)
    client = Client()
    client.force_login(viewer)
    new = "a-brand-new-passphrase-7"
    response = client.post("/account/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert (response.status_code, response["Location"]) == (302, "/account/password/")
    viewer.refresh_from_db()
    assert viewer.check_password(new)
    assert _client(key).get("/api/me/").status_code == 401
    assert client.get("/").status_code == 200  # still signed in here
    assert AuditEvent.objects.filter(action="user.password_changed", actor_username="viewer").count() == 1


def test_password_page_refuses_a_wrong_old_password_and_a_weak_new_one(members):
    client = Client()
    client.force_login(members["viewer"])
    wrong = client.post("/account/password/", {"old_password": "nope", "new_password1": "x", "new_password2": "x"})
    assert wrong.status_code == 400
    assert b"Your old password was entered incorrectly." in wrong.content
    weak = client.post(
        "/account/password/", {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"}
    )
    assert weak.status_code == 400
    assert b"This password is too common." in weak.content
    members["viewer"].refresh_from_db()
    assert members["viewer"].check_password(PASSWORD)


def test_base_layout_links_to_the_account_page(members):
    client = Client()
    client.force_login(members["viewer"])
    assert b'<a href="/account/">Account</a>' in client.get("/").content


def test_a_failed_password_change_counts_as_a_failure_and_stores_no_password(members):
    from axes.models import AccessAttempt

    client = Client()
    client.force_login(members["viewer"])
    new = "would-be-new-passphrase-3"
    client.post("/account/password/", {"old_password": "guess", "new_password1": new, "new_password2": new})
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.failures_since_start) == ("viewer", 1)
    assert "guess" not in attempt.post_data and new not in attempt.post_data
