"""Benchmark of the review queue's next item at scale: 10^6 double-read label items in PostgreSQL.

Run from the project root with PostgreSQL up: `.venv/bin/python bench/review_queue.py [--items 1000000]`.
Fills a database of its own (`cxr_bench_review`, kept and reused; items made with generate_series), then measures
  1. the service `next_item` alone, one reader: p50 / p95 latency and queries per call (each claim is decided
     afterwards, untimed, so the reader walks on), and the same query count on a 1,000-item project;
  2. `POST …/review/label/next/` over HTTP against gunicorn with 10 concurrent clients (token auth), each
     claiming and deciding in a loop: p50 / p95 of next, and decisions per second overall.
Each run uses new readers, so runs stay comparable. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "cxr_bench_review")
SLUG, SMALL_SLUG = "bench", "bench-small"
PORT = int(os.environ.get("BENCH_PORT", "8765"))
LABELS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion", "Pneumothorax"]


def setup_django() -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"{PG_SERVER}/{DB_NAME}",
            "DJANGO_SSL_REDIRECT": "0",
            "DJANGO_SECURE_COOKIES": "0",
            "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1",
            "DB_CONN_MAX_AGE": "600",
            "JOBS_IN_PROCESS_THREAD": "0",
        }
    )
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
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


def fill(project, items: int) -> float:
    """`items` pending label items needing two reads, random priorities, in one INSERT … generate_series."""
    from django.db import connection

    prefill = json.dumps({"labels": [{"label": name, "status": "negative", "evidence": []} for name in LABELS]})
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO labeling_reviewitem (project_id, kind, study_id, image_id, target_key, prefill, priority,
                reasons, required_reads, round, state, final, comment, created_at, updated_at)
            SELECT %s, 'label', NULL, NULL, 'bench:' || g, %s::jsonb, random(), '[]'::jsonb, 2, 1, 'pending', NULL,
                '', now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [project.pk, prefill, items],
        )
        cur.execute("ANALYZE labeling_reviewitem")
        cur.execute("ANALYZE labeling_claim")
    return time.perf_counter() - started


def ensure_data(items: int) -> dict:
    from curation.models import Project
    from labeling.models import ReviewItem

    out = {}
    for slug, size in ((SLUG, items), (SMALL_SLUG, 1000)):
        project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": slug})
        have = ReviewItem.objects.filter(project=project).count()
        if have < size:
            out[f"{slug}_fill_seconds"] = round(fill(project, size - have), 1)
        out[f"{slug}_items"] = ReviewItem.objects.filter(project=project).count()
    return out


def readers(slug: str, count: int, tag: str) -> list:
    from curation.models import Membership, Project, Role, User

    project = Project.objects.get(slug=slug)
    users = []
    for i in range(count):
        user = User.objects.create(username=f"{tag}-{i:02d}")
        Membership.objects.create(project=project, user=user, role=Role.RADIOLOGIST)
        users.append(user)
    return users


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def measure_service(slug: str, calls: int, tag: str) -> dict:
    """next_item alone, one reader, with the number of queries each call made."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from curation.models import Project, User
    from labeling.review import queue, services

    project = Project.objects.get(slug=slug)
    (reader,) = readers(slug, 1, f"{tag}-svc-{slug}")
    latencies, queries = [], []
    for _ in range(calls):
        fresh = User.objects.get(pk=reader.pk)  # as a request would: no cached role
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            got = queue.next_item(fresh, project, "label")
            latencies.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured))
        services.decide(reader, project, got.item.pk, {"labels": {}}, seconds=1)
    return {
        "calls": calls,
        "p50_ms": _pct(latencies, 0.5),
        "p95_ms": _pct(latencies, 0.95),
        "queries_per_call": sorted(set(queries)),
    }


def start_gunicorn() -> subprocess.Popen:
    env = {**os.environ, "DB_CONN_MAX_AGE": "600"}
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            os.environ.get("BENCH_WORKERS", "4"),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def measure_http(clients: int, seconds: float, tag: str) -> dict:
    from curation.services.accounts import create_token

    keys = [create_token(user, name="bench")[1] for user in readers(SLUG, clients, f"{tag}-http")]
    latencies: list[float] = []
    decisions = [0]
    errors: list = []
    lock = threading.Lock()
    stop_at = [0.0]
    barrier = threading.Barrier(clients + 1)

    def client(key):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        headers = {"Authorization": f"Token {key}", "Content-Type": "application/json", "Host": "127.0.0.1"}
        barrier.wait()
        mine = []
        done = 0
        while time.monotonic() < stop_at[0]:
            started = time.perf_counter()
            conn.request("POST", f"/api/projects/{SLUG}/review/label/next/", body=b"", headers=headers)
            response = conn.getresponse()
            body = response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                errors.append(response.status)
                break
            item = json.loads(body)["id"]
            decide = json.dumps({"payload": {"labels": {}}, "seconds": 1}).encode()
            conn.request("POST", f"/api/projects/{SLUG}/review/items/{item}/decide/", body=decide, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                errors.append(response.status)
                break
            done += 1
        with lock:
            latencies.extend(mine)
            decisions[0] += done

    threads = [threading.Thread(target=client, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + seconds
    started = time.monotonic()
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "next_calls": len(latencies),
        "p50_ms": _pct(latencies, 0.5),
        "p95_ms": _pct(latencies, 0.95),
        "decisions_per_second": round(decisions[0] / elapsed, 1),
        "errors": errors[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=int(os.environ.get("BENCH_ITEMS", 1_000_000)))
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    ensure_database()
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    data = ensure_data(args.items)
    tag = f"r{int(time.time())}"
    service = measure_service(SLUG, args.calls, tag)
    small = measure_service(SMALL_SLUG, 50, tag)
    from django.db import connections

    connections.close_all()
    server = start_gunicorn()
    try:
        over_http = measure_http(args.clients, args.seconds, tag)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(
        json.dumps(
            {
                "database": DB_NAME,
                "data": data,
                "service_one_client": service,
                "service_queries_on_1000_items": small["queries_per_call"],
                "http_concurrent": over_http,
                "goals": {"service_p95_ms": 25, "http_p95_ms": 100},
                "load_average": os.getloadavg(),
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
