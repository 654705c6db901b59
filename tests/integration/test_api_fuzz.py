"""Fuzz the whole API from its OpenAPI schema with schemathesis: no request may get a server error (5xx).

The API runs as in production: gunicorn (the dev server mishandles malformed requests), DEBUG off, static
files collected, on a database filled by `manage.py demo` (a temporary SQLite file, or a PostgreSQL database of
its own, created and dropped here, when DATABASE_URL is postgres), jobs in-process. The demo admin's token
authenticates every request. The run is bounded (examples per operation and a time budget) to stay within a
few minutes in CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", 25))
MAX_SECONDS = int(os.environ.get("FUZZ_MAX_SECONDS", 75))
# Operations that would lock the fuzzer out of the rest of the run (revoking its token, removing or demoting
# the admin's membership) are left out; their input handling is covered by the unit tests.
EXCLUDE = ["--exclude-method", "DELETE", "--exclude-path-regex", r"/members/\{username\}/$"]

# The demo (about a minute) and the time-boxed run together exceed the suite's default per-test timeout.
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FuzzDatabase:
    """A database for the fuzz run only: a SQLite file, or a fresh PostgreSQL database beside DATABASE_URL's."""

    def __init__(self, tmp_path: Path):
        base = os.environ.get("DATABASE_URL", "")
        self.admin_url = None
        if base.startswith(("postgres://", "postgresql://")):
            parts = urlsplit(base)
            self.name = f"{parts.path.lstrip('/') or 'cxr'}_fuzz_{os.getpid()}"
            self.url = urlunsplit(parts._replace(path=f"/{self.name}"))
            self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        else:
            self.url = f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> None:
        if self.admin_url:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.admin_url:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture
def demo_server(tmp_path):
    """gunicorn serving the app on a migrated demo database; yields (base URL, env, VAR_DIR)."""
    database = FuzzDatabase(tmp_path)
    database.create()
    env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    env.update(
        {
            "DATABASE_URL": database.url,
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "fuzz-only-secret-key-not-for-production-00",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SSL_REDIRECT": "0",
            "DJANGO_SECURE_COOKIES": "0",
            "DJANGO_HSTS_SECONDS": "0",
            "DB_CONN_MAX_AGE": "0",
            "JOBS_IN_PROCESS_THREAD": "1",
            "VAR_DIR": str(tmp_path / "var"),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "STATIC_ROOT": str(tmp_path / "static"),
        }
    )
    manage = [str(BIN / "python"), "manage.py"]
    server = None
    try:
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            done = subprocess.run(manage + command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        # The demo runs its jobs in-process and synchronously, whatever the environment says.
        demo = subprocess.run(
            manage + ["demo"], cwd=ROOT, env={**env, "JOBS_IN_PROCESS_THREAD": "0"}, capture_output=True, text=True
        )
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        port = _free_port()
        log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 -- closed with the server below
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "--workers", "2", "--threads", "2"]
            + ["--timeout", "60", "--graceful-timeout", "5"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{base}/api/me/", timeout=2)  # noqa: S310 -- loopback only
            except urllib.error.HTTPError:
                break  # 401: the app answers
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.3)
        yield base, Path(env["VAR_DIR"])
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
        database.drop()


def _call(base: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    request = urllib.request.Request(  # noqa: S310 -- loopback only
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Accept": "application/json"}
        | ({"Authorization": f"Token {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 -- loopback only
        return json.loads(response.read())


def test_no_api_operation_answers_a_server_error(demo_server, tmp_path):
    base, var_dir = demo_server
    password = json.loads((var_dir / "demo-users.json").read_text())["admin"]
    token = _call(base, "/api/auth/token/", body={"username": "admin", "password": password})["token"]
    schema = _call(base, "/api/schema/?format=json", token)
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    runs = _call(base, "/api/projects/demo/labeling-runs/", token)["results"]
    assert runs, "the demo mined no labels"
    # Path parameters that name the demo's own data, so requests reach the views instead of a 404.
    (tmp_path / "schemathesis.toml").write_text(
        f'[parameters]\n"path.slug" = "demo"\n"path.run_id" = {runs[0]["id"]}\n'
    )
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        str(tmp_path / "schema.json"),
        "--url",
        base,
        "--header",
        f"Authorization: Token {token}",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--request-timeout",
        "30",
        "--workers",
        "2",
        "--seed",
        "20261203",
        "--no-color",
        *EXCLUDE,
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=MAX_SECONDS + 300, check=False
    )
    output = result.stdout + result.stderr
    server_log = (tmp_path / "gunicorn.log").read_text()
    assert result.returncode == 0, output[-8000:] + "\n--- gunicorn ---\n" + server_log[-4000:]
    assert " passed" in output and "generated" in output, output[-3000:]
