"""The web shell: login, project list, dashboard, jobs, offline assets, keyboard help."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from curation.models import Job, JobStatus


@pytest.fixture
def client_as(members):
    def login(role):
        client = Client()
        client.force_login(members[role])
        return client

    return login


def test_login_page_logs_a_user_in(members):
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content
    response = client.post("/login/", {"username": "viewer", "password": "correct-horse-battery-staple"})
    assert (response.status_code, response["Location"]) == (302, "/")


def test_wrong_password_shows_an_error(members):
    response = Client().post("/login/", {"username": "viewer", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content


def test_dashboard_offers_admin_only_jobs_to_admins_only(client_as):
    admin_page = client_as("admin").get("/p/chest/").content.decode()
    viewer_page = client_as("viewer").get("/p/chest/").content.decode()
    assert 'data-testid="start-demo.generate"' in admin_page
    assert 'data-testid="start-demo.generate"' not in viewer_page


def test_active_jobs_make_the_table_poll_and_finished_ones_stop(project, client_as):
    job = Job.objects.create(
        kind="demo.generate", project=project, status=JobStatus.RUNNING, progress_done=3, progress_total=4
    )
    page = client_as("viewer").get("/p/chest/jobs/").content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert f'aria-valuenow="75" data-testid="progress-{job.pk}"' in page.replace("\n", "")
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    page = client_as("viewer").get("/p/chest/jobs/").content.decode()
    assert 'hx-trigger="every 1s"' not in page


def test_job_detail_lists_item_errors(project, client_as):
    job = Job.objects.create(
        kind="demo.generate",
        project=project,
        status=JobStatus.SUCCEEDED,
        error_count=1,
        errors=[{"item": "scan-7.dcm", "reason": "not a DICOM file"}],
    )
    page = client_as("viewer").get(f"/p/chest/jobs/{job.pk}/").content.decode()
    assert "scan-7.dcm" in page and "not a DICOM file" in page


def test_job_list_pages_by_keyset(project, client_as):
    ids = [Job.objects.create(kind="demo.generate", project=project).pk for _ in range(55)]
    page = client_as("viewer").get("/p/chest/jobs/").content.decode()
    assert f"before={ids[5]}" in page
    older = client_as("viewer").get(f"/p/chest/jobs/?before={ids[5]}").content.decode()
    assert f'data-testid="progress-{ids[0]}"' in older and f'data-testid="progress-{ids[5]}"' not in older


def test_htmx_is_vendored_and_no_page_loads_from_a_cdn(client_as):
    assert finders.find("frontend/vendor/htmx-2.0.11.min.js")
    for url in ["/", "/p/chest/", "/p/chest/jobs/"]:
        html = client_as("admin").get(url).content.decode()
        assert "//cdn" not in html and "unpkg" not in html and "https://" not in html


def test_every_page_has_keyboard_help(client_as):
    html = client_as("viewer").get("/p/chest/").content.decode()
    assert '<dialog id="help"' in html and 'data-shortcut="g j"' in html
    js = Path(finders.find("frontend/app.js")).read_text()
    assert "showModal" in js
