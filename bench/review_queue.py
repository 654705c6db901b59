"""Benchmark of the review queue's next item at scale: 10^6 double-read label items in PostgreSQL.

Run from the project root with PostgreSQL up: `.venv/bin/python bench/review_queue.py [--items 1000000]`.
Fills a database of its own (`cxr_bench_review`, kept and reused; items made with generate_series), then measures
  1. the service `next_item` alone, one reader: p50 / p95 latency and queries per call (each claim is decided
     afterwards, untimed, so the reader walks on), and the same query count on a 1,000-item project;
  2. `POST …/review/label/next/` over HTTP against gunicorn with 10 concurrent clients (token auth), each
     claiming and deciding in a loop: p50 / p95 of next and of decide, decisions per second overall, the CPU
     time one decision costs the web workers, their database sessions and the clients (it moves far less with
     other load than latency does), and how often a database session was waiting on a row lock. Gunicorn
     runs as the Dockerfile and compose.yaml run it (3 sync workers; BENCH_WORKERS and BENCH_THREADS change
     that) with the settings' default DB_CONN_MAX_AGE; the queries of one call through the whole Django stack
     (token, project, role) are counted in-process with the test client.
Each run uses new readers, so runs stay comparable. The load average is taken before and after each part,
as other work on the machine moves the figures. Prints one JSON object.
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
            "DB_CONN_MAX_AGE": "60",  # the settings' default, as production runs (a test shell may have 0)
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


def measure_http_queries(slug: str, tag: str) -> dict:
    """Queries of one next and one decide through the whole Django stack (token, project, role, view), in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from curation.services.accounts import create_token

    (reader,) = readers(slug, 1, f"{tag}-queries-{slug}")
    client = Client(HTTP_AUTHORIZATION=f"Token {create_token(reader, name='bench')[1]}", HTTP_HOST="127.0.0.1")
    counts: dict[str, set] = {"next": set(), "decide": set()}
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            response = client.post(f"/api/projects/{slug}/review/label/next/")
        counts["next"].add(len(captured))
        decide = {"payload": {"labels": {}}, "seconds": 1}
        path = f"/api/projects/{slug}/review/items/{response.json()['id']}/decide/"
        with CaptureQueriesContext(connection) as captured:
            client.post(path, decide, "application/json")
        counts["decide"].add(len(captured))
    return {name: sorted(found) for name, found in counts.items()}


def start_gunicorn() -> subprocess.Popen:
    # As Dockerfile and compose.yaml run it: sync workers, 3 of them.
    workers, threads = os.environ.get("BENCH_WORKERS", "3"), os.environ.get("BENCH_THREADS", "1")
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            workers,
            "--threads",
            threads,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=dict(os.environ),
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


