"""New accounts, set-password links, deactivation that ends sessions, resets, and members from a CSV."""

import smtplib
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils.http import urlsafe_base64_encode

from curation.models import ApiToken, AuditEvent, Membership, Role, User
from curation.services import accounts, onboarding
from curation.services.onboarding import RowAction
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

BASE = "https://cxr.example.org"
GOOD_PASSWORD = "amber-falcon-quartz-1977"  # noqa: S105


def _site_admin(username="siteadmin", **extra):
    """A site admin through the permission (not staff): the rule is the permission, not the Django admin."""
    user = UserFactory(username=username, **extra)
    user.user_permissions.add(Permission.objects.get(codename="administer_site"))
    return User.objects.get(pk=user.pk)


def _link_parts(url: str) -> tuple[str, str]:
    uid, token = url.rstrip("/").split("/")[-2:]
    return uid, token


def _csv(*rows: str, header="username,email,name,role") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _signed_in_client(username, password=PASSWORD) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content[:300]
    assert client.get("/").status_code == 200
    return client


# --- One account ---------------------------------------------------------------------------------------------


def test_a_site_admin_creates_an_account_whose_link_sets_its_password_once(db):
    # Given a site admin
    admin = _site_admin()
    # When they create an account
    link = onboarding.create_local_user(admin, username="ana", email="Ana@Example.ORG", name="Ana B", base_url=BASE)
    # Then it has no usable password, and its link names it
    user = User.objects.get(username="ana")
    assert (user.email, user.display_name, user.has_usable_password()) == ("Ana@example.org", "Ana B", False)
    assert link.url.startswith(f"{BASE}/account/set-password/")
    uid, token = _link_parts(link.url)
    assert onboarding.user_for_link(uid, token) == user
    # When the link sets a password
    onboarding.set_password_from_link(uid, token, GOOD_PASSWORD)
    # Then the password works and the link is dead
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD)
    assert onboarding.user_for_link(uid, token) is None
    with pytest.raises(ValidationError):
        onboarding.set_password_from_link(uid, token, "another-long-password-22")
    actions = list(
        AuditEvent.objects.filter(object_type="user").order_by("id").values_list("action", "actor__username")
    )
    assert actions == [("user.created", "siteadmin"), ("user.password_set", "ana")]


def test_a_weak_password_is_refused_and_the_link_stays_valid(db):
    link = onboarding.create_local_user(None, username="ben", email="ben@example.org", base_url=BASE)
    uid, token = _link_parts(link.url)
    with pytest.raises(ValidationError) as refused:
        onboarding.set_password_from_link(uid, token, "12345678")
    assert "too common" in " ".join(refused.value.messages)
    assert onboarding.user_for_link(uid, token).username == "ben"


def test_a_project_admin_who_is_not_a_site_admin_may_not_create_accounts(members):
    with pytest.raises(PermissionDenied):
        onboarding.create_local_user(members["admin"], username="eve", email="eve@example.org", base_url=BASE)
    assert not User.objects.filter(username="eve").exists()


@pytest.mark.parametrize(
    ("username", "email", "name", "field"),
    [
        ("", "a@example.org", "", "username"),
        ("bad name", "a@example.org", "", "username"),
        ("x" * 151, "a@example.org", "", "username"),
        ("ok", "not-an-address", "", "email"),
        ("ok", "", "", "email"),
        ("ok", "a@example.org", "Ann\x1bRoe", "name"),
        ("ok", "a@example.org", "Ann\u202eeoR", "name"),
        ("ok", "a@example.org", "n" * 151, "name"),
        ("VIEWER", "a@example.org", "", "username"),  # the viewer's account, in another case
        ("ok", "VIEWER@example.org", "", "email"),  # the viewer's address
    ],
)
def test_bad_or_clashing_account_fields_are_refused_by_field(members, username, email, name, field):
    members["viewer"].email = "viewer@example.org"
    members["viewer"].save()
    before = User.objects.count()
    with pytest.raises(ValidationError) as refused:
        onboarding.create_local_user(None, username=username, email=email, name=name, base_url=BASE)
    assert list(refused.value.message_dict) == [field]
    assert User.objects.count() == before


