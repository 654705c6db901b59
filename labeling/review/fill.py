"""Filling the review queues: one label item per study from a mining run, one mask item per image from QC.

Idempotent: an item is keyed by its target (`reviewitem_unique_target`), so filling again adds only what is
missing and never duplicates an item, whatever state it is in (a newer mining run does not re-open studies
already in the queue; a curator's send-back is the way to have one read again).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery

from curation.services import facets
from nlp.models import LabelingRun, MinedLabel

from ..models import QcResult, ReviewItem, ReviewKind
from . import events
from .reasons import item_reasons, qc_reasons

# Rows per INSERT: big enough to amortise the round trip, small enough to keep each statement short.
BATCH = 1000
READS_MAX = 5
_EVIDENCE_KEYS = ("text", "start", "end", "field", "section", "status", "rule", "trigger")


def clean_fill_params(params: dict, project) -> dict:
    """Parameters of the `review.fill` job: which queue, from which run, how many reads per item."""
    queue = params.get("queue", "label")
    if queue not in (ReviewKind.LABEL, ReviewKind.MASK):
        raise ValidationError({"queue": "Fill the 'label' or the 'mask' queue."})
    try:
        reads = int(params.get("required_reads", 1))
    except (TypeError, ValueError) as exc:
        raise ValidationError({"required_reads": "A whole number of reads."}) from exc
    if not 1 <= reads <= READS_MAX:
        raise ValidationError({"required_reads": f"Between 1 and {READS_MAX} reads per item."})
    cleaned = {"queue": queue, "required_reads": reads}
    if queue == ReviewKind.LABEL:
        runs = LabelingRun.objects.filter(project=project, complete=True)
        run_id = params.get("run")
        if run_id in (None, ""):
            run = runs.first()
        else:
            try:
                run = runs.filter(pk=int(run_id)).first()
            except (TypeError, ValueError, OverflowError):
                run = None
        if run is None:
            raise ValidationError({"run": "No complete mining run to fill the label queue from: mine labels first."})
        cleaned["run"] = run.pk
    return cleaned


def _trim(evidence: list) -> list[dict]:
    return [{k: e.get(k) for k in _EVIDENCE_KEYS if k in e} for e in evidence if isinstance(e, dict)][:10]


def _label_item(project, run, space_labels: list[str], study_id: int, rows: list[dict], reads: int) -> ReviewItem:
    by_label = {row["label"]: row for row in rows}
    labels = []
    for label in space_labels + sorted(set(by_label) - set(space_labels)):
        row = by_label.get(label)
        labels.append(
            {
                "label": label,
                "status": (row["status"] or "not_mentioned") if row else "not_mentioned",
                "mined_status": row["status"] if row else "",
                "native_status": row["native_status"] if row else "",
                "evidence": _trim(row["evidence"]) if row else [],
                "priority": row["priority"] if row else 0.0,
                "reasons": list(row["priority_reasons"]) if row else [],
            }
        )
    return ReviewItem(
        project=project,
        kind=ReviewKind.LABEL,
        study_id=study_id,
        target_key=f"study:{study_id}",
        prefill={"run": run.pk, "label_space": run.label_space, "labels": labels},
        priority=max((row["priority"] for row in rows), default=0.0),
        reasons=item_reasons(labels),
        required_reads=reads,
    )


def _space_labels(project, run) -> list[str]:
    from nlp.services import project_vocabulary

    try:
        return list(project_vocabulary(project).label_space(run.label_space).labels)
    except (KeyError, ValueError):
        return []


def _insert(items: list[ReviewItem]) -> None:
    # ignore_conflicts: an item that exists (or that a concurrent fill just made) is left as it is.
    ReviewItem.objects.bulk_create(items, batch_size=BATCH, ignore_conflicts=True)
    facets.refresh_review_tokens(item.study_id for item in items)  # the study list's review_state filter


def fill_label_queue(project, run: LabelingRun, required_reads: int = 1, actor=None, progress=None) -> dict:
    """One label item per study of the run: the mined labels as the prefill, priority the most doubtful
    label's score, reasons in plain language. Returns {"created", "studies"}."""
    before = ReviewItem.objects.filter(project=project, kind=ReviewKind.LABEL).count()
    space_labels = _space_labels(project, run)
    rows = (
        MinedLabel.objects.filter(run=run)
        .order_by("study_id", "label")
        .values("study_id", "label", "status", "native_status", "evidence", "priority", "priority_reasons")
    )
    pending: list[ReviewItem] = []
    studies, current, group = 0, None, []
    for row in rows.iterator(chunk_size=5000):
        if row["study_id"] != current and group:
            pending.append(_label_item(project, run, space_labels, current, group, required_reads))
            studies, group = studies + 1, []
        current = row["study_id"]
        group.append(row)
        if len(pending) >= BATCH:
            _insert(pending)
            if progress:
                progress(len(pending))
            pending = []
    if group:
        pending.append(_label_item(project, run, space_labels, current, group, required_reads))
        studies += 1
    _insert(pending)
    if progress and pending:
        progress(len(pending))
    created = ReviewItem.objects.filter(project=project, kind=ReviewKind.LABEL).count() - before
    events.queue_filled(actor, project, ReviewKind.LABEL, {"run": run.pk, "required_reads": required_reads}, created)
    return {"created": created, "studies": studies}


