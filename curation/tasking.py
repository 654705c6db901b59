"""The one task decorator every Celery task uses, and the runner that keeps a Job row current.

`task(...)` sets late acknowledgement, requeue when the worker is lost, time limits and the
queue. `job_task(...)` builds on it for work that a Job row tracks: the wrapped function gets a
JobContext to report progress, counters and per-item errors, and to notice cancellation.
Tasks take only ids and must be idempotent: a message may be delivered twice (late ack).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from config.celery import QUEUES, app

from . import jobkinds
from .models import Job, JobStatus, Role
from .models.jobs import FINISHED_STATUSES

logger = logging.getLogger(__name__)


def task(*, queue: str, time_limit: int = 3600, soft_time_limit: int | None = None, name: str | None = None):
    """Declare a Celery task. Nothing in the project uses a bare shared_task."""
    if queue not in QUEUES:
        raise ValueError(f"Unknown queue {queue!r}; use one of {QUEUES}.")

    def decorator(fn):
        task_name = name or f"{fn.__module__}.{fn.__name__}"
        # Routing by name (Celery deprecates the per-task `queue` attribute).
        routes = dict(app.conf.task_routes or {})
        routes[task_name] = {"queue": queue}
        app.conf.task_routes = routes
        return app.task(
            name=task_name,
            bind=False,
            acks_late=True,
            reject_on_worker_lost=True,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit or max(time_limit - 30, 1),
            ignore_result=True,
        )(fn)

    return decorator


class JobFailed(Exception):
    """Raised by a job for a whole-job failure whose message the user should read as it is."""


class JobCancelled(Exception):
    """Raised inside a job when a user asked to cancel it."""


class JobContext:
    """What a running job uses to report. Writes are batched: at most one UPDATE per interval."""

    FLUSH_INTERVAL = 0.5  # seconds; keeps progress live without hammering the database

    def __init__(self, job: Job):
        self.job = job
        self.params = job.params
        self.project = job.project
        self._done = 0
        self._total = job.progress_total
        self._counters: dict[str, int] = {}
        self._errors: list[dict] = list(job.errors)
        self._error_count = job.error_count
        self._last_flush = 0.0
        self._dirty = False

    # progress ---------------------------------------------------------------------------------
    def set_total(self, total: int) -> None:
        self._total = max(0, int(total))
        self._dirty = True
        self.flush(force=True)

    def add_total(self, extra: int) -> None:
        self.set_total(self._total + int(extra))

    def advance(self, n: int = 1, **counters: int) -> None:
        self._done += n
        for key, value in counters.items():
            self._counters[key] = self._counters.get(key, 0) + value
        self._dirty = True
        self.flush()

    def count(self, **counters: int) -> None:
        self.advance(0, **counters)

    def error(self, item: Any, reason: str) -> None:
        """Record one failed item; the job goes on with the rest."""
        self._error_count += 1
        if len(self._errors) < settings.JOB_ERROR_LIMIT:
            self._errors.append({"item": str(item)[:300], "reason": str(reason)[:500]})
        self._dirty = True
        self.flush()

    def message(self, text: str) -> None:
        Job.objects.filter(pk=self.job.pk).update(message=text[:500], updated_at=timezone.now())

    @property
    def done(self) -> int:
        return self._done

    @property
    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    # persistence ------------------------------------------------------------------------------
    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (not self._dirty or now - self._last_flush < self.FLUSH_INTERVAL):
            return
        Job.objects.filter(pk=self.job.pk).update(
            progress_done=self._done,
            progress_total=max(self._total, self._done),
            counters=self._counters,
            errors=self._errors,
            error_count=self._error_count,
            updated_at=timezone.now(),
        )
        self._last_flush = now
        self._dirty = False
        self.check_cancelled()

    def check_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()


def run_job(job_id: int, fn: Callable[[JobContext], dict | None]) -> None:
    """Run `fn` for the Job row `job_id`, keeping its status, progress and errors current."""
    job = Job.objects.select_related("project", "created_by").filter(pk=job_id).first()
    if job is None:
        logger.warning("Job %s no longer exists; nothing to do.", job_id)
        return
    if job.status in FINISHED_STATUSES:
        # A redelivered message (late ack) for a job that already ended: idempotent no-op.
        logger.info("Job %s is already %s; not running it again.", job_id, job.status)
        return
    if job.cancel_requested:
        _finish(job_id, JobStatus.CANCELLED, message="Cancelled before it started.")
        return
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.RUNNING,
        started_at=job.started_at or now,
        attempts=F("attempts") + 1,
        # A rerun after a lost worker starts counting again; the work itself is idempotent.
        progress_done=0,
        counters={},
        updated_at=now,
    )
    if not claimed:
        return
    job.refresh_from_db()
    ctx = JobContext(job)
    try:
        result = fn(ctx) or {}
    except JobCancelled:
        ctx.flush(force=False)
        _finish(job_id, JobStatus.CANCELLED, ctx=ctx, message="Cancelled by a user.")
    except JobFailed as exc:
        _finish(job_id, JobStatus.FAILED, ctx=ctx, message=str(exc)[:500])
    except SoftTimeLimitExceeded:
        _finish(job_id, JobStatus.FAILED, ctx=ctx, message="Stopped: the job ran past its time limit.")
    except Exception as exc:  # the row must say what happened, whatever it was
        logger.exception("Job %s (%s) failed", job_id, job.kind)
        _finish(job_id, JobStatus.FAILED, ctx=ctx, message=f"{type(exc).__name__}: {exc}"[:500])
    else:
        _finish(job_id, JobStatus.SUCCEEDED, ctx=ctx, result=result)


def _finish(
    job_id: int,
    status: JobStatus,
    *,
    ctx: JobContext | None = None,
    message: str = "",
    result: dict | None = None,
) -> None:
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "updated_at": timezone.now()}
    if message:
        fields["message"] = message
    if result is not None:
        fields["result"] = result
    if ctx is not None:
        done = ctx.done
        total = max(ctx._total, done)
        if status == JobStatus.SUCCEEDED:
            done = total  # a finished job shows a full bar even if the last flush was skipped
        fields.update(
            progress_done=done,
            progress_total=total,
            counters=ctx.counters,
            errors=ctx._errors,
            error_count=ctx._error_count,
        )
    Job.objects.filter(pk=job_id).exclude(status__in=FINISHED_STATUSES).update(**fields)


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""


def job_task(
    *,
    kind: str,
    label: str,
    queue: str,
    start_roles: frozenset[Role] | set[Role],
    time_limit: int = 3600,
    description: str = "",
    clean_params: Callable[[dict, Any], dict] | None = None,
    check_start: Callable[[Any, Any, dict], None] | None = None,
    user_startable: bool = True,
):
    """Declare a job kind and its task. The function receives a JobContext and returns a result dict."""

    def decorator(fn: Callable[[JobContext], dict | None]):
        def run(job_id: int) -> None:
            run_job(job_id, fn)

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        celery_task = task(queue=queue, time_limit=time_limit, name=f"jobs.{kind}")(run)
        jobkinds.register(
            jobkinds.JobKind(
                name=kind,
                label=label,
                queue=queue,
                start_roles=frozenset(start_roles),
                task=celery_task,
                description=description or _first_line(fn.__doc__),
                clean_params=clean_params or (lambda params, project: dict(params)),
                check_start=check_start,
                user_startable=user_startable,
            )
        )
        celery_task.job_function = fn
        return celery_task

    return decorator
