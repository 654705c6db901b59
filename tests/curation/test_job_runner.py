"""The job runner: a message delivered twice runs once, heartbeats, passing errors retried, exclusive kinds,
idempotent re-runs, the time-limit system check, and fan-out over chunks (progress summed, a failed chunk
retried alone, cancel reaching every chunk)."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from curation import jobkinds, jobrunner
from curation.checks import time_limits_below_visibility_timeout
from curation.models import Job, JobChunk, JobStatus
from curation.services.jobs import rerun_job, start_job
from curation.tasking import TIME_LIMITS, FanOut, JobFailed, job_task
from tests.factories import JobFactory

CALLS: list = []


def _body(ctx):
    CALLS.append(ctx.job.pk)
    ctx.set_total(2)
    ctx.advance(2, done=2)
    return {"ok": True}


_flaky_failures = {"left": 0}


def _flaky(ctx):
    CALLS.append(ctx.job.pk)
    if _flaky_failures["left"] > 0:
        _flaky_failures["left"] -= 1
        raise OperationalError("server closed the connection unexpectedly")
    return {"ok": True}


def _plan(ctx):
    n = int(ctx.params.get("n", 7))
    return FanOut(chunks=[{"lo": i, "hi": min(i + 3, n) - 1} for i in range(0, n, 3)], total=n, state={"n": n})


_chunk_failures: dict[int, int] = {}


def _chunk(ctx, spec):
    if _chunk_failures.get(spec["lo"], 0) > 0:
        _chunk_failures[spec["lo"]] -= 1
        raise RuntimeError("worker lost its storage connection")
    if spec.get("lo") == 3 and ctx.params.get("fail_permanently"):
        raise JobFailed("this slice cannot be read")
    items = spec["hi"] - spec["lo"] + 1
    CALLS.append(("chunk", spec["lo"]))
    ctx.advance(items, items=items)
    if ctx.params.get("cancel_after_first"):
        Job.objects.filter(pk=ctx.job.pk).update(cancel_requested=True)
    return {"items": items}


def _finish(ctx, state, results):
    return {"n": state["n"], "summed": sum(r["items"] for r in results)}


_once_task = job_task(kind="test.once", label="Test once", queue="default", start_roles={"admin"})(_body)
_flaky_task = job_task(kind="test.flaky", label="Test flaky", queue="default", start_roles={"admin"})(_flaky)
_exclusive_task = job_task(
    kind="test.exclusive", label="Test exclusive", queue="default", start_roles={"admin"}, exclusive=True
)(_body)
_fanout_task = job_task(
    kind="test.fanout", label="Test fan-out", queue="default", start_roles={"admin"}, chunk=_chunk, finish=_finish
)(_plan)


@pytest.fixture(autouse=True)
def _reset(settings):
    CALLS.clear()
    _chunk_failures.clear()
    _flaky_failures["left"] = 0
    settings.JOBS_IN_PROCESS_THREAD = False
    settings.JOB_RETRY_BASE_DELAY = 0
    settings.JOB_HEARTBEAT_SECONDS = 0


def _run(job):
    jobkinds.get(job.kind).task.apply(args=[job.pk])
    job.refresh_from_db()
    return job


# --- claiming -------------------------------------------------------------------------------------------
def test_a_second_delivery_of_a_running_job_with_a_fresh_heartbeat_does_nothing(project):
    # Given a job another runner is working on (its heartbeat is seconds old)
    job = JobFactory(project=project, kind="test.once", status=JobStatus.RUNNING, attempts=1)
    Job.objects.filter(pk=job.pk).update(runner="other", heartbeat_at=timezone.now())
    # When the same message is delivered again
    job = _run(job)
    # Then the body does not run a second time and the other runner keeps the job
    assert CALLS == []
    assert (job.status, job.runner, job.attempts) == (JobStatus.RUNNING, "other", 1)


def test_a_running_job_whose_runner_stopped_beating_is_taken_over(project, settings):
    # Given a job whose runner's last heartbeat is older than the stale limit
    job = JobFactory(project=project, kind="test.once", status=JobStatus.RUNNING, attempts=1)
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    Job.objects.filter(pk=job.pk).update(runner="dead", heartbeat_at=stale)
    # When its message comes again
    job = _run(job)
    # Then this runner claims it and finishes it
    assert CALLS == [job.pk]
    assert (job.status, job.attempts, job.progress_done) == (JobStatus.SUCCEEDED, 2, 2)
    assert job.runner not in ("", "dead")


def test_a_finished_job_is_never_run_again(project):
    job = JobFactory(project=project, kind="test.once", status=JobStatus.SUCCEEDED)
    _run(job)
    assert CALLS == []


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_beats_while_the_body_works(project, settings):
    # Given a heartbeat every 0.05 s and a body that takes a few beats without reporting progress
    import time

    settings.JOB_HEARTBEAT_SECONDS = 0.05
    job = JobFactory(project=project, kind="test.once", status=JobStatus.RUNNING, runner="me")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    # When the heartbeat runs beside a body that sleeps
    with jobrunner.Heartbeat(Job, job.pk, "me"):
        time.sleep(0.3)
    # Then the row's heartbeat is fresh
    job.refresh_from_db()
    assert timezone.now() - job.heartbeat_at < timedelta(seconds=1)


# --- passing errors ---------------------------------------------------------------------------------------
def test_a_passing_database_error_is_retried_and_the_job_succeeds(project):
    _flaky_failures["left"] = 2
    job = _run(JobFactory(project=project, kind="test.flaky"))
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 3)
    assert CALLS == [job.pk] * 3


def test_a_job_that_keeps_failing_gives_up_after_its_attempts(project, settings):
    _flaky_failures["left"] = 99
    job = _run(JobFactory(project=project, kind="test.flaky"))
    assert job.status == JobStatus.FAILED
    assert job.attempts == settings.JOB_MAX_ATTEMPTS
    assert job.message == f"Gave up after {settings.JOB_MAX_ATTEMPTS} attempts: OperationalError"


# --- exclusive kinds and re-runs ------------------------------------------------------------------------
def test_an_exclusive_kind_runs_once_per_project_at_a_time(members, project, api, monkeypatch):
    monkeypatch.setattr("curation.dispatch.send", lambda job: None)
    client = api(members["admin"])
    first = client.post("/api/projects/chest/jobs/", {"kind": "qc.run", "params": {}}, format="json")
    second = client.post("/api/projects/chest/jobs/", {"kind": "qc.run", "params": {}}, format="json")
    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["detail"] == (
        f"A mask qc job is already queued or running in this project (job #{first.json()['id']})."
    )
    # Other kinds are not held back
    assert client.post("/api/projects/chest/jobs/", {"kind": "nlp.mine_labels"}, format="json").status_code == 201


def test_rerunning_twice_gives_the_same_new_job(members, project, api, monkeypatch):
    monkeypatch.setattr("curation.dispatch.send", lambda job: None)
    failed = JobFactory(project=project, kind="test.once", status=JobStatus.FAILED)
    client = api(members["admin"])
    first = client.post(f"/api/projects/chest/jobs/{failed.pk}/rerun/")
    second = client.post(f"/api/projects/chest/jobs/{failed.pk}/rerun/")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Job.objects.filter(kind="test.once").count() == 2
    new, created = rerun_job(members["admin"], failed)
    assert (new.pk, created) == (first.json()["id"], False)


# --- the system check -----------------------------------------------------------------------------------
def test_the_system_check_refuses_a_time_limit_past_the_visibility_timeout(settings, monkeypatch):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    monkeypatch.setitem(TIME_LIMITS, "jobs.too.long", 7200)
    errors = time_limits_below_visibility_timeout()
    assert [e.id for e in errors if "jobs.too.long" in e.msg] == ["curation.E001"]


def test_every_declared_task_fits_in_the_default_visibility_timeout():
    assert time_limits_below_visibility_timeout() == []


# --- fan-out ----------------------------------------------------------------------------------------------
def test_a_fanned_out_job_runs_every_chunk_once_and_sums_them(project):
    # Given a job of 7 items in chunks of 3
    job = _run(JobFactory(project=project, kind="test.fanout", params={"n": 7}))
    # Then three chunks ran once each, and the job's progress and counters are their sums
    assert sorted(c for c in CALLS if c[0] == "chunk") == [("chunk", 0), ("chunk", 3), ("chunk", 6)]
    assert job.status == JobStatus.SUCCEEDED
    assert (job.progress_done, job.progress_total, job.counters) == (7, 7, {"items": 7})
    assert job.result == {"n": 7, "summed": 7}
    assert list(JobChunk.objects.filter(job=job).values_list("status", flat=True)) == ["succeeded"] * 3


def test_a_failed_chunk_is_retried_alone(project):
    # Given a chunk that fails twice before it works
    _chunk_failures[3] = 2
    job = _run(JobFactory(project=project, kind="test.fanout", params={"n": 7}))
    # Then only that chunk ran again; the others ran once; the sums are not doubled
    chunk = JobChunk.objects.get(job=job, index=1)
    assert chunk.attempts == 3
    assert [JobChunk.objects.get(job=job, index=i).attempts for i in (0, 2)] == [1, 1]
    assert (job.status, job.progress_done, job.counters) == (JobStatus.SUCCEEDED, 7, {"items": 7})


def test_a_chunk_that_cannot_work_fails_the_job_with_its_reason(project):
    job = _run(JobFactory(project=project, kind="test.fanout", params={"n": 7, "fail_permanently": True}))
    assert job.status == JobStatus.FAILED
    assert job.message == "1 of 3 chunks failed (first: this slice cannot be read)"
    assert job.counters == {"items": 4}  # what the other chunks did stands


def test_cancel_reaches_every_chunk(project):
    job = _run(JobFactory(project=project, kind="test.fanout", params={"n": 9, "cancel_after_first": True}))
    assert job.status == JobStatus.CANCELLED
    statuses = list(JobChunk.objects.filter(job=job).order_by("index").values_list("status", flat=True))
    assert statuses == ["succeeded", "cancelled", "cancelled"]  # the first finished its slice before it noticed
    assert [c for c in CALLS if c[0] == "chunk"] == [("chunk", 0)]


def test_a_redelivered_planner_message_resends_only_the_unfinished_chunks(project):
    # Given a fanned-out job whose first chunk is done and whose planner's worker was lost
    job = JobFactory(project=project, kind="test.fanout", params={"n": 7}, status=JobStatus.RUNNING)
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(hours=1), result={"fanout": {"n": 7}}, progress_total=7
    )
    JobChunk.objects.create(job=job, index=0, spec={"lo": 0, "hi": 2}, status="succeeded", result={"items": 3})
    JobChunk.objects.create(job=job, index=1, spec={"lo": 3, "hi": 5})
    JobChunk.objects.create(job=job, index=2, spec={"lo": 6, "hi": 6})
    # When its message is delivered again
    job = _run(job)
    # Then the plan is not made again: the two open chunks run and finish the job
    assert sorted(c for c in CALLS if c[0] == "chunk") == [("chunk", 3), ("chunk", 6)]
    assert job.status == JobStatus.SUCCEEDED
    assert job.result == {"n": 7, "summed": 7}


def test_start_job_refuses_nothing_for_system_kinds(project):
    # The system (actor None) may start a kind whatever its roles
    job = start_job(None, project, "test.once", {})
    assert job.status == JobStatus.QUEUED