def fill_mask_queue(project, required_reads: int = 1, actor=None, include_accepted: bool = False) -> dict:
    """One mask item per image from its newest QC result, worst estimated quality first
    (priority = 1 - estimated Dice). Accepted mask sets stay out unless `include_accepted`."""
    before = ReviewItem.objects.filter(project=project, kind=ReviewKind.MASK).count()
    newest = QcResult.objects.filter(image=OuterRef("image")).order_by("-id").values("pk")[:1]
    results = QcResult.objects.filter(project=project, pk=Subquery(newest)).select_related("image")
    if not include_accepted:
        results = results.exclude(decision="accept")
    pending, seen = [], 0
    for result in results.order_by("pk").iterator(chunk_size=2000):
        seen += 1
        pending.append(
            ReviewItem(
                project=project,
                kind=ReviewKind.MASK,
                study_id=result.image.study_id,
                image_id=result.image_id,
                target_key=f"image:{result.image_id}",
                prefill={
                    "qc_result": result.pk,
                    "decision": result.decision,
                    "estimated_dice": result.estimated_dice,
                    "flags": result.flags,
                    "mask_ids": result.mask_ids,
                },
                priority=max(0.0, min(1.0, 1.0 - result.estimated_dice)),
                reasons=qc_reasons(
                    result.estimated_dice, result.estimated_dice_lungs, result.estimated_dice_heart, result.flags
                ),
                required_reads=required_reads,
            )
        )
        if len(pending) >= BATCH:
            _insert(pending)
            pending = []
    _insert(pending)
    created = ReviewItem.objects.filter(project=project, kind=ReviewKind.MASK).count() - before
    events.queue_filled(actor, project, ReviewKind.MASK, {"required_reads": required_reads}, created)
    return {"created": created, "images": seen}


def run_fill(ctx) -> dict:
    """Body of the `review.fill` job."""
    params, project = ctx.params, ctx.project
    actor = ctx.job.created_by
    if params["queue"] == ReviewKind.MASK:
        ctx.set_total(1)
        result = fill_mask_queue(project, params["required_reads"], actor=actor)
        ctx.advance(1, created=result["created"])
        return result
    run = LabelingRun.objects.get(pk=params["run"], project=project)
    ctx.set_total(MinedLabel.objects.filter(run=run).values("study_id").distinct().count())
    result = fill_label_queue(project, run, params["required_reads"], actor=actor, progress=ctx.advance)
    ctx.count(created=result["created"])
    return result
