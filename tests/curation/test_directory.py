"""The one group → role mapping and sync that LDAP and OpenID Connect sign-in share (curation/directory.py)."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from curation.directory import parse_group_roles, roles_for_groups, sync_roles
from curation.models import AuditEvent, Membership, MembershipSource, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

LDAP = MembershipSource.LDAP


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "LDAP_GROUP_ROLES is not valid JSON"),
        ('["readers"]', "LDAP_GROUP_ROLES must be a JSON object"),
        ('{"readers": "chest"}', "LDAP_GROUP_ROLES: each group must map to an object of project slug → role."),
        ('{"  ": {"chest": "viewer"}}', "LDAP_GROUP_ROLES: each group must map to an object"),
        (
            '{"readers": {"chest": "superuser"}}',
            "LDAP_GROUP_ROLES: group 'readers' gives project 'chest' the unknown role 'superuser'; "
            "use one of admin, curator, radiologist, viewer.",
        ),
        ('{"readers": {"chest": null}}', "the unknown role None"),
    ],
)
def test_malformed_mapping_names_the_setting(text, message):
    with pytest.raises(ImproperlyConfigured) as raised:
        parse_group_roles(text, "LDAP_GROUP_ROLES")
    assert message in str(raised.value)


@pytest.mark.parametrize("text", [None, "", "  \n"])
def test_an_unset_mapping_is_empty(text):
    assert parse_group_roles(text, "OIDC_GROUP_ROLES") == {}


def test_mapping_keys_are_trimmed_and_lower_case_and_roles_are_roles():
    mapping = parse_group_roles(
        '{" CN=Readers,OU=Groups ": {"chest": "radiologist"}, "Admins": {"chest": "admin", "research": "curator"}}',
        "LDAP_GROUP_ROLES",
    )
    assert mapping == {
        "cn=readers,ou=groups": {"chest": Role.RADIOLOGIST},
        "admins": {"chest": Role.ADMIN, "research": Role.CURATOR},
    }
    assert isinstance(mapping["admins"]["chest"], Role)


def test_the_highest_role_wins_and_group_names_ignore_case():
    mapping = parse_group_roles(
        '{"viewers": {"chest": "viewer"}, "readers": {"chest": "radiologist", "research": "viewer"},'
        ' "admins": {"research": "admin"}}',
        "OIDC_GROUP_ROLES",
    )
    assert roles_for_groups(["Viewers", " READERS "], mapping) == {"chest": Role.RADIOLOGIST, "research": Role.VIEWER}
    assert roles_for_groups(["readers", "admins", "viewers"], mapping) == {
        "chest": Role.RADIOLOGIST,
        "research": Role.ADMIN,
    }
    assert roles_for_groups(["strangers"], mapping) == {}
    assert roles_for_groups([], mapping) == {}


MAPPING = parse_group_roles(
    '{"readers": {"chest": "radiologist"}, "curators": {"research": "curator"}, "admins": {"chest": "admin"}}',
    "LDAP_GROUP_ROLES",
)


@pytest.fixture
def projects(db):
    return {slug: ProjectFactory(slug=slug) for slug in ("chest", "research", "teaching")}


def memberships(user) -> dict:
    return {m.project.slug: (m.role, m.source) for m in Membership.objects.filter(user=user).select_related("project")}


def test_sync_adds_the_roles_of_the_groups_with_audit_events(projects):
    user = UserFactory(username="alice")
    changes = sync_roles(user, ["Readers", "curators"], source=LDAP, mapping=MAPPING)
    assert changes == {"added": {"chest": "radiologist", "research": "curator"}, "changed": {}, "removed": {}}
    assert memberships(user) == {"chest": (Role.RADIOLOGIST, LDAP), "research": (Role.CURATOR, LDAP)}
    events = AuditEvent.objects.filter(action="member.added").order_by("project__slug")
    assert [(e.project.slug, e.actor_id, e.actor_username, e.after) for e in events] == [
        ("chest", None, "", {"user": "alice", "role": "radiologist", "source": "ldap"}),
        ("research", None, "", {"user": "alice", "role": "curator", "source": "ldap"}),
    ]


def test_sync_again_with_the_same_groups_changes_nothing(projects):
    user = UserFactory()
    sync_roles(user, ["readers"], source=LDAP, mapping=MAPPING)
    changes = sync_roles(user, ["readers"], source=LDAP, mapping=MAPPING)
    assert changes == {"added": {}, "changed": {}, "removed": {}}
    assert AuditEvent.objects.count() == 1


def test_sync_changes_a_role_when_the_groups_do(projects):
    user = UserFactory()
    sync_roles(user, ["readers"], source=LDAP, mapping=MAPPING)
    changes = sync_roles(user, ["readers", "admins"], source=LDAP, mapping=MAPPING)
    assert changes == {"added": {}, "changed": {"chest": "admin"}, "removed": {}}
    assert memberships(user) == {"chest": (Role.ADMIN, LDAP)}
    event = AuditEvent.objects.get(action="member.role_changed")
    assert (event.project.slug, event.actor_id, event.before["role"], event.after) == (
        "chest",
        None,
        "radiologist",
        {"role": "admin", "source": "ldap"},
    )


def test_sync_removes_the_role_of_a_group_the_user_left(projects):
    user = UserFactory(username="alice")
    sync_roles(user, ["readers", "curators"], source=LDAP, mapping=MAPPING)
    changes = sync_roles(user, ["readers"], source=LDAP, mapping=MAPPING)
    assert changes == {"added": {}, "changed": {}, "removed": {"research": "curator"}}
    assert memberships(user) == {"chest": (Role.RADIOLOGIST, LDAP)}
    event = AuditEvent.objects.get(action="member.removed")
    assert (event.project.slug, event.before) == ("research", {"user": "alice", "role": "curator", "source": "ldap"})
    # No groups at all: every directory role goes
    sync_roles(user, [], source=LDAP, mapping=MAPPING)
    assert memberships(user) == {}


def test_sync_leaves_local_and_other_source_memberships_alone(projects):
    # Given a local role in chest (an admin added it), an OpenID Connect role in research, a local one in teaching
    user = UserFactory()
    MembershipFactory(user=user, project=projects["chest"], role=Role.VIEWER)
    MembershipFactory(user=user, project=projects["research"], role=Role.VIEWER, source=MembershipSource.OIDC)
    MembershipFactory(user=user, project=projects["teaching"], role=Role.CURATOR)
    # When LDAP groups name chest and research, and then none
    first = sync_roles(user, ["admins", "curators"], source=LDAP, mapping=MAPPING)
    second = sync_roles(user, [], source=LDAP, mapping=MAPPING)
    # Then nothing changed: a directory manages only its own memberships
    assert first == second == {"added": {}, "changed": {}, "removed": {}}
    assert memberships(user) == {
        "chest": (Role.VIEWER, MembershipSource.LOCAL),
        "research": (Role.VIEWER, MembershipSource.OIDC),
        "teaching": (Role.CURATOR, MembershipSource.LOCAL),
    }
    assert AuditEvent.objects.count() == 0


def test_sync_skips_a_project_that_does_not_exist_or_is_archived(projects, caplog):
    projects["research"].archived_at = timezone.now()
    projects["research"].save(update_fields=["archived_at"])
    mapping = parse_group_roles('{"readers": {"chest": "viewer", "gone": "admin", "research": "viewer"}}', "X")
    user = UserFactory()
    with caplog.at_level(logging.WARNING, logger="curation.directory"):
        changes = sync_roles(user, ["readers"], source=MembershipSource.OIDC, mapping=mapping)
    assert changes["added"] == {"chest": "viewer"}
    assert memberships(user) == {"chest": (Role.VIEWER, MembershipSource.OIDC)}
    assert "names project 'gone', which does not exist" in caplog.text


def test_sync_keeps_a_directory_membership_of_an_archived_project_while_the_group_stays(projects):
    # Given a directory member of a project that is then archived
    user = UserFactory()
    sync_roles(user, ["readers"], source=LDAP, mapping=MAPPING)
    projects["chest"].archived_at = timezone.now()
    projects["chest"].save(update_fields=["archived_at"])
    # When they sign in again with the same groups, the membership stays (it is back when the project is)
    assert sync_roles(user, ["readers"], source=LDAP, mapping=MAPPING) == {"added": {}, "changed": {}, "removed": {}}
    assert memberships(user)["chest"] == (Role.RADIOLOGIST, MembershipSource.LDAP)
    # But when the group goes, the role goes, archived or not
    assert sync_roles(user, [], source=LDAP, mapping=MAPPING)["removed"] == {"chest": Role.RADIOLOGIST}


def test_sync_forgets_the_roles_cached_on_the_user(projects):
    from curation.permissions import role_in

    user = UserFactory()
    assert role_in(user, projects["chest"]) is None
    sync_roles(user, ["readers"], source=LDAP, mapping=MAPPING)
    assert role_in(user, projects["chest"]) == Role.RADIOLOGIST
