"""The site users pages, the set-password page and a project's CSV member import, through the browser's forms."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from curation.models import AuditEvent, Membership, Role, User
from curation.services import onboarding
from tests.factories import PASSWORD, UserFactory

GOOD_PASSWORD = "amber-falcon-quartz-1977"  # noqa: S105
LINK = re.compile(r'data-testid="set-password-link">(http://testserver/account/set-password/[^<]+/)<')


@pytest.fixture
def site_admin(db):
    return UserFactory(username="ops", is_staff=True)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _links(response) -> list[str]:
    return LINK.findall(response.content.decode())


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


# --- The account list and one account -----------------------------------------------------------------------


def test_the_user_list_searches_and_filters(members, site_admin):
    User.objects.filter(username="curator").update(is_active=False, email="cur@hospital.org")
    client = _client(site_admin)
    listed = re.compile(r'data-user="([^"]+)"')
    everyone = listed.findall(client.get("/site/users/").content.decode())
    assert everyone == ["admin", "curator", "ops", "outsider", "radiologist", "staff", "viewer"]
    assert listed.findall(client.get("/site/users/?q=HOSPITAL").content.decode()) == ["curator"]
    assert listed.findall(client.get("/site/users/?state=inactive").content.decode()) == ["curator"]
    assert "curator" not in listed.findall(client.get("/site/users/?state=active").content.decode())


def test_the_user_list_pages_by_username(site_admin, monkeypatch):
    from frontend import site_admin_views

    monkeypatch.setattr(site_admin_views, "USER_PAGE", 2)
    for name in ("a1", "a2", "a3"):
        UserFactory(username=name)
    client = _client(site_admin)
    first = client.get("/site/users/").content.decode()
    assert re.findall(r'data-user="([^"]+)"', first) == ["a1", "a2"]
    second = client.get("/site/users/?after=a2").content.decode()
    assert re.findall(r'data-user="([^"]+)"', second) == ["a3", "ops"]


def test_creating_an_account_shows_its_link_once(site_admin):
    client = _client(site_admin)
    response = client.post("/site/users/", {"username": "nia", "email": "nia@example.org", "name": "Nia N"})
    assert response.status_code == 200
    [link] = _links(response)
    assert onboarding.user_for_link(*link.rstrip("/").split("/")[-2:]).username == "nia"
    assert "E-mail is not configured" in response.content.decode()
    # The list shown afterwards carries no link
    assert _links(client.get("/site/users/")) == []


def test_a_refused_account_is_a_400_naming_the_field(members, site_admin):
    response = _client(site_admin).post("/site/users/", {"username": "Viewer", "email": "v@example.org"})
    assert response.status_code == 400
    assert "An account named &#x27;viewer&#x27; already exists." in response.content.decode()


def test_project_admins_may_not_open_the_site_pages(members):
    client = _client(members["admin"])
    viewer = members["viewer"].pk
    assert [client.get(url).status_code for url in ("/site/users/", f"/site/users/{viewer}/")] == [403, 403]
    assert client.post(f"/site/users/{viewer}/deactivate/").status_code == 403
    assert User.objects.get(pk=viewer).is_active


def test_the_account_page_shows_memberships_and_its_buttons(members, site_admin):
    page = _client(site_admin).get(f"/site/users/{members['viewer'].pk}/").content.decode()
    assert "Chest" in page and "role-viewer" in page
    assert "Deactivate</button>" in page and "Reset password (new link)</button>" in page
    # Your own account offers no buttons
    own = _client(site_admin).get(f"/site/users/{site_admin.pk}/").content.decode()
    assert "Deactivate</button>" not in own


def test_deactivating_signs_the_user_out_and_reactivating_lets_them_back(members, site_admin):
    # Given the viewer signed in through the login page
    viewer_client = Client()
    assert viewer_client.post("/login/", {"username": "viewer", "password": PASSWORD}).status_code == 302
    assert viewer_client.get("/").status_code == 200
    admin_client = _client(site_admin)
    viewer = members["viewer"].pk
    # When a site admin deactivates them
    response = admin_client.post(f"/site/users/{viewer}/deactivate/", follow=True)
    # Then the admin is told, and the viewer's next request is sent to the login page
    assert "Deactivated viewer: signed out everywhere" in response.content.decode()
    assert viewer_client.get("/").status_code == 302
    assert viewer_client.post("/login/", {"username": "viewer", "password": PASSWORD}).status_code == 200
    # When they are reactivated, they sign in again
    admin_client.post(f"/site/users/{viewer}/reactivate/")
    assert viewer_client.post("/login/", {"username": "viewer", "password": PASSWORD}).status_code == 302


def test_reset_shows_a_new_link_that_replaces_the_password(members, site_admin):
    client = _client(site_admin)
    response = client.post(f"/site/users/{members['viewer'].pk}/reset/")
    assert response.status_code == 200
    [link] = _links(response)
    assert not User.objects.get(username="viewer").has_usable_password()
    # The old password no longer signs in; the link sets a new one
    assert Client().post("/login/", {"username": "viewer", "password": PASSWORD}).status_code == 200
    done = Client().post(_path(link), {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD})
    assert (done.status_code, done["Location"]) == (302, "/login/")
    assert Client().post("/login/", {"username": "viewer", "password": GOOD_PASSWORD}).status_code == 302


# --- The set-password page ----------------------------------------------------------------------------------


@pytest.fixture
def new_link(db) -> str:
    link = onboarding.create_local_user(None, username="nia", email="nia@example.org", base_url="http://testserver")
    return _path(link.url)


def test_the_set_password_page_shows_the_form_to_anyone_with_the_link(new_link):
    response = Client().get(new_link)
    assert response.status_code == 200
    assert 'data-testid="link-username">nia<' in response.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_mismatched_or_weak_passwords_are_a_400_and_the_link_stays(new_link):
    client = Client()
    differ = client.post(new_link, {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD + "x"})
    weak = client.post(new_link, {"new_password1": "password", "new_password2": "password"})
    assert (differ.status_code, weak.status_code) == (400, 400)
    assert "The two passwords differ." in differ.content.decode()
    assert "This password is too common." in weak.content.decode()
    assert client.get(new_link).status_code == 200


def test_a_used_link_says_it_is_no_longer_valid(new_link):
    client = Client()
    response = client.post(new_link, {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}, follow=True)
    assert "Your password is set, nia. Log in with it." in response.content.decode()
    for again in (client.get(new_link), client.post(new_link, {"new_password1": "x", "new_password2": "x"})):
        assert again.status_code == 400
        assert "This link is no longer valid" in again.content.decode()
    assert AuditEvent.objects.filter(action="user.password_set").count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "/account/set-password/x/y/",
        "/account/set-password/MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw/abc-def/",
        "/account/set-password/" + "A" * 300 + "/" + "b" * 300 + "/",
    ],
)
def test_a_garbled_link_is_a_400_page_never_a_500(db, url):
    response = Client().get(url)
    assert response.status_code == 400
    assert "This link is no longer valid" in response.content.decode()


# --- The CSV member import ----------------------------------------------------------------------------------

CSV = (
    b"username,email,name,role\n"
    b"ana,ana@example.org,Ana A,radiologist\n"
    b"bo,bo@example.org,Bo B,curator\n"
    b"bad name,c@example.org,C,viewer\n"
)


@pytest.fixture
def project_site_admin(members):
    """The project's admin, who is a site admin too (staff)."""
    admin = members["admin"]
    admin.is_staff = True
    admin.save()
    return admin


