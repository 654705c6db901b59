"""Running a job, or one chunk of a fanned-out job, exactly once at a time, whatever the broker delivers.

A runner first claims the row (`select_for_update(nowait=True)` plus a status check, Grand Challenge's
`provision_job` pattern): a message for a finished job is a no-op, and a second delivery for a job whose
runner still beats its heartbeat is refused and looked at again later. While it runs, a heartbeat
thread keeps `heartbeat_at` fresh even inside a long item. Transient database and storage errors send
the work back to its queue with a growing delay. A job body that returns `FanOut` is split into
`JobChunk` rows that any worker on the queue takes; the last chunk to end finishes the job.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from . import dispatch, jobkinds
from .jobcontext import ChunkContext, JobCancelled, JobContext, JobFailed
from .models import Job, JobChunk, JobStatus
from .models.jobs import FINISHED_STATUSES

logger = logging.getLogger(__name__)


def _transient_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError, ConnectionError, TimeoutError]
    try:  # S3-compatible storage: a dropped connection or a slow endpoint is worth another try
        from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

        errors += [ConnectionClosedError, EndpointConnectionError, ReadTimeoutError]
    except ImportError:  # pragma: no cover - botocore ships with django-storages[s3]
        pass
    return tuple(errors)


TRANSIENT_ERRORS = _transient_errors()


@dataclass
class FanOut:
    """What a job body returns to split its work: one spec (small JSON) per chunk, the progress total,
    and values the finish step needs (stored on the job as `result["fanout"]`)."""

    chunks: list[dict]
    total: int
    state: dict = field(default_factory=dict)


# --- claiming ---------------------------------------------------------------------------------------
def _is_fresh(heartbeat_at) -> bool:
    return heartbeat_at is not None and timezone.now() - heartbeat_at < timedelta(seconds=settings.JOB_STALE_SECONDS)


def _claim_job(job_id: int, runner: str, kind) -> tuple[Job, bool] | None:
    """Lock the row and take it, or say why not (None): (job, whether it already has chunks to resume).
    Only QUEUED jobs, or RUNNING ones whose runner stopped beating, can be taken."""
    try:
        with transaction.atomic():
            job = Job.objects.select_for_update(nowait=True, of=("self",)).select_related("project", "created_by")
            job = job.filter(pk=job_id).first()
            if job is None:
                logger.warning("Job %s no longer exists; nothing to do.", job_id)
                return None
            if job.status in FINISHED_STATUSES:
                logger.info("Job %s is already %s; not running it again.", job_id, job.status)
                return None
            if job.cancel_requested:
                _finish_row(job, JobStatus.CANCELLED, message="Cancelled before it started.")
                return None
            if job.status == JobStatus.RUNNING and _is_fresh(job.heartbeat_at):
                logger.info("Job %s is running elsewhere (runner %s); this delivery steps aside.", job_id, job.runner)
                _look_again_later(job_id, kind)
                return None
            now = timezone.now()
            resuming = job.chunks.exists()
            job.status = JobStatus.RUNNING
            job.runner = runner
            job.heartbeat_at = now
            job.started_at = job.started_at or now
            job.attempts += 1
            fields = ["status", "runner", "heartbeat_at", "started_at", "attempts", "updated_at"]
            if not resuming:  # a new attempt counts again; the work itself is idempotent
                job.progress_done = 0
                job.counters = {}
                fields += ["progress_done", "counters"]
            job.save(update_fields=fields)
            return job, resuming
    except DatabaseError as exc:
        if not _is_lock_error(exc):
            raise
        logger.info("Job %s is being claimed by another runner right now.", job_id)
        _look_again_later(job_id, kind)
        return None


def _is_lock_error(exc: DatabaseError) -> bool:
    text = str(exc).lower()
    return "could not obtain lock" in text or "lock not available" in text or "database is locked" in text


def _look_again_later(job_id: int, kind) -> None:
    """A duplicate delivery steps aside, but checks back: if the other runner dies, this one takes over."""
    if settings.JOBS_IN_PROCESS or kind is None:
        return
    kind.task.apply_async(args=[job_id], queue=kind.queue, countdown=settings.JOB_STALE_SECONDS)


class Heartbeat:
    """A thread that keeps a row's `heartbeat_at` fresh while its runner works (also inside long items)."""

    def __init__(self, model, pk: int, runner: str):
        self.model, self.pk, self.runner = model, pk, runner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)

    def __enter__(self):
        if settings.JOB_HEARTBEAT_SECONDS > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        return False

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    self.model.objects.filter(pk=self.pk, runner=self.runner).update(heartbeat_at=timezone.now())
                except DatabaseError:  # a missed beat is not an error; the next one may land
                    logger.warning("Heartbeat for %s %s missed", self.model.__name__, self.pk)
        finally:
            connection.close()


