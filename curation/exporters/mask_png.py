"""Masks of a version's images as PNG files, one per image and organ, with an index CSV.

Layout under `mask-png/`:
- `masks/<image file stem>_<organ>.png`: 8-bit grey, 0 outside the organ and 255 inside, on the image's own
  grid (the stored mask's height x width), organ as stored (`right_lung`, `left_lung`, `heart`, ...);
- `masks.csv`: one line per PNG: `image` (the image's file name, as in `images/`), `organ`, `mask` (the PNG's
  path relative to the CSV), `height`, `width`, `pixels` (the organ's area), `mask_version`, `mask_source`,
  `split`, `qc_decision`;
- `images/<image file name>` when images are asked for (png8, png16 or the de-identified DICOM).

The newest version of each organ's mask is exported (labeling.services.latest_masks). Images without masks are
left out and counted (`left_out_no_masks`); a mask over settings.MASK_MAX_PIXELS or one that does not decode is
left out and counted (`masks_refused`) without failing the export. Masks are decoded one at a time.
"""

from __future__ import annotations

import io

from django.conf import settings

from ..csvsafe import SafeWriter, safe_file_name
from .base import Export
from .masks import _image, _with_masks

INDEX_COLUMNS = [
    "image",
    "organ",
    "mask",
    "height",
    "width",
    "pixels",
    "mask_version",
    "mask_source",
    "split",
    "qc_decision",
]


def mask_png(bits) -> bytes:
    """A bool mask as an 8-bit grey PNG with 0 / 255."""
    import numpy as np
    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.fromarray(np.asarray(bits, dtype=np.uint8) * 255, mode="L").save(out, format="PNG")
    return out.getvalue()


def write(export: Export) -> None:
    from labeling.qc.rle import RleError, decode_chexmask_rle

    with export.sink.text(export.path("masks.csv")) as out:
        writer = SafeWriter(out, lineterminator="\n")
        writer.writerow(INDEX_COLUMNS)
        for row, masks in _with_masks(export):
            image_name = _image(export, row)
            stem = safe_file_name(row.image_key)
            written = 0
            for organ, mask in sorted(masks.items()):
                try:
                    bits = decode_chexmask_rle(mask.rle, mask.height, mask.width, settings.MASK_MAX_PIXELS)
                except RleError:
                    export.count("masks_refused")
                    continue
                name = f"masks/{stem}_{organ}.png"
                export.sink.write_bytes(export.path(name), mask_png(bits))
                writer.writerow(
                    [
                        image_name,
                        organ,
                        name,
                        mask.height,
                        mask.width,
                        int(bits.sum()),
                        mask.version,
                        mask.source,
                        row.split,
                        row.qc_decision,
                    ]
                )
                written += 1
            export.count("masks", written)
            export.count("rows")
