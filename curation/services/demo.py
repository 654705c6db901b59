"""The demo: users, the `demo` project, every pipeline job that exists run to the end, and review queues
with a few reads already made (through the review services, so they are audited like real ones): label reads,
and mask reads that accept or correct the worst masks, so the QC page's calibration has points; then a frozen
version ("demo-v1") and one export of it, which downloads from the dataset pages.

Used by `python manage.py demo` (and so `make demo`). Safe to run twice: users and the project
are reused, a job whose identical run already succeeded is not run again, and the demo reads are made
only while the demo radiologists have read nothing in the project.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from labeling.models import ReviewDecision, ReviewItem, ReviewKind, ReviewState
from labeling.review import queue as review_queue
from labeling.review import services as review_services

from .. import dispatch
from ..models import Job, JobStatus, Project, Role, User
from ..models.jobs import FINISHED_STATUSES
from . import jobs as job_services
from . import projects as project_services
from .uploads import discard_unused_uploads

DEMO_SLUG = "demo"
DEMO_USERS = [
    ("admin", Role.ADMIN, "Ada Admin"),
    ("curator", Role.CURATOR, "Cora Curator"),
    ("radiologist1", Role.RADIOLOGIST, "Dr. Rae One"),
    ("radiologist2", Role.RADIOLOGIST, "Dr. Rio Two"),
    ("viewer", Role.VIEWER, "Vic Viewer"),
]
DEMO_PARAMS = {"patients": 12, "seed": 7, "image_size": 256}
# Blinded double reading, so that the two demo radiologists can disagree and an item reaches adjudication.
DEMO_REQUIRED_READS = 2
DEMO_READERS = ("radiologist1", "radiologist2")
# Label items both radiologists read: they disagree on the first (the most doubtful) and agree on the others.
DEMO_DOUBLE_READS = 5
# What the second reader answers instead of the prefill on the item they disagree on.
_DISAGREE = {"positive": "uncertain", "uncertain": "positive", "negative": "positive", "not_mentioned": "positive"}
# Mask items both radiologists read (at most half the mask queue): an organ whose delivered mask is off the
# generator's truth by more than this Dice is redrawn, a mask set with none is accepted.
DEMO_MASK_READS = 6
DEMO_MASK_FIX_BELOW = 0.97


def _credentials_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-users.json"


def ensure_demo_users() -> dict[str, str]:
    """Create the demo users once; passwords are random, kept in var/demo-users.json (mode 600)."""
    path = _credentials_file()
    saved = json.loads(path.read_text()) if path.exists() else {}
    passwords = {}
    for username, _role, display in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        password = saved.get(username)
        if user is None or password is None or not user.check_password(password):
            password = password or secrets.token_urlsafe(9)
            user = user or User(username=username)
            user.display_name = display
            user.is_staff = username == "admin"
            user.set_password(password)
            user.save()
        passwords[username] = password
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(passwords, indent=2))
    os.chmod(path, 0o600)
    return passwords


def ensure_demo_project() -> Project:
    project, _ = project_services.get_or_create_project(DEMO_SLUG, name="Demo chest X-rays")
    if not project.description:
        project.description = "Synthetic patients, studies, reports and masks generated for trying the platform."
        project.save(update_fields=["description"])
    for username, role, _display in DEMO_USERS:
        project_services.set_member(None, project, User.objects.get(username=username), role)
    return project


def wait_for(job: Job, timeout: float = 1800) -> Job:
    """Wait until a job ends, whether it runs in-process or on a Celery worker."""
    dispatch.wait_for_in_process_jobs(timeout)
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.status in FINISHED_STATUSES or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def run_pipeline_job(project: Project, actor: User, kind: str, params: dict) -> Job:
    """Run one job kind unless an identical run already succeeded (so the demo is safe to repeat)."""
    done = Job.objects.filter(project=project, kind=kind, params=params, status=JobStatus.SUCCEEDED).first()
    if done is not None:
        return done
    # The demo runs its jobs here and now, with or without a broker (no worker may be running).
    with dispatch.run_in_process():
        with transaction.atomic():
            job = job_services.start_job(actor, project, kind, params)
    return wait_for(job)


def _doubtful_label(item: ReviewItem) -> dict:
    """The item's label with the highest review priority (the one readers are most likely to read differently)."""
    labels = item.prefill.get("labels", [])
    return max(labels, key=lambda entry: (entry.get("priority") or 0.0, bool(entry.get("evidence"))))


