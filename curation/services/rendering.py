"""The render job: decode pixels of pending images and store display, 16-bit and thumbnail renderings.

Runs on the ingest queue after an import. Idempotent: it only takes images still `pending`, and
each image's files have fixed storage names, so a re-run overwrites rather than duplicates.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from ..dicomio.imagemeta import strip_metadata
from ..models import Image, Project, RenderStatus
from ..redact import REDACTED

logger = logging.getLogger(__name__)

RENDER_BATCH = 25


def _save(name: str, data: bytes) -> str:
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def _open_source(image: Image):
    """The file to decode: the stored original, or the server file a manifest row points to."""
    if image.original:
        return default_storage.open(image.original, "rb")
    if image.source_path.startswith("file:"):
        return Path(_server_path(image)).open("rb")
    raise FileNotFoundError("no stored original and no source file")


def _server_path(image: Image) -> str:
    """The server file of a manifest row; a path that named a patient is kept in the pseudonym map."""
    path = image.source_path[5:]
    if REDACTED not in path:
        return path
    from ..models import PseudonymMap

    original = (
        PseudonymMap.objects.filter(project_id=image.project_id, kind=PseudonymMap.Kind.PATH, pseudonym=image.image_key)
        .values_list("original", flat=True)
        .first()
    )
    if original is None:
        raise FileNotFoundError("the source file's path was not kept")
    return original


def pack_rg16(png16: bytes) -> bytes:
    """A 16-bit grey PNG re-encoded as 8-bit RGB (R = high byte, G = low byte).

    Browsers decode 16-bit PNGs to 8 bits before a canvas sees them, which would throw away the
    depth that window/level needs; the viewer (frontend/static/frontend/viewer.js) unpacks this.
    """
    import numpy as np
    from PIL import Image as PILImage

    values = np.asarray(PILImage.open(io.BytesIO(png16))).astype(np.uint16)
    rgb = np.zeros((*values.shape, 3), dtype=np.uint8)
    rgb[..., 0] = values >> 8
    rgb[..., 1] = values & 0xFF
    out = io.BytesIO()
    PILImage.fromarray(rgb, "RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def render_one(project: Project, image: Image) -> dict:
    """Render one image's files; DicomError (with its reason) for a file that cannot be, or is too large."""
    from ..dicomio import DicomError, render_all, render_image_file
    from ..dicomio.errors import check_size

    max_bytes = settings.IMPORT_MAX_FILE_BYTES
    with _open_source(image) as fh:
        data = fh.read(max_bytes + 1)
    check_size(len(data), max_bytes)
    is_dicom = (len(data) > 132 and data[128:132] == b"DICM") or image.original.endswith(".dcm")
    # Pixel counts are checked from the file's header before decoding: a small file can claim 30000².
    limit = settings.IMAGE_MAX_PIXELS
    try:
        if is_dicom:
            rendering = render_all(io.BytesIO(data), max_pixels=limit)
        else:
            rendering = render_image_file(io.BytesIO(data), max_pixels=limit)
    except MemoryError as exc:
        raise DicomError("not enough memory to render the image") from exc
    prefix = f"projects/{project.slug}/renders/{image.pk}"
    fields = {
        "display": _save(f"{prefix}/display.png", rendering.display_png),
        "display16": _save(f"{prefix}/display16.png", pack_rg16(rendering.display16_png)),
        "thumbnail": _save(f"{prefix}/thumb.png", rendering.thumbnail_png),
        "display_meta": {**rendering.window, "packing": "rg16"},
        "render_status": RenderStatus.DONE,
        "render_error": "",
    }
    if not image.content_sha256:
        fields["content_sha256"] = rendering.content_sha256
    if not image.rows:
        fields["rows"], fields["columns"] = rendering.rows, rendering.cols
    if not image.original:
        # Manifest images referenced on a server folder get a stored copy, so any worker can read it.
        suffix = Path(image.source_path).suffix.lower() or ".img"
        # Without the text metadata (names, ids) hospital exports write into PNG and JPEG files.
        fields["original"] = _save(f"{prefix}/original{suffix}", data if is_dicom else strip_metadata(data))
    return fields


def run_render(ctx) -> dict:
    """The body of the `ingest.render` job."""
    from ..dicomio import DicomError

    project = ctx.project
    pending = Image.objects.filter(project=project, render_status=RenderStatus.PENDING)
    ctx.set_total(pending.count())
    rendered = failed = 0
    last_id = 0
    while True:
        # Keyset over ids: never re-reads the rows already handled, whatever their new status.
        batch = list(pending.filter(pk__gt=last_id).order_by("pk")[:RENDER_BATCH])
        if not batch:
            break
        last_id = batch[-1].pk
        for image in batch:
            try:
                fields = render_one(project, image)
            except Exception as exc:  # noqa: BLE001 - whatever one file does, it fails only that image
                if not isinstance(exc, DicomError | FileNotFoundError | OSError | ValueError):
                    logger.exception("Rendering image %s failed", image.pk)
                reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
                status = RenderStatus.MISSING if isinstance(exc, FileNotFoundError) else RenderStatus.FAILED
                Image.objects.filter(pk=image.pk).update(render_status=status, render_error=str(reason)[:300])
                ctx.error(image.source_path or image.image_key, str(reason))
                ctx.advance(1, failed=1)
                failed += 1
                continue
            with transaction.atomic():
                Image.objects.filter(pk=image.pk).update(**fields)
            ctx.advance(1, rendered=1)
            rendered += 1
    return {"rendered": rendered, "failed": failed}
