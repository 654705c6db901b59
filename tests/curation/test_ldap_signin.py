"""Sign-in with an LDAP directory against a real server (Debian's slapd, started here on a loopback port):
directory passwords, groups → project roles at each sign-in, refusals counted by django-axes, settings from the
environment. Skips only where slapd is not installed outside CI; in CI a missing slapd fails."""

import json
import logging
import os
import socket
import subprocess
import sys
import threading

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from config.settings import ldap_settings_from_env
from curation.ldap_auth import BACKEND, DirectoryLDAPBackend, ldap_group_roles_check
from curation.models import ApiToken, AuditEvent, Membership, MembershipSource, Role, User
from tests.conftest import IN_CI, ROOT
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory
from tests.ldap_server import (
    BIND_DN,
    BIND_PASSWORD,
    GROUPS,
    PEOPLE,
    POSIX_GROUPS,
    SUFFIX,
    Group,
    Person,
    Slapd,
    slapd_installed,
)

DIRECTORY = [
    Person("alice", "alice-directory-pw", "Alice", "Smith", "alice@hospital.test", 1001, "Dr Alice Smith"),
    Person("bob", "bob-directory-pw", "Bob", "Jones", "bob@hospital.test", 1002),
    Person("carol", "carol-directory-pw", "Carol", "White", "carol@hospital.test", 1003),
    Person("dave", "dave-directory-pw", "Da\x07ve\n", "X" * 300, "not an e-mail", 1004, "Dave\u202e\x1b[31m Evil"),
]
PASSWORDS = {p.uid: p.password for p in DIRECTORY}
DIRECTORY_GROUPS = [
    Group("chest-readers", ["alice", "bob", "dave"]),
    Group("research-curators", ["alice", "carol"]),
    Group("cxr-admins", ["carol"]),
]
# Keys name groups by DN (spelled with spaces, which the directory does not use) or by CN in another case; a
# project that does not exist here ("retired-study") is skipped.
GROUP_ROLES = {
    f"cn=chest-readers, {GROUPS}": {"chest": "radiologist"},
    "Research-Curators": {"research": "curator", "retired-study": "viewer"},
    "cxr-admins": {"chest": "admin"},
}
LOCAL_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    if not slapd_installed():
        if IN_CI:
            pytest.fail("The LDAP sign-in tests need Debian's slapd (apt-get install slapd).")
        pytest.skip("The LDAP sign-in tests need Debian's slapd (apt-get install slapd).")
    server = Slapd(tmp_path_factory.mktemp("slapd"), DIRECTORY, DIRECTORY_GROUPS).start()
    yield server
    server.stop()


def configure(settings, directory, **env):
    """Settings as a deployment with these LDAP_* variables gets them (config.settings.ldap_settings_from_env)."""
    env = {
        "LDAP_SERVER_URI": directory.uri,
        "LDAP_BIND_DN": BIND_DN,
        "LDAP_BIND_PASSWORD": BIND_PASSWORD,
        "LDAP_USER_SEARCH_BASE": PEOPLE,
        "LDAP_GROUP_SEARCH_BASE": GROUPS,
        "LDAP_GROUP_ROLES": json.dumps(GROUP_ROLES),
        **env,
    }
    for name, value in ldap_settings_from_env(env).items():
        setattr(settings, name, value)
    settings.LDAP_GROUP_ROLES = env["LDAP_GROUP_ROLES"]
    settings.LDAP_ENABLED = True
    settings.AUTHENTICATION_BACKENDS = [LOCAL_BACKENDS[0], BACKEND, LOCAL_BACKENDS[1]]


@pytest.fixture
def ldap_signin(directory, settings, db):
    """LDAP sign-in on, with the projects the mapping names (but "retired-study"); the directory is put back after."""
    configure(settings, directory)
    ProjectFactory(slug="chest", name="Chest")
    ProjectFactory(slug="research", name="Research")
    yield directory
    directory.reset()


def sign_in(username, password):
    return authenticate(RequestFactory().post("/login/"), username=username, password=password)


def roles(username) -> dict:
    return {
        m.project.slug: (m.role, m.source)
        for m in Membership.objects.filter(user__username=username).select_related("project")
    }


