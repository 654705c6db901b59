"""The export job (`export.version`): one format of a dataset version streamed into a zip in storage, and
its download through an expiring signed link.

The zip is written to a temporary file on disk member by member (curation.exporters.sinks.ZipSink) and then
handed to the storage API, which copies it in chunks: nothing grows in memory with the dataset. The link is
a TimestampSigner token naming the job and the user it was made for; the download checks the signature, its
age, and that this same user may still export the project's data.
"""

from __future__ import annotations

import tempfile

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.http import Http404

from ..exporters import ExportError, ZipSink, check_request, export_version
from ..models import DatasetVersion, Job, JobStatus, Project, User
from ..permissions import Action, action

EXPORT_KIND = "export.version"
LINK_SALT = "curation.dataset-export"


def link_seconds() -> int:
    return int(getattr(settings, "EXPORT_LINK_SECONDS", 3600))


def clean_export_params(params: dict, project: Project) -> dict:
    """{"version": id of one of the project's versions, "format": ..., "images": ...}, checked."""
    try:
        version_id = int(params.get("version"))
    except (TypeError, ValueError):
        raise ValidationError({"version": "Give the id of a dataset version."}) from None
    if not DatasetVersion.objects.filter(project=project, pk=version_id).exists():
        raise ValidationError({"version": "No such dataset version in this project."})
    fmt = params.get("format")
    try:
        images = check_request(str(fmt), params.get("images") or None)
    except ExportError as exc:
        raise ValidationError({"format": str(exc)}) from exc
    return {"version": version_id, "format": fmt, "images": images}


def archive_name(job: Job) -> str:
    return (
        f"projects/{job.project.slug}/exports/job-{job.pk}-version-{job.params['version']}-{job.params['format']}.zip"
    )


def run_export(ctx) -> dict:
    """The job body: stream the export into a zip, store it, return its storage name and counts."""
    params = ctx.params
    version = DatasetVersion.objects.select_related("definition", "frozen_by").get(pk=params["version"])
    ctx.set_total(version.row_count)

    def progress(n: int) -> None:
        ctx.advance(n)
        ctx.check_cancelled()

    name = archive_name(ctx.job)
    with tempfile.TemporaryFile(prefix="export-") as spool:
        with ZipSink(spool) as sink:
            summary = export_version(version, params["format"], params["images"], sink, progress=progress)
        size = spool.tell()
        spool.seek(0)
        if default_storage.exists(name):  # a re-run of the same job writes the same archive again
            default_storage.delete(name)
        stored = default_storage.save(name, File(spool, name=name.rsplit("/", 1)[-1]))
    return {"archive": stored, "bytes": size, "version": version.pk, **summary}


def _export_job(project: Project, job_id: int) -> Job:
    job = Job.objects.filter(project=project, pk=job_id, kind=EXPORT_KIND).first()
    if job is None:
        raise Http404("No such export.")
    return job


def download_link(user: User, project: Project, job_id: int) -> dict:
    """A signed token for a finished export's archive, valid for EXPORT_LINK_SECONDS, for `user` only."""
    action(Action.EXPORT_DATA).check(user, project)
    job = _export_job(project, job_id)
    if job.status != JobStatus.SUCCEEDED or not (job.result or {}).get("archive"):
        raise ValidationError({"job": "The export has not finished."})
    token = signing.TimestampSigner(salt=LINK_SALT).sign_object({"job": job.pk, "user": user.pk})
    return {"token": token, "expires_in": link_seconds(), "file_name": job.result["archive"].rsplit("/", 1)[-1]}


def open_download(user: User, project: Project, job_id: int, token: str):
    """(file, name) of the archive behind a link; 403 for a wrong, expired or someone else's token."""
    action(Action.EXPORT_DATA).check(user, project)
    try:
        claims = signing.TimestampSigner(salt=LINK_SALT).unsign_object(token or "", max_age=link_seconds())
    except signing.SignatureExpired:
        raise PermissionDenied("This download link has expired: ask for a new one.") from None
    except signing.BadSignature:
        raise PermissionDenied("This download link is not valid.") from None
    if claims.get("job") != job_id or claims.get("user") != user.pk:
        raise PermissionDenied("This download link is not yours or not for this export.")
    job = _export_job(project, job_id)
    archive = (job.result or {}).get("archive")
    if not archive or not default_storage.exists(archive):
        raise Http404("The export's archive is gone.")
    return default_storage.open(archive, "rb"), archive.rsplit("/", 1)[-1]
