"""The one task decorator every Celery task uses, and the declaration of job kinds.

`task(...)` sets late acknowledgement, requeue when the worker is lost, time limits and the queue.
`job_task(...)` builds on it for work that a Job row tracks: the wrapped function gets a JobContext to
report progress, counters and per-item errors, and to notice cancellation (curation.jobcontext); it is
run by curation.jobrunner, which claims the row first so that a message delivered twice runs once.
A kind may fan out: its body returns `FanOut` and its `chunk` function runs each slice on any worker.
Tasks take only ids and must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.celery import QUEUES, app

from . import jobkinds
from .jobcontext import ChunkContext, JobCancelled, JobContext, JobFailed
from .jobrunner import FanOut, run_chunk, run_job
from .models import Role

__all__ = ["ChunkContext", "FanOut", "JobCancelled", "JobContext", "JobFailed", "job_task", "task", "TIME_LIMITS"]

# Every task's hard time limit, by task name: a system check keeps each below the broker's visibility
# timeout, or a long job would be delivered to a second worker while the first still runs it.
TIME_LIMITS: dict[str, int] = {}


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
        TIME_LIMITS[task_name] = time_limit
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
    user_startable: bool = True,
    origins: tuple[str, ...] = ("none",),
    exclusive: bool = False,
    chunk: Callable[[ChunkContext, dict], dict | None] | None = None,
    finish: Callable[[JobContext, dict, list[dict]], dict] | None = None,
    chunk_time_limit: int = 3600,
):
    """Declare a job kind and its task. The function receives a JobContext and returns a result dict
    (or a FanOut, when `chunk` is given: then `finish(ctx, state, chunk_results)` makes the result).

    `exclusive`: at most one queued or running job of this kind per project (QC runs, bank builds,
    mining would otherwise overwrite each other's work).
    """

    def decorator(fn: Callable[[JobContext], Any]):
        def run(job_id: int) -> None:
            run_job(job_id, fn)

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        celery_task = task(queue=queue, time_limit=time_limit, name=f"jobs.{kind}")(run)
        chunk_task = None
        if chunk is not None:

            def run_one_chunk(job_id: int, index: int) -> None:
                run_chunk(job_id, index)

            run_one_chunk.__name__ = f"{fn.__name__}_chunk"
            chunk_task = task(queue=queue, time_limit=chunk_time_limit, name=f"jobs.{kind}.chunk")(run_one_chunk)
        jobkinds.register(
            jobkinds.JobKind(
                name=kind,
                label=label,
                queue=queue,
                start_roles=frozenset(start_roles),
                task=celery_task,
                description=description or _first_line(fn.__doc__),
                clean_params=clean_params or (lambda params, project: dict(params)),
                user_startable=user_startable,
                origins=tuple(origins),
                exclusive=exclusive,
                chunk=chunk,
                finish=finish,
                chunk_task=chunk_task,
            )
        )
        celery_task.job_function = fn
        return celery_task

    return decorator
