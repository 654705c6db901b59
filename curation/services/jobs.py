"""Starting and cancelling jobs. The only way a Job row is created or cancelled."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from .. import audit, dispatch, jobkinds, locks
from ..errors import Conflict
from ..models import Job, JobStatus, Project, User
from ..models.jobs import ACTIVE_STATUSES, FINISHED_STATUSES
from ..permissions import Action, can, check, role_in


@transaction.atomic
def start_job(
    actor: User | None, project: Project, kind_name: str, params: dict | None = None, *, rerun_of: Job | None = None
) -> Job:
    """Create a queued Job and send it to its queue after commit. `actor=None` is the system.

    The kind's start action for the origin of the input (upload, server folder, none) is the only
    permission rule; params are bounded in size before anything reads them.
    """
    kind = jobkinds.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        known = ", ".join(k.name for k in jobkinds.all_kinds() if k.user_startable)
        raise ValidationError({"kind": f"Unknown job kind {str(kind_name)[:64]!r}; known kinds: {known}."})
    if params is not None and not isinstance(params, dict):
        raise ValidationError({"params": "Job parameters must be a JSON object."})
    params = dict(params or {})
    check_params_size(params)
    origin = jobkinds.origin_of(params)
    if origin not in kind.origins:
        allowed = " or ".join(o for o in kind.origins if o != "none") or "no input"
        raise ValidationError({"params": f"{kind.label} jobs take {allowed}, not {origin}."})
    if actor is not None:
        if not kind.user_startable:
            raise PermissionDenied(f"Job kind {kind_name!r} is started by the system only.")
        kind.start_action(origin).check(actor, project)
    # Read from the row, not the (possibly older) object: an archived project takes no new work.
    if Project.objects.filter(pk=project.pk, archived_at__isnull=False).exists():
        raise Conflict("This project is archived and takes no new jobs; a site admin can restore it.")
    clean = kind.clean_params(params, project)
    check_params_size(clean)
    if kind.exclusive:
        locks.project_for_update(project.pk)
        running = Job.objects.filter(project=project, kind=kind.name, status__in=ACTIVE_STATUSES).first()
        if running is not None:
            raise Conflict(
                f"A {kind.label.lower()} job is already queued or running in this project (job #{running.pk})."
            )
    job = Job.objects.create(kind=kind.name, project=project, created_by=actor, params=clean, rerun_of=rerun_of)
    audit.job_started(actor, job)
    dispatch.send(job)
    return job


def check_params_size(params: dict) -> None:
    """Job params are stored in the job row and its audit event: refuse anything large."""
    try:
        size = len(json.dumps(params, default=str))
    except (TypeError, ValueError, RecursionError):
        raise ValidationError({"params": "Job parameters must be plain JSON."}) from None
    if size > settings.JOB_PARAMS_MAX_BYTES:
        raise ValidationError(
            {"params": f"Job parameters are limited to {settings.JOB_PARAMS_MAX_BYTES:,} bytes ({size:,} given)."}
        )


def may_cancel(user: User, job: Job) -> bool:
    """The one cancel rule: CANCEL_JOBS, or any member for a job they started themselves."""
    return can(user, Action.CANCEL_JOBS, job.project) or (
        job.created_by_id == user.pk and role_in(user, job.project) is not None
    )


def can_cancel(user: User, job: Job) -> bool:
    """Whether to show the cancel button: the rule, on a job that has not ended."""
    return job.status not in FINISHED_STATUSES and may_cancel(user, job)


@transaction.atomic
def cancel_job(actor: User, job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next checkpoint."""
    check(actor, Action.VIEW_JOBS, job.project)
    if not may_cancel(actor, job):
        raise PermissionDenied("Only admins, curators or the person who started it may cancel this job.")
    job = locks.job_for_update(job.pk)
    old_status = job.status
    if job.status in FINISHED_STATUSES:
        raise ValidationError(f"The job has already {job.status}.")
    job.cancel_requested = True
    fields = ["cancel_requested", "updated_at"]
    if job.status == JobStatus.QUEUED:
        # Nobody is working on it: end it now; a worker that picks the message up later skips it.
        job.status = JobStatus.CANCELLED
        job.finished_at = timezone.now()
        job.message = "Cancelled before it started."
        fields += ["status", "finished_at", "message"]
    job.save(update_fields=fields)
    audit.job_cancelled(actor, job, old_status)
    return job


def visible_params(user: User | None, job: Job) -> dict:
    """A job's params as `user` may see them: a server folder's path is shown only to those who may use
    server folders (its name is the hospital's, and may say more than it should)."""
    params = dict(job.params or {})
    if "path" in params and (user is None or not can(user, Action.USE_SERVER_FOLDERS, job.project)):
        params["path"] = "(a server folder)"
    return params


def is_stale(job: Job) -> bool:
    """A running job whose row has not moved for JOB_STALE_SECONDS: its worker is presumably gone."""
    from django.conf import settings

    age = (timezone.now() - job.updated_at).total_seconds()
    return job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and age > settings.JOB_STALE_SECONDS


def can_rerun(user: User, job: Job) -> bool:
    kind = jobkinds.get(job.kind)
    if kind is None or not kind.start_action(jobkinds.origin_of(job.params)).allowed(user, job.project):
        return False
    return job.status in (JobStatus.FAILED, JobStatus.CANCELLED) or is_stale(job)


@transaction.atomic
def rerun_job(actor: User, job: Job) -> tuple[Job, bool]:
    """Start the same work again as a new job; returns (that job, whether it was created now).

    Asking twice gives the same new job (the old row is locked and points at it), so five clicks or five
    concurrent requests make one. A job that stopped moving (its worker was killed) is marked failed first.
    """
    kind = jobkinds.get(job.kind)
    if kind is None:
        raise ValidationError("This kind of job no longer exists.")
    kind.start_action(jobkinds.origin_of(job.params)).check(actor, job.project)
    job = locks.job_for_update(job.pk)
    existing = Job.objects.filter(rerun_of=job).first()
    if existing is not None:
        return existing, False
    if job.status == JobStatus.SUCCEEDED:
        raise ValidationError("The job succeeded; start a new one instead.")
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and not is_stale(job):
        raise ValidationError("The job is still running; cancel it or wait until it stops moving.")
    new = start_job(actor, job.project, job.kind, job.params, rerun_of=job)
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        old_status = job.status
        job.status = JobStatus.FAILED
        job.finished_at = timezone.now()
        job.message = f"Interrupted (its worker stopped); re-run as job #{new.pk}."
        job.save(update_fields=["status", "finished_at", "message", "updated_at"])
        audit.job_cancelled(actor, job, old_status)
    audit.job_rerun(actor, job, new)
    return new, True
