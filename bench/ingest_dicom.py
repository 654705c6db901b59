"""Benchmark of the DICOM core on one pinned core: header indexing and rendering against bare pydicom loops.

Writes N synthetic chest films (1024 x 1024 and 2048 x 2048, uncompressed and JPEG 2000 Lossless, MONOCHROME1
and 2) and prints one JSON object: files/s of `read_header` vs `pydicom.dcmread(stop_before_pixels=True)`,
and of `render_all` vs a bare `ds.pixel_array` decode + Pillow resize to the same display size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.demo.dicom import write_dicom  # noqa: E402
from curation.demo.phantom import chest_phantom  # noqa: E402
from curation.dicomio import read_header, render_all  # noqa: E402

META = {
    "patient_name": "DOE^JANE^Q",
    "patient_id": "12345678",
    "patient_birth_date": "19500310",
    "patient_sex": "F",
    "patient_age": "071Y",
    "other_patient_ids": "A1234567",
    "patient_address": "12 Maple Street, Springfield, IL 62701",
    "institution_name": "Springfield General Hospital",
    "referring_physician_name": "SMITH^JOHN^^DR",
    "accession_number": "2103001123",
    "study_instance_uid": "2.25.1",
    "study_date": "20210314",
    "study_time": "101500",
    "study_id": "1",
}
# (size, transfer syntax, photometric, window tags?) cycled over the files: 3/4 at 1024, 1/4 at 2048;
# 1/4 JPEG 2000, the rest uncompressed, as a mixed CR/DX archive looks.
VARIANTS = [
    (1024, "explicit", "MONOCHROME2", True),
    (1024, "jpeg2000", "MONOCHROME1", False),
    (1024, "explicit", "MONOCHROME1", True),
    (2048, "explicit", "MONOCHROME2", False),
    (1024, "implicit", "MONOCHROME2", True),
    (1024, "explicit", "MONOCHROME1", False),
    (2048, "jpeg2000", "MONOCHROME2", True),
    (1024, "explicit", "MONOCHROME2", False),
]


def write_files(folder: Path, n: int) -> list[Path]:
    """Write one template per variant, then copies with their own UIDs (re-encoding JPEG 2000 is not timed)."""
    rng = np.random.default_rng(5)
    templates = []
    for index, (size, syntax, photometric, windowed) in enumerate(VARIANTS):
        pixels, _ = chest_phantom(size, size, rng, cardiomegaly=index % 3 == 0)
        window = (2048.0, 3000.0) if windowed else None
        path = folder / f"template_{index}.dcm"
        write_dicom(
            path,
            pixels.astype(np.uint16),
            meta=META,
            sop_instance_uid=f"2.25.9{index}",
            series_instance_uid=f"2.25.8{index}",
            photometric=photometric,
            window=window,
            transfer_syntax=syntax,
            modality="CR" if index % 2 else "DX",
        )
        templates.append(pydicom.dcmread(path))
    paths = []
    for i in range(n):
        ds = templates[i % len(templates)]
        ds.SOPInstanceUID = f"2.25.{10**6 + i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = f"{10**7 + i // 3}"
        path = folder / f"{i // 500:02d}" / f"{i}.dcm"
        path.parent.mkdir(exist_ok=True)
        ds.save_as(path)
        paths.append(path)
    return paths


def rate(paths: list[Path], fn, rounds: int) -> float:
    """Best files/s over `rounds` passes (files are in the page cache after the first)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for path in paths:
            fn(path)
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


def bare_render(path: Path, max_side: int) -> None:
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    rows, cols = arr.shape
    scale = min(1.0, max_side / max(rows, cols))
    image = Image.fromarray(arr.astype(np.float32))
    if scale < 1.0:
        image = image.resize((round(cols * scale), round(rows * scale)), Image.Resampling.LANCZOS, reducing_gap=2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="files to write and index")
    parser.add_argument("--render-n", type=int, default=200, help="files to render (decode is the slow part)")
    parser.add_argument("--display-max-side", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3, help="header passes; the best is reported")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the files (default: a temp folder)")
    args = parser.parse_args()

    # One core, as an ingest worker process gets.
    os.sched_setaffinity(0, {0})
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-dicom-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        paths = write_files(folder, args.n)
        written_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in paths) / 2**20

        bare_headers = rate(paths, lambda p: pydicom.dcmread(p, stop_before_pixels=True), args.rounds)
        our_headers = rate(paths, read_header, args.rounds)
        # Interleave a second measurement so drift (page cache, CPU frequency) does not favour one side.
        bare_headers = max(bare_headers, rate(paths, lambda p: pydicom.dcmread(p, stop_before_pixels=True), 1))

        subset = paths[: args.render_n]
        rate(subset[: len(VARIANTS)], read_header, 1)  # warm imports and decoders
        bare_render_rate = rate(subset, lambda p: bare_render(p, args.display_max_side), 1)
        our_render_rate = rate(subset, lambda p: render_all(p, display_max_side=args.display_max_side), 1)

        print(
            json.dumps(
                {
                    "files": args.n,
                    "total_mb": round(size_mb, 1),
                    "write_s": round(written_s, 1),
                    "mix": "3/4 1024x1024, 1/4 2048x2048; 1/4 JPEG 2000 lossless; 3/8 MONOCHROME1",
                    "cpu_affinity": sorted(os.sched_getaffinity(0)),
                    "header": {
                        "read_header_files_per_s": round(our_headers, 1),
                        "bare_dcmread_stop_before_pixels_files_per_s": round(bare_headers, 1),
                        "ratio": round(our_headers / bare_headers, 3),
                        "goal_ratio": 0.5,
                    },
                    "render": {
                        "files": len(subset),
                        "display_max_side": args.display_max_side,
                        "render_all_files_per_s": round(our_render_rate, 2),
                        "bare_pixel_array_plus_resize_files_per_s": round(bare_render_rate, 2),
                        "ratio": round(our_render_rate / bare_render_rate, 3),
                        "render_all_outputs": "display PNG + 16-bit PNG + thumbnail PNG + sha256 of the file",
                    },
                },
                indent=1,
            )
        )
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
