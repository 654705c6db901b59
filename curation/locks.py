"""Every lock in the app lives here (select_for_update and PostgreSQL advisory locks), so rows and
resources are always locked in the same order."""

import contextlib
import time

from django.db import connection

from .models import Job, Membership, Project


def job_for_update(job_id: int) -> Job:
    return Job.objects.select_for_update().select_related("project").get(pk=job_id)


def membership_for_update(project_id: int, user_id: int) -> Membership:
    return (
        Membership.objects.select_for_update()
        .select_related("user", "project")
        .get(project_id=project_id, user_id=user_id)
    )


def project_for_update(project_id: int) -> Project:
    """Taken before starting an exclusive job kind, so two requests cannot both find none running."""
    return Project.objects.select_for_update().get(pk=project_id)


IMPORT_LOCK_CLASS = 4242  # advisory-lock namespace of "imports into project N"


@contextlib.contextmanager
def project_import_lock(project_id: int, on_wait=None, poll_seconds: float = 1.0):
    """Imports into one project take turns: two imports of the same files at once would both find the
    rows absent and collide on the unique keys. The second waits (calling `on_wait()` each poll, which
    may raise to stop waiting, e.g. on cancel), then runs and counts the rows as duplicates.
    A session-level advisory lock on PostgreSQL: a killed worker's session ends and frees it. SQLite
    runs one writer at a time anyway."""
    if connection.vendor != "postgresql":
        yield
        return
    waited = False
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [IMPORT_LOCK_CLASS, project_id])
            if cursor.fetchone()[0]:
                break
            if on_wait is not None:
                on_wait(waited)
            waited = True
            time.sleep(poll_seconds)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [IMPORT_LOCK_CLASS, project_id])