def test_the_link_is_mailed_when_email_is_configured(db, settings):
    settings.EMAIL_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    link = onboarding.create_local_user(None, username="cai", email="cai@example.org", base_url=BASE)
    assert link.mailed_to == "cai@example.org"
    assert [(m.to, m.subject) for m in mail.outbox] == [(["cai@example.org"], "Your CXR Curator account")]
    assert link.url in mail.outbox[0].body


def test_no_mail_is_sent_without_email_configuration(db, settings):
    settings.EMAIL_ENABLED = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    link = onboarding.create_local_user(None, username="dan", email="dan@example.org", base_url=BASE)
    assert (link.mailed_to, link.mail_error, len(mail.outbox)) == ("", "", 0)


def test_a_mail_failure_keeps_the_account_and_reports_it(db, settings, monkeypatch):
    settings.EMAIL_ENABLED = True

    def refuse(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(onboarding, "send_mail", refuse)
    link = onboarding.create_local_user(None, username="fay", email="fay@example.org", base_url=BASE)
    assert link.mailed_to == ""
    assert "SMTPServerDisconnected" in link.mail_error
    assert User.objects.filter(username="fay").exists()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda uid, token: ("", token),
        lambda uid, token: ("!!!", token),
        lambda uid, token: (urlsafe_base64_encode(b"99999999999999999999999"), token),  # beyond a bigint
        lambda uid, token: (urlsafe_base64_encode(b"-1"), token),
        lambda uid, token: (urlsafe_base64_encode(b"\xff\xfe"), token),  # not UTF-8
        lambda uid, token: (uid, token[:-1] + ("0" if token[-1] != "0" else "1")),
        lambda uid, token: (uid, "x" * 200),
    ],
)
def test_a_tampered_link_names_nobody(db, mangle):
    link = onboarding.create_local_user(None, username="gus", email="gus@example.org", base_url=BASE)
    assert onboarding.user_for_link(*mangle(*_link_parts(link.url))) is None


def test_a_link_is_refused_for_a_deactivated_account_and_without_local_passwords(db, settings):
    link = onboarding.create_local_user(None, username="hal", email="hal@example.org", base_url=BASE)
    parts = _link_parts(link.url)
    settings.LOCAL_PASSWORDS = False
    assert onboarding.user_for_link(*parts) is None
    settings.LOCAL_PASSWORDS = True
    accounts.deactivate_user(None, link.user)
    assert onboarding.user_for_link(*parts) is None


# --- Deactivate, reactivate, reset ---------------------------------------------------------------------------


def test_deactivation_signs_a_signed_in_client_out_and_ends_only_their_sessions(members):
    # Given the viewer and the curator signed in through the login page, and a site admin
    viewer_client = _signed_in_client("viewer")
    curator_client = _signed_in_client("curator")
    assert Session.objects.count() == 2
    admin = _site_admin()
    # When the admin deactivates the viewer
    accounts.deactivate_user(admin, members["viewer"])
    # Then the viewer's session row is gone and their client is sent to the login page; the curator stays in
    assert Session.objects.count() == 1
    response = viewer_client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")
    assert curator_client.get("/").status_code == 200
    event = AuditEvent.objects.get(action="user.deactivated")
    assert event.after == {"is_active": False, "sessions_ended": 1}


def test_a_session_the_scan_misses_signs_nobody_in(members):
    # Given a signed-in viewer whose session lies beyond the scan's bound
    client = _signed_in_client("viewer")
    members["viewer"].is_active = False
    members["viewer"].save()
    assert accounts.end_sessions(members["viewer"], limit=0) == 0
    assert Session.objects.count() == 1
    # Then the session no longer authenticates anyway
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    "backend_path",
    [
        "django.contrib.auth.backends.ModelBackend",
        "curation.ldap_auth.DirectoryLDAPBackend",
        "curation.oidc_auth.DirectoryOIDCBackend",
    ],
)
def test_every_sign_in_backend_refuses_an_inactive_users_session(members, settings, backend_path):
    """end_sessions() is bounded because this holds: each backend a session can name refuses an inactive user."""
    for name in ("OIDC_RP_CLIENT_ID", "OIDC_RP_CLIENT_SECRET", "OIDC_RP_SIGN_ALGO"):
        if not hasattr(django_settings, name):
            setattr(settings, name, "test")
    module, cls = backend_path.rsplit(".", 1)
    backend = getattr(import_module(module), cls)()
    viewer = members["viewer"]
    assert backend.get_user(viewer.pk) == viewer
    viewer.is_active = False
    viewer.save()
    assert backend.get_user(viewer.pk) is None