# --- whole jobs -------------------------------------------------------------------------------------
def run_job(job_id: int, fn) -> None:
    """Run the body `fn` for the Job row `job_id`, keeping its status, progress and errors current."""
    kind = _kind_of(job_id)
    runner = uuid.uuid4().hex
    claimed = _claim_job(job_id, runner, kind)
    if claimed is None:
        return
    job, resuming = claimed
    if resuming:
        # A fanned-out job whose message came again (its planner's worker was lost after planning):
        # send the chunks that are not done, and let them finish the job.
        _send_chunks(job, kind, resend=True)
        return
    ctx = JobContext(job)
    with Heartbeat(Job, job.pk, runner):
        try:
            result = fn(ctx) or {}
        except JobCancelled:
            _finish(job, JobStatus.CANCELLED, ctx=ctx, message="Cancelled by a user.")
        except JobFailed as exc:
            _finish(job, JobStatus.FAILED, ctx=ctx, message=str(exc)[:500])
        except SoftTimeLimitExceeded:
            _finish(job, JobStatus.FAILED, ctx=ctx, message="Stopped: the job ran past its time limit.")
        except TRANSIENT_ERRORS as exc:
            _retry_job_later(job, kind, ctx, exc, fn)
            return
        except Exception as exc:  # the row must say what happened, whatever it was
            logger.exception("Job %s (%s) failed", job_id, job.kind)
            _finish(job, JobStatus.FAILED, ctx=ctx, message=f"{type(exc).__name__}: {exc}"[:500])
        else:
            if isinstance(result, FanOut):
                _start_fanout(job, kind, ctx, result)
                return
            _finish(job, JobStatus.SUCCEEDED, ctx=ctx, result=result)
    _after_job(job)


def _kind_of(job_id: int):
    return jobkinds.get(Job.objects.filter(pk=job_id).values_list("kind", flat=True).first() or "")


def _retry_delay(attempts: int) -> int:
    """Seconds before the next try: base × 2^(tries so far − 1), capped."""
    return min(settings.JOB_RETRY_MAX_DELAY, settings.JOB_RETRY_BASE_DELAY * 2 ** (attempts - 1))


def _retry_job_later(job: Job, kind, ctx: JobContext, exc: BaseException, fn) -> None:
    if job.attempts >= settings.JOB_MAX_ATTEMPTS:
        logger.exception("Job %s failed after %s attempts", job.pk, job.attempts)
        _finish(job, JobStatus.FAILED, ctx=ctx, message=f"Gave up after {job.attempts} attempts: {type(exc).__name__}")
        _after_job(job)
        return
    delay = _retry_delay(job.attempts)
    logger.warning("Job %s hit %s; retrying in %ss", job.pk, type(exc).__name__, delay)
    try:
        Job.objects.filter(pk=job.pk, runner=job.runner).update(
            status=JobStatus.QUEUED,
            runner="",
            message=f"Retrying in {delay} s after a passing error ({type(exc).__name__}).",
            updated_at=timezone.now(),
        )
    except DatabaseError:  # the database itself may be what is down: the message still comes back
        pass
    if settings.JOBS_IN_PROCESS:
        time.sleep(min(delay, 2))  # embedded mode: try again here, briefly
        run_job(job.pk, fn)
    else:
        kind.task.apply_async(args=[job.pk], queue=kind.queue, countdown=delay)


def _finish(job: Job, status: JobStatus, *, ctx: JobContext | None = None, message: str = "", result=None) -> None:
    fields: dict[str, Any] = {}
    if ctx is not None:
        done, total = ctx.done, max(ctx.total, ctx.done)
        if status == JobStatus.SUCCEEDED:
            done = total  # a finished job shows a full bar even if the last flush was skipped
        fields.update(
            progress_done=done,
            progress_total=total,
            counters=ctx.counters,
            errors=ctx.errors,
            error_count=ctx.error_count,
        )
    _finish_row(job, status, message=message, result=result, **fields)