def test_ldap_sign_in_maps_groups_by_dn_and_name_to_project_roles(ldap_signin):
    # When alice signs in with her directory password
    user = sign_in("alice", PASSWORDS["alice"])
    # Then she is a Django user named as in the directory, with no usable local password
    assert (user.username, user.first_name, user.last_name, user.email) == (
        "alice",
        "Alice",
        "Smith",
        "alice@hospital.test",
    )
    assert user.display_name == "Dr Alice Smith"
    assert user.has_usable_password() is False
    # And her groups gave her roles in both projects, as directory memberships
    assert roles("alice") == {
        "chest": (Role.RADIOLOGIST, MembershipSource.LDAP),
        "research": (Role.CURATOR, MembershipSource.LDAP),
    }
    # And each was written to the audit trail by the system, naming the source
    events = AuditEvent.objects.filter(action="member.added").order_by("project__slug")
    assert [(e.project.slug, e.actor_id, e.after) for e in events] == [
        ("chest", None, {"user": "alice", "role": "radiologist", "source": "ldap"}),
        ("research", None, {"user": "alice", "role": "curator", "source": "ldap"}),
    ]


def test_ldap_the_highest_role_wins_when_two_groups_name_one_project(ldap_signin):
    # carol is in research-curators (research: curator) and cxr-admins (chest: admin)
    sign_in("carol", PASSWORDS["carol"])
    assert roles("carol") == {
        "chest": (Role.ADMIN, MembershipSource.LDAP),
        "research": (Role.CURATOR, MembershipSource.LDAP),
    }
    # When she is also made a chest reader, admin still wins over radiologist
    ldap_signin.add_member("chest-readers", "carol")
    sign_in("carol", PASSWORDS["carol"])
    assert roles("carol")["chest"] == (Role.ADMIN, MembershipSource.LDAP)


def test_ldap_sign_in_on_the_login_page_shows_only_the_mapped_project(ldap_signin):
    # Given bob, who is only a chest reader in the directory
    client = Client()
    # When he signs in on the login page with his directory password
    response = client.post("/login/", {"username": "bob", "password": PASSWORDS["bob"]})
    # Then he is signed in through the LDAP backend and sent to the project list
    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.session["_auth_user_backend"] == BACKEND
    assert roles("bob") == {"chest": (Role.RADIOLOGIST, MembershipSource.LDAP)}
    # And his next request finds him signed in, seeing Chest and not Research
    page = client.get("/")
    assert page.status_code == 200
    assert page.context["user"].username == "bob"
    assert b'data-project="chest"' in page.content
    assert b'data-project="research"' not in page.content


def test_ldap_sign_in_on_the_login_page_with_local_passwords_off(ldap_signin, settings):
    # Given a site where only the directory checks passwords (LOCAL_PASSWORDS=0)
    settings.LOCAL_PASSWORDS = False
    settings.AUTHENTICATION_BACKENDS = [LOCAL_BACKENDS[0], BACKEND]
    UserFactory(username="local-only")
    client = Client()
    # Then a local password is refused and a directory password signs in
    assert client.post("/login/", {"username": "local-only", "password": PASSWORD}).status_code == 200
    assert "_auth_user_id" not in client.session
    response = client.post("/login/", {"username": "alice", "password": PASSWORDS["alice"]})
    assert (response.status_code, response["Location"]) == (302, "/")


def test_ldap_groups_that_cannot_be_read_refuse_the_sign_in(ldap_signin, settings):
    # Given alice signed in once with her roles
    sign_in("alice", PASSWORDS["alice"])
    # When the group search fails (here a search base that does not exist)
    configure(settings, ldap_signin, LDAP_GROUP_SEARCH_BASE=f"ou=nowhere,{SUFFIX}")
    # Then her sign-in is refused, rather than signed in with roles the directory may have taken away
    assert sign_in("alice", PASSWORDS["alice"]) is None


def test_ldap_wrong_password_is_refused_and_counted_by_axes(ldap_signin):
    # When alice types a wrong password, on the login page and through authenticate()
    response = Client().post("/login/", {"username": "alice", "password": "not-her-password"})
    refused = sign_in("alice", "not-her-password")
    # Then no one is signed in and no account was made
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].non_field_errors().as_data()] == ["invalid_login"]
    assert refused is None
    assert not User.objects.filter(username="alice").exists()
    # And django-axes counted both failures against the account
    assert sum(a.failures_since_start for a in AccessAttempt.objects.filter(username="alice")) == 2


