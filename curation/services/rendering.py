"""The render job: decode pixels of pending images and store display, 16-bit and thumbnail renderings.

Runs on the ingest queue after an import, fanned out (curation.jobrunner): the plan splits the images
pending at that moment into chunks any ingest worker takes, each chunk renders its images one by one,
and the finish step sums them. Idempotent: an image is rendered only while it is still `pending`, under
its row lock (curation.locks), and its files have fixed storage names, so a re-run, a retried chunk or a
second render job overwrites nothing twice and never renders one image twice at the same time.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError

from .. import locks
from ..dicomio.imagemeta import strip_metadata
from ..models import Image, Project, RenderStatus
from ..redact import REDACTED

logger = logging.getLogger(__name__)

# Images per chunk. Rendering costs far more per item than QC or mining (JOB_CHUNK_ITEMS), so chunks are
# smaller: a chunk stays a minute or two of work, spreads over workers, and a retry repeats little.
RENDER_CHUNK_ITEMS = 100


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


def plan_render(ctx):
    """Body of the `ingest.render` job: split the images pending render now into chunks of their ids."""
    from ..tasking import FanOut

    ids = list(
        Image.objects.filter(project=ctx.project, render_status=RenderStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    size = max(1, RENDER_CHUNK_ITEMS)
    return FanOut(chunks=[{"ids": ids[i : i + size]} for i in range(0, len(ids), size)], total=len(ids))


def run_render_chunk(ctx, spec: dict) -> dict:
    """Render the images of one chunk, one by one; a file that cannot be rendered fails only its image.

    An image that is no longer pending (another render job did it) or that another runner is rendering
    right now counts as `skipped`. A retried chunk keeps what its earlier attempts did and reported.
    """
    rendered, failed = _carry_over_earlier_attempts(ctx)
    earlier = rendered + failed  # those images are no longer pending: found again, they are not "skipped"
    for image_id in spec["ids"]:
        with locks.image_pending_render(ctx.project.pk, image_id) as image:
            failure = _render_and_store(ctx.project, image) if image is not None else ""
        # Reported once the image's row is committed: a cancel raised by the report keeps the rendering.
        if image is None and earlier > 0:
            earlier -= 1
            ctx.advance(1)
        elif image is None:
            ctx.advance(1, skipped=1)
        elif failure:
            ctx.error(image.source_path or image.image_key, failure)
            ctx.advance(1, failed=1)
            failed += 1
        else:
            ctx.advance(1, rendered=1)
            rendered += 1
    return {"rendered": rendered, "failed": failed}


def _carry_over_earlier_attempts(ctx) -> tuple[int, int]:
    """Count again what earlier attempts of this chunk reported (images rendered and failed, their errors):
    a new attempt's context starts from zero, and those images are not pending any more to be counted."""
    counters = ctx.chunk.counters or {}
    rendered, failed = int(counters.get("rendered", 0)), int(counters.get("failed", 0))
    for entry in ctx.chunk.errors or []:
        ctx.error(entry["item"], entry["reason"])
    if rendered or failed:
        ctx.count(**{key: n for key, n in (("rendered", rendered), ("failed", failed)) if n})
    return rendered, failed


def _render_and_store(project: Project, image: Image) -> str:
    """Render one image and write its row; the reason it failed (the row then says so too), or ""."""
    from ..dicomio import DicomError

    try:
        fields = render_one(project, image)
    except (DatabaseError, SoftTimeLimitExceeded):
        raise  # not this file's fault: the chunk is retried, or stops at its time limit
    except Exception as exc:  # noqa: BLE001 - whatever one file does, it fails only that image
        if not isinstance(exc, DicomError | FileNotFoundError | OSError | ValueError):
            logger.exception("Rendering image %s failed", image.pk)
        reason = str(getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}")
        status = RenderStatus.MISSING if isinstance(exc, FileNotFoundError) else RenderStatus.FAILED
        Image.objects.filter(pk=image.pk).update(render_status=status, render_error=reason[:300])
        return reason
    Image.objects.filter(pk=image.pk).update(**fields)
    return ""


def finish_render(ctx, state: dict, results: list[dict]) -> dict:
    """The render job's result: images rendered and failed, summed over its chunks."""
    return {
        "rendered": sum(int(r.get("rendered", 0)) for r in results),
        "failed": sum(int(r.get("failed", 0)) for r in results),
    }