def _finish_row(job: Job, status: JobStatus, *, message: str = "", result=None, **fields) -> None:
    now = timezone.now()
    fields.update(status=status, finished_at=now, updated_at=now, heartbeat_at=now)
    if message:
        fields["message"] = message
    if result is not None:
        fields["result"] = result
    Job.objects.filter(pk=job.pk).exclude(status__in=FINISHED_STATUSES).update(**fields)


def _after_job(job: Job) -> None:
    """What follows the end of a job, in the open: an uploaded archive's retention."""
    kind = jobkinds.get(job.kind)
    if kind is None or "upload" not in kind.origins:
        return
    from .services.uploads import job_finished

    job.refresh_from_db()
    try:
        job_finished(job)
    except Exception:  # retention must never turn a finished job into a crash; the purge retries later
        logger.exception("Upload retention after job %s failed", job.pk)


# --- fan-out ----------------------------------------------------------------------------------------
def _start_fanout(job: Job, kind, ctx: JobContext, plan: FanOut) -> None:
    if kind is None or kind.chunk is None:
        raise RuntimeError(f"Job kind {job.kind} returned FanOut but declares no chunk function.")
    with transaction.atomic():
        JobChunk.objects.bulk_create(
            [JobChunk(job=job, index=i, spec=spec) for i, spec in enumerate(plan.chunks)], batch_size=1000
        )
        Job.objects.filter(pk=job.pk).update(
            progress_total=max(plan.total, 0),
            progress_done=0,
            counters=ctx.counters,
            errors=ctx.errors,
            error_count=ctx.error_count,
            result={"fanout": plan.state, "chunks": len(plan.chunks)},
            updated_at=timezone.now(),
        )
    if not plan.chunks:
        _finish_fanout(job.pk, kind)
        return
    _send_chunks(job, kind)


def _send_chunks(job: Job, kind, resend: bool = False) -> None:
    chunks = JobChunk.objects.filter(job=job).exclude(status__in=FINISHED_STATUSES).order_by("index")
    indexes = list(chunks.values_list("index", flat=True))
    if resend and not indexes:
        _finish_fanout(job.pk, kind)
        return
    dispatch.send_chunks(kind, job.pk, indexes)


def run_chunk(job_id: int, index: int) -> None:
    """Run one chunk of a fanned-out job; the last chunk to end finishes the job."""
    kind = _kind_of(job_id)
    if kind is None:
        return
    runner = uuid.uuid4().hex
    claimed = _claim_chunk(job_id, index, runner, kind)
    if claimed is None:
        return
    job, chunk = claimed
    ctx = ChunkContext(job, chunk)
    status, message, result = JobStatus.SUCCEEDED, "", {}
    with Heartbeat(JobChunk, chunk.pk, runner):
        try:
            result = kind.chunk(ctx, chunk.spec) or {}
        except JobCancelled:
            status, message = JobStatus.CANCELLED, "Cancelled by a user."
        except JobFailed as exc:
            status, message = JobStatus.FAILED, str(exc)[:500]
        except SoftTimeLimitExceeded:
            status, message = JobStatus.FAILED, "Stopped: the chunk ran past its time limit."
        except Exception as exc:
            if chunk.attempts < settings.JOB_MAX_ATTEMPTS:
                _retry_chunk_later(job, chunk, kind, ctx, exc)
                return
            logger.exception("Job %s chunk %s failed", job_id, index)
            status, message = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"[:500]
    _flush_quietly(ctx)
    now = timezone.now()
    JobChunk.objects.filter(pk=chunk.pk, runner=runner).update(
        status=status,
        message=message,
        result=result,
        counters=ctx.counters,
        errors=ctx.errors,
        error_count=ctx.error_count,
        finished_at=now,
        heartbeat_at=now,
    )
    _finish_fanout(job_id, kind)


def _flush_quietly(ctx: ChunkContext) -> None:
    try:
        ctx.flush(force=True)
    except JobCancelled:
        pass


