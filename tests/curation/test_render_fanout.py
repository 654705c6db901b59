"""The render job fanned out over chunks: the plan takes the images pending at that moment, chunks are summed,
a failed image fails only itself, a retried or redelivered chunk renders only what is still pending, cancel
reaches every chunk, the CLI renders in-process with a broker set, and (PostgreSQL) two runners never render
one image twice."""

import os
import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, connections
from django.utils import timezone

from curation import dispatch, jobrunner
from curation.models import Image, Job, JobChunk, JobStatus, RenderStatus
from curation.services import ingest, rendering
from curation.services.jobs import start_job
from tests.bad_inputs import claim_size, small_dicom
from tests.factories import JobFactory

HUGE = "image is 30000x30000 (900 megapixels), over the limit of 100 megapixels"


@pytest.fixture(autouse=True)
def _small_chunks(settings, monkeypatch):
    settings.JOBS_IN_PROCESS_THREAD = False
    settings.JOB_RETRY_BASE_DELAY = 0
    settings.JOB_HEARTBEAT_SECONDS = 0
    monkeypatch.setattr(rendering, "RENDER_CHUNK_ITEMS", 2)


def _import(tmp_path, n: int, huge_at: int | None = None) -> list[int]:
    """Import n small DICOM files (the one at `huge_at` claiming 30000²), then set them all pending again,
    as if imported before a render; their ids in order."""
    folder = tmp_path / "dicom"
    folder.mkdir()
    for i in range(n):
        if i == huge_at:
            claim_size(small_dicom(tmp_path, "huge-source.dcm", f"2.25.9{i}"), folder / f"{i:02d}.dcm", 30000, 30000)
        else:
            small_dicom(folder, f"{i:02d}.dcm", f"2.25.9{i}")
    summary = ingest.import_from_cli("chest", "dicom", str(folder))
    assert summary["imported"] == n, summary
    Image.objects.update(render_status=RenderStatus.PENDING, display="", display16="", thumbnail="")
    return list(Image.objects.order_by("pk").values_list("pk", flat=True))


def _render_job(project_slug: str = "chest") -> Job:
    from curation.models import Project

    with dispatch.run_in_process():
        job = start_job(None, Project.objects.get(slug=project_slug), "ingest.render", {})
    job.refresh_from_db()
    return job


def _recording_render_one(monkeypatch, before=None) -> list[int]:
    """Wrap render_one to record the images it renders (and run `before(image)` first); the list it fills."""
    calls: list[int] = []
    real = rendering.render_one

    def render_one(project, image):
        if before is not None:
            before(image)
        calls.append(image.pk)
        return real(project, image)

    monkeypatch.setattr(rendering, "render_one", render_one)
    return calls


def _chunks(job: Job) -> list[JobChunk]:
    return list(JobChunk.objects.filter(job=job).order_by("index"))


def test_the_plan_chunks_the_pending_images_and_the_job_sums_the_chunks(db, tmp_path, monkeypatch):
    # Given five imported images, one of them already rendered
    ids = _import(tmp_path, 5)
    done = Image.objects.get(pk=ids[2])
    Image.objects.filter(pk=done.pk).update(render_status=RenderStatus.DONE)
    calls = _recording_render_one(monkeypatch)
    # When the render job runs with chunks of two images
    job = _render_job()
    # Then the plan holds the four pending images, two per chunk, and only those are rendered, once each
    chunks = _chunks(job)
    assert [c.spec for c in chunks] == [{"ids": [ids[0], ids[1]]}, {"ids": [ids[3], ids[4]]}]
    assert sorted(calls) == [ids[0], ids[1], ids[3], ids[4]]
    assert [(c.status, c.counters, c.result) for c in chunks] == [
        ("succeeded", {"rendered": 2}, {"rendered": 2, "failed": 0}),
    ] * 2
    # And the job's progress, counters and result are the chunks' sums, with the render job's result keys
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert (job.progress_done, job.progress_total) == (4, 4)
    assert job.counters == {"rendered": 4}
    assert job.result == {"rendered": 4, "failed": 0}
    assert Image.objects.filter(render_status=RenderStatus.DONE).count() == 5
    assert all(Image.objects.filter(pk__in=calls).values_list("display", flat=True))


def test_a_second_render_job_finds_nothing_pending_and_renders_nothing(db, tmp_path, monkeypatch):
    # Given images that a first render job rendered
    _import(tmp_path, 3)
    first = _render_job()
    assert first.result == {"rendered": 3, "failed": 0}
    calls = _recording_render_one(monkeypatch)
    # When the job is run again
    again = _render_job()
    # Then it plans no chunk, renders nothing and succeeds with zero counts
    assert (again.status, again.result, again.counters) == (JobStatus.SUCCEEDED, {"rendered": 0, "failed": 0}, {})
    assert (calls, _chunks(again)) == ([], [])


