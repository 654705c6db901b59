"""Browser walk-through of the web shell in real Chromium: log in, dashboard, start a job, watch it finish.

Later issues add their screens here.
"""

import os

import pytest
from playwright.sync_api import expect

from curation.models import Job, JobStatus
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_if_configured(request):
    """With a broker (CI), jobs go to a real worker; without one they run in-process."""
    if os.environ.get("CELERY_BROKER_URL"):
        return request.getfixturevalue("celery_worker_process")
    return None


def test_admin_logs_in_starts_a_job_and_sees_its_progress_bar_finish(page, live_server, members, worker_if_configured):
    # Given the admin at the login page
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # When they open the project dashboard
    page.get_by_role("link", name="Chest").click()
    expect(page.get_by_role("heading", name="Chest")).to_be_visible()
    # And start the demo-generation job
    page.get_by_test_id("start-demo.generate").click()
    # Then the job page shows a progress bar that finishes
    job = Job.objects.get(project__slug="chest", kind="demo.generate")
    bar = page.get_by_test_id(f"progress-{job.pk}")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=90_000)
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded")
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED
    # And the keyboard takes them to the job list, where the finished job is listed
    page.keyboard.press("g")
    page.keyboard.press("j")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.get_by_test_id(f"progress-{job.pk}")).to_have_attribute("data-status", "succeeded")


def test_viewer_sees_no_start_buttons_and_a_wrong_password_is_refused(page, live_server, members):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("did not match")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/p/chest/")
    expect(page.get_by_role("heading", name="Chest")).to_be_visible()
    expect(page.get_by_test_id("start-demo.generate")).to_have_count(0)
