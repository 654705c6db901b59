"""Starting and cancelling jobs. The only way a Job row is created or cancelled."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from .. import audit, dispatch, jobkinds, locks
from ..models import Job, JobStatus, Project, User
from ..models.jobs import FINISHED_STATUSES
from ..permissions import Action, can, check, check_roles, role_in


@transaction.atomic
def start_job(actor: User | None, project: Project, kind_name: str, params: dict | None = None) -> Job:
    """Create a queued Job and send it to its queue after commit. `actor=None` is the system."""
    kind = jobkinds.get(kind_name)
    if kind is None:
        known = ", ".join(k.name for k in jobkinds.all_kinds())
        raise ValidationError({"kind": f"Unknown job kind {kind_name!r}; known kinds: {known}."})
    if actor is not None:
        if not kind.user_startable:
            raise PermissionDenied(f"Job kind {kind_name!r} is started by the system only.")
        check_roles(actor, kind.start_roles, project, f"start {kind.label.lower()} jobs")
    if params is not None and not isinstance(params, dict):
        raise ValidationError({"params": "Job parameters must be a JSON object."})
    clean = kind.clean_params(dict(params or {}), project)
    if kind.check_start is not None:
        kind.check_start(actor, project, clean)
    job = Job.objects.create(kind=kind.name, project=project, created_by=actor, params=clean)
    audit.job_started(actor, job)
    dispatch.send(job)
    return job


def can_cancel(user: User, job: Job) -> bool:
    if job.status in FINISHED_STATUSES:
        return False
    return can(user, Action.CANCEL_JOBS, job.project) or (
        job.created_by_id == user.pk and role_in(user, job.project) is not None
    )


@transaction.atomic
def cancel_job(actor: User, job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next checkpoint."""
    check(actor, Action.VIEW_JOBS, job.project)
    if not (can(actor, Action.CANCEL_JOBS, job.project) or job.created_by_id == actor.pk):
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


def is_stale(job: Job) -> bool:
    """A running job whose row has not moved for JOB_STALE_SECONDS: its worker is presumably gone."""
    from django.conf import settings

    age = (timezone.now() - job.updated_at).total_seconds()
    return job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and age > settings.JOB_STALE_SECONDS


def can_rerun(user: User, job: Job) -> bool:
    kind = jobkinds.get(job.kind)
    if kind is None or not kind.user_startable or role_in(user, job.project) not in kind.start_roles:
        return False
    return job.status in (JobStatus.FAILED, JobStatus.CANCELLED) or is_stale(job)


@transaction.atomic
def rerun_job(actor: User, job: Job) -> Job:
    """Start the same work again as a new job. Jobs are idempotent, so nothing is done twice.

    A job that stopped moving (its worker was killed) is marked failed first, pointing at the new one.
    """
    job = locks.job_for_update(job.pk)
    if job.status == JobStatus.SUCCEEDED:
        raise ValidationError("The job succeeded; start a new one instead.")
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and not is_stale(job):
        raise ValidationError("The job is still running; cancel it or wait until it stops moving.")
    new = start_job(actor, job.project, job.kind, job.params)
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        old_status = job.status
        job.status = JobStatus.FAILED
        job.finished_at = timezone.now()
        job.message = f"Interrupted (its worker stopped); re-run as job #{new.pk}."
        job.save(update_fields=["status", "finished_at", "message", "updated_at"])
        audit.job_cancelled(actor, job, old_status)
    audit.job_rerun(actor, job, new)
    return new