def test_a_failed_image_fails_only_itself_and_its_chunk_goes_on(db, tmp_path, monkeypatch, settings):
    # Given three images in one chunk: the first runs out of memory, the second claims 30000², the third is fine
    settings.IMAGE_MAX_PIXELS = 10**12  # imported before the limit existed
    ids = _import(tmp_path, 3, huge_at=1)
    settings.IMAGE_MAX_PIXELS = 100_000_000
    monkeypatch.setattr(rendering, "RENDER_CHUNK_ITEMS", 3)
    import curation.dicomio

    real_render_all = curation.dicomio.render_all

    def render_all(fh, max_pixels):
        if not Image.objects.filter(render_status=RenderStatus.FAILED).exists():
            raise MemoryError()
        return real_render_all(fh, max_pixels=max_pixels)

    monkeypatch.setattr(curation.dicomio, "render_all", render_all)
    # When the render job runs
    job = _render_job()
    # Then each bad image is failed with its reason, the third is rendered, and the chunk and job succeed
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert [(c.status, c.counters) for c in _chunks(job)] == [("succeeded", {"failed": 2, "rendered": 1})]
    assert job.counters == {"failed": 2, "rendered": 1}
    assert job.result == {"rendered": 1, "failed": 2}
    rows = {
        pk: (status, error) for pk, status, error in Image.objects.values_list("pk", "render_status", "render_error")
    }
    assert rows == {
        ids[0]: (RenderStatus.FAILED, "not enough memory to render the image"),
        ids[1]: (RenderStatus.FAILED, HUGE),
        ids[2]: (RenderStatus.DONE, ""),
    }
    assert [e["reason"] for e in job.errors] == ["not enough memory to render the image", HUGE]
    assert job.error_count == 2


def test_a_chunk_retried_alone_renders_only_what_its_first_attempt_left(db, tmp_path, monkeypatch, settings):
    # Given a chunk of three images: a good one, one claiming 30000², and one whose render hits a dropped
    # database connection the first time
    settings.IMAGE_MAX_PIXELS = 10**12
    ids = _import(tmp_path, 3, huge_at=1)
    settings.IMAGE_MAX_PIXELS = 100_000_000
    monkeypatch.setattr(rendering, "RENDER_CHUNK_ITEMS", 3)
    dropped = {"left": 1}

    def drop_once(image):
        if image.pk == ids[2] and dropped["left"]:
            dropped["left"] -= 1
            raise OperationalError("server closed the connection unexpectedly")

    calls = _recording_render_one(monkeypatch, before=drop_once)
    # When the render job runs
    job = _render_job()
    # Then the chunk ran twice, and its second attempt rendered only the image still pending
    (chunk,) = _chunks(job)
    assert chunk.attempts == 2
    assert calls == [ids[0], ids[1], ids[2]]  # the third is recorded once: its first try failed before rendering
    assert Image.objects.filter(render_status=RenderStatus.DONE).count() == 2
    # And what the first attempt did still counts, once: no image is counted as skipped or twice
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert (chunk.counters, job.counters) == ({"rendered": 2, "failed": 1}, {"rendered": 2, "failed": 1})
    assert job.result == {"rendered": 2, "failed": 1}
    assert ([e["reason"] for e in job.errors], job.error_count) == ([HUGE], 1)
    assert (job.progress_done, job.progress_total) == (3, 3)


def test_a_chunk_taken_over_from_a_lost_worker_renders_only_pending_images(db, project, tmp_path, monkeypatch):
    # Given a render job whose only chunk's worker was lost after rendering (and reporting) its first image
    ids = _import(tmp_path, 3)
    Image.objects.filter(pk=ids[0]).update(**rendering.render_one(project, Image.objects.get(pk=ids[0])))
    job = JobFactory(project=project, kind="ingest.render", params={}, status=JobStatus.RUNNING)
    Job.objects.filter(pk=job.pk).update(result={"fanout": {}, "chunks": 1}, progress_total=3, progress_done=1)
    old = timezone.now() - timedelta(hours=1)
    JobChunk.objects.create(
        job=job,
        index=0,
        spec={"ids": ids},
        status=JobStatus.RUNNING,
        attempts=1,
        progress_done=1,
        counters={"rendered": 1},
        heartbeat_at=old,
        runner="lost",
    )
    calls = _recording_render_one(monkeypatch)
    # When its message is delivered again
    jobrunner.run_chunk(job.pk, 0)
    # Then the chunk renders the two pending images only, and the job counts each image once
    job.refresh_from_db()
    assert calls == ids[1:]
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert (job.counters, job.result) == ({"rendered": 3}, {"rendered": 3, "failed": 0})
    assert (job.progress_done, job.progress_total) == (3, 3)


