"""Mask jobs: import masks (ingest queue) and mask QC (qc queue)."""

from django.core.exceptions import ValidationError

from curation.models import Role
from curation.tasking import JobContext, job_task


def _clean_import(params, project):
    from .services import clean_import_params

    return clean_import_params(params, project)


def _clean_qc(params, project):
    from .services import clean_qc_params

    return clean_qc_params(params, project)


def _clean_bank(params, project):
    from curation.services.ingest import clean_origin

    if params.get("from") == "reviewed":
        if set(params) != {"from"}:
            raise ValidationError({"from": "Growing the bank from reviewed masks takes no other input."})
        return {"from": "reviewed"}
    if params.get("from") not in (None, ""):
        raise ValidationError({"from": "Use 'reviewed', or give an upload or a server folder."})
    return clean_origin(params, project)


@job_task(
    kind="qc.import_masks",
    label="Import masks",
    queue="ingest",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_import,
    origins=("upload", "path"),
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
    origins=("upload", "path", "none"),
    exclusive=True,
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


def _qc_chunk(ctx, spec):
    from .services import run_qc_chunk

    return run_qc_chunk(ctx, spec)


def _qc_finish(ctx, state, results):
    from .services import finish_qc

    return finish_qc(ctx, state, results)


@job_task(
    kind="qc.run",
    label="Mask QC",
    queue="qc",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_qc,
    exclusive=True,
    chunk=_qc_chunk,
    finish=_qc_finish,
)
def run_mask_qc(ctx: JobContext):
    """Estimate each image's mask quality without ground truth, flag implausible masks, decide accept/review/reject."""
    from .services import plan_qc

    return plan_qc(ctx)


def _clean_fill(params, project):
    from .review.fill import clean_fill_params

    return clean_fill_params(params, project)


@job_task(
    kind="review.fill",
    label="Fill review queues",
    queue="default",
    start_roles={Role.ADMIN, Role.CURATOR},
    exclusive=True,
    clean_params=_clean_fill,
)
def fill_review_queue(ctx: JobContext) -> dict:
    """Fill the label review queue from a mining run, or the mask queue from QC results; adds only what is missing."""
    from .review.fill import run_fill

    return run_fill(ctx)