def test_reactivation_lets_the_user_sign_in_again_with_tokens_still_revoked(members):
    admin = _site_admin()
    accounts.create_token(members["viewer"], name="t")
    accounts.deactivate_user(admin, members["viewer"])
    assert accounts.reactivate_user(admin, members["viewer"]) is True
    assert accounts.reactivate_user(admin, members["viewer"]) is False
    _signed_in_client("viewer")
    assert ApiToken.objects.live().filter(user=members["viewer"]).count() == 0
    assert AuditEvent.objects.filter(action="user.reactivated").count() == 1


def test_reset_removes_the_password_ends_sessions_revokes_tokens_and_clears_the_lockout(members):
    from axes.models import AccessAttempt

    # Given a signed-in viewer with a token, an older link and failed sign-ins on record
    admin = _site_admin()
    viewer = members["viewer"]
    client = _signed_in_client("viewer")
    accounts.create_token(viewer, name="t")
    AccessAttempt.objects.create(username="viewer", ip_address="10.0.0.9", failures_since_start=3)
    # When a site admin resets the account
    link = onboarding.reset_user(admin, viewer, base_url=BASE)
    # Then the password is gone, the session signed out, tokens revoked, attempts cleared, and the link works
    viewer.refresh_from_db()
    assert viewer.has_usable_password() is False
    assert client.get("/").status_code == 302
    assert ApiToken.objects.live().filter(user=viewer).count() == 0
    assert AccessAttempt.objects.filter(username="viewer").count() == 0
    parts = _link_parts(link.url)
    assert onboarding.user_for_link(*parts) == viewer
    # And a second reset kills the first link
    onboarding.reset_user(admin, viewer, base_url=BASE)
    assert onboarding.user_for_link(*parts) is None
    assert AuditEvent.objects.filter(action="user.password_reset").count() == 2


def test_site_admins_may_not_manage_their_own_or_more_powerful_accounts(members):
    admin = _site_admin()
    staff = UserFactory(username="ops", is_staff=True)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    for actor, target in ((admin, admin), (admin, staff), (staff, root), (members["admin"], members["viewer"])):
        with pytest.raises(PermissionDenied):
            accounts.deactivate_user(actor, target)
        with pytest.raises(PermissionDenied):
            onboarding.reset_user(actor, target, base_url=BASE)
    assert User.objects.filter(is_active=False).count() == 0
    # A staff user may manage an ordinary site admin
    accounts.deactivate_user(staff, admin)
    assert User.objects.get(pk=admin.pk).is_active is False


def test_reset_is_refused_when_local_passwords_are_off(members, settings):
    settings.LOCAL_PASSWORDS = False
    with pytest.raises(ValidationError):
        onboarding.reset_user(_site_admin(), members["viewer"], base_url=BASE)
    assert User.objects.get(username="viewer").has_usable_password()


# --- Members from a CSV --------------------------------------------------------------------------------------


def test_the_header_is_exactly_the_four_columns_in_any_case_and_order(db):
    rows = onboarding.read_member_csv(_csv("ana,ana@example.org,Ana,viewer", header=" Role , NAME,email,Username"))
    assert [(r.username, r.email, r.name, r.role) for r in rows] == [("viewer", "Ana", "ana@example.org", "ana")]
    for header, problem in (
        ("username,email,name,role,notes", "unknown columns: 'notes'"),
        ("username,email,role", "missing: name"),
        ("username,email,name,name", "missing: role"),
    ):
        with pytest.raises(ValidationError) as refused:
            onboarding.read_member_csv(_csv("a,b,c,d", header=header))
        assert problem in refused.value.messages[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"username,email,name,role\n", "no rows"),
        (b"username,email,name,role\n" + b"a,b,c,d\n" * 5001, "more than 5,000 rows"),
        (b"username,email,name,role\n" + b"x" * (1024 * 1024), "larger than 1,024 KB"),
        (b"username,email,name,role\n\xff\xfe,a,b,c\n", "not UTF-8"),
    ],
)
def test_whole_file_problems_are_refused_before_any_row(db, data, message):
    with pytest.raises(ValidationError) as refused:
        onboarding.read_member_csv(data)
    assert message in refused.value.messages[0]


