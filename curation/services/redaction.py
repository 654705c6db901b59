"""Burned-in text: readers flag images whose pixels show a name, an id or a date; curators redact them by
drawing boxes, which are burned into the stored file (the de-identified DICOM, or the PNG/JPEG original) and
into new renderings, and the unredacted files are deleted. Exports take only `exportable_images`.

Inline, not a job: one image is bounded by IMAGE_MAX_PIXELS and takes about as long as rendering it once, and
the curator waits to see the result. The image's row stays locked meanwhile (curation.locks), so two
redactions of one image take turns.

The redacted DICOM keeps its SOPInstanceUID. The standard asks for a new UID when pixel data changes, so that
two different objects never share one; here the UID is already a project pseudonym, the unredacted object is
deleted in the same step (this system never holds both), and the UID is the key (`Image.image_key`) that
masks, labels and re-imports are matched on: a new one would cut the image off from them.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from .. import audit, locks
from ..dicomio import DicomError
from ..dicomio.redact_pixels import BoxError, clean_boxes, redact_dicom, redact_picture
from ..errors import Conflict
from ..models import Image, Project, RenderStatus, User
from ..models.studies import Redaction
from ..permissions import Action, action
from .rendering import render_one

logger = logging.getLogger(__name__)

RENDER_FIELDS = ("display", "display16", "thumbnail")
REDACTION_FIELDS = ("redaction", "redaction_boxes", "redacted_by", "redacted_at")


def exportable_images(project: Project) -> QuerySet[Image]:
    """The project's images an export may use: redacted ones, and those nobody flagged for burned-in text.

    An image whose header declares burned-in text is held back even if its `redaction` state was never set
    (rows written before the state existed, or by a path that forgot it).
    """
    unflagged = Q(redaction=Redaction.NONE) & ~Q(burned_in_annotation=True)
    return Image.objects.filter(project=project).filter(Q(redaction=Redaction.DONE) | unflagged)


def images_needing_redaction(project: Project) -> QuerySet[Image]:
    """Images waiting for a curator's boxes, oldest first (served by the partial index on `needed`)."""
    return Image.objects.filter(project=project, redaction=Redaction.NEEDED).order_by("pk")


def flag_burned_in(user: User, project: Project, image_id: int) -> Image:
    """A reader says the image shows text in its pixels: it needs redaction before any export.

    Flagging an image already redacted sends it back to `needed` (text the boxes missed); flagging one
    already waiting changes nothing and writes no audit event.
    """
    action(Action.FLAG_BURNED_IN).check(user, project)
    with transaction.atomic():
        image = _locked(project, image_id)
        before = image.redaction
        if before == Redaction.NEEDED:
            return image
        image.redaction = Redaction.NEEDED
        image.redaction_flagged_by = user
        image.redaction_flagged_at = timezone.now()
        image.save(update_fields=["redaction", "redaction_flagged_by", "redaction_flagged_at"])
        audit.image_flagged_burned_in(user, image, before)
    return image


def redact(user: User, project: Project, image_id: int, boxes) -> Image:
    """Burn `boxes` ([x0, y0, x1, y1] in image pixels, x1 and y1 exclusive) into the image and return it.

    The stored file is replaced by its redacted version under the same name, the renderings are made again
    from it (curation.services.rendering.render_one) and QC overlays drawn from the old rendering are
    deleted, so no unredacted pixels stay in storage. Raises ValidationError for bad boxes, Conflict for an
    image that has no stored file yet (not rendered) or whose file cannot be read.
    """
    action(Action.REDACT_IMAGES).check(user, project)
    with transaction.atomic():
        image = _locked(project, image_id)
        if image.render_status != RenderStatus.DONE or not image.original:
            raise Conflict("This image has no rendered pixels yet: render it before redacting.")
        try:
            cleaned = clean_boxes(boxes, image.rows or 0, image.columns or 0)
        except BoxError as exc:
            raise ValidationError({"boxes": str(exc)}) from exc
        redacted = _redacted_file(image, cleaned)
        before = image.redaction
        old_files = {name: getattr(image, name) for name in RENDER_FIELDS}
        image.original = _replace(image.original, redacted)
        fields = _render(project, image)
        for name, value in fields.items():
            setattr(image, name, value)
        image.redaction = Redaction.DONE
        image.redaction_boxes = [*image.redaction_boxes, *cleaned]
        image.redacted_by = user
        image.redacted_at = timezone.now()
        image.save(update_fields=["original", *fields, *REDACTION_FIELDS])
        _delete_leftovers(old_files, image)
        _delete_overlays(image)
        audit.image_redacted(user, image, before, cleaned)
    return image


def _locked(project: Project, image_id: int) -> Image:
    try:
        return locks.image_for_update(project.pk, image_id)
    except Image.DoesNotExist as exc:
        raise Http404("No such image.") from exc


def _redacted_file(image: Image, boxes: list[list[int]]) -> bytes:
    max_bytes = settings.IMPORT_MAX_FILE_BYTES
    with default_storage.open(image.original, "rb") as fh:
        data = fh.read(max_bytes + 1)
    is_dicom = (len(data) > 132 and data[128:132] == b"DICM") or image.original.endswith(".dcm")
    try:
        redact_file = redact_dicom if is_dicom else redact_picture
        out = redact_file(data, boxes, max_pixels=settings.IMAGE_MAX_PIXELS)
    except MemoryError as exc:
        raise Conflict("Not enough memory to redact this image.") from exc
    except DicomError as exc:
        raise Conflict(f"The image's file cannot be redacted: {exc.reason}") from exc
    if len(out) > max_bytes:
        # Uncompressed, a compressed file can grow past what the renderer reads.
        raise Conflict("The redacted file would be larger than IMPORT_MAX_FILE_BYTES.")
    return out


def _replace(name: str, data: bytes) -> str:
    """Overwrite a stored file under its own name (deleted first: storages pick a new name for a taken one).

    The same name keeps a re-import from storing the unredacted file again: ingest writes a file only
    when its name is free."""
    default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def _render(project: Project, image: Image) -> dict:
    """New renderings from the redacted file; if that fails, no rendering at all (the old ones show the text)."""
    try:
        fields = render_one(project, image)
    except Exception as exc:  # noqa: BLE001 - the redaction stands whatever the renderer says
        logger.warning("Rendering redacted image %s failed: %s", image.pk, type(exc).__name__)
        for name in RENDER_FIELDS:
            if getattr(image, name):
                default_storage.delete(getattr(image, name))
        reason = str(getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}")
        fields = {name: "" for name in RENDER_FIELDS}
        fields.update(render_status=RenderStatus.FAILED, render_error=f"after redaction: {reason}"[:300])
    # The first render's hash of the imported file stays: re-imports of that file are recognised by it.
    fields.pop("content_sha256", None)
    return fields


def _delete_leftovers(old_files: dict[str, str], image: Image) -> None:
    """Renderings stored under other names than the new ones (render_one overwrote those that match)."""
    for name, old in old_files.items():
        if old and old != getattr(image, name) and default_storage.exists(old):
            default_storage.delete(old)


def _delete_overlays(image: Image) -> None:
    """QC overlays are the old rendering with mask outlines on it: deleted; the next QC run draws new ones."""
    from labeling.models import QcResult

    results = QcResult.objects.filter(image=image).exclude(overlay="")
    for name in results.values_list("overlay", flat=True):
        if default_storage.exists(name):
            default_storage.delete(name)
    results.update(overlay="")