def test_a_chunk_skips_images_another_job_rendered_since_the_plan(db, project, tmp_path, monkeypatch):
    # Given a planned chunk of three images, one of which another render job has rendered since
    ids = _import(tmp_path, 3)
    Image.objects.filter(pk=ids[1]).update(render_status=RenderStatus.DONE)
    job = JobFactory(project=project, kind="ingest.render", params={}, status=JobStatus.RUNNING)
    Job.objects.filter(pk=job.pk).update(result={"fanout": {}, "chunks": 1}, progress_total=3)
    JobChunk.objects.create(job=job, index=0, spec={"ids": ids})
    calls = _recording_render_one(monkeypatch)
    # When the chunk runs
    jobrunner.run_chunk(job.pk, 0)
    # Then it renders the two others and counts that one as skipped, not rendered
    job.refresh_from_db()
    assert calls == [ids[0], ids[2]]
    assert (job.counters, job.result) == ({"rendered": 2, "skipped": 1}, {"rendered": 2, "failed": 0})
    assert (job.progress_done, job.progress_total) == (3, 3)


def test_cancel_stops_the_remaining_chunks(db, tmp_path, monkeypatch):
    # Given six pending images (three chunks), and a user who cancels while the first image renders
    ids = _import(tmp_path, 6)

    def cancel(image):
        Job.objects.filter(kind="ingest.render", status=JobStatus.RUNNING).update(cancel_requested=True)

    calls = _recording_render_one(monkeypatch, before=cancel)
    # When the render job runs
    job = _render_job()
    # Then the job is cancelled, the later chunks never started, and their images are still pending
    assert job.status == JobStatus.CANCELLED
    chunks = _chunks(job)
    assert [c.status for c in chunks[1:]] == [JobStatus.CANCELLED, JobStatus.CANCELLED]
    assert [c.attempts for c in chunks] == [1, 0, 0]
    assert set(calls) <= set(ids[:2]) and calls[0] == ids[0]
    assert set(Image.objects.filter(render_status=RenderStatus.PENDING).values_list("pk", flat=True)) >= set(ids[2:])
    # And what the first chunk rendered before it stopped stays rendered
    assert Image.objects.get(pk=ids[0]).render_status == RenderStatus.DONE


def test_the_cli_renders_every_chunk_in_process_even_with_a_broker_set(db, tmp_path, settings):
    # Given a deployment with a broker (jobs normally go to workers) and no worker running
    settings.JOBS_IN_PROCESS = False
    folder = tmp_path / "dicom"
    folder.mkdir()
    for i in range(5):
        small_dicom(folder, f"{i}.dcm", f"2.25.7{i}")
    # When the CLI imports a folder (the import and its render job run here and now)
    summary = ingest.import_from_cli("chest", "dicom", str(folder))
    # Then every chunk of the render job ran in-process and every image is rendered
    render = Job.objects.get(pk=summary["render_job"])
    assert (summary["ok"], summary["rendered"], render.status) == (True, 5, JobStatus.SUCCEEDED)
    assert JobChunk.objects.filter(job=render, status=JobStatus.SUCCEEDED).count() == 3
    assert set(Image.objects.values_list("render_status", flat=True)) == {RenderStatus.DONE}


# --- PostgreSQL: two runners at once -------------------------------------------------------------------
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


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_chunk_runners_never_render_the_same_image(project, tmp_path, monkeypatch):
    if connection.vendor != "postgresql" and os.environ.get("CI", "").lower() != "true":
        pytest.skip("concurrency tests need PostgreSQL (DATABASE_URL=postgres://...)")
    # Given two render jobs (two imports each started one) whose chunks hold the same eight pending images
    ids = _import(tmp_path, 8)
    jobs = []
    for _ in range(2):
        job = JobFactory(project=project, kind="ingest.render", params={}, status=JobStatus.RUNNING)
        Job.objects.filter(pk=job.pk).update(result={"fanout": {}, "chunks": 1}, progress_total=len(ids))
        JobChunk.objects.create(job=job, index=0, spec={"ids": ids})
        jobs.append(job)
    lock = threading.Lock()
    calls: list[int] = []
    real = rendering.render_one

    def render_one(project, image):
        with lock:
            calls.append(image.pk)
        time.sleep(0.05)  # a render takes a while: the other runner reaches the image meanwhile
        return real(project, image)

    monkeypatch.setattr(rendering, "render_one", render_one)
    # When both chunks run at the same moment on two workers
    results = _together([lambda job=job: jobrunner.run_chunk(job.pk, 0) for job in jobs])
    # Then every image was rendered exactly once, by one runner or the other
    assert results == [None, None]
    assert sorted(calls) == ids
    assert set(Image.objects.values_list("render_status", flat=True)) == {RenderStatus.DONE}
    # And the two jobs succeeded, their rendered counts adding up to the images, the rest counted as skipped
    for job in jobs:
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.message
    assert sum(j.result["rendered"] for j in jobs) == len(ids)
    assert sum(j.counters.get("skipped", 0) for j in jobs) == len(ids)
