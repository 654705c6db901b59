"""Uploaded archives: store one as an Upload row, resolve a job's upload reference, and delete the raw
file as soon as no import needs it (the retention rule in curation.models.uploads).

Jobs refer to an upload by its id within the project; a storage path from a user is never accepted,
so one project cannot name another project's files.
"""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from .. import audit, jobkinds
from ..errors import Conflict
from ..models import Job, Project, Upload, User
from ..models.jobs import ACTIVE_STATUSES, JobStatus

logger = logging.getLogger(__name__)

# Stands for "the file being uploaded in this request" while its params are checked before it is stored.
PENDING_UPLOAD = object()


def _keep_hours() -> timedelta:
    return timedelta(hours=settings.IMPORT_KEEP_FAILED_UPLOADS_HOURS)


def save_upload(actor: User | None, project: Project, fileobj, filename: str) -> Upload:
    """Store an uploaded zip archive for an import job and return its Upload row."""
    if not str(filename or "").lower().endswith(".zip"):
        raise ValidationError({"file": "Upload a .zip archive."})
    size = int(getattr(fileobj, "size", 0) or 0)
    if size > settings.IMPORT_MAX_UPLOAD_BYTES:
        raise ValidationError(
            {"file": f"The archive is over the {settings.IMPORT_MAX_UPLOAD_BYTES // 2**20} MB limit."}
        )
    purge_expired()  # opportunistic: every upload also clears the abandoned ones
    name = default_storage.save(f"projects/{project.slug}/uploads/{os.urandom(12).hex()}.zip", fileobj)
    upload = Upload.objects.create(
        project=project,
        created_by=actor if actor is not None and actor.pk else None,
        storage_name=name,
        size=size or default_storage.size(name),
        keep_until=timezone.now() + _keep_hours(),
    )
    audit.import_uploaded(actor, upload)
    return upload


def clean_upload_ref(project: Project, value) -> int | object:
    """A job's `upload` param: the id of a stored Upload of this project (or the pending sentinel)."""
    if value is PENDING_UPLOAD:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ValidationError({"upload": "An upload is named by its id (a whole number)."})
    upload = Upload.objects.filter(project=project, pk=int(value)).first() if len(str(value)) < 19 else None
    if upload is None:
        raise ValidationError({"upload": "Unknown upload."})
    if upload.is_deleted:
        raise Conflict(
            f"Upload {upload.pk} was deleted ({upload.deleted_reason or 'retention'}); upload the archive again."
        )
    return upload.pk


@contextlib.contextmanager
def open_upload(project: Project, upload_id: int):
    upload = Upload.objects.filter(project=project, pk=upload_id).first()
    if upload is None or upload.is_deleted:
        from ..tasking import JobFailed

        raise JobFailed("The uploaded archive is no longer stored; upload it again.")
    with default_storage.open(upload.storage_name, "rb") as handle:
        yield handle


def job_finished(job: Job) -> None:
    """Apply the retention rule after a job that read an upload has ended."""
    upload_id = (job.params or {}).get("upload")
    if not isinstance(upload_id, int):
        return
    with transaction.atomic():
        upload = Upload.objects.select_for_update().filter(project_id=job.project_id, pk=upload_id).first()
        if upload is None or upload.is_deleted:
            return
        if job.status == JobStatus.SUCCEEDED:
            if not _active_jobs_using(upload).exists():
                _delete(upload, "imported")
            return
        # Failed or cancelled: keep the archive long enough for a re-run, then let the purge take it.
        upload.keep_until = max(upload.keep_until, timezone.now() + _keep_hours())
        upload.save(update_fields=["keep_until"])


def purge_expired(now=None) -> int:
    """Delete uploads past their keep-until time that no queued or running job still needs."""
    now = now or timezone.now()
    deleted = 0
    for upload in Upload.objects.filter(deleted_at__isnull=True, keep_until__lt=now).order_by("pk")[:500]:
        with transaction.atomic():
            locked = Upload.objects.select_for_update().filter(pk=upload.pk, deleted_at__isnull=True).first()
            if locked is None or _active_jobs_using(locked).exists():
                continue
            _delete(locked, "expired")
            deleted += 1
    return deleted


def discard_unused_uploads(project: Project, upload_ids: dict) -> None:
    """Delete uploads that a pipeline made but will not import (the demo's reference cohort)."""
    for upload in Upload.objects.filter(project=project, pk__in=list(upload_ids.values()), deleted_at__isnull=True):
        if not _active_jobs_using(upload).exists():
            _delete(upload, "not needed")


def _active_jobs_using(upload: Upload):
    kinds = [k.name for k in jobkinds.all_kinds() if "upload" in k.origins]
    return Job.objects.filter(
        project_id=upload.project_id, kind__in=kinds, status__in=ACTIVE_STATUSES, params__upload=upload.pk
    )


def _delete(upload: Upload, reason: str) -> None:
    try:
        default_storage.delete(upload.storage_name)
    except OSError:  # already gone: the row still records that it was deleted
        logger.warning("Upload %s was already missing from storage", upload.pk)
    upload.deleted_at = timezone.now()
    upload.deleted_reason = reason
    upload.save(update_fields=["deleted_at", "deleted_reason"])
    audit.upload_deleted(None, upload)


def start_job_with_upload(actor: User, project: Project, kind_name: str, params: dict, fileobj) -> Job:
    """Start a job on an archive uploaded in this request: the permission and the other params are
    checked before anything is stored, so a refused request leaves no raw file behind."""
    from .jobs import start_job

    kind = jobkinds.get(kind_name)
    if kind is None or "upload" not in kind.origins:
        raise ValidationError({"file": "This kind of job does not take an uploaded archive."})
    kind.start_action("upload").check(actor, project)
    kind.clean_params({**params, "upload": PENDING_UPLOAD}, project)
    upload = save_upload(actor, project, fileobj, getattr(fileobj, "name", ""))
    return start_job(actor, project, kind_name, {**params, "upload": upload.pk})
