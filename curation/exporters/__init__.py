"""Exports of a dataset version, one module per format, into a folder (the CLI) or a zip in storage (the job).

`export_version` writes one format's files under `<format>/` and the data card beside that folder, never
inside it. Every writer streams: rows are read in keyset batches, files are written as they go, and images
one at a time. Every CSV goes through curation.csvsafe.
"""

from __future__ import annotations

from collections.abc import Callable

from ..models import DatasetVersion
from . import chexpert, dicom_seg, jsonl, mask_png, masks, nih
from .base import Export
from .datacard import DataCard
from .images import IMAGE_KINDS
from .sinks import DirSink, Sink, ZipSink

WRITERS: dict[str, Callable[[Export], None]] = {
    "nih": nih.write,
    "chexpert": chexpert.write,
    "chexmask": masks.write_chexmask,
    "coco": masks.write_coco,
    "mask-png": mask_png.write,
    "dicom-seg": dicom_seg.write,
    "jsonl": jsonl.write,
}
FORMATS = tuple(WRITERS)  # the order: nih, chexpert, chexmask, coco, mask-png, dicom-seg, jsonl
# Both readers (torchxrayvision, and CheXpert's own loaders) refuse pixel values above 255.
EIGHT_BIT_ONLY = ("nih", "chexpert")
# A SEG is only openable beside the image it references (OHIF, 3D Slicer): the DICOM goes with it.
DICOM_ONLY = ("dicom-seg",)
DEFAULT_IMAGES = {"nih": "png8", "chexpert": "png8", "dicom-seg": "dicom"}

__all__ = ["FORMATS", "IMAGE_KINDS", "DirSink", "ExportError", "ZipSink", "export_version"]


class ExportError(ValueError):
    """The export cannot be made as asked (unknown format, images the format does not carry)."""


def check_request(fmt: str, images: str | None) -> str:
    """The image kind to use for `fmt`; ExportError with a message for the user."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    images = images or DEFAULT_IMAGES.get(fmt, "none")
    if images not in IMAGE_KINDS:
        raise ExportError(f"Unknown image kind {images!r}: use one of {', '.join(IMAGE_KINDS)}.")
    if fmt in EIGHT_BIT_ONLY and images not in ("png8", "none"):
        raise ExportError(f"The {fmt} format carries 8-bit images only: use --images png8 or none.")
    if fmt in DICOM_ONLY and images != "dicom":
        raise ExportError(f"The {fmt} format carries the DICOM images its objects reference: use --images dicom.")
    return images


def export_version(
    version: DatasetVersion,
    fmt: str,
    images: str | None,
    sink: Sink,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write `version` as `fmt` into `sink` (files under `<fmt>/`, the data card beside them) and return
    what was written: {"format", "images", "rows", ...counts}."""
    images = check_request(fmt, images)
    card = DataCard(version)
    export = Export(version=version, sink=sink, folder=fmt, images=images, on_row=card.add, progress=progress)
    WRITERS[fmt](export)
    counts = {"rows": 0, **export.counts}
    card.write(sink, {"format": fmt, "images": images, **counts})
    return {"format": fmt, "images": images, **counts}
