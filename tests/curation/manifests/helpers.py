"""Small fixture writers shared by the manifest reader tests: tiny images and CSVs in real layouts."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from PIL import Image


def write_image(path: Path) -> Path:
    """A 4×4 grey image; the format follows the suffix (.png, .jpg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (4, 4), color=128).save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[list], *, encoding: str = "utf-8") -> Path:
    """A CSV as pandas/Excel would write it; `.gz` names are gzipped like the MIMIC downloads."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path
