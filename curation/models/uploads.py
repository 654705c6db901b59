"""Uploaded archives waiting to be imported: a job names an Upload by id, never by storage path.

An upload holds raw hospital data (original DICOM with names and ids), so it lives only as long as
an import needs it: deleted once an import from it has succeeded and no queued or running job refers
to it, and kept for IMPORT_KEEP_FAILED_UPLOADS_HOURS after a failure so that the job can be re-run.
"""

from django.conf import settings
from django.db import models


class Upload(models.Model):
    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="uploads")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The storage name is internal: it never appears in job params, job pages or the API.
    storage_name = models.CharField(max_length=300, editable=False)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the file may be deleted even though no import from it succeeded (an abandoned or failed one).
    keep_until = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["deleted_at", "keep_until"], name="upload_retention")]

    def __str__(self) -> str:
        return f"Upload {self.pk}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