def test_ldap_five_wrong_passwords_lock_the_directory_account(ldap_signin):
    client = Client()
    statuses = [client.post("/login/", {"username": "bob", "password": "guess"}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    # The right directory password is refused while locked out
    response = client.post("/login/", {"username": "bob", "password": PASSWORDS["bob"]})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_ldap_empty_password_and_unknown_user_are_refused(ldap_signin):
    # An empty password would be an anonymous bind, which LDAP servers accept: it must not sign anyone in
    assert sign_in("alice", "") is None
    assert sign_in("mallory", "anything") is None
    assert sign_in("alice\x07", PASSWORDS["alice"]) is None
    assert sign_in("*", PASSWORDS["alice"]) is None
    assert User.objects.count() == 0


def test_ldap_removed_group_removes_the_role_at_the_next_sign_in(ldap_signin):
    # Given alice signed in once with both roles
    sign_in("alice", PASSWORDS["alice"])
    # When the directory's admin takes her out of research-curators and she signs in again
    ldap_signin.remove_member("research-curators", "alice")
    user = sign_in("alice", PASSWORDS["alice"])
    # Then her research role is gone, her chest role stays
    assert user.username == "alice"
    assert roles("alice") == {"chest": (Role.RADIOLOGIST, MembershipSource.LDAP)}
    removed = AuditEvent.objects.get(action="member.removed")
    assert (removed.project.slug, removed.actor_id, removed.before) == (
        "research",
        None,
        {"user": "alice", "role": "curator", "source": "ldap"},
    )


def test_ldap_a_local_membership_added_by_an_admin_is_kept(ldap_signin):
    # Given alice signed in once, and an admin then gave her a local role in research and another project
    user = sign_in("alice", PASSWORDS["alice"])
    Membership.objects.filter(user=user, project__slug="research").update(
        role=Role.ADMIN, source=MembershipSource.LOCAL
    )
    MembershipFactory(user=user, project=ProjectFactory(slug="teaching"), role=Role.VIEWER)
    # When she leaves research-curators in the directory and signs in again
    ldap_signin.remove_member("research-curators", "alice")
    sign_in("alice", PASSWORDS["alice"])
    # Then the local memberships are untouched
    assert roles("alice") == {
        "chest": (Role.RADIOLOGIST, MembershipSource.LDAP),
        "research": (Role.ADMIN, MembershipSource.LOCAL),
        "teaching": (Role.VIEWER, MembershipSource.LOCAL),
    }


def test_ldap_unknown_project_in_the_mapping_is_skipped(ldap_signin, caplog):
    with caplog.at_level(logging.WARNING, logger="curation.directory"):
        user = sign_in("carol", PASSWORDS["carol"])
    assert user.username == "carol"
    assert "retired-study" not in roles("carol")
    assert "'retired-study', which does not exist" in caplog.text


def test_ldap_usernames_are_normalised_to_the_directory_spelling(ldap_signin):
    first = sign_in("  ALICE ", PASSWORDS["alice"])
    second = sign_in("alice", PASSWORDS["alice"])
    assert (first.pk, first.username) == (second.pk, "alice")
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_ldap_attributes_copied_into_the_user_are_cleaned(ldap_signin):
    # dave's directory entry holds control characters, a bidi override, a 300-character surname, a bad e-mail
    user = sign_in("dave", PASSWORDS["dave"])
    user.refresh_from_db()
    assert user.first_name == "Dave"
    assert user.last_name == "X" * 150
    assert user.email == ""
    assert user.display_name == "Dave[31m Evil"


def test_ldap_does_not_take_over_a_local_account_that_has_a_password(ldap_signin):
    # Given a local account "bob" with a local password (not the directory's bob)
    UserFactory(username="bob", is_staff=True)
    # When someone signs in as bob with the directory's password
    # Then the directory does not get the local account, and it gets no directory roles
    assert sign_in("bob", PASSWORDS["bob"]) is None
    assert roles("bob") == {}
    # And the local password still works (through the local backend)
    assert sign_in("bob", PASSWORD).username == "bob"


def test_ldap_adopts_an_account_without_a_local_password(ldap_signin):
    # Given an account an admin made ahead of the first sign-in (no password yet) with a local role
    user = UserFactory(username="bob")
    user.set_unusable_password()
    user.save()
    MembershipFactory(user=user, project=ProjectFactory(slug="teaching"), role=Role.CURATOR)
    # When bob signs in with his directory password
    signed_in = sign_in("bob", PASSWORDS["bob"])
    # Then it is that account, with its local role and the directory's
    assert signed_in.pk == user.pk
    assert roles("bob") == {
        "chest": (Role.RADIOLOGIST, MembershipSource.LDAP),
        "teaching": (Role.CURATOR, MembershipSource.LOCAL),
    }


def test_ldap_deactivated_account_is_refused_and_its_sessions_end(ldap_signin):
    client = Client()
    client.post("/login/", {"username": "bob", "password": PASSWORDS["bob"]})
    User.objects.filter(username="bob").update(is_active=False)
    assert sign_in("bob", PASSWORDS["bob"]) is None
    # The open session no longer finds its user
    assert client.get("/").status_code == 302


def test_ldap_require_group_refuses_people_outside_it(ldap_signin, settings):
    configure(settings, ldap_signin, LDAP_REQUIRE_GROUP=f"cn=chest-readers,{GROUPS}")
    assert sign_in("carol", PASSWORDS["carol"]) is None
    assert sign_in("bob", PASSWORDS["bob"]).username == "bob"


def test_ldap_posix_group_type(ldap_signin, settings):
    configure(settings, ldap_signin, LDAP_GROUP_TYPE="posixGroup", LDAP_GROUP_SEARCH_BASE=POSIX_GROUPS)
    settings.LDAP_GROUP_ROLES = json.dumps({"research-curators": {"research": "curator"}})
    sign_in("alice", PASSWORDS["alice"])
    assert roles("alice") == {"research": (Role.CURATOR, MembershipSource.LDAP)}


def test_ldap_start_tls_with_the_hospital_ca(ldap_signin, settings):
    configure(settings, ldap_signin, LDAP_START_TLS="1", LDAP_TLS_CA_FILE=str(ldap_signin.ca_file))
    assert sign_in("alice", PASSWORDS["alice"]).username == "alice"


def test_ldap_start_tls_refuses_a_certificate_it_cannot_verify(ldap_signin, settings):
    # Without the CA that signed the directory's certificate, the system CAs do not vouch for it
    configure(settings, ldap_signin, LDAP_START_TLS="1")
    assert sign_in("alice", PASSWORDS["alice"]) is None
    assert not User.objects.exists()


def test_ldap_sign_in_on_the_token_endpoint(ldap_signin):
    response = APIClient().post("/api/auth/token/", {"username": "bob", "password": PASSWORDS["bob"]}, format="json")
    assert response.status_code == 200
    assert ApiToken.objects.get().user.username == "bob"
    assert roles("bob") == {"chest": (Role.RADIOLOGIST, MembershipSource.LDAP)}


def test_ldap_wrong_bind_password_refuses_sign_in_without_an_error_page(ldap_signin, settings):
    configure(settings, ldap_signin, LDAP_BIND_PASSWORD="wrong")
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": PASSWORDS["alice"]})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_ldap_a_silent_server_cannot_hang_a_sign_in(directory, settings):
    # Given a "server" that accepts connections and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        configure(settings, directory, LDAP_SERVER_URI=f"ldap://127.0.0.1:{port}/", LDAP_TIMEOUT_SECONDS="1")
        request = RequestFactory().post("/login/")
        result = {}
        # When someone signs in (on a thread, so a missing timeout fails this test instead of hanging the run;
        # the backend itself, which reaches the database only after the directory has answered)
        worker = threading.Thread(
            target=lambda: result.update(user=DirectoryLDAPBackend().authenticate(request, "alice", "pw"))
        )
        worker.start()
        worker.join(timeout=120)
    # Then the sign-in gave up and was refused
    assert not worker.is_alive()
    assert result == {"user": None}


def test_ldap_a_malformed_group_mapping_is_a_system_check_error(settings):
    settings.AUTHENTICATION_BACKENDS = [BACKEND]
    settings.LDAP_GROUP_ROLES = '{"readers": {"chest": "radiologst"}}'
    errors = ldap_group_roles_check()
    assert [e.id for e in errors] == ["curation.E110"]
    assert "LDAP_GROUP_ROLES: group 'readers' gives project 'chest' the unknown role 'radiologst'" in errors[0].msg
    settings.LDAP_GROUP_ROLES = "{not json"
    assert "LDAP_GROUP_ROLES is not valid JSON" in ldap_group_roles_check()[0].msg
    # Without the LDAP backend the value is not used, so not checked
    settings.AUTHENTICATION_BACKENDS = LOCAL_BACKENDS
    assert ldap_group_roles_check() == []


@pytest.mark.parametrize(
    "env, message",
    [
        ({"LDAP_USER_SEARCH_BASE": ""}, "LDAP_USER_SEARCH_BASE must be set"),
        ({"LDAP_USER_FILTER": "(uid=alice)"}, "LDAP_USER_FILTER must be a filter naming %(user)s"),
        ({"LDAP_USER_FILTER": "(uid=%(user)s%)"}, "LDAP_USER_FILTER may hold no %"),
        ({"LDAP_GROUP_TYPE": "groupOfCats"}, "LDAP_GROUP_TYPE 'groupOfCats' is not one of"),
        ({"LDAP_GROUP_SEARCH_BASE": "", "LDAP_GROUP_ROLES": "{}"}, "need LDAP_GROUP_SEARCH_BASE"),
        ({"LDAP_TIMEOUT_SECONDS": "0"}, "LDAP_TIMEOUT_SECONDS must be a number"),
        ({"LDAP_TIMEOUT_SECONDS": "soon"}, "LDAP_TIMEOUT_SECONDS must be a number"),
        ({"LDAP_USER_FILTER": "(&(objectClass=person)(|(uid=x)(mail=%(user)s)))"}, None),
        ({"LDAP_USER_FILTER": "(|(cn=%(user)s*)(x=1))"}, "LDAP_USERNAME_ATTR must be set"),
    ],
)
def test_ldap_settings_from_the_environment_refuse_unusable_values(env, message):
    base = {"LDAP_SERVER_URI": "ldap://127.0.0.1:1/", "LDAP_USER_SEARCH_BASE": "ou=people,dc=x", **env}
    if message is None:
        assert ldap_settings_from_env(base)["LDAP_USERNAME_ATTR"] == "mail"
        return
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        ldap_settings_from_env(base)


def test_ldap_settings_for_active_directory():
    values = ldap_settings_from_env(
        {
            "LDAP_SERVER_URI": "ldaps://ad.hospital.test",
            "LDAP_USER_SEARCH_BASE": "OU=Staff,DC=hospital,DC=test",
            "LDAP_USER_FILTER": "(sAMAccountName=%(user)s)",
            "LDAP_GROUP_SEARCH_BASE": "OU=Groups,DC=hospital,DC=test",
            "LDAP_GROUP_TYPE": "nestedActiveDirectory",
            "LDAP_START_TLS": "0",
        }
    )
    assert values["LDAP_USERNAME_ATTR"] == "sAMAccountName"
    assert type(values["AUTH_LDAP_GROUP_TYPE"]).__name__ == "NestedActiveDirectoryGroupType"
    assert values["AUTH_LDAP_GROUP_SEARCH"].filterstr == "(objectClass=group)"
    assert values["AUTH_LDAP_USER_ATTR_MAP"] == {
        "first_name": "givenName",
        "last_name": "sn",
        "email": "mail",
        "display_name": "displayName",
    }


def _manage_check(tmp_path, **env):
    """`manage.py check` as a deployment with these LDAP_* variables starts it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "LDAP_"))}
    base.update({"DJANGO_DEBUG": "1", "VAR_DIR": str(tmp_path), "LDAP_SERVER_URI": "ldap://127.0.0.1:1/"})
    base.update({"LDAP_USER_SEARCH_BASE": PEOPLE, "LDAP_GROUP_SEARCH_BASE": GROUPS, **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_ldap_a_malformed_group_mapping_stops_the_start(tmp_path):
    refused = _manage_check(tmp_path, LDAP_GROUP_ROLES='{"cxr-admins": {"chest": "boss"}}')
    assert refused.returncode != 0
    assert "curation.E110" in refused.stderr
    assert "group 'cxr-admins' gives project 'chest' the unknown role 'boss'" in refused.stderr
    started = _manage_check(tmp_path, LDAP_GROUP_ROLES=json.dumps(GROUP_ROLES))
    assert started.returncode == 0, started.stderr


def test_ldap_an_unusable_setting_stops_the_start(tmp_path):
    refused = _manage_check(tmp_path, LDAP_GROUP_TYPE="groupOfCats")
    assert refused.returncode != 0
    assert "ImproperlyConfigured: LDAP_GROUP_TYPE 'groupOfCats' is not one of" in refused.stderr