def _cpu_seconds(pids) -> float:
    """User + system CPU time of processes so far (Linux /proc); processes that are gone count 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _group_pids(pgid: int) -> list[int]:
    """The processes of a process group (gunicorn's master and workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _backend_pids() -> list[int]:
    """The database sessions of the web workers: every client backend on the bench database but ours."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
            " AND pid <> pg_backend_pid()",
            [DB_NAME],
        )
        return [pid for (pid,) in cur.fetchall()]


def sample_lock_waits(stop: threading.Event, every: float = 0.05) -> dict:
    """How often sessions on the bench database wait on a lock (row locks between next and decide),
    sampled from pg_stat_activity while the clients run."""
    import psycopg

    samples, waiting, waiters = 0, 0, 0
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        while not stop.wait(every):
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [DB_NAME]
            ).fetchone()
            samples, waiting, waiters = samples + 1, waiting + bool(count), waiters + count
    return {
        "samples": samples,
        "share_with_a_waiter": round(waiting / max(samples, 1), 3),
        "mean_waiters": round(waiters / max(samples, 1), 2),
    }


def measure_http(clients: int, seconds: float, tag: str, server_pgid: int) -> dict:
    """The clients claim and decide in a loop. Besides latency, the CPU time one decision (next + decide)
    costs the web workers, their database sessions and the clients: unlike latency, it hardly moves
    with other load on the machine."""
    from curation.services.accounts import create_token

    keys = [create_token(user, name="bench")[1] for user in readers(SLUG, clients, f"{tag}-http")]
    latencies: dict[str, list[float]] = {"next": [], "decide": []}
    decisions = [0]
    errors: list = []
    lock = threading.Lock()
    stop_at = [0.0]
    barrier = threading.Barrier(clients + 1)

    def timed(conn, path: str, body: bytes, headers: dict, into: list) -> tuple[int, bytes]:
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        into.append((time.perf_counter() - started) * 1000)
        return response.status, data

    def client(key):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        headers = {"Authorization": f"Token {key}", "Content-Type": "application/json", "Host": "127.0.0.1"}
        decide = json.dumps({"payload": {"labels": {}}, "seconds": 1}).encode()
        barrier.wait()
        mine: dict[str, list[float]] = {"next": [], "decide": []}
        done = 0
        while time.monotonic() < stop_at[0]:
            status, body = timed(conn, f"/api/projects/{SLUG}/review/label/next/", b"", headers, mine["next"])
            if status != 200:
                errors.append(status)
                break
            path = f"/api/projects/{SLUG}/review/items/{json.loads(body)['id']}/decide/"
            status, _ = timed(conn, path, decide, headers, mine["decide"])
            if status != 201:
                errors.append(status)
                break
            done += 1
        with lock:
            for name, values in mine.items():
                latencies[name].extend(values)
            decisions[0] += done

    threads = [threading.Thread(target=client, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    stop_sampling = threading.Event()
    lock_waits: dict = {}
    sampler = threading.Thread(target=lambda: lock_waits.update(sample_lock_waits(stop_sampling)))
    sampler.start()
    web_pids = _group_pids(server_pgid)
    web_cpu, client_cpu = _cpu_seconds(web_pids), sum(os.times()[:2])
    stop_at[0] = time.monotonic() + seconds
    started = time.monotonic()
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    web_cpu, client_cpu = _cpu_seconds(web_pids) - web_cpu, sum(os.times()[:2]) - client_cpu
    database_cpu = _cpu_seconds(_backend_pids())  # the sessions opened during the run: all of their time
    stop_sampling.set()
    sampler.join()
    per_decision = {
        name: round(1000 * cpu / max(decisions[0], 1), 1)
        for name, cpu in (("web", web_cpu), ("database", database_cpu), ("clients", client_cpu))
    }
    return {
        "clients": clients,
        "gunicorn": {"workers": os.environ.get("BENCH_WORKERS", "3"), "threads": os.environ.get("BENCH_THREADS", "1")},
        "seconds": round(elapsed, 1),
        "next_calls": len(latencies["next"]),
        "p50_ms": _pct(latencies["next"], 0.5),
        "p95_ms": _pct(latencies["next"], 0.95),
        "decide_p50_ms": _pct(latencies["decide"], 0.5),
        "decide_p95_ms": _pct(latencies["decide"], 0.95),
        "decisions_per_second": round(decisions[0] / elapsed, 1),
        "cpu_ms_per_decision": per_decision,
        "lock_waits": lock_waits,
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
    load = {"before_service": os.getloadavg()}
    service = measure_service(SLUG, args.calls, tag)
    small = measure_service(SMALL_SLUG, 50, tag)
    http_queries = measure_http_queries(SLUG, tag)
    from django.db import connections

    connections.close_all()
    load["before_http"] = os.getloadavg()
    server = start_gunicorn()
    try:
        over_http = measure_http(args.clients, args.seconds, tag, server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    load["after_http"] = os.getloadavg()
    print(
        json.dumps(
            {
                "database": DB_NAME,
                "data": data,
                "service_one_client": service,
                "service_queries_on_1000_items": small["queries_per_call"],
                "http_queries_per_call": http_queries,
                "http_concurrent": over_http,
                "goals": {"service_p95_ms": 25, "http_p95_ms": 100},
                "load_average": {when: [round(x, 2) for x in values] for when, values in load.items()},
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
