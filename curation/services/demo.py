"""The demo: users, the `demo` project, and every pipeline job that exists, run to the end.

Used by `python manage.py demo` (and so `make demo`). Safe to run twice: users and the project
are reused, and a job whose identical run already succeeded is not run again.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction

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
]
DEMO_PARAMS = {"patients": 12, "seed": 7, "image_size": 256}


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
    jobs.append(run_pipeline_job(project, admin, "nlp.mine_labels", {"label_space": "chexpert"}))
    # Mask QC: trusted reference masks come from another synthetic cohort (never the judged patients).
    references = run_pipeline_job(project, admin, "demo.generate", {**DEMO_PARAMS, "seed": DEMO_PARAMS["seed"] + 1000})
    jobs.append(references)
    bank_upload = references.result.get("uploads", {}).get("truth_masks")
    jobs.append(run_pipeline_job(project, admin, "qc.build_bank", {"upload": bank_upload}))
    mask_params = {"format": "label_png", "match": "original_uid", "upload": uploads.get("masks")}
    jobs.append(run_pipeline_job(project, admin, "qc.import_masks", mask_params))
    jobs.append(run_pipeline_job(project, admin, "qc.run", {"review_below": 0.85, "reject_below": 0.6}))
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
        "ok": all(j.status == JobStatus.SUCCEEDED for j in jobs),
    }