def test_the_limits_are_checked_on_the_bytes_before_parsing(db, monkeypatch):
    # A file over the row limit is refused without the CSV reader ever being made
    monkeypatch.setattr(onboarding.csv, "reader", lambda *a, **k: pytest.fail("parsed"))
    with pytest.raises(ValidationError):
        onboarding.read_member_csv(b"username,email,name,role\n" + b"\n" * 6000)


def test_each_bad_row_is_reported_and_the_others_are_planned(members, project):
    # Given existing accounts: a member, non-members, and a deactivated one
    members["viewer"].email = "viewer@example.org"
    members["viewer"].save()
    for username in ("olga", "pia", "Zed"):
        UserFactory(username=username, email=f"{username.lower()}@example.org")
    UserFactory(username="gone", email="gone@example.org", is_active=False)
    data = _csv(
        "ana,ana@example.org,Ana,radiologist",  # 2 create
        "olga,OLGA@example.org,Olga,curator",  # 3 add an existing account (e-mail in another case)
        "viewer,viewer@example.org,,radiologist",  # 4 change role
        "curator,,,curator",  # 5 unchanged
        "bad name,x@example.org,,viewer",  # 6 bad username
        "bo,not-an-email,,viewer",  # 7 bad e-mail
        "cy,cy@example.org,,overlord",  # 8 unknown role
        "ANA,ana2@example.org,,viewer",  # 9 duplicate in the file
        "pia,pia@elsewhere.org,,viewer",  # 10 username exists with a different e-mail
        "dee,dee@example.org," + "n" * 151 + ",viewer",  # 11 too long
        "ed,ed@example.org,Ed\x07,viewer",  # 12 control character
        "gone,gone@example.org,,viewer",  # 13 deactivated
        "fi,ana@example.org,,viewer",  # 14 e-mail already on line 2
        "only,three,cells",  # 15 wrong cell count
        "zed,zed@example.org,,viewer",  # 16 an account exists in another case
    )
    admin = members["admin"]
    admin.is_staff = True  # a site admin too, so new accounts may be planned
    admin.save()
    rows = onboarding.preview_member_csv(admin, project, data)
    plan = {row.line: (row.action, row.message) for row in rows}
    actions = [plan[line][0] for line in range(2, 6)]
    assert actions == [RowAction.CREATE, RowAction.ADD, RowAction.CHANGE_ROLE, RowAction.UNCHANGED], plan
    assert plan[4][1] == "viewer → radiologist"
    expected_errors = {
        6: "Username: Use letters, digits",
        7: "Email: 'not-an-email' is not an e-mail address.",
        8: "Unknown role 'overlord'",
        9: "also on line 2",
        10: "different e-mail",
        11: "Name: Use at most 150 characters.",
        12: "Name: Remove the control characters.",
        13: "deactivated",
        14: "e-mail address is also on line 2",
        15: "Expected 4 cells, found 3.",
        16: "An account named 'Zed' exists: use that exact username.",
    }
    for line, text in expected_errors.items():
        assert plan[line][0] == RowAction.ERROR and text in plan[line][1], (line, plan[line])
    # Nothing changed by a preview
    assert not User.objects.filter(username="ana").exists()


def test_the_preview_needs_manage_members(members, project):
    with pytest.raises(PermissionDenied):
        onboarding.preview_member_csv(members["curator"], project, _csv("ana,ana@example.org,,viewer"))


def test_a_project_admin_who_is_not_a_site_admin_may_only_add_existing_accounts(members, project):
    UserFactory(username="olga", email="olga@example.org")
    data = _csv("ana,ana@example.org,Ana,viewer", "olga,olga@example.org,,viewer")
    rows = onboarding.import_member_csv(members["admin"], project, data, base_url=BASE)
    assert [(r.username, r.action) for r in rows] == [("ana", RowAction.ERROR), ("olga", RowAction.ADD)]
    assert "only site admins may create accounts" in rows[0].message
    assert not User.objects.filter(username="ana").exists()
    assert Membership.objects.get(project=project, user__username="olga").role == Role.VIEWER