def _claim_chunk(job_id: int, index: int, runner: str, kind) -> tuple[Job, JobChunk] | None:
    try:
        with transaction.atomic():
            chunk = JobChunk.objects.select_for_update(nowait=True).filter(job_id=job_id, index=index).first()
            if chunk is None or chunk.status in FINISHED_STATUSES:
                return None
            job = Job.objects.select_related("project", "created_by").get(pk=job_id)
            if job.status in FINISHED_STATUSES or job.cancel_requested:
                chunk.status = JobStatus.CANCELLED
                chunk.finished_at = timezone.now()
                chunk.save(update_fields=["status", "finished_at"])
                cancelled = True
            else:
                cancelled = False
                if chunk.status == JobStatus.RUNNING and _is_fresh(chunk.heartbeat_at):
                    logger.info("Job %s chunk %s is running elsewhere; this delivery steps aside.", job_id, index)
                    return None
                if chunk.progress_done:
                    # A chunk that ran before counts again from zero: take back what it had added.
                    Job.objects.filter(pk=job_id).update(
                        progress_done=Greatest(F("progress_done") - chunk.progress_done, 0)
                    )
                now = timezone.now()
                chunk.status = JobStatus.RUNNING
                chunk.runner = runner
                chunk.attempts += 1
                chunk.progress_done = 0
                chunk.heartbeat_at = now
                chunk.started_at = chunk.started_at or now
                chunk.save(
                    update_fields=["status", "runner", "attempts", "progress_done", "heartbeat_at", "started_at"]
                )
    except DatabaseError as exc:
        if not _is_lock_error(exc):
            raise
        # Another runner holds the row this instant: try again shortly rather than drop the chunk.
        logger.info("Job %s chunk %s is locked; trying again shortly.", job_id, index)
        if settings.JOBS_IN_PROCESS:
            time.sleep(0.2)
            return _claim_chunk(job_id, index, runner, kind)
        kind.chunk_task.apply_async(args=[job_id, index], queue=kind.queue, countdown=2)
        return None
    if cancelled:
        _finish_fanout(job_id, kind)
        return None
    return job, chunk


def _retry_chunk_later(job: Job, chunk: JobChunk, kind, ctx: ChunkContext, exc: BaseException) -> None:
    delay = _retry_delay(chunk.attempts)
    logger.warning("Job %s chunk %s hit %s; retrying it alone in %ss", job.pk, chunk.index, type(exc).__name__, delay)
    _flush_quietly(ctx)
    JobChunk.objects.filter(pk=chunk.pk).update(
        status=JobStatus.QUEUED, runner="", message=f"Retrying after {type(exc).__name__}"[:500]
    )
    if settings.JOBS_IN_PROCESS:
        time.sleep(min(delay, 1))
        run_chunk(job.pk, chunk.index)
    else:
        kind.chunk_task.apply_async(args=[job.pk, chunk.index], queue=kind.queue, countdown=delay)


def _finish_fanout(job_id: int, kind) -> None:
    """When every chunk has ended, sum them up and finish the job (once: under the job's row lock)."""
    with transaction.atomic():
        job = Job.objects.select_for_update(of=("self",)).select_related("project", "created_by").get(pk=job_id)
        if job.status in FINISHED_STATUSES:
            return
        chunks = list(JobChunk.objects.filter(job=job).order_by("index"))
        if any(c.status not in FINISHED_STATUSES for c in chunks):
            return
        counters: dict[str, int] = dict(job.counters or {})
        errors = list(job.errors or [])
        error_count = job.error_count
        for c in chunks:
            for key, value in (c.counters or {}).items():
                counters[key] = counters.get(key, 0) + value
            room = max(0, settings.JOB_ERROR_LIMIT - len(errors))
            errors += (c.errors or [])[:room]
            error_count += c.error_count
        fields = {"counters": counters, "errors": errors, "error_count": error_count}
        failed = [c for c in chunks if c.status == JobStatus.FAILED]
        if job.cancel_requested or any(c.status == JobStatus.CANCELLED for c in chunks):
            _finish_row(job, JobStatus.CANCELLED, message="Cancelled by a user.", **fields)
        elif failed:
            message = f"{len(failed)} of {len(chunks)} chunks failed (first: {failed[0].message})"
            _finish_row(job, JobStatus.FAILED, message=message[:500], **fields)
        else:
            ctx = JobContext(job)
            state = (job.result or {}).get("fanout", {})
            try:
                result = kind.finish(ctx, state, [c.result for c in chunks]) if kind.finish else {}
            except Exception as exc:
                logger.exception("Job %s could not be finished", job_id)
                _finish_row(job, JobStatus.FAILED, message=f"{type(exc).__name__}: {exc}"[:500], **fields)
            else:
                total = max(job.progress_total, job.progress_done)
                _finish_row(
                    job, JobStatus.SUCCEEDED, result=result or {}, progress_done=total, progress_total=total, **fields
                )
    _after_job(job)
