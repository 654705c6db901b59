"""How a job reads on the screens: its kind's human name, how long it took, its outcome, and a link to what it made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from curation import jobkinds
from curation.models import Job, JobStatus


@dataclass(frozen=True)
class JobDisplay:
    label: str  # "Mine labels from reports", never the kind code
    outcome: str  # the status, or "Succeeded with 3 errors"
    with_errors: bool
    duration: str  # "4 min 12 s", "running for 12 s", "" before it starts
    made_url: str  # what the job made (a labeling run, the QC list, the studies), or ""
    made_text: str


def kind_label(kind: str) -> str:
    """The human name of a job kind (its registered label); the code only for a kind no longer registered."""
    registered = jobkinds.get(kind)
    return registered.label if registered else kind


def format_seconds(seconds: float) -> str:
    """A duration in its two largest units, a zero second one left out: "45 s", "3 min 12 s", "2 min", "1 d 3 h"."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    first = next((i for i, (n, _) in enumerate(units) if n), len(units) - 1)
    shown = [f"{n} {unit}" for n, unit in units[first : first + 2] if n or unit == units[first][1]]
    return " ".join(shown)


def duration(job: Job, now: datetime | None = None) -> str:
    """Finished minus started; for a running job, how long it has run so far."""
    if job.started_at is None:
        return ""
    if job.finished_at is not None:
        return format_seconds((job.finished_at - job.started_at).total_seconds())
    if job.status == JobStatus.RUNNING:
        return f"running for {format_seconds(((now or timezone.now()) - job.started_at).total_seconds())}"
    return ""


def outcome(job: Job) -> str:
    if job.status == JobStatus.SUCCEEDED and job.error_count:
        return f"Succeeded with {job.error_count} error{'' if job.error_count == 1 else 's'}"
    return job.get_status_display()


def made(job: Job) -> tuple[str, str]:
    """(url, text) of what a succeeded job made, or ("", "") when it made nothing to open."""
    if job.status != JobStatus.SUCCEEDED:
        return "", ""
    slug, result = job.project.slug, job.result or {}
    if job.kind == "nlp.mine_labels" and result.get("run"):
        url = reverse("frontend:labels", args=[slug])
        return f"{url}?run={int(result['run'])}", f"Labeling run #{int(result['run'])}"
    if job.kind in ("qc.run", "qc.import_masks", "qc.build_bank"):
        text = {"qc.run": "QC results", "qc.import_masks": "Masks", "qc.build_bank": "Reference bank"}[job.kind]
        return reverse("frontend:masks", args=[slug]), text
    if job.kind in ("ingest.import", "ingest.render"):
        return reverse("frontend:study-list", args=[slug]), "Studies"
    if job.kind == "export.version" and (job.params or {}).get("version"):
        version = int(job.params["version"])
        return reverse("frontend:dataset-version", args=[slug, version]), f"Dataset version #{version} and its exports"
    if job.kind == "review.fill":
        queue = "mask" if (job.params or {}).get("queue") == "mask" else "label"
        return f"{reverse('frontend:review-agreement', args=[slug])}?kind={queue}", f"{queue.title()} review queue"
    return "", ""


def describe(job: Job, now: datetime | None = None) -> JobDisplay:
    url, text = made(job)
    return JobDisplay(
        label=kind_label(job.kind),
        outcome=outcome(job),
        with_errors=job.status == JobStatus.SUCCEEDED and job.error_count > 0,
        duration=duration(job, now),
        made_url=url,
        made_text=text,
    )