def test_the_import_applies_each_row_through_the_services_with_its_audit_events(members, project):
    # Given a site admin who is also the project's admin
    admin = members["admin"]
    admin.is_staff = True
    admin.save()
    UserFactory(username="olga", email="olga@example.org")
    data = _csv(
        "ana,ana@example.org,Ana,radiologist",
        "olga,olga@example.org,,curator",
        "viewer,,,radiologist",
        "x y,x@example.org,,viewer",
    )
    # When they import
    rows = onboarding.import_member_csv(admin, project, data, base_url=BASE)
    # Then the good rows are done and the bad one reported
    assert [r.action for r in rows] == [RowAction.CREATE, RowAction.ADD, RowAction.CHANGE_ROLE, RowAction.ERROR]
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert (roles["ana"], roles["olga"], roles["viewer"]) == ("radiologist", "curator", "radiologist")
    assert "x y" not in roles
    assert rows[0].link.user.username == "ana" and onboarding.user_for_link(*_link_parts(rows[0].link.url))
    assert [r.link for r in rows[1:]] == [None, None, None]
    events = list(AuditEvent.objects.order_by("id").values_list("action", "object_repr"))
    assert events[-4:] == [
        ("user.created", "ana"),
        ("member.added", "ana"),
        ("member.added", "olga"),
        ("member.role_changed", "viewer"),
    ]


def test_a_failing_row_rolls_back_only_itself(members, project, monkeypatch):
    # Given an import whose second new account fails when it is made a member
    from curation.services import projects

    admin = members["admin"]
    admin.is_staff = True
    admin.save()
    real = projects.set_member

    def failing(actor, project, user, role):
        if user.username == "bea":
            raise ValidationError("The database said no.")
        return real(actor, project, user, role)

    monkeypatch.setattr(onboarding, "set_member", failing)
    data = _csv("ana,ana@example.org,,viewer", "bea,bea@example.org,,viewer", "cid,cid@example.org,,viewer")
    rows = onboarding.import_member_csv(admin, project, data, base_url=BASE)
    # Then bea's account was rolled back with her membership, and the rows either side stand
    assert [(r.username, r.action) for r in rows] == [
        ("ana", RowAction.CREATE),
        ("bea", RowAction.ERROR),
        ("cid", RowAction.CREATE),
    ]
    assert rows[1].message == "The database said no." and rows[1].link is None
    assert sorted(User.objects.filter(username__in=["ana", "bea", "cid"]).values_list("username", flat=True)) == [
        "ana",
        "cid",
    ]
    assert not AuditEvent.objects.filter(object_repr="bea").exists()


def test_the_last_admin_cannot_be_demoted_by_a_row(members, project):
    admin = members["admin"]
    admin.is_staff = True
    admin.save()
    rows = onboarding.import_member_csv(admin, project, _csv("admin,,,viewer"), base_url=BASE)
    assert rows[0].action == RowAction.ERROR and "only admin" in rows[0].message
    assert Membership.objects.get(project=project, user=admin).role == Role.ADMIN


def test_new_accounts_links_are_mailed_after_their_row_when_email_is_configured(members, project, settings):
    settings.EMAIL_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin = members["admin"]
    admin.is_staff = True
    admin.save()
    rows = onboarding.import_member_csv(
        admin, project, _csv("ana,ana@example.org,,viewer", "bo,bo@example.org,,viewer"), base_url=BASE
    )
    assert [m.to for m in mail.outbox] == [["ana@example.org"], ["bo@example.org"]]
    assert [r.link.mailed_to for r in rows] == ["ana@example.org", "bo@example.org"]


def test_the_signed_preview_comes_back_only_unchanged_for_the_same_admin_and_project(members, project):
    data = _csv("ana,ana@example.org,,viewer")
    signed = onboarding.sign_member_csv(members["admin"], project, data)
    assert onboarding.unsign_member_csv(members["admin"], project, signed) == data
    other = ProjectFactory(slug="other")
    MembershipFactory(project=other, user=members["admin"], role=Role.ADMIN)
    for actor, target, token in (
        (members["admin"], project, signed[:-2] + ("AA" if signed[-2:] != "AA" else "BB")),
        (members["curator"], project, signed),
        (members["admin"], other, signed),
        (members["admin"], project, ""),
    ):
        with pytest.raises(ValidationError):
            onboarding.unsign_member_csv(actor, target, token)