def _demo_payload(item: ReviewItem, index: int, second_reader: bool) -> dict:
    """Item 0: the second reader reads the doubtful label differently. Item 1: both correct it the same way.
    Others: both accept the prefill."""
    if index > 1 or not item.prefill.get("labels"):
        return {"labels": {}}
    label = _doubtful_label(item)
    corrected = _DISAGREE[label["status"]]
    if index == 0:
        if not second_reader:
            return {"labels": {}}
        return {"labels": {label["label"]: corrected}, "comment": f"I read {label['label']} as {corrected}."}
    return {"labels": {label["label"]: corrected}}


def make_demo_reads(project: Project) -> int:
    """Both demo radiologists read the top label items, disagreeing on one (it goes to adjudication);
    the rest of the queue stays waiting. Returns the number of items read (0 when already done).

    Through the queue's own services (next item, decide), so claims and decisions are audited as in real use.
    All or nothing: the demo repeats it only while the demo radiologists have read nothing in the project."""
    readers = [User.objects.get(username=username) for username in DEMO_READERS]
    if ReviewDecision.objects.filter(item__project=project, reader__in=readers).exists():
        return 0
    waiting = ReviewItem.objects.filter(project=project, kind=ReviewKind.LABEL, state=ReviewState.PENDING).count()
    # Leave at least half of the queue waiting, so that there is work to try.
    reads = min(DEMO_DOUBLE_READS, waiting // 2)
    order: dict[int, int] = {}
    with transaction.atomic():
        for index in range(reads):
            for second_reader, reader in enumerate(readers):
                assignment = review_queue.next_item(reader, project, ReviewKind.LABEL)
                if assignment is None:
                    return len(order)
                item = assignment.item
                position = order.setdefault(item.pk, index)
                payload = _demo_payload(item, position, bool(second_reader))
                # Plausible reading times, so the agreement page has time per item to show.
                seconds = 20 + 9 * index + 6 * second_reader
                review_services.decide(reader, project, item.pk, payload, seconds=seconds)
    return len(order)


def demo_truth_masks(project: Project, upload_id: int | None) -> dict[int, dict]:
    """The generator's correct masks of the judged cohort, by image id ({} once the upload is gone): what the
    demo radiologists draw when they correct a mask."""
    import io
    import zipfile

    from django.core.files.storage import default_storage

    from labeling.qc.io import read_label_png
    from labeling.services import _image_lookup

    from ..models import Upload

    upload = Upload.objects.filter(project=project, pk=upload_id, deleted_at__isnull=True).first()
    if upload is None or not default_storage.exists(upload.storage_name):
        return {}
    with default_storage.open(upload.storage_name, "rb") as fh:
        archive = zipfile.ZipFile(io.BytesIO(fh.read()))
    names = {Path(name).stem: name for name in archive.namelist() if name.endswith(".png")}
    images = _image_lookup(project, list(names), "original_uid")
    out = {}
    for uid, image in images.items():
        with archive.open(names[uid]) as member:
            masks = read_label_png(io.BytesIO(member.read()), max_pixels=settings.MASK_MAX_PIXELS)
        out[image.pk] = {organ: mask for organ, mask in masks.items() if mask.any()}
    return out


def _demo_mask_read(item: ReviewItem, truth: dict, second_reader: bool) -> dict:
    """The organs a demo radiologist redraws on an item ({} to accept): each organ whose mask is off the truth.
    The second draws a pixel more generously, as two readers do, so their masks agree closely but not exactly."""
    from scipy import ndimage

    from labeling.models import Mask
    from labeling.truth import decode, dice_iou

    judged = {m.organ: m for m in Mask.objects.filter(pk__in=item.prefill.get("mask_ids", []), image_id=item.image_id)}
    grid = next(((m.height, m.width) for m in judged.values()), None)
    fixes = {}
    for organ, correct in truth.items():
        if correct.shape != grid:
            continue
        # An organ the machine missed is drawn from scratch (its Dice is 0).
        machine = judged.get(organ)
        if machine is None or dice_iou(decode(machine), correct)[0] < DEMO_MASK_FIX_BELOW:
            fixes[organ] = ndimage.binary_dilation(correct) if second_reader else correct
    return fixes


def make_demo_mask_reads(project: Project, truth: dict[int, dict]) -> int:
    """Both demo radiologists read the worst mask items, accepting a mask set that matches the generator's
    truth and redrawing the organs that do not (labeling.review.masks.save_correction, which records each
    machine mask's true Dice). Returns the number of items read (0 when already done or without the truth)."""
    from labeling.review import masks as mask_review

    readers = [User.objects.get(username=username) for username in DEMO_READERS]
    done = ReviewDecision.objects.filter(item__project=project, item__kind=ReviewKind.MASK, reader__in=readers)
    if not truth or done.exists():
        return 0
    waiting = ReviewItem.objects.filter(project=project, kind=ReviewKind.MASK, state=ReviewState.PENDING).count()
    reads = min(DEMO_MASK_READS, waiting // 2)
    read: set[int] = set()
    with transaction.atomic():
        for index in range(reads):
            for second_reader, reader in enumerate(readers):
                assignment = review_queue.next_item(reader, project, ReviewKind.MASK)
                if assignment is None:
                    return len(read)
                item = assignment.item
                read.add(item.pk)
                fixes = _demo_mask_read(item, truth.get(item.image_id, {}), bool(second_reader))
                seconds = 35 + 11 * index + 8 * second_reader
                if fixes:
                    mask_review.save_correction(reader, project, item.pk, fixes, seconds)
                else:
                    review_services.decide(reader, project, item.pk, {"verdict": "accept"}, seconds=seconds)
    return len(read)


def review_summary(project: Project) -> dict:
    """Items per state in each queue, and the number of reads made."""
    rows = ReviewItem.objects.filter(project=project).values("kind", "state").annotate(n=Count("pk"))
    queues = {kind: {state: 0 for state in ReviewState.values} for kind in (ReviewKind.LABEL, ReviewKind.MASK)}
    for row in rows:
        queues.setdefault(row["kind"], {state: 0 for state in ReviewState.values})[row["state"]] = row["n"]
    decisions = ReviewDecision.objects.filter(item__project=project)
    return {
        "queues": queues,
        "readers": list(DEMO_READERS),
        "decisions": decisions.filter(adjudication=False).count(),
        "adjudications": decisions.filter(adjudication=True).count(),
    }


DEMO_VERSION = "demo-v1"
DEMO_EXPORT = {"format": "nih", "images": "png8"}


def ensure_demo_version(project: Project):
    """The demo's frozen version, frozen by the system the first time (versions are never re-frozen)."""
    from ..models import DatasetVersion
    from .datasets import freeze_version

    existing = DatasetVersion.objects.filter(project=project, name=DEMO_VERSION).first()
    return existing or freeze_version(None, project, DEMO_VERSION)


def run_demo() -> dict:
    passwords = ensure_demo_users()
    project = ensure_demo_project()
    admin = User.objects.get(username="admin")

    generated = run_pipeline_job(project, admin, "demo.generate", DEMO_PARAMS)
    jobs = [generated]
    uploads = generated.result.get("uploads", {})
    jobs.append(run_pipeline_job(project, admin, "ingest.import", {"source": "dicom", "upload": uploads.get("dicom")}))
    render_id = jobs[-1].result.get("render_job")
    if render_id:
        jobs.append(Job.objects.get(pk=render_id))
    mined = run_pipeline_job(project, admin, "nlp.mine_labels", {"label_space": "chexpert"})
    jobs.append(mined)
    # Mask QC: trusted reference masks come from another synthetic cohort (never the judged patients).
    references = run_pipeline_job(project, admin, "demo.generate", {**DEMO_PARAMS, "seed": DEMO_PARAMS["seed"] + 1000})
    jobs.append(references)
    bank_upload = references.result.get("uploads", {}).get("truth_masks")
    jobs.append(run_pipeline_job(project, admin, "qc.build_bank", {"upload": bank_upload}))
    mask_params = {"format": "label_png", "match": "original_uid", "upload": uploads.get("masks")}
    jobs.append(run_pipeline_job(project, admin, "qc.import_masks", mask_params))
    jobs.append(run_pipeline_job(project, admin, "qc.run", {"review_below": 0.85, "reject_below": 0.6}))
    # Review queues: label items from the mining run (the run named, so a re-run finds the identical job),
    # mask items from QC; then a few reads, so the queues, agreement and adjudication pages have content.
    label_fill = None
    if mined.status == JobStatus.SUCCEEDED and mined.result.get("run"):
        params = {"queue": ReviewKind.LABEL.value, "required_reads": DEMO_REQUIRED_READS, "run": mined.result["run"]}
        label_fill = run_pipeline_job(project, admin, "review.fill", params)
        jobs.append(label_fill)
    mask_queue = {"queue": ReviewKind.MASK.value, "required_reads": DEMO_REQUIRED_READS}
    jobs.append(run_pipeline_job(project, admin, "review.fill", mask_queue))
    # Report structure: findings and their change against the prior study; the job fills the structure
    # queue itself, reports with conflicts first.
    jobs.append(run_pipeline_job(project, admin, "structure.extract", {"required_reads": DEMO_REQUIRED_READS}))
    if label_fill is not None and label_fill.status == JobStatus.SUCCEEDED:
        make_demo_reads(project)
    # After the label reads: those are made only while the demo radiologists have read nothing at all.
    make_demo_mask_reads(project, demo_truth_masks(project, uploads.get("truth_masks")))
    # A frozen demo version and one export of it, so the dataset pages have a version to read and an archive
    # to download. Frozen once (a version's name is unique); the export job is skipped once it succeeded.
    version = ensure_demo_version(project)
    jobs.append(run_pipeline_job(project, admin, "export.version", {"version": version.pk, **DEMO_EXPORT}))
    # What the demo generated but did not import (the reference cohort's DICOM, the judged cohort's
    # truth masks) is raw data nobody needs: delete those uploads now rather than after a day.
    for generator in (generated, references):
        discard_unused_uploads(project, generator.result.get("uploads", {}))
    return {
        "project": project.slug,
        "url": "http://127.0.0.1:8000/",
        "users": [{"username": u, "role": r.value, "password": passwords[u]} for u, r, _ in DEMO_USERS],
        "jobs": [
            {"id": j.pk, "kind": j.kind, "status": j.status, "counters": j.counters, "errors": j.error_count}
            for j in jobs
        ],
        "counts": {
            "patients": project.patients.count(),
            "studies": project.studies.count(),
            "images": project.images.count(),
            "rendered": project.images.filter(render_status="done").count(),
            "reports": project.studies.filter(has_report=True).count(),
            "mined_labels": sum(run.labels.count() for run in project.labeling_runs.all()[:1]),
            "masks": project.masks.count(),
            "qc_results": project.qc_results.count(),
            "qc_review_or_reject": project.qc_results.exclude(decision="accept").count(),
        },
        "review": review_summary(project),
        "dataset_version": {"id": version.pk, "name": version.name, "rows": version.row_count},
        "ok": all(j.status == JobStatus.SUCCEEDED for j in jobs),
    }
