"""Browser walk-through of administration in real Chromium: a site admin creates a project, bulk-adds three people
from a CSV with one bad row, changes a role, and the new radiologist sets a password from their one-time link,
signs in and sees only that project."""

import pytest
from playwright.sync_api import expect

from curation.models import Membership, Role, User
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "amber-falcon-quartz-1977"  # noqa: S105
PEOPLE_CSV = (
    b"username,email,name,role\n"
    b"rita,rita@hospital.example,Rita Radiologist,radiologist\n"
    b"carl,carl@hospital.example,Carl Curator,curator\n"
    b"not a name!,nobody@hospital.example,Nobody,viewer\n"
    b"vic,vic@hospital.example,Vic Viewer,viewer\n"
)


def _log_in(page, base, username, password):
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def test_admin_creates_a_project_onboards_people_from_a_csv_and_the_radiologist_signs_in(page, live_server):
    # Given a site admin, and another project the newcomers must never see
    UserFactory(username="boss", is_staff=True)
    other = ProjectFactory(slug="other-study", name="Other study")
    MembershipFactory(project=other, user=UserFactory(username="someone"), role=Role.ADMIN)
    base = live_server.url

    # When the admin creates a project in the browser
    _log_in(page, base, "boss", PASSWORD)
    page.goto(f"{base}/projects/new/")
    page.get_by_label("Slug", exact=False).fill("lung-trial")
    page.get_by_label("Name", exact=True).fill("Lung trial")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()

    # And uploads three people and one bad row
    page.goto(f"{base}/p/lung-trial/members/import/")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": PEOPLE_CSV}]
    )
    page.get_by_role("button", name="Preview").click()
    # Then the preview says what each row will do, and nothing has changed yet
    rows = page.get_by_test_id("import-rows")
    expect(rows.locator("tbody tr")).to_have_count(4)
    expect(rows.locator('tr[data-action="create"]')).to_have_count(3)
    expect(rows.locator('tr[data-line="4"]')).to_contain_text("Use letters, digits")
    assert not User.objects.filter(username="rita").exists()

    # When they confirm
    page.get_by_role("button", name="Confirm import").click()
    # Then the bad row is reported, the others are added, and each new account has its one-time link
    expect(page.get_by_test_id("count-create")).to_have_text("3")
    expect(page.get_by_test_id("count-error")).to_have_text("1")
    expect(page.get_by_test_id("import-rows").locator('tr[data-line="4"]')).to_contain_text("error")
    links = page.get_by_test_id("new-links")
    expect(links.get_by_test_id("set-password-link")).to_have_count(3)
    rita_link = links.locator('tr[data-link-user="rita"]').get_by_test_id("set-password-link").inner_text()
    roles = dict(Membership.objects.filter(project__slug="lung-trial").values_list("user__username", "role"))
    assert roles == {"boss": Role.ADMIN, "rita": Role.RADIOLOGIST, "carl": Role.CURATOR, "vic": Role.VIEWER}

    # When the admin changes Vic's role on the members page
    page.goto(f"{base}/p/lung-trial/members/")
    vic = page.locator('tr[data-member="vic"]')
    vic.get_by_label("Role of vic").select_option("radiologist")
    vic.get_by_role("button", name="Change role").click()
    # Then it is changed
    expect(page.locator('tr[data-member="vic"]').get_by_label("Role of vic")).to_have_value("radiologist")
    assert Membership.objects.get(project__slug="lung-trial", user__username="vic").role == Role.RADIOLOGIST

    # When the new radiologist opens their link in their own browser and sets a password
    rita_context = page.context.browser.new_context()
    rita_page = rita_context.new_page()
    try:
        rita_page.goto(rita_link)
        expect(rita_page.get_by_test_id("link-username")).to_have_text("rita")
        rita_page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        rita_page.get_by_label("New password again").fill(NEW_PASSWORD)
        rita_page.get_by_role("button", name="Set password").click()
        # Then they are sent to the login page, sign in, and see only that project
        expect(rita_page.get_by_role("status")).to_contain_text("Your password is set, rita.")
        rita_page.get_by_label("Username").fill("rita")
        rita_page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
        rita_page.get_by_role("button", name="Log in").click()
        projects = rita_page.get_by_test_id("projects")
        expect(projects.locator("tbody tr")).to_have_count(1)
        expect(projects.locator('tr[data-project="lung-trial"]')).to_contain_text("radiologist")
        expect(rita_page.get_by_text("Other study")).to_have_count(0)
        # And the link no longer works
        rita_page.goto(rita_link)
        expect(rita_page.get_by_test_id("link-invalid")).to_be_visible()
    finally:
        rita_context.close()
