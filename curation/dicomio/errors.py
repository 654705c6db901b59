"""The one exception the DICOM core raises for a bad input item, with a short reason a curator can read."""

from __future__ import annotations


class DicomError(Exception):
    """A per-item failure (not DICOM, truncated, no pixel data, unsupported syntax, too large, undecodable).

    `reason` is a short human sentence fragment, stored as the item's error by the ingest job.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def human_size(n_bytes: int) -> str:
    """Return a size as curators read it: '600 MB', '1.5 KB', '12 bytes' (binary multiples)."""
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n_bytes >= factor:
            text = f"{n_bytes / factor:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{n_bytes} bytes"


def check_size(size: int, max_bytes: int | None) -> None:
    """Raise DicomError when `size` is over `max_bytes` (None means no limit)."""
    if max_bytes is not None and size > max_bytes:
        raise DicomError(f"file is {human_size(size)}, over the {human_size(max_bytes)} limit")
