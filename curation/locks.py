"""Every lock in the app lives here (select_for_update and PostgreSQL advisory locks), so rows and
resources are always locked in the same order."""

import contextlib
import time

from django.db import connection, transaction

from .models import Image, Job, Membership, Project, RenderStatus


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


@contextlib.contextmanager
def image_pending_render(project_id: int, image_id: int):
    """The image while it still awaits rendering and no other runner has it, else None.

    On PostgreSQL its row stays locked until the block ends, and a second runner skips it rather than
    waits (skip-locked), so two render chunks, of one job or of two, never render one image twice. SQLite
    has no row locks and its embedded mode runs jobs one at a time; there the block opens no transaction,
    which (IMMEDIATE mode) would hold the whole database's write lock through the render."""
    pending = Image.objects.filter(project_id=project_id, pk=image_id, render_status=RenderStatus.PENDING)
    if connection.vendor != "postgresql":
        yield pending.first()
        return
    with transaction.atomic():
        yield pending.select_for_update(skip_locked=True).first()


def image_for_update(project_id: int, image_id: int) -> Image:
    """The image row, locked until the transaction ends: a redaction replaces its files and renderings, and a
    second redaction of the same image waits for the first rather than read the file it is replacing."""
    return Image.objects.select_for_update().get(project_id=project_id, pk=image_id)


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
