"""Benchmark of dataset exports: rows per second and peak memory at 10k and 100k rows, and with 8-bit images.

Run from the project root with PostgreSQL up: `.venv/bin/python bench/export.py [--rows 100000]`.
Fills a database of its own (`cxr_bench_export`, kept between runs and reused when it already holds the rows)
with SQL (generate_series): patients, studies and images, and three frozen versions (10k and `--rows` rows
without image files, a smaller one whose rows point at a stored 1024² 8-bit PNG). Each export runs in a child
process (`--child`) so that its peak memory (ru_maxrss) is its own, beside an idle child's (Django loaded,
nothing exported); tracemalloc is left off, as it slows every allocation several times. The baseline rate
is a bare csv.writer over the same rows read the same way, measured in the same run. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "cxr_bench_export")
SLUG = "bench-export"
MEDIA = Path(os.environ.get("BENCH_MEDIA", "/tmp/cxr_bench_export_media"))
IMAGE_ROWS = 2000
LABELS = {
    "Atelectasis": 0.10,
    "Cardiomegaly": 0.025,
    "Pleural Effusion": 0.12,
    "Lung Opacity": 0.18,
    "Lung Lesion": 0.10,
    "Pneumonia": 0.013,
    "Pneumothorax": 0.047,
    "Consolidation": 0.042,
    "Edema": 0.02,
    "Support Devices": 0.2,
}


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{PG_SERVER}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
    os.environ.update({"DJANGO_SSL_REDIRECT": "0", "DJANGO_SECURE_COOKIES": "0", "MEDIA_ROOT": str(MEDIA)})
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)


def ensure_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def _labels_sql() -> str:
    """A SQL expression for a row's labels JSON ({label: [status, source]}), drawn per row from its number."""
    parts = []
    for i, (label, p) in enumerate(sorted(LABELS.items())):
        # Deterministic pseudo-random per row and label; a third of the labels come from review.
        threshold = int(p * 1000)
        parts.append(
            f"""'"{label}"', CASE WHEN ((g::bigint * {7919 + i * 104729}) %% 1000) < {threshold}
                 THEN '["positive", "mined"]'::jsonb ELSE '["negative", "mined"]'::jsonb END"""
        )
    return "jsonb_build_object(" + ", ".join(parts) + ")"


