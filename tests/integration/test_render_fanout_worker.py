"""The render job fanned out on a real Celery worker: the plan and its chunks go through the broker on the
ingest queue, and every pending image ends rendered once."""

import time

import pytest

from curation.models import Image, Job, JobChunk, JobStatus, RenderStatus
from curation.services import ingest, rendering
from curation.services.jobs import start_job
from tests.bad_inputs import small_dicom

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_render_chunks_run_on_the_worker_and_render_every_image(celery_worker_process, project, tmp_path):
    # Given more pending images than one chunk holds (imported here, then set pending again)
    n = rendering.RENDER_CHUNK_ITEMS + 5
    folder = tmp_path / "dicom"
    folder.mkdir()
    for i in range(n):
        small_dicom(folder, f"{i:03d}.dcm", f"2.25.8{i:03d}")
    assert ingest.import_from_cli("chest", "dicom", str(folder))["imported"] == n
    Image.objects.update(render_status=RenderStatus.PENDING, display="", display16="", thumbnail="")
    # When a render job is sent to the worker
    job = start_job(None, project, "ingest.render", {})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
            break
        time.sleep(0.2)
    # Then the worker planned two chunks, ran both, and every image is rendered once
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.celery_task_id != ""  # sent through the broker, not run in-process
    chunks = list(JobChunk.objects.filter(job=job).order_by("index"))
    assert [(len(c.spec["ids"]), c.status, c.attempts) for c in chunks] == [
        (rendering.RENDER_CHUNK_ITEMS, "succeeded", 1),
        (5, "succeeded", 1),
    ]
    assert (job.result, job.counters) == ({"rendered": n, "failed": 0}, {"rendered": n})
    assert (job.progress_done, job.progress_total) == (n, n)
    assert set(Image.objects.values_list("render_status", flat=True)) == {RenderStatus.DONE}
    assert Job.objects.filter(kind="ingest.render", status=JobStatus.SUCCEEDED).count() == 2  # the import's and this
