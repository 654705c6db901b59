"""Hostile inputs generated on the fly, never stored: images and masks whose headers claim huge sizes.

A 20000² PNG of zeros compresses to a few hundred kilobytes, and a DICOM header can claim 30000² over a
few bytes of pixel data, so the tests hold what real archives send without large files in the repository.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pydicom


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(path: Path, width: int, height: int) -> Path:
    """Write a valid all-black 8-bit greyscale PNG of width x height, compressing row blocks as they go."""
    compressor = zlib.compressobj(1)
    block_rows = max(1, (1 << 24) // (width + 1))
    block = b"\x00" * ((width + 1) * block_rows)  # each row: filter byte 0, then the pixels
    parts = []
    for start in range(0, height, block_rows):
        rows = min(block_rows, height - start)
        parts.append(compressor.compress(block if rows == block_rows else block[: (width + 1) * rows]))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")
    )
    return path


def claim_size(dicom_path: Path, out_path: Path, rows: int, columns: int, frames: int | None = None) -> Path:
    """Copy a small DICOM file with its header claiming rows x columns (x frames); pixel data stays tiny."""
    ds = pydicom.dcmread(dicom_path)
    ds.Rows, ds.Columns = rows, columns
    if frames is not None:
        ds.NumberOfFrames = frames
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out_path, enforce_file_format=True)
    return out_path


def coco_rle_claim(height: int, width: int) -> dict:
    """A COCO RLE whose single background run covers height x width: a few bytes asking for h*w bytes."""
    return {"size": [height, width], "counts": [height * width]}


# Header values for generated DICOM files (curation.demo.dicom): invented PHI, as a hospital file holds.
DICOM_META = {
    "patient_name": "DOE^JANE",
    "patient_id": "P1",
    "patient_birth_date": "19500310",
    "patient_sex": "F",
    "patient_age": "071Y",
    "other_patient_ids": "",
    "patient_address": "",
    "institution_name": "General Hospital",
    "referring_physician_name": "SMITH^JOHN",
    "accession_number": "A1",
    "study_instance_uid": "2.25.1111",
    "study_date": "20210314",
    "study_time": "101500",
    "study_id": "1",
}


def small_dicom(folder, name: str, sop: str):
    """A valid 64x48 DICOM file with DICOM_META's header (claim_size can then make it claim more)."""
    import numpy as np

    from curation.demo.dicom import write_dicom

    pixels = (np.arange(64 * 48, dtype=np.uint16).reshape(64, 48) * 4) % 4096
    return write_dicom(folder / name, pixels, meta=DICOM_META, sop_instance_uid=sop, series_instance_uid="2.25.3")
