"""Jobs under concurrency on PostgreSQL: the same message delivered twice runs the job once, five concurrent
re-runs make one job, and two imports of the same files at once both succeed with every row written once."""

import io
import os
import threading
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from rest_framework.test import APIClient

from curation import jobkinds
from curation.demo import generate_dataset
from curation.models import Image, Job, JobStatus, Role, Study
from curation.services import uploads
from curation.services.jobs import start_job
from curation.tasking import job_task
from tests.factories import JobFactory

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

RUNS: list[int] = []


def _slow(ctx):
    RUNS.append(ctx.job.pk)
    time.sleep(1.0)
    ctx.set_total(1)
    ctx.advance(1)
    return {}


_slow_task = job_task(kind="test.slow", label="Slow", queue="default", start_roles={Role.ADMIN})(_slow)


@pytest.fixture(autouse=True)
def _postgres_only(settings):
    if connection.vendor != "postgresql" and os.environ.get("CI", "").lower() != "true":
        pytest.skip("concurrency tests need PostgreSQL (DATABASE_URL=postgres://...)")
    settings.JOBS_IN_PROCESS_THREAD = False
    settings.JOB_HEARTBEAT_SECONDS = 0.2
    RUNS.clear()


def _together(functions):
    """Run the callables at the same moment on their own threads (own connections); return their results."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except BaseException as exc:  # the test reads it
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(functions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_the_same_message_delivered_twice_runs_the_job_once(project):
    # Given a queued job
    job = JobFactory(project=project, kind="test.slow")
    task = jobkinds.get("test.slow").task
    # When two workers get its message at the same moment
    _together([lambda: task.apply(args=[job.pk]), lambda: task.apply(args=[job.pk])])
    # Then the body ran once and the job succeeded once
    job.refresh_from_db()
    assert RUNS == [job.pk]
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)


def test_five_concurrent_reruns_make_one_job(project, members, monkeypatch):
    # Given a failed job and five clients of its admin
    monkeypatch.setattr("curation.dispatch.send", lambda job: None)
    failed = JobFactory(project=project, kind="test.slow", status=JobStatus.FAILED)

    def rerun():
        client = APIClient()
        client.force_authenticate(members["admin"])
        response = client.post(f"/api/projects/chest/jobs/{failed.pk}/rerun/")
        return response.status_code, response.json()["id"]

    # When they all ask for a re-run at once
    results = _together([rerun] * 5)
    # Then one new job exists and every answer names it
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sorted(code for code, _ in results) == [200, 200, 200, 200, 201]
    assert len({job_id for _, job_id in results}) == 1
    assert Job.objects.filter(kind="test.slow").count() == 2


def test_two_imports_of_the_same_files_at_once_both_succeed_with_the_rows_once(project, members, tmp_path, monkeypatch):
    # Given the same DICOM files uploaded twice
    monkeypatch.setattr("curation.dispatch.send", lambda job: None)
    generate_dataset(tmp_path / "data", n_patients=2, seed=5, image_size=64)
    files = sorted((tmp_path / "data" / "dicom").rglob("*.dcm"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in files:
            zf.write(path, path.relative_to(tmp_path / "data").as_posix())
        zf.write(tmp_path / "data" / "reports.csv", "reports.csv")
    jobs = []
    for _ in range(2):
        upload = uploads.save_upload(
            members["admin"], project, SimpleUploadedFile("batch.zip", buf.getvalue()), "batch.zip"
        )
        jobs.append(start_job(members["admin"], project, "ingest.import", {"source": "dicom", "upload": upload.pk}))
    task = jobkinds.get("ingest.import").task
    # When both import jobs run at the same moment
    results = _together([lambda j=j: task.apply(args=[j.pk]) for j in jobs])
    # Then both succeed, one imported every file and the other found them all
    assert all(not isinstance(r, BaseException) for r in results), results
    for job in jobs:
        job.refresh_from_db()
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED], [j.message for j in jobs]
    counts = sorted((j.counters.get("imported", 0), j.counters.get("duplicates", 0)) for j in jobs)
    assert counts == [(0, len(files)), (len(files), 0)]
    assert Image.objects.filter(project=project).count() == len(files)
    assert Study.objects.filter(project=project).count() == len({p.parent for p in files})
