"""Fan-out benchmark: the same mask-QC job over 2,000 masks with 1 and then 2 Celery worker processes, on
PostgreSQL and Redis. Prints one JSON object.

Masks: the 588 real U-Net lung/heart masks of ../shared/data/masks (cycled to --masks images), judged
against a bank built from the SCR reference masks. Baseline, measured in the same run: the bare QC core
(`qc_mask_set`) over the same masks in this process, without database, storage or broker. From the
2-worker throughput it also says how many workers would bring CheXmask's 676,803 masks under an hour.

    python bench/fanout.py [--masks 2000] [--database postgres://postgres@127.0.0.1:5432/cxr_bench_fanout]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "masks"
CHEXMASK_MASKS = 676_803
UNET_VALUES = {1: "lungs", 2: "heart"}


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup_django(url: str, broker: str, media: Path) -> None:
    os.environ.update(
        DATABASE_URL=url,
        CELERY_BROKER_URL=broker,
        MEDIA_ROOT=str(media),
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret"),
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
        DB_CONN_MAX_AGE="0",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _unet_masks(limit: int) -> list[dict]:
    from labeling.qc.io import read_label_png

    files = sorted((DATA / "jsrt_unet_masks_588").rglob("*.png"))
    return [read_label_png(path, UNET_VALUES) for path in files[:limit]]


def _fill(n_masks: int) -> tuple[object, list[dict]]:
    """A project with n images, each with a lungs and a heart mask (cycled from the U-Net set), and a bank."""
    from curation.models import Dataset, Image, Patient, Project, RenderStatus, Study
    from labeling.models import Mask, QcResult, ReferenceBankFile
    from labeling.qc.bank import build_bank
    from labeling.qc.io import iter_bitmask_folder
    from labeling.qc.rle import encode_chexmask_rle
    from labeling.services import store_bank

    project, _ = Project.objects.get_or_create(slug="bench-fanout", defaults={"name": "Fan-out bench"})
    masks = _unet_masks(588)
    if Image.objects.filter(project=project).count() != n_masks:
        Project.objects.filter(pk=project.pk).delete()
        project = Project.objects.create(slug="bench-fanout", name="Fan-out bench")
        patient = Patient.objects.create(project=project, pseudo_id="p0")
        study = Study.objects.create(project=project, patient=patient, dataset=Dataset.CSV, study_key="s0")
        images = [
            Image(project=project, study=study, image_key=f"img{i:06d}", render_status=RenderStatus.MISSING)
            for i in range(n_masks)
        ]
        Image.objects.bulk_create(images, batch_size=1000)
        rows = []
        encoded = [{organ: encode_chexmask_rle(m) for organ, m in mask.items()} for mask in masks]
        for i, image in enumerate(Image.objects.filter(project=project).order_by("pk")):
            for organ, rle in encoded[i % len(encoded)].items():
                h, w = masks[i % len(masks)][organ].shape
                rows.append(Mask(project=project, image=image, organ=organ, rle=rle, height=h, width=w))
        Mask.objects.bulk_create(rows, batch_size=1000)
    if not ReferenceBankFile.objects.filter(project=project, active=True).exists():
        bank, _ = build_bank(iter_bitmask_folder(DATA / "jsrt_scr_reference_masks"), calibrate=False)
        store_bank(project, bank, source="SCR references")
    QcResult.objects.filter(project=project).delete()
    from curation.models import Job

    Job.objects.filter(project=project).delete()  # an interrupted earlier run must not hold the QC lock
    return project, masks


def _baseline(masks: list[dict], n: int) -> float:
    """Seconds per mask of the bare core over the same masks (no database, storage or broker)."""
    from labeling.models import ReferenceBankFile
    from labeling.qc.pipeline import QcConfig, qc_mask_set
    from labeling.services import load_project_bank

    bank = load_project_bank(ReferenceBankFile.objects.filter(project__slug="bench-fanout", active=True).first())
    started = time.perf_counter()
    for i in range(n):
        qc_mask_set(masks[i % len(masks)], bank, QcConfig())
    return (time.perf_counter() - started) / n


def _start_workers(count: int, env: dict) -> list[subprocess.Popen]:
    from config.celery import app

    names = [f"bench{i}-{os.getpid()}" for i in range(count)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "qc", "--pool=prefork", "--concurrency=1",
             "--without-gossip", "--without-mingle", "--loglevel=INFO", "-n", f"{name}@%h"],
            cwd=ROOT, env={**env, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
            stdout=subprocess.DEVNULL, stderr=open(f"/tmp/bench-fanout-{name}.log", "w"),
        )
        for name in names
    ]  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0)
        seen = {worker.split("@")[0] for reply in replies for worker in reply}
        if all(name in seen for name in names):
            return procs
    raise RuntimeError("workers did not answer")


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _run_qc(project, workers: int, env: dict) -> dict:
    from django.db import transaction

    from curation.models import Job, JobStatus
    from curation.services.jobs import start_job
    from labeling.models import QcResult

    QcResult.objects.filter(project=project).delete()
    procs = _start_workers(workers, env)
    try:
        started = time.perf_counter()
        with transaction.atomic():
            job = start_job(None, project, "qc.run", {})
        while True:
            job.refresh_from_db()
            if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    finally:
        _stop(procs)
    chunks = list(job.chunks.values_list("started_at", "finished_at"))
    return {
        "workers": workers,
        "status": job.status,
        "seconds": round(seconds, 2),
        "masks": job.progress_done,
        "masks_per_s": round(job.progress_done / seconds, 1),
        "chunks": len(chunks),
        "results": QcResult.objects.filter(job=job).count(),
        "job": Job.objects.filter(pk=job.pk).values_list("counters", flat=True).first(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--masks", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=100, help="masks per chunk (JOB_CHUNK_ITEMS)")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/cxr_bench_fanout")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    if not (DATA / "jsrt_unet_masks_588").is_dir():
        print(json.dumps({"error": f"mask data not found at {DATA} (../shared/data/masks); nothing to benchmark"}))
        return 2
    os.environ["JOB_CHUNK_ITEMS"] = str(args.chunk)
    _ensure_database(args.database)
    media = Path(tempfile.gettempdir()) / "bench-fanout-media"  # kept with the database between runs
    media.mkdir(exist_ok=True)
    _setup_django(args.database, args.broker, media)
    from config.celery import app

    app.connection().default_channel.client.flushdb()  # no stale messages from an earlier run
    project, masks = _fill(args.masks)
    env = {**os.environ}
    baseline = _baseline(masks, 200)
    one = _run_qc(project, 1, env)
    two = _run_qc(project, 2, env)
    per_worker = two["masks_per_s"] / 2
    result = {
        "masks": args.masks,
        "chunk_items": args.chunk,
        "cores": os.cpu_count(),
        "baseline_bare_core_s_per_mask": round(baseline, 4),
        "one_worker": one,
        "two_workers": two,
        "speedup_2_vs_1": round(one["seconds"] / two["seconds"], 2),
        "overhead_vs_bare_core_1_worker": round(one["seconds"] / (baseline * args.masks), 2),
        "chexmask_masks": CHEXMASK_MASKS,
        "workers_for_chexmask_in_1h": math.ceil(CHEXMASK_MASKS / 3600 / per_worker),
        "goal": "speedup >= 1.7 on 2 cores",
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
