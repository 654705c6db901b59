"""Shared fixtures: a project with one user per role, API clients, test-only job kinds, a real worker."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from curation.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

ROLES = [Role.ADMIN, Role.CURATOR, Role.RADIOLOGIST, Role.VIEWER]
IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    """Integration and browser tests skip where their services are missing; in CI they run and fail."""
    if IN_CI:
        return
    broker = os.environ.get("CELERY_BROKER_URL", "")
    db = os.environ.get("DATABASE_URL", "")
    chromium = shutil.which("chromium") or Path("/usr/bin/chromium").exists()
    for item in items:
        # The fuzz test brings its own server and database (SQLite by default): it runs everywhere.
        needs_services = "integration" in item.keywords and "fuzz" not in item.keywords
        if needs_services and not (broker and db.startswith("postgres")):
            reason = "integration tests need DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://..."
            item.add_marker(pytest.mark.skip(reason=reason))
        if "browser" in item.keywords and not chromium:
            reason = "browser tests need /usr/bin/chromium (apt-get install chromium)"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path, request):
    """Every test writes files into its own folder, never into var/; passwords hash fast; jobs run
    in-process unless the test brings a real worker (integration and browser tests)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    wants_worker = {"celery_worker_process", "worker_if_configured"} & set(request.fixturenames)
    if not wants_worker:
        settings.JOBS_IN_PROCESS = True
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        # The manifest storage needs collectstatic; tests serve static files as in development.
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.VAR_DIR = tmp_path / "var"


@pytest.fixture
def project(db):
    return ProjectFactory(slug="chest", name="Chest")


@pytest.fixture
def members(project):
    """One user per role in `project`, plus an outsider who belongs to another project, and a site admin ("staff":
    a staff user who is a member of no project)."""
    users = {
        role.value: MembershipFactory(project=project, user=UserFactory(username=role.value), role=role).user
        for role in ROLES
    }
    users["outsider"] = MembershipFactory(user=UserFactory(username="outsider"), role=Role.ADMIN).user
    users["staff"] = UserFactory(username="staff", is_staff=True)
    return users


@pytest.fixture
def api():
    def client_for(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


class WorkerProcess:
    """A real Celery worker process on Redis, pointed at the test database; can be killed and restarted."""

    def __init__(self, env: dict):
        self.env = env
        self.proc = None

    def start(self) -> "WorkerProcess":
        from config.celery import app

        name = f"test-{os.getpid()}-{time.monotonic_ns()}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "ingest,nlp,qc,export,default",
                "--pool=solo",
                "--concurrency=1",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("Celery worker exited early:\n" + self.proc.stdout.read())
            replies = app.control.ping(timeout=1.0)
            if any(f"{name}@" in worker for reply in replies for worker in reply):
                return self
        self.stop()
        raise RuntimeError("Celery worker did not answer a ping within 60 s.")

    def kill(self) -> None:
        """SIGKILL: what a crashed machine or the OOM killer does (no warm shutdown, no ack)."""
        self.proc.kill()
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real Celery worker process on Redis, pointed at the test database."""
    from django.db import connection

    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "tests-only"),
    }
    settings.STORAGES["default"]["OPTIONS"]["location"] = str(settings.MEDIA_ROOT)
    worker = WorkerProcess(env).start()
    yield worker
    worker.stop()
