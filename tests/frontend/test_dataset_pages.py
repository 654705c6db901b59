"""Dataset version pages: the list with the freeze form, a version's summary and comparison, the export form
that starts the job, and the signed download link that works for the exporter only."""

import io
import re
import zipfile

import pytest
from django.test import Client

from curation.models import DatasetVersion, Job, JobStatus
from curation.services import jobs
from curation.services.datasets import freeze_version
from tests.curation.dataset_helpers import review, small_project


@pytest.fixture
def client_as(members):
    def login(role):
        client = Client()
        client.force_login(members[role])
        return client

    return login


@pytest.fixture
def studies(project):
    _run, studies = small_project(project, patients=6)
    return studies


@pytest.fixture
def version(project, studies):
    return freeze_version(None, project, "v1")


def _download_link(page: str, job_id: int) -> str:
    found = re.search(rf'href="([^"]+)" data-testid="download-{job_id}"', page)
    return found.group(1).replace("&amp;", "&") if found else ""


def test_list_shows_each_version_and_offers_the_freeze_form_to_curators_only(version, client_as):
    curator = client_as("curator").get("/p/chest/datasets/").content.decode()
    viewer = client_as("viewer").get("/p/chest/datasets/").content.decode()
    assert curator.count('data-testid="version-row"') == viewer.count('data-testid="version-row"') == 1
    assert f'<td class="num">{version.row_count}</td>' in viewer
    assert version.content_hash[:12] in viewer and "by the system" in viewer
    assert 'data-testid="freeze-form"' in curator
    assert 'data-testid="freeze-form"' not in viewer


def test_freeze_form_makes_a_version_and_opens_it(version, members, client_as):
    response = client_as("curator").post("/p/chest/datasets/freeze/", {"name": "v2"})
    made = DatasetVersion.objects.get(name="v2")
    assert (response.status_code, response["Location"]) == (302, f"/p/chest/datasets/{made.pk}/")
    assert made.frozen_by == members["curator"]
    assert (made.row_count, made.content_hash) == (version.row_count, version.content_hash)


def test_freeze_form_reports_a_taken_name_and_makes_nothing(version, client_as):
    client = client_as("admin")
    response = client.post("/p/chest/datasets/freeze/", {"name": "v1"}, follow=True)
    assert "already has a version named" in response.content.decode()
    assert DatasetVersion.objects.count() == 1


def test_viewer_cannot_freeze(version, client_as):
    response = client_as("viewer").post("/p/chest/datasets/freeze/", {"name": "v2"})
    assert response.status_code == 403
    assert DatasetVersion.objects.count() == 1


def test_compare_form_counts_rows_and_labels_changed(project, studies, version, client_as):
    # Given a second version where a review made one study's Atelectasis positive
    review(project, studies[0], {"Atelectasis": "positive"})
    newer = freeze_version(None, project, "v2")
    changed_rows = studies[0].images.count()
    # When the viewer compares v2 with v1 on v2's page
    page = client_as("viewer").get(f"/p/chest/datasets/{newer.pk}/?compare={version.pk}").content.decode()
    # Then the rows of that study changed and the label counts say how
    assert 'data-testid="rows-added">0<' in page
    assert 'data-testid="rows-removed">0<' in page
    assert f'data-testid="rows-changed">{changed_rows}<' in page
    assert "<td>Atelectasis</td>" in page


def test_export_form_starts_the_job_for_curators_and_not_for_viewers(version, client_as, monkeypatch):
    monkeypatch.setattr("curation.dispatch.send", lambda job: None)
    viewer_page = client_as("viewer").get(f"/p/chest/datasets/{version.pk}/").content.decode()
    assert 'data-testid="export-form"' not in viewer_page
    assert client_as("viewer").post(f"/p/chest/datasets/{version.pk}/export/", {"format": "nih"}).status_code == 403
    assert not Job.objects.exists()
    client = client_as("curator")
    assert 'data-testid="export-form"' in client.get(f"/p/chest/datasets/{version.pk}/").content.decode()
    response = client.post(f"/p/chest/datasets/{version.pk}/export/", {"format": "jsonl", "images": ""})
    job = Job.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/p/chest/jobs/{job.pk}/")
    assert (job.kind, job.params) == ("export.version", {"version": version.pk, "format": "jsonl", "images": "none"})


