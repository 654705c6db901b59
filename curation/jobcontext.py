"""What a running job or job chunk reports through: progress, counters, per-item errors, cancellation.

Writes are batched (at most one UPDATE per FLUSH_INTERVAL) and double as the heartbeat. A chunk's
progress is added to its job's row as it goes, so the job's bar is the sum over chunks.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from .models import Job, JobChunk
from .redact import redact_path, redact_paths_in

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class JobFailed(Exception):
    """Raised by a job for a whole-job failure whose message the user should read as it is."""


class JobCancelled(Exception):
    """Raised inside a job when a user asked to cancel it."""


def error_entry(item: Any, reason: str) -> dict:
    """One stored error. Items are paths inside the upload or folder with identifying parts redacted:
    every member reads job errors, and a hospital's folder names can hold a patient's name and ids."""
    # Control characters (NUL above all) never reach the database: PostgreSQL refuses NUL in JSON text.
    raw = _CONTROL.sub("", str(item)[:300])
    reason = _CONTROL.sub("", str(reason))
    item_text = redact_path(raw)
    reason_text = str(reason)[:500]
    if raw and raw != item_text:
        reason_text = reason_text.replace(raw, item_text)
    return {"item": item_text, "reason": redact_paths_in(reason_text)}


class JobContext:
    """What a running job uses to report. Writes are batched: at most one UPDATE per interval."""

    FLUSH_INTERVAL = 0.5  # seconds; keeps progress live without hammering the database

    def __init__(self, job: Job):
        self.job = job
        self.params = job.params
        self.project = job.project
        self._done = 0
        self._total = job.progress_total
        self._counters: dict[str, int] = {}
        self._errors: list[dict] = list(job.errors)
        self._error_count = job.error_count
        self._last_flush = 0.0
        self._dirty = False

    # progress ---------------------------------------------------------------------------------
    def set_total(self, total: int) -> None:
        self._total = max(0, int(total))
        self._dirty = True
        self.flush(force=True)

    def add_total(self, extra: int) -> None:
        self.set_total(self._total + int(extra))

    def advance(self, n: int = 1, **counters: int) -> None:
        self._done += n
        for key, value in counters.items():
            self._counters[key] = self._counters.get(key, 0) + value
        self._dirty = True
        self.flush()

    def count(self, **counters: int) -> None:
        self.advance(0, **counters)

    def error(self, item: Any, reason: str) -> None:
        """Record one failed item; the job goes on with the rest."""
        self._error_count += 1
        if len(self._errors) < settings.JOB_ERROR_LIMIT:
            self._errors.append(error_entry(item, reason))
        self._dirty = True
        self.flush()

    def message(self, text: str) -> None:
        Job.objects.filter(pk=self.job.pk).update(message=text[:500], updated_at=timezone.now())

    @property
    def done(self) -> int:
        return self._done

    @property
    def total(self) -> int:
        return self._total

    @property
    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    @property
    def errors(self) -> list[dict]:
        return list(self._errors)

    @property
    def error_count(self) -> int:
        return self._error_count

    # persistence ------------------------------------------------------------------------------
    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (not self._dirty or now - self._last_flush < self.FLUSH_INTERVAL):
            return
        stamp = timezone.now()
        Job.objects.filter(pk=self.job.pk).update(
            progress_done=self._done,
            progress_total=max(self._total, self._done),
            counters=self._counters,
            errors=self._errors,
            error_count=self._error_count,
            updated_at=stamp,
            heartbeat_at=stamp,
        )
        self._last_flush = now
        self._dirty = False
        self.check_cancelled()

    def check_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()


class ChunkContext(JobContext):
    """A JobContext for one chunk: counters and errors stay on the chunk row; progress is added to the job."""

    def __init__(self, job: Job, chunk: JobChunk):
        super().__init__(job)
        self.chunk = chunk
        self._errors = []
        self._error_count = 0
        self._reported = 0  # progress already added to the job row

    def set_total(self, total: int) -> None:  # the planner set the job's total; chunks only advance
        return

    def message(self, text: str) -> None:
        JobChunk.objects.filter(pk=self.chunk.pk).update(message=text[:500])

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (not self._dirty or now - self._last_flush < self.FLUSH_INTERVAL):
            return
        stamp = timezone.now()
        JobChunk.objects.filter(pk=self.chunk.pk).update(
            progress_done=self._done,
            counters=self._counters,
            errors=self._errors,
            error_count=self._error_count,
            heartbeat_at=stamp,
        )
        delta = self._done - self._reported
        Job.objects.filter(pk=self.job.pk).update(
            progress_done=F("progress_done") + delta, updated_at=stamp, heartbeat_at=stamp
        )
        self._reported = self._done
        self._last_flush = now
        self._dirty = False
        self.check_cancelled()
