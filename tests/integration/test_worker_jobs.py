"""Jobs through the API to a real Celery worker process on Redis, against PostgreSQL."""

import time

import pytest

from curation.models import Job, JobStatus

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_job_started_through_the_api_reaches_100_percent_on_a_real_worker(
    celery_worker_process, project, members, api, settings
):
    # Given a real worker and an admin's API client
    assert settings.JOBS_IN_PROCESS is False
    client = api(members["admin"])
    # When the admin starts a demo-generation job
    response = client.post(
        "/api/projects/chest/jobs/",
        {"kind": "demo.generate", "params": {"patients": 6, "image_size": 64}},
        format="json",
    )
    assert response.status_code == 201
    job_id = response.json()["id"]
    # Then its progress, read through the API, only grows and reaches 100%
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = client.get(f"/api/projects/chest/jobs/{job_id}/").json()
        seen.append((body["status"], body["percent"]))
        if body["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert seen[-1] == ("succeeded", 100), seen
    percents = [p for _, p in seen]
    assert percents == sorted(percents)
    job = Job.objects.get(pk=job_id)
    assert job.celery_task_id != ""  # sent through the broker, not run in-process
    assert job.counters["patients"] == 6
    assert job.counters["uploads"] == job.progress_total - 6 == 3  # DICOM, masks, truth masks


def test_cancel_through_the_api_stops_a_running_job_on_the_worker(celery_worker_process, project, members, api):
    client = api(members["admin"])
    job_id = client.post(
        "/api/projects/chest/jobs/",
        {"kind": "demo.generate", "params": {"patients": 400, "image_size": 256}},
        format="json",
    ).json()["id"]
    deadline = time.monotonic() + 60
    while Job.objects.get(pk=job_id).status != JobStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    response = client.post(f"/api/projects/chest/jobs/{job_id}/cancel/")
    assert response.status_code == 200
    while Job.objects.get(pk=job_id).status == JobStatus.RUNNING and time.monotonic() < deadline + 60:
        time.sleep(0.1)
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.CANCELLED
    assert job.progress_done < 400
