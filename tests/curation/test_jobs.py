"""Jobs as rows: status, progress, counters, bounded errors, cancellation, idempotent redelivery."""

import pytest

from curation import jobkinds
from curation.models import Job, JobStatus, Role
from curation.services import jobs as job_services
from curation.tasking import job_task, run_job

CALLS = []


def _clean(params, project):
    return {
        "items": int(params.get("items", 5)),
        "fail_on": params.get("fail_on"),
        "cancel_at": params.get("cancel_at"),
    }


@job_task(
    kind="test.count", label="Count items", queue="default", start_roles={Role.ADMIN, Role.CURATOR}, clean_params=_clean
)
def count_items(ctx):
    """A test job: walks `items` items, can fail on one or be cancelled midway."""
    ctx.set_total(ctx.params["items"])
    for i in range(ctx.params["items"]):
        CALLS.append(i)
        if ctx.params["cancel_at"] == i:
            Job.objects.filter(pk=ctx.job.pk).update(cancel_requested=True)
            ctx.flush(force=True)
        if ctx.params["fail_on"] == i:
            ctx.error(f"item-{i}", "could not read it")
            ctx.advance(1, failed=1)
            continue
        ctx.advance(1, ok=1)
    return {"seen": ctx.done}


@job_task(kind="test.crash", label="Crash", queue="default", start_roles={Role.ADMIN})
def crash(ctx):
    """A test job that raises."""
    ctx.set_total(3)
    ctx.advance(1)
    raise RuntimeError("disk on fire")


@pytest.fixture(autouse=True)
def _sync_jobs(settings):
    settings.JOBS_IN_PROCESS_THREAD = False
    CALLS.clear()


def test_job_runs_to_success_with_progress_and_counters(project, members, django_capture_on_commit_callbacks):
    # Given a curator starting a job of 5 items
    with django_capture_on_commit_callbacks(execute=True):
        job = job_services.start_job(members["curator"], project, "test.count", {"items": 5})
    # Then it ran in-process after commit and the row tells the whole story
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert (job.progress_done, job.progress_total, job.percent) == (5, 5, 100)
    assert job.counters == {"ok": 5}
    assert job.result == {"seen": 5}
    assert job.attempts == 1
    assert job.created_by == members["curator"]
    assert job.started_at is not None and job.finished_at is not None


def test_job_is_not_sent_before_the_transaction_commits(project, members, django_capture_on_commit_callbacks):
    # Given a job started inside a transaction
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = job_services.start_job(members["admin"], project, "test.count", {"items": 2})
    # Then nothing ran yet: the send waits for the commit
    assert CALLS == []
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    assert len(callbacks) == 1