def _upload(client, data=CSV, name="people.csv"):
    return client.post("/p/chest/members/import/", {"file": SimpleUploadedFile(name, data, "text/csv")})


def test_upload_previews_then_confirm_applies_and_lists_the_new_links(project_site_admin):
    client = _client(project_site_admin)
    assert client.get("/p/chest/members/import/").status_code == 200
    # When the admin uploads the file
    preview = _upload(client)
    page = preview.content.decode()
    # Then each row says what it will do, and nothing changed yet
    assert preview.status_code == 200
    assert re.findall(r'data-line="(\d+)" data-action="(\w+)"', page) == [
        ("2", "create"),
        ("3", "create"),
        ("4", "error"),
    ]
    assert not User.objects.filter(username="ana").exists()
    payload = re.search(r'name="payload" value="([^"]+)"', page).group(1)
    # When they confirm
    result = client.post("/p/chest/members/import/", {"payload": payload})
    # Then the two accounts exist as members, with one link each, and the bad row is reported
    assert result.status_code == 200
    roles = dict(Membership.objects.filter(project__slug="chest").values_list("user__username", "role"))
    assert (roles["ana"], roles["bo"]) == (Role.RADIOLOGIST, Role.CURATOR)
    links = _links(result)
    assert len(links) == 2
    assert [onboarding.user_for_link(*link.rstrip("/").split("/")[-2:]).username for link in links] == ["ana", "bo"]
    assert "Username: Use letters, digits" in result.content.decode()


def test_pasted_rows_preview_like_a_file(project_site_admin):
    response = _client(project_site_admin).post("/p/chest/members/import/", {"text": CSV.decode()})
    assert re.findall(r'data-line="\d+" data-action="(\w+)"', response.content.decode()) == [
        "create",
        "create",
        "error",
    ]


def test_a_changed_payload_is_refused_and_changes_nothing(project_site_admin):
    client = _client(project_site_admin)
    payload = re.search(r'name="payload" value="([^"]+)"', _upload(client).content.decode()).group(1)
    response = client.post("/p/chest/members/import/", {"payload": payload[:-3] + "xyz"})
    assert response.status_code == 400
    assert "The preview was changed or is damaged" in response.content.decode()
    assert not User.objects.filter(username="ana").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"username,email,name,role,extra\n", "The header must be exactly"),
        (b"username,email,name,role\n" + b"x" * (1024 * 1024 + 1), "larger than 1,024 KB"),
    ],
)
def test_a_bad_file_is_a_400_with_its_reason(project_site_admin, data, message):
    response = _upload(_client(project_site_admin), data)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_no_file_is_a_400(project_site_admin):
    response = _client(project_site_admin).post("/p/chest/members/import/", {})
    assert response.status_code == 400
    assert "Choose a CSV file, or paste its rows." in response.content.decode()


def test_a_project_admin_who_is_not_a_site_admin_is_told_who_may_create_accounts(members):
    UserFactory(username="olga", email="olga@example.org")
    client = _client(members["admin"])
    assert "Only existing accounts can be added here" in client.get("/p/chest/members/import/").content.decode()
    data = b"username,email,name,role\nana,ana@example.org,,viewer\nolga,olga@example.org,,viewer\n"
    page = _upload(client, data).content.decode()
    assert re.findall(r'data-line="\d+" data-action="(\w+)"', page) == ["error", "add"]
    assert "only site admins may create accounts" in page


def test_a_curator_may_not_import(members):
    assert _upload(_client(members["curator"])).status_code == 403
    assert _client(members["outsider"]).get("/p/chest/members/import/").status_code == 404