def _png_1024() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(3)
    pixels = (rng.normal(120, 30, (1024, 1024)).clip(0, 255)).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def ensure_data(rows: int) -> dict:
    """Versions `small` (10k rows), `large` (`rows` rows) and `images` (IMAGE_ROWS rows with a display PNG)."""
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from curation.models import DatasetDefinition, DatasetVersion, Project

    call_command("migrate", verbosity=0)
    project, _ = Project.objects.get_or_create(slug=SLUG, defaults={"name": "Export bench"})
    wanted = {"small": 10_000, "large": rows, "images": IMAGE_ROWS}
    have = {v.name: v for v in DatasetVersion.objects.filter(project=project)}
    if all(name in have and have[name].row_count == n for name, n in wanted.items()):
        return {name: have[name].pk for name in wanted}
    start = time.perf_counter()
    with transaction.atomic():
        DatasetVersion.objects.filter(project=project).delete()
        project.patients.all().delete()
        MEDIA.mkdir(parents=True, exist_ok=True)
        display = "bench/display-1024.png"
        (MEDIA / "bench").mkdir(exist_ok=True)
        (MEDIA / display).write_bytes(_png_1024())
        with connection.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            n = max(wanted.values())
            cur.execute(
                """INSERT INTO curation_patient (project_id, pseudo_id, sex, created_at)
                   SELECT %s, 'P' || g, (ARRAY['M', 'F'])[1 + g %% 2], now() FROM generate_series(1, %s) g""",
                [project.pk, n // 2],
            )
            cur.execute("SELECT min(id) FROM curation_patient WHERE project_id = %s", [project.pk])
            first_patient = cur.fetchone()[0]
            cur.execute(
                """INSERT INTO curation_study (project_id, patient_id, dataset, study_key, study_date, accession,
                       age_years, sex, has_report, image_count, created_at)
                   SELECT %s, %s + ((g - 1) / 2), (ARRAY['nih', 'chexpert', 'mimic'])[1 + g %% 3], 'S' || g,
                       date '2010-01-01' + (g %% 4000), '', 18 + (g::bigint * 7919) %% 80,
                       (ARRAY['M', 'F'])[1 + ((g - 1) / 2) %% 2], true, 1, now()
                   FROM generate_series(1, %s) g""",
                [project.pk, first_patient, n],
            )
            cur.execute("SELECT min(id) FROM curation_study WHERE project_id = %s", [project.pk])
            first_study = cur.fetchone()[0]
            cur.execute(
                """INSERT INTO curation_image (project_id, study_id, image_key, view_position, modality, photometric,
                       content_sha256, original, display, display16, thumbnail, display_meta, render_status,
                       render_error, source_path, redaction, redaction_boxes, created_at)
                   SELECT %s, %s + g - 1, 'I' || g, (ARRAY['PA', 'AP', 'PA', 'LAT'])[1 + g %% 4], 'CR', '', '', '',
                       %s, '', '', '{}', 'done', '', '', '', '[]', now()
                   FROM generate_series(1, %s) g""",
                [project.pk, first_study, display, n],
            )
            cur.execute("SELECT min(id) FROM curation_image WHERE project_id = %s", [project.pk])
            first_image = cur.fetchone()[0]
            definition = DatasetDefinition.objects.create(project=project, name="bench")
            ids = {}
            for name, count in wanted.items():
                version = DatasetVersion.objects.create(
                    project=project,
                    definition=definition,
                    name=name,
                    label_space="chexpert",
                    content_hash="",
                    frozen_at=timezone.now(),
                )
                # The only text put into the SQL is _labels_sql(), built from constants.
                cur.execute(
                    f"""INSERT INTO curation_datasetrow (version_id, study_id, image_id, patient, patient_index,
                           study_key, follow_up, image_key, image_index, dataset, view_position, sex, age_years,
                           qc_decision, split, labels)
                       SELECT %s, %s + g - 1, %s + g - 1, 'P' || ((g - 1) / 2 + 1), (g - 1) / 2 + 1, 'S' || g,
                           (g - 1) %% 2, 'I' || g, 0, (ARRAY['nih', 'chexpert', 'mimic'])[1 + g %% 3],
                           (ARRAY['PA', 'AP', 'PA', 'LAT'])[1 + g %% 4], (ARRAY['M', 'F'])[1 + ((g - 1) / 2) %% 2],
                           18 + (g::bigint * 7919) %% 80, 'accept',
                           (ARRAY['train', 'train', 'train', 'train', 'train', 'train', 'train', 'train',
                                  'valid', 'test'])[1 + ((g - 1) / 2) %% 10],
                           {_labels_sql()}
                       FROM generate_series(1, %s) g""",  # noqa: S608
                    [version.pk, first_study, first_image, count],
                )
                DatasetVersion.objects.filter(pk=version.pk).update(content_hash="bench", row_count=count)
                ids[name] = version.pk
        connection.cursor().execute("ANALYZE curation_datasetrow")
    print(f"filled in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return ids


# --- one measurement per child process --------------------------------------------------------------


def child(version_id: int, fmt: str, images: str) -> dict:
    """Run in a fresh process: export (or the bare csv.writer baseline, fmt 'baseline', or nothing, 'idle')."""
    setup_django()
    from curation.exporters import DirSink, export_version
    from curation.models import DatasetVersion

    version = DatasetVersion.objects.select_related("definition").get(pk=version_id)
    idle_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as out:
        if fmt == "baseline":
            rows = _bare_csv(version, Path(out))
        elif fmt == "idle":
            rows = 0
        else:
            rows = export_version(version, fmt, images, DirSink(Path(out)))["rows"]
        seconds = time.perf_counter() - start
    return {
        "rows": version.row_count,
        "written": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(version.row_count / seconds) if seconds else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_export_mb": round(idle_rss / 1024, 1),
    }


def _bare_csv(version, out: Path) -> int:
    """The floor: the same keyset reads and one csv.writer row per image, nothing else."""
    import csv

    from curation.services.datasets import iter_rows

    n = 0
    with (out / "bare.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        for row in iter_rows(version, ("image_key", "follow_up", "patient_index", "age_years", "sex", "labels")):
            writer.writerow(row[:6])
            n += 1
    return n


def measure(version_id: int, fmt: str, images: str = "none") -> dict:
    cmd = [sys.executable, __file__, "--child", str(version_id), fmt, images]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", nargs=3, metavar=("VERSION", "FORMAT", "IMAGES"))
    args = parser.parse_args()
    if args.child:
        version_id, fmt, images = args.child
        print(json.dumps(child(int(version_id), fmt, images)))
        return
    ensure_database()
    setup_django()
    ids = ensure_data(args.rows)
    results: dict = {"database": DB_NAME, "idle_django": measure(ids["small"], "idle")}
    for size in ("small", "large"):
        entry = {"baseline_bare_csv_writer": measure(ids[size], "baseline")}
        for fmt in ("nih", "chexpert", "jsonl"):
            entry[fmt] = measure(ids[size], fmt, "none")
        results[f"{size}_{entry['nih']['rows']}_rows"] = entry
    results[f"png8_images_{IMAGE_ROWS}_rows"] = {
        "nih": measure(ids["images"], "nih", "png8"),
        "chexpert": measure(ids["images"], "chexpert", "png8"),
        "note": "every row's image is the same stored 1024x1024 8-bit PNG (page cache warm after the first)",
    }
    results["goal"] = ">= 20000 rows/s for CSV formats without image files; peak memory < 300 MB, flat in size"
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