def test_item_errors_are_recorded_and_the_rest_goes_on(project, members, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_services.start_job(members["admin"], project, "test.count", {"items": 4, "fail_on": 2})
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.counters == {"ok": 3, "failed": 1}
    assert job.error_count == 1
    assert job.errors == [{"item": "item-2", "reason": "could not read it"}]


def test_error_list_is_bounded_but_counted(project, settings):
    # Given a job that reports more errors than the row keeps
    settings.JOB_ERROR_LIMIT = 3
    job = Job.objects.create(kind="test.count", project=project, params={"items": 1})

    def many_errors(ctx):
        for i in range(10):
            ctx.error(i, "bad")

    # When it runs
    run_job(job.pk, many_errors)
    # Then 3 are kept and all 10 are counted
    job.refresh_from_db()
    assert job.error_count == 10
    assert len(job.errors) == 3


def test_a_crash_marks_the_job_failed_with_its_message(project, members, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_services.start_job(members["admin"], project, "test.crash", {})
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.message == "RuntimeError: disk on fire"
    assert (job.progress_done, job.progress_total) == (1, 3)


def test_cancelling_a_queued_job_ends_it_and_the_worker_skips_it(project, members):
    # Given a queued job
    job = Job.objects.create(
        kind="test.count", project=project, params=_clean({}, project), created_by=members["viewer"]
    )
    # When a curator cancels it
    job_services.cancel_job(members["curator"], job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    # Then a late delivery of its message does nothing
    jobkinds.get("test.count").task.apply(args=[job.pk])
    assert CALLS == []


def test_cancelling_a_running_job_stops_it_at_its_next_checkpoint(project, members, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_services.start_job(members["admin"], project, "test.count", {"items": 10, "cancel_at": 3})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert CALLS == [0, 1, 2, 3]
    assert job.message == "Cancelled by a user."


def test_a_finished_job_cannot_be_cancelled(project, members):
    job = Job.objects.create(kind="test.count", project=project, status=JobStatus.SUCCEEDED)
    with pytest.raises(Exception, match="already succeeded"):
        job_services.cancel_job(members["admin"], job)


def test_whoever_started_a_job_may_cancel_it_even_as_viewer(project, members):
    job = Job.objects.create(
        kind="test.count", project=project, params=_clean({}, project), created_by=members["viewer"]
    )
    job_services.cancel_job(members["viewer"], job)
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED


def test_redelivered_message_of_a_succeeded_job_does_not_run_it_again(
    project, members, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_services.start_job(members["admin"], project, "test.count", {"items": 2})
    CALLS.clear()
    jobkinds.get("test.count").task.apply(args=[job.pk])
    assert CALLS == []
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_job_left_running_by_a_lost_worker_runs_again_from_the_start(project):
    # Given a job a worker had started when it died (late ack: the message comes back)
    job = Job.objects.create(
        kind="test.count",
        project=project,
        params=_clean({"items": 3}, project),
        status=JobStatus.RUNNING,
        attempts=1,
        progress_done=2,
    )
    # When the message is delivered again
    jobkinds.get("test.count").task.apply(args=[job.pk])
    # Then it runs again and ends with correct progress
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert (job.attempts, job.progress_done, job.counters) == (2, 3, {"ok": 3})


def test_unknown_kind_and_bad_params_are_clear_errors(project, members):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Unknown job kind 'nope'"):
        job_services.start_job(members["admin"], project, "nope", {})
    with pytest.raises(ValidationError, match="patients"):
        job_services.start_job(members["admin"], project, "demo.generate", {"patients": "many"})


def test_every_task_routes_to_a_known_queue_with_late_ack():
    from config.celery import app

    for kind in jobkinds.all_kinds():
        task = app.tasks[kind.task.name]
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.time_limit > 0
        assert app.conf.task_routes[task.name]["queue"] == kind.queue
        assert kind.queue in {"ingest", "nlp", "qc", "export", "default"}


def test_api_start_and_poll_a_job(project, members, api, django_capture_on_commit_callbacks):
    client = api(members["curator"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/projects/chest/jobs/", {"kind": "test.count", "params": {"items": 3}}, format="json"
        )
    assert response.status_code == 201
    job_id = response.json()["id"]
    body = client.get(f"/api/projects/chest/jobs/{job_id}/").json()
    assert (body["status"], body["percent"], body["counters"]) == ("succeeded", 100, {"ok": 3})
    assert "celery_task_id" not in body


def test_job_list_filters_by_status_and_pages_by_cursor(project, members, api):
    for status in [JobStatus.SUCCEEDED] * 3 + [JobStatus.FAILED] * 2:
        Job.objects.create(kind="test.count", project=project, status=status)
    client = api(members["viewer"])
    failed = client.get("/api/projects/chest/jobs/?status=failed").json()
    assert [j["status"] for j in failed["results"]] == ["failed", "failed"]
    first = client.get("/api/projects/chest/jobs/?page_size=2").json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 2
    assert first["results"][0]["id"] > first["results"][1]["id"] > second["results"][0]["id"]


def test_job_list_query_count_does_not_grow_with_jobs(project, members, api, django_assert_max_num_queries):
    for _ in range(30):
        Job.objects.create(kind="test.count", project=project, created_by=members["admin"])
    client = api(members["viewer"])
    with django_assert_max_num_queries(4):
        response = client.get("/api/projects/chest/jobs/")
    assert len(response.json()["results"]) == 30
