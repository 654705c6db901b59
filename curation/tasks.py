"""Curation jobs. Each is declared with curation.tasking.job_task and takes only a Job id."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage

from .models import Image, RenderStatus, Role
from .tasking import JobContext, job_task

DEMO_MAX_PATIENTS = 500


def clean_demo_params(params: dict, project) -> dict:
    errors = {}
    try:
        patients = int(params.get("patients", 12))
    except (TypeError, ValueError):
        patients = -1
    if not 1 <= patients <= DEMO_MAX_PATIENTS:
        errors["patients"] = f"Give a whole number of patients from 1 to {DEMO_MAX_PATIENTS}."
    try:
        seed = int(params.get("seed", 7))
    except (TypeError, ValueError):
        errors["seed"] = "The seed must be a whole number."
        seed = 0
    try:
        image_size = int(params.get("image_size", 256))
    except (TypeError, ValueError):
        image_size = -1
    if image_size not in (64, 128, 256, 512, 1024):
        errors["image_size"] = "Image size must be one of 64, 128, 256, 512, 1024."
    if errors:
        raise ValidationError(errors)
    return {"patients": patients, "seed": seed, "image_size": image_size}


def demo_source_prefix(project_slug: str, seed: int) -> str:
    """Where a project's generated demo files live in storage (ingest reads them from there)."""
    return f"projects/{project_slug}/sources/demo-seed{seed}"


@job_task(
    kind="demo.generate",
    label="Generate demo data",
    queue="ingest",
    start_roles={Role.ADMIN},
    time_limit=1800,
    clean_params=clean_demo_params,
)
def generate_demo_data(ctx: JobContext) -> dict:
    """Write a synthetic chest X-ray dataset (DICOM, reports, masks, truth) into the project's storage."""
    from .demo import generate_dataset  # numpy/pydicom only needed in workers

    patients, seed = ctx.params["patients"], ctx.params["seed"]
    prefix = demo_source_prefix(ctx.project.slug, seed)
    ctx.set_total(patients)
    with tempfile.TemporaryDirectory(prefix="demo-") as tmp:
        out = Path(tmp)
        summary = generate_dataset(
            out,
            n_patients=patients,
            seed=seed,
            image_size=ctx.params["image_size"],
            progress=lambda done, total: ctx.advance(1, patients=1),
        )
        files = sorted(p for p in out.rglob("*") if p.is_file())
        ctx.add_total(len(files))
        for path in files:
            name = f"{prefix}/{path.relative_to(out).as_posix()}"
            # Same seed, same files: replace rather than let the storage invent a new name.
            if default_storage.exists(name):
                default_storage.delete(name)
            with path.open("rb") as fh:
                default_storage.save(name, File(fh))
            ctx.advance(1, files_stored=1)
    counts = {k: v for k, v in summary.items() if isinstance(v, int)}
    return {"storage_prefix": prefix, **counts}


def _clean_import(params: dict, project) -> dict:
    from .services.ingest import clean_import_params

    return clean_import_params(params, project)


def _check_import(actor, project, params) -> None:
    from .services.ingest import check_import_start

    check_import_start(actor, project, params)


@job_task(
    kind="ingest.import",
    label="Import studies",
    queue="ingest",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_import,
    check_start=_check_import,
)
def import_studies(ctx: JobContext) -> dict:
    """Index, de-identify and register studies from a DICOM folder or a dataset manifest."""
    from .services import ingest, jobs

    result = ingest.run_import(ctx)
    if Image.objects.filter(project=ctx.project, render_status=RenderStatus.PENDING).exists():
        # Pixels are decoded by a follow-up job, so the import itself stays an index-speed pass.
        render = jobs.start_job(None, ctx.project, "ingest.render", {"after_job": ctx.job.pk})
        result["render_job"] = render.pk
    return result


@job_task(
    kind="ingest.render",
    label="Render images",
    queue="ingest",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=lambda params, project: {k: v for k, v in params.items() if k == "after_job"},
)
def render_images(ctx: JobContext) -> dict:
    """Decode the pixels of imported images and store display, 16-bit and thumbnail renderings."""
    from .services.rendering import run_render

    return run_render(ctx)
