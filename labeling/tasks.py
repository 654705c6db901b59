"""Mask jobs: import masks (ingest queue) and mask QC (qc queue)."""

from curation.models import Role
from curation.tasking import JobContext, job_task


def _clean_import(params, project):
    from .services import clean_import_params

    return clean_import_params(params, project)


def _clean_qc(params, project):
    from .services import clean_qc_params

    return clean_qc_params(params, project)


def _clean_bank(params, project):
    from curation.services.ingest import clean_source_params

    if params.get("from") == "reviewed":
        return {"from": "reviewed"}
    return clean_source_params(params, project)


@job_task(
    kind="qc.import_masks",
    label="Import masks",
    queue="ingest",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_import,
)
def import_masks(ctx: JobContext) -> dict:
    """Import lung/heart masks (CheXmask CSV, label PNGs, COCO) as new mask versions of the project's images."""
    from .services import run_mask_import

    return run_mask_import(ctx)


@job_task(
    kind="qc.build_bank",
    label="Build reference bank",
    queue="qc",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_bank,
)
def build_reference_bank(ctx: JobContext) -> dict:
    """Build the project's reference bank from trusted masks, or grow it with reviewer-accepted masks."""
    from curation.services.ingest import local_source

    from .services import build_bank_from_folder, grow_bank_from_reviewed

    ctx.set_total(1)
    if ctx.params.get("from") == "reviewed":
        bank_file = grow_bank_from_reviewed(ctx.project, ctx.job.created_by)
        errors = []
    else:
        with local_source(ctx.params, ctx) as (root, _persistent):
            bank_file, errors = build_bank_from_folder(ctx.project, root, actor=ctx.job.created_by)
    for item, reason in errors[:100]:
        ctx.error(item, reason)
    ctx.advance(1)
    return {"bank": bank_file.pk, "references": bank_file.references, "calibrated": bank_file.calibrated}


@job_task(
    kind="qc.run",
    label="Mask QC",
    queue="qc",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_qc,
)
def run_mask_qc(ctx: JobContext) -> dict:
    """Estimate each image's mask quality without ground truth, flag implausible masks, decide accept/review/reject."""
    from .services import run_qc

    return run_qc(ctx)
