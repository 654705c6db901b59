"""Sending jobs to their workers: Celery on Redis when a broker is set, in-process otherwise.

Jobs are sent only after the transaction that created them commits (transaction.on_commit), so
a worker never looks for a row that does not exist yet.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections, transaction

from . import jobkinds
from .models import Job

logger = logging.getLogger(__name__)

_announced = False
_local = threading.local()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def announce_mode_once() -> None:
    global _announced
    if _announced:
        return
    _announced = True
    if settings.JOBS_IN_PROCESS:
        logger.warning(
            "CELERY_BROKER_URL is not set: background jobs run in-process (embedded mode). "
            "Set CELERY_BROKER_URL and start `celery -A config worker` to run them on workers."
        )


def _in_process_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            # One thread: in embedded mode jobs run one at a time, as on a single worker.
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")
        return _executor


def _run_in_thread(task, job_id: int) -> None:
    close_old_connections()
    try:
        task.apply(args=[job_id])
    finally:
        connections.close_all()


def send(job: Job) -> None:
    """Queue the job's task once the current transaction commits."""
    kind = jobkinds.get(job.kind)
    if kind is None:
        raise ValueError(f"Unknown job kind {job.kind!r}.")
    job_id = job.pk

    if getattr(_local, "force_sync", False):
        # Run when the run_in_process block ends, in order, whatever transaction we are in now.
        _local.deferred.append((kind.task, job_id))
        return

    def _send() -> None:
        if settings.JOBS_IN_PROCESS:
            if settings.JOBS_IN_PROCESS_THREAD:
                _in_process_executor().submit(_run_in_thread, kind.task, job_id)
            else:
                kind.task.apply(args=[job_id])
            return
        task_id = uuid.uuid4().hex
        Job.objects.filter(pk=job_id).update(celery_task_id=task_id)
        kind.task.apply_async(args=[job_id], queue=kind.queue, task_id=task_id)

    transaction.on_commit(_send)


def send_chunks(kind, job_id: int, indexes: list[int]) -> None:
    """Queue the chunks of a fanned-out job: any worker on the kind's queue may take each one.
    In-process (embedded mode, or a job run inside `run_in_process`, as the CLI and the demo do with
    or without a broker) they run here, one after the other."""
    from .jobrunner import run_chunk

    if settings.JOBS_IN_PROCESS or getattr(_local, "force_sync", False):
        for index in indexes:
            run_chunk(job_id, index)
        return

    def _send() -> None:
        for index in indexes:
            kind.chunk_task.apply_async(args=[job_id, index], queue=kind.queue)

    transaction.on_commit(_send)


class run_in_process:
    """Jobs sent from this thread inside the block run here, one after the other, when it ends
    (the CLI's and the demo's contract: "runs the same job in-process"). Jobs those jobs send
    (an import's render job) run too, before the block returns."""

    def __enter__(self):
        self._previous = getattr(_local, "force_sync", False)
        if not self._previous:
            _local.deferred = []
        _local.force_sync = True
        return self

    def __exit__(self, exc_type, *exc):
        try:
            if not self._previous and exc_type is None:
                while _local.deferred:
                    task, job_id = _local.deferred.pop(0)
                    task.apply(args=[job_id])
        finally:
            _local.force_sync = self._previous
        return False


def wait_for_in_process_jobs(timeout: float = 600) -> None:
    """Block until queued in-process jobs are done (management commands and tests use it)."""
    if _executor is None:
        return
    _executor.submit(lambda: None).result(timeout=timeout)
