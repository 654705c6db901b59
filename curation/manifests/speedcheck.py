"""Speed sanity check: `python -m curation.manifests.speedcheck [rows]` prints NIH read_manifest rows/s.

Writes a Data_Entry_2017.csv of `rows` rows (100,000 by default) and one empty file per image across
images_001/images … images_012/images in a temporary folder, then times reading it with file checks on
(the folder walk included). Not a test: timings vary by machine.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from . import ImageRecord, read_manifest

HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n"
)
FINDINGS = ("No Finding", "Effusion", "Cardiomegaly|Effusion", "Atelectasis|Infiltration|Nodule")


def write_fixture(root: Path, rows: int) -> None:
    folders = [root / f"images_{i:03d}" / "images" for i in range(1, 13)]
    for folder in folders:
        folder.mkdir(parents=True)
    lines = [HEADER]
    per_folder = rows // len(folders) + 1
    for n in range(rows):
        patient, follow_up = n // 4 + 1, n % 4
        image = f"{patient:08d}_{follow_up:03d}.png"
        (folders[n // per_folder] / image).touch()
        lines.append(
            f"{image},{FINDINGS[n % 4]},{follow_up},{patient},{20 + n % 60:03d}Y,{'MF'[n % 2]},"
            f"{('PA', 'AP')[n % 3 == 0]},2500,2048,0.143,0.143,\n"
        )
    (root / "Data_Entry_2017.csv").write_text("".join(lines), encoding="utf-8")


def main(rows: int = 100_000) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_fixture(root, rows)
        start = time.perf_counter()
        records = sum(1 for item in read_manifest("nih", root) if isinstance(item, ImageRecord))
        elapsed = time.perf_counter() - start
    rate = records / elapsed
    print(f"{records} NIH rows (file check on) in {elapsed:.3f} s: {rate:,.0f} rows/s")
    return rate


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
