"""Curation jobs. Each is declared with curation.tasking.job_task and takes only a Job id."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File

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


DEMO_SOURCE_PARTS = ("dicom", "masks", "truth_masks")


@job_task(
    kind="demo.generate",
    label="Generate demo data",
    queue="ingest",
    start_roles={Role.ADMIN},
    time_limit=1800,
    clean_params=clean_demo_params,
)
def generate_demo_data(ctx: JobContext) -> dict:
    """Write a synthetic chest X-ray dataset (DICOM with PHI, reports, masks) as uploads ready to import.

    The generated files carry invented PHI, exactly as a hospital's would: they are stored only as
    Upload archives, which the imports delete once they have succeeded (curation.services.uploads).
    The truth file stays out of storage.
    """
    from .demo import generate_dataset  # numpy/pydicom only needed in workers
    from .services.uploads import save_upload

    patients, seed = ctx.params["patients"], ctx.params["seed"]
    ctx.set_total(patients + len(DEMO_SOURCE_PARTS))
    uploads = {}
    with tempfile.TemporaryDirectory(prefix="demo-") as tmp:
        out = Path(tmp) / "dataset"
        summary = generate_dataset(
            out,
            n_patients=patients,
            seed=seed,
            image_size=ctx.params["image_size"],
            progress=lambda done, total: ctx.advance(1, patients=1),
        )
        for part in DEMO_SOURCE_PARTS:
            folder = out if part == "dicom" else out / part
            archive = Path(tmp) / f"{part}.zip"
            _zip_folder(folder, archive, skip_dirs={"masks", "truth_masks"} if part == "dicom" else set())
            with archive.open("rb") as fh:
                upload = save_upload(ctx.job.created_by, ctx.project, File(fh, name=archive.name), archive.name)
            uploads[part] = upload.pk
            ctx.advance(1, uploads=1)
    counts = {k: v for k, v in summary.items() if isinstance(v, int)}
    return {"uploads": uploads, **counts}


def _zip_folder(folder: Path, archive: Path, skip_dirs: set[str]) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if not path.is_file() or rel.parts[0] in skip_dirs or path.name == "truth.json":
                continue
            zf.write(path, rel.as_posix())


def _clean_import(params: dict, project) -> dict:
    from .services.ingest import clean_import_params

    return clean_import_params(params, project)


@job_task(
    kind="ingest.import",
    label="Import studies",
    queue="ingest",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_import,
    origins=("upload", "path"),
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


def _render_chunk(ctx, spec):
    from .services.rendering import run_render_chunk

    return run_render_chunk(ctx, spec)


def _render_finish(ctx, state, results):
    from .services.rendering import finish_render

    return finish_render(ctx, state, results)


@job_task(
    kind="ingest.render",
    label="Render images",
    queue="ingest",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=lambda params, project: {k: v for k, v in params.items() if k == "after_job"},
    chunk=_render_chunk,
    finish=_render_finish,
)
def render_images(ctx: JobContext):
    """Decode the pixels of imported images and store display, 16-bit and thumbnail renderings."""
    from .services.rendering import plan_render

    return plan_render(ctx)


def _clean_export(params: dict, project) -> dict:
    from .services.dataset_exports import clean_export_params

    return clean_export_params(params, project)


@job_task(
    kind="export.version",
    label="Export a dataset version",
    queue="export",
    # The same roles as every bulk download (Action.EXPORT_DATA).
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_export,
)
def export_dataset_version(ctx: JobContext) -> dict:
    """Write one format of a dataset version (and its data card) into a zip archive in storage."""
    from .services.dataset_exports import run_export

    return run_export(ctx)
