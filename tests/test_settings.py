"""Settings come from the environment: no secret key outside debug, a clean deploy check."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-with-enough-entropy-0123456789-abcdefghij",
    "DJANGO_ALLOWED_HOSTS": "cxr.example.org",
    "DATABASE_URL": "postgres://cxr@db.example.org:5432/cxr",
    "CELERY_BROKER_URL": "redis://redis.example.org:6379/0",
}


def _manage(*args, env_extra=None, drop=()):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "JOBS_"))}
    env.update(env_extra or {})
    for key in drop:
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_missing_secret_key_outside_debug_is_refused():
    result = _manage("check", env_extra={"DJANGO_ALLOWED_HOSTS": "x"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set unless DJANGO_DEBUG=1" in result.stderr


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_extra={**PRODUCTION, "VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_without_broker_says_tasks_run_in_process(tmp_path):
    result = _manage("check", env_extra={"DJANGO_DEBUG": "1", "VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("background jobs run in-process") == 1


def test_s3_storage_is_selected_by_bucket_variable(tmp_path):
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup(); "
        "from django.conf import settings; print(settings.STORAGES['default']['BACKEND'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **PRODUCTION, "AWS_STORAGE_BUCKET_NAME": "cxr-files", "VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "storages.backends.s3.S3Storage", result.stderr
