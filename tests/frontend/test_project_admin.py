"""Project administration screens: create, settings, archive and restore, members, and the account page."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from curation import directory
from curation.models import AuditEvent, Job, Membership, MembershipSource, Project, Role
from curation.services import accounts
from labeling.models import ReviewState
from tests.factories import MembershipFactory, ProjectFactory, StudyFactory, UserFactory
from tests.labeling.review_helpers import label_item


@pytest.fixture
def client_as(members):
    def login(role):
        client = Client()
        client.force_login(members[role])
        return client

    return login


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- Creating projects --------------------------------------------------------------------------------------


def test_site_admin_creates_a_project_becomes_its_admin_and_lands_on_its_members(members, client_as):
    # Given a site admin (staff, a member of no project)
    client = client_as("staff")
    # When they create a project
    response = client.post("/projects/new/", {"slug": "lungs", "name": "Lungs", "description": "Nodules."})
    # Then they administer it and land on its members page
    assert response.status_code == 302
    assert response["Location"] == "/p/lungs/members/"
    project = Project.objects.get(slug="lungs")
    assert (project.name, project.description, project.created_by) == ("Lungs", "Nodules.", members["staff"])
    assert Membership.objects.get(project=project).user == members["staff"]
    assert Membership.objects.get(project=project).role == Role.ADMIN
    actions = list(AuditEvent.objects.filter(project=project).order_by("id").values_list("action", flat=True))
    assert actions == ["project.created", "member.added"]
    page = client.get("/p/lungs/members/")
    assert b'aria-label="Role of staff"' in page.content


def test_user_with_the_site_permission_may_create_projects(db):
    # Given a non-staff user given curation.administer_site
    from django.contrib.auth.models import Permission

    user = UserFactory(username="ops-lead")
    user.user_permissions.add(Permission.objects.get(codename="administer_site"))
    client = Client()
    client.force_login(user)
    # When they open the project list and create a project
    listing = client.get("/")
    response = client.post("/projects/new/", {"slug": "ops", "name": "Ops"})
    # Then the list offers "New project" and the project is created
    assert b'href="/projects/new/"' in listing.content
    assert response.status_code == 302
    assert Project.objects.filter(slug="ops").exists()


def test_project_admin_who_is_not_a_site_admin_may_not_create_projects(members, client_as):
    # Given a project admin without site rights
    client = client_as("admin")
    # When they open the form, or post it
    page = client.get("/projects/new/")
    response = client.post("/projects/new/", {"slug": "sneaky", "name": "Sneaky"})
    # Then both are refused, nothing is created, and no page offers the button
    assert (page.status_code, response.status_code) == (403, 403)
    assert not Project.objects.filter(slug="sneaky").exists()
    assert b'href="/projects/new/"' not in client.get("/").content


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"slug": "Chest X", "name": "X"}, b"Use lowercase letters, digits and hyphens (e.g. &#x27;chest-x&#x27;)."),
        ({"slug": "chest", "name": "Again"}, b"A project with slug &#x27;chest&#x27; already exists."),
        ({"slug": "long-name", "name": "n" * 201}, b"Use at most 200 characters."),
        ({"slug": "s" * 65, "name": "x"}, b"Use at most 64 characters."),
    ],
)
def test_a_bad_new_project_is_a_message_on_the_form(members, client_as, body, message):
    # Given a site admin
    before = Project.objects.count()
    # When they post a bad slug or name
    response = client_as("staff").post("/projects/new/", body)
    # Then the form comes back with the reason, and nothing is created
    assert response.status_code == 400
    assert message in response.content
    assert Project.objects.count() == before


# --- Settings -----------------------------------------------------------------------------------------------


def test_admin_changes_settings_and_de_identification_with_an_audit_event(project, members, client_as):
    # Given the project's admin
    client = client_as("admin")
    assert b'name="deid_enabled" checked' in client.get("/p/chest/settings/").content
    # When they rename it and untick de-identification (unticked boxes are not sent)
    response = client.post(
        "/p/chest/settings/",
        {"name": " Chest 2026 ", "description": "Adults\x00 only.", "deid_public_datasets_as_published": "on"},
    )
    # Then the project changes and the change is in the audit trail
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.description) == ("Chest 2026", "Adults only.")
    assert project.options["deid"] == {
        "enabled": False,
        "public_datasets_as_published": True,
        "keep_private_tags": False,
    }
    event = AuditEvent.objects.get(action="project.updated")
    assert (event.actor, event.before["name"], event.after["name"]) == (members["admin"], "Chest", "Chest 2026")
    assert event.after["deid"]["enabled"] is False
    assert b'name="deid_enabled">' in client.get("/p/chest/settings/").content


def test_an_empty_project_name_is_a_message_and_changes_nothing(project, members, client_as):
    response = client_as("admin").post("/p/chest/settings/", {"name": "  ", "deid_enabled": "on"})
    assert response.status_code == 400
    assert b"The name cannot be empty." in response.content
    project.refresh_from_db()
    assert project.name == "Chest"
    assert not AuditEvent.objects.filter(action="project.updated").exists()


def test_navigation_offers_members_to_every_member_and_settings_to_admins_only(project, members, client_as):
    admin_page = client_as("admin").get("/p/chest/").content
    viewer_page = client_as("viewer").get("/p/chest/").content
    assert b'href="/p/chest/members/">Members</a>' in admin_page
    assert b'href="/p/chest/settings/">Settings</a>' in admin_page
    assert b'href="/p/chest/members/">Members</a>' in viewer_page
    assert b'href="/p/chest/settings/">Settings</a>' not in viewer_page
    assert b'<a href="/account/">Account</a>' in viewer_page


# --- Archive and restore ------------------------------------------------------------------------------------


def test_archived_project_leaves_the_list_and_takes_no_new_jobs(project, members, client_as, api, monkeypatch):
    monkeypatch.setattr("curation.dispatch.send", lambda job: None)
    # Given a site admin and the project's admin
    staff, admin = client_as("staff"), client_as("admin")
    # When the site admin archives the project
    response = staff.post("/p/chest/settings/archive/")
    # Then it is archived, audited, gone from its members' list, and shown to the site admin under "Archived"
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.archived_at is not None
    event = AuditEvent.objects.get(action="project.archived")
    assert (event.actor, event.project_id, event.before) == (members["staff"], project.pk, {"archived_at": None})
    assert b'data-project="chest"' not in admin.get("/").content
    assert [p["slug"] for p in api(members["admin"]).get("/api/projects/").json()["results"]] == []
    listing = staff.get("/").content.decode()
    assert 'data-testid="archived"' in listing and 'action="/p/chest/settings/restore/"' in listing
    # And no new job starts there, from the page or the API
    page = admin.post("/p/chest/jobs/start/", {"kind": "demo.generate", "param_patients": "1"}, follow=True)
    assert "This project is archived and takes no new jobs; a site admin can restore it." in _messages(page)
    api_response = api(members["admin"]).post("/api/projects/chest/jobs/", {"kind": "demo.generate"}, format="json")
    assert api_response.status_code == 409
    assert Job.objects.filter(project=project).count() == 0


def test_restore_brings_the_project_back(project, members, client_as):
    # Given an archived project
    client = client_as("staff")
    client.post("/p/chest/settings/archive/")
    # When the site admin restores it
    response = client.post("/p/chest/settings/restore/")
    # Then it is back in its members' list, and the restore is audited
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.archived_at is None
    assert AuditEvent.objects.get(action="project.restored").actor == members["staff"]
    assert b'data-project="chest"' in client_as("admin").get("/").content


def test_archiving_twice_changes_nothing_the_second_time(project, members, client_as):
    client = client_as("staff")
    client.post("/p/chest/settings/archive/")
    response = client.post("/p/chest/settings/archive/", follow=True)
    assert "“Chest” was already archived." in _messages(response)
    assert AuditEvent.objects.filter(action="project.archived").count() == 1


def test_project_admin_who_is_not_a_site_admin_may_not_archive(project, members, client_as):
    page = client_as("admin").get("/p/chest/settings/")
    assert b"Archive project" not in page.content
    assert client_as("admin").post("/p/chest/settings/archive/").status_code == 403
    project.refresh_from_db()
    assert project.archived_at is None


# --- The project list ---------------------------------------------------------------------------------------


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    return len(captured)


def test_project_list_shows_role_and_counts_in_the_same_queries_for_more_projects(project, members, client_as):
    # Given two studies, one open and one decided review item in the viewer's project
    StudyFactory(patient__project=project)
    label_item(project)
    decided = label_item(project)
    decided.state = ReviewState.DECIDED
    decided.save()
    client = client_as("viewer")
    one_project = _list_queries(client)
    # When the viewer joins two more projects
    for slug in ("second", "third"):
        MembershipFactory(project=ProjectFactory(slug=slug), user=members["viewer"], role=Role.CURATOR)
    # Then the list costs the same queries, and shows the role and counts per project
    assert _list_queries(client) == one_project
    rows = client.get("/").context["rows"]
    counts = {r["project"].slug: (r["role"], r["studies"], r["members"], r["open_review"]) for r in rows}
    assert counts == {"chest": ("viewer", 3, 4, 1), "second": ("curator", 0, 1, 0), "third": ("curator", 0, 1, 0)}


# --- Members ------------------------------------------------------------------------------------------------


def test_members_page_lists_people_with_role_source_and_since(project, members, client_as):
    # Given a member whose role comes from an LDAP group
    reader = UserFactory(username="ldap-reader", email="reader@hospital.org")
    MembershipFactory(project=project, user=reader, role=Role.RADIOLOGIST, source=MembershipSource.LDAP)
    # When a viewer opens the members page
    html = client_as("viewer").get("/p/chest/members/").content.decode()
    # Then everyone is listed with the source, and a viewer gets no forms
    assert html.count("<tr data-member=") == 5
    assert "reader@hospital.org" in html and "LDAP group" in html
    assert "Change role" not in html and "Add member" not in html


@pytest.mark.parametrize("who", ["newcomer", "NewComer@Hospital.org"])
def test_admin_adds_a_member_by_username_or_email(project, members, client_as, who):
    # Given an account that is not a member
    newcomer = UserFactory(username="newcomer", email="newcomer@hospital.org")
    # When the admin adds it by username or e-mail
    response = client_as("admin").post("/p/chest/members/", {"who": who, "role": "radiologist"})
    # Then it is a local member with that role, audited
    assert response.status_code == 302
    membership = Membership.objects.get(project=project, user=newcomer)
    assert (membership.role, membership.source) == (Role.RADIOLOGIST, MembershipSource.LOCAL)
    event = AuditEvent.objects.get(action="member.added", object_repr="newcomer")
    assert (event.actor, event.after["role"]) == (members["admin"], "radiologist")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"who": "nobody", "role": "viewer"}, "No account has the username or e-mail &#x27;nobody&#x27;."),
        ({"who": "newcomer", "role": "overlord"}, "Unknown role &#x27;overlord&#x27;; use one of admin, curator"),
        ({"who": "viewer", "role": "admin"}, "viewer is already a member; change their role in the list."),
        ({"who": "gone", "role": "viewer"}, "The account &#x27;gone&#x27; is deactivated."),
        ({"who": "", "role": "viewer"}, "Give a username or an e-mail address."),
        ({"who": "x" * 300, "role": "viewer"}, "Use at most 254 characters."),
    ],
)
def test_a_refused_addition_is_a_message_on_the_page(project, members, client_as, body, message):
    UserFactory(username="newcomer")
    UserFactory(username="gone", is_active=False)
    before = Membership.objects.count()
    response = client_as("admin").post("/p/chest/members/", body)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Membership.objects.count() == before


def test_email_shared_by_two_accounts_asks_for_the_username(project, members, client_as):
    UserFactory(username="a1", email="desk@hospital.org")
    UserFactory(username="a2", email="DESK@hospital.org")
    response = client_as("admin").post("/p/chest/members/", {"who": "desk@hospital.org", "role": "viewer"})
    assert response.status_code == 400
    assert "Several accounts have the e-mail" in response.content.decode()


def test_admin_changes_a_role(project, members, client_as):
    viewer = members["viewer"]
    response = client_as("admin").post(f"/p/chest/members/{viewer.pk}/role/", {"role": "curator"}, follow=True)
    assert "viewer is now curator." in _messages(response)
    assert Membership.objects.get(project=project, user=viewer).role == Role.CURATOR
    event = AuditEvent.objects.get(action="member.role_changed")
    assert (event.before, event.after) == (
        {"role": "viewer", "source": "local"},
        {"role": "curator", "source": "local"},
    )


def test_admin_removes_a_member(project, members, client_as):
    rad = members["radiologist"]
    response = client_as("admin").post(f"/p/chest/members/{rad.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(project=project, user=rad).exists()
    assert AuditEvent.objects.get(action="member.removed").before["user"] == "radiologist"


def test_role_form_for_someone_not_a_member_is_404(project, members, client_as):
    response = client_as("admin").post(f"/p/chest/members/{members['outsider'].pk}/role/", {"role": "viewer"})
    assert response.status_code == 404


@pytest.mark.parametrize("action", ["role", "remove"])
def test_the_last_admin_can_neither_be_demoted_nor_leave(project, members, client_as, action):
    # Given the only admin
    admin = members["admin"]
    # When they demote themselves or leave
    response = client_as("admin").post(f"/p/chest/members/{admin.pk}/{action}/", {"role": "viewer"})
    # Then the page says why, and they are still admin
    assert response.status_code == 400
    assert "A project needs at least one admin; make someone else admin first." in _messages(response)
    assert Membership.objects.get(project=project, user=admin).role == Role.ADMIN


def test_an_admin_leaving_when_another_admin_remains_goes_to_the_project_list(project, members, client_as):
    Membership.objects.filter(project=project, user=members["curator"]).update(role=Role.ADMIN)
    response = client_as("admin").post(f"/p/chest/members/{members['admin'].pk}/remove/")
    assert (response.status_code, response["Location"]) == (302, "/")


def test_a_directory_membership_changed_by_hand_becomes_local_and_the_directory_leaves_it(project, members, client_as):
    # Given a member whose role comes from an LDAP group
    reader = UserFactory(username="ldap-reader")
    MembershipFactory(project=project, user=reader, role=Role.VIEWER, source=MembershipSource.LDAP)
    # When the admin makes them a radiologist on the members page
    response = client_as("admin").post(f"/p/chest/members/{reader.pk}/role/", {"role": "radiologist"}, follow=True)
    # Then the membership is local, the page says so, and the audit event records the old source
    membership = Membership.objects.get(project=project, user=reader)
    assert (membership.role, membership.source) == (Role.RADIOLOGIST, MembershipSource.LOCAL)
    assert "ldap-reader is now radiologist. It is now managed here, not by the directory." in _messages(response)
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.before == {"role": "viewer", "source": "ldap"}
    assert event.after == {"role": "radiologist", "source": "local"}
    # And the next sign-in's group sync (still saying viewer, or no group at all) leaves it alone
    mapping = {"readers": {"chest": Role.VIEWER}}
    directory.sync_roles(reader, ["readers"], source=MembershipSource.LDAP, mapping=mapping)
    directory.sync_roles(reader, [], source=MembershipSource.LDAP, mapping=mapping)
    assert Membership.objects.get(project=project, user=reader).role == Role.RADIOLOGIST


def test_system_role_changes_keep_the_source(project, members):
    # The demo and other system callers (actor None) do not make a choice on anyone's behalf.
    from curation.services.projects import set_member

    reader = UserFactory(username="oidc-reader")
    MembershipFactory(project=project, user=reader, role=Role.VIEWER, source=MembershipSource.OIDC)
    membership = set_member(None, project, reader, Role.CURATOR)
    assert (membership.role, membership.source) == (Role.CURATOR, MembershipSource.OIDC)


# --- Account ------------------------------------------------------------------------------------------------


def test_account_page_shows_who_you_are_your_roles_and_only_your_own_activity(project, members, client_as):
    # Given something the viewer did and something the admin did
    accounts.create_token(members["viewer"], name="viewer-script")
    accounts.create_token(members["admin"], name="admin-script")
    # When the viewer opens their account page
    response = client_as("viewer").get("/account/")
    html = response.content.decode()
    # Then it shows their role and their own activity only, with links to their password and tokens
    assert response.status_code == 200
    assert [m.project.slug for m in response.context["memberships"]] == ["chest"]
    assert [(e.action, e.object_repr) for e in response.context["activity"]] == [
        ("token.created", "viewer: viewer-script")
    ]
    assert "admin-script" not in html
    assert 'href="/account/password/"' in html and 'href="/account/tokens/"' in html


def test_account_activity_is_the_newest_fifty(members, client_as):
    for n in range(55):
        accounts.create_token(members["viewer"], name=f"t{n}")
    activity = list(client_as("viewer").get("/account/").context["activity"])
    assert len(activity) == 50
    assert (activity[0].object_repr, activity[-1].object_repr) == ("viewer: t54", "viewer: t5")


def test_account_page_has_no_password_link_for_directory_accounts(members, client_as):
    viewer = members["viewer"]
    viewer.set_unusable_password()
    viewer.save()
    client = Client()
    client.force_login(viewer)
    html = client.get("/account/").content.decode()
    assert 'href="/account/password/"' not in html
    assert "through your organisation's directory or identity provider" in html
