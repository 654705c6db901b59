"""Ingest benchmark: DICOM header-index and render rates against bare pydicom, and a 100,000-row NIH
manifest import on PostgreSQL against a bare CSV parse of the same file. Prints one JSON object.

    .venv/bin/python bench/ingest.py [--rows 100000] [--dicom-n 1000] [--database-url postgres://...]

The DICOM part is bench/ingest_dicom.py (run as a subprocess, its JSON merged in). The NIH part builds
a Data_Entry_2017.csv with tiny PNG files on disk (pixels are rendered later by workers, as in
production), imports it with the real import job body (curation.services.ingest.run_import) into a
scratch PostgreSQL database, and reports rows per second.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LABELS = [
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
]
HEADER = [
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
    "OriginalImage[Width",
    "Height]",
    "OriginalImagePixelSpacing[x",
    "y]",
]
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c6360000000020001e221bc330000000049454e44ae426082"
)


def write_nih(root: Path, rows: int) -> Path:
    """A ChestX-ray14-style manifest: ~3.5 images per patient, 12 image folders, real column names."""
    import random

    rng = random.Random(5)
    folders = [root / f"images_{i:03d}" / "images" for i in range(1, 13)]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    manifest = root / "Data_Entry_2017.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        patient, follow = 1, 0
        for i in range(rows):
            if follow >= rng.randint(1, 6):
                patient, follow = patient + 1, 0
            name = f"{patient:08d}_{follow:03d}.png"
            (folders[i * 12 // rows] / name).write_bytes(TINY_PNG)
            labels = "|".join(rng.sample(LABELS, rng.choice([0, 0, 0, 1, 1, 2]))) or "No Finding"
            writer.writerow(
                [
                    name,
                    labels,
                    follow,
                    patient,
                    rng.randint(18, 90),
                    rng.choice("MF"),
                    rng.choice(["PA", "AP"]),
                    2500,
                    2048,
                    0.143,
                    0.143,
                ]
            )
            follow += 1
    return manifest


def bare_csv_rate(manifest: Path) -> float:
    start = time.perf_counter()
    with manifest.open(newline="") as fh:
        n = sum(1 for _ in csv.DictReader(fh))
    return n / (time.perf_counter() - start)


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["JOBS_IN_PROCESS_THREAD"] = "0"
    os.environ.pop("CELERY_BROKER_URL", None)
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def import_rate(manifest_root: Path, rows: int) -> dict:
    from curation.models import Image, Job, Patient, Report, Study
    from curation.services import ingest
    from curation.services.projects import get_or_create_project
    from curation.tasking import JobContext

    project, _ = get_or_create_project("bench")
    job = Job.objects.create(
        kind="ingest.import", project=project, params={"source": "nih", "path": str(manifest_root)}
    )
    ctx = JobContext(job)
    start = time.perf_counter()
    result = ingest.run_import(ctx)
    seconds = time.perf_counter() - start
    ctx.flush(force=True)
    assert Image.objects.count() == rows, (Image.objects.count(), rows)
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "result": result,
        "rows_written": {
            "patients": Patient.objects.count(),
            "studies": Study.objects.count(),
            "images": Image.objects.count(),
            "reports_with_native_labels": Report.objects.count(),
        },
        "errors": ctx._error_count,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dicom-n", type=int, default=1000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/cxr_bench_ingest")
    parser.add_argument("--skip-dicom", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # one core, as the goals are stated

    out: dict = {"benchmark": "ingest", "cpu_affinity": "1 core"}
    if not args.skip_dicom:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "ingest_dicom.py"), "--n", str(args.dicom_n)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        out["dicom"] = json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr[-2000:]}

    with tempfile.TemporaryDirectory(prefix="bench-nih-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        manifest = write_nih(root, args.rows)
        setup_django(args.database_url)
        baseline = bare_csv_rate(manifest)
        ours = import_rate(root, args.rows)
        out["nih_manifest_import"] = {
            **ours,
            "database": "postgresql",
            "fixture_seconds": round(time.perf_counter() - t0 - ours["seconds"], 1),
            "baseline_bare_csv_parse_rows_per_s": round(baseline),
            "ratio_to_bare_csv_parse": round(ours["rows_per_s"] / baseline, 3),
            "goal_rows_per_s": 20000,
            "label_studio_reference_tasks_per_s": 3700,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
