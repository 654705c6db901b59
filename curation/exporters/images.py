"""Image files for exports: the 8-bit display rendering, a 16-bit PNG, or the de-identified DICOM.

All three come from what ingest stored (curation.services.rendering): the display PNG is already 8-bit grey
(windowed, at most 2048 pixels a side, no metadata); the 16-bit rendering is stored packed into RGB for the
browser and is unpacked here; the DICOM is the de-identified original (burned-in text redacted where the
image was redacted). Images are read one at a time.
"""

from __future__ import annotations

import io

from django.core.files.storage import default_storage

IMAGE_KINDS = ("png8", "png16", "dicom", "none")
EXTENSIONS = {"png8": ".png", "png16": ".png", "dicom": ".dcm"}


class ImageUnavailable(Exception):
    """The stored file this kind of image is made from is not there (not rendered, or not DICOM)."""


def _read(name: str) -> bytes:
    if not name:
        raise ImageUnavailable("no stored file")
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise ImageUnavailable("stored file missing") from exc


def unpack_rg16(packed: bytes) -> bytes:
    """The 16-bit grey PNG of a rendering stored as RGB (R high byte, G low byte)."""
    import numpy as np
    from PIL import Image as PILImage

    rgb = np.asarray(PILImage.open(io.BytesIO(packed)).convert("RGB"))
    values = (rgb[..., 0].astype(np.uint16) << 8) | rgb[..., 1].astype(np.uint16)
    out = io.BytesIO()
    PILImage.fromarray(values.astype("<u2")).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def image_bytes(kind: str, display: str, display16: str, original: str) -> bytes:
    """The file of one image as `kind` (png8 / png16 / dicom); ImageUnavailable when it cannot be made."""
    if kind == "png8":
        return _read(display)
    if kind == "png16":
        return unpack_rg16(_read(display16))
    if kind == "dicom":
        data = _read(original)
        if len(data) < 132 or data[128:132] != b"DICM":
            raise ImageUnavailable("the original is not DICOM")
        return data
    raise ValueError(f"unknown image kind {kind!r}")