def test_export_form_refuses_images_the_format_does_not_carry(version, client_as, monkeypatch):
    monkeypatch.setattr("curation.dispatch.send", lambda job: None)
    response = client_as("curator").post(
        f"/p/chest/datasets/{version.pk}/export/", {"format": "nih", "images": "png16"}, follow=True
    )
    assert "8-bit images only" in response.content.decode()
    assert not Job.objects.exists()


@pytest.fixture
def exported(version, project, members, settings, django_capture_on_commit_callbacks):
    settings.JOBS_IN_PROCESS_THREAD = False
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job(members["curator"], project, "export.version", {"version": version.pk, "format": "nih"})
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.message
    return job


def test_download_link_works_for_the_exporter_and_fails_for_others(version, exported, client_as):
    curator = client_as("curator")
    link = _download_link(curator.get(f"/p/chest/datasets/{version.pk}/").content.decode(), exported.pk)
    response = curator.get(link)
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert "nih/Data_Entry_2017.csv" in names
    # The curator's link is refused to another curator-level user (the admin) and to a viewer,
    # and a viewer's page has no link at all
    assert client_as("admin").get(link).status_code == 403
    assert client_as("viewer").get(link).status_code == 403
    assert (
        f'data-testid="download-{exported.pk}"'
        not in client_as("viewer").get(f"/p/chest/datasets/{version.pk}/").content.decode()
    )


def test_job_page_links_to_the_version_and_shows_the_download_link(version, exported, client_as):
    page = client_as("curator").get(f"/p/chest/jobs/{exported.pk}/").content.decode()
    assert f'href="/p/chest/datasets/{version.pk}/" data-testid="job-made"' in page
    link = re.search(r'href="([^"]+)" data-testid="job-download"', page).group(1).replace("&amp;", "&")
    assert client_as("curator").get(link).status_code == 200
    viewer_page = client_as("viewer").get(f"/p/chest/jobs/{exported.pk}/").content.decode()
    assert 'data-testid="job-download"' not in viewer_page


def test_data_card_is_served_from_the_newest_export_with_its_style_allowed_by_hash(version, exported, client_as):
    client = client_as("viewer")
    assert 'data-testid="data-card"' in client.get(f"/p/chest/datasets/{version.pk}/").content.decode()
    card = client.get(f"/p/chest/datasets/{version.pk}/datacard/")
    assert card.status_code == 200
    assert f"Data card: {version.name}" in card.content.decode()
    assert "'sha256-" in card["Content-Security-Policy"] and "unsafe-inline" not in card["Content-Security-Policy"]
    plot = client.get(f"/p/chest/datasets/{version.pk}/datacard/datacard_plots/prevalence_by_split.svg")
    assert (plot.status_code, plot["Content-Type"]) == (200, "image/svg+xml")
    assert plot.content.startswith(b"<svg")


def test_data_card_is_404_before_any_export(version, client_as):
    assert client_as("viewer").get(f"/p/chest/datasets/{version.pk}/datacard/").status_code == 404
    page = client_as("viewer").get(f"/p/chest/datasets/{version.pk}/").content.decode()
    assert 'data-testid="data-card"' not in page


def test_dashboard_and_nav_link_the_dataset_pages(project, client_as):
    page = client_as("viewer").get("/p/chest/").content.decode()
    assert 'href="/p/chest/datasets/" data-testid="datasets-link"' in page
    assert 'href="/p/chest/datasets/" data-shortcut="g v"' in page
