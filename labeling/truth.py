"""QC that learns from review: a reviewer's mask is the truth for the machine mask it replaced.

`record_correction` stores the true Dice and IoU of each replaced machine mask (a `MaskTruth` row, with the
QC estimate the reviewer saw); `calibration` sets estimated against true Dice over the reviewed masks
(Spearman, Pearson, MAE and the points of the plot on the QC page). An accepted mask set counts too, at true
Dice 1.0 per organ: a radiologist looked at it and found nothing to change, which is exactly what a
correction with no changed pixel would record. Leaving accepts out would keep only the masks bad enough to
redraw and make the calibration look worse than it is on the masks a project actually keeps.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from django.conf import settings
from django.db.models import Q

from .models import Mask, MaskSource, MaskTruth, QcResult, ReviewItem, ReviewKind, ReviewState

logger = logging.getLogger(__name__)

# A reviewer mask of a reviewer mask (a second correction) is compared with the machine mask at the start of
# the chain; the walk stops after this many steps (a chain of real corrections is a handful long).
CHAIN_MAX = 50
# The calibration reads at most this many of the newest reviewed masks (a figure on a page, not an export).
POINTS_MAX = 20_000
# Organs whose QC estimate is stored in QcResult.estimates under the same name.
ESTIMATED_ORGANS = ("right_lung", "left_lung", "lungs", "heart")


# --- overlap ----------------------------------------------------------------------------------------
def dice_iou(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Dice and IoU of two bool masks on one grid; two empty masks agree perfectly (1.0, 1.0)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"masks of different sizes ({a.shape} and {b.shape}) cannot be compared")
    inter = int(np.count_nonzero(a & b))
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if total == 0:
        return 1.0, 1.0
    return 2 * inter / total, inter / (total - inter)


def decode(mask: Mask) -> np.ndarray:
    """A stored mask as a bool array; refused (RleError) when over settings.MASK_MAX_PIXELS."""
    from .qc.rle import decode_chexmask_rle

    return decode_chexmask_rle(mask.rle, mask.height, mask.width, max_pixels=settings.MASK_MAX_PIXELS)


def mask_overlap(a: Mask, b: Mask) -> tuple[float, float]:
    """Dice and IoU of two stored masks (the same mask row twice is (1.0, 1.0) without decoding)."""
    if a.pk is not None and a.pk == b.pk:
        return 1.0, 1.0
    if (a.height, a.width) != (b.height, b.width):
        raise ValueError(f"masks {a.pk} and {b.pk} are on different grids")
    if a.rle == b.rle:
        return 1.0, 1.0
    return dice_iou(decode(a), decode(b))


# --- recording --------------------------------------------------------------------------------------
def machine_mask_of(mask: Mask) -> Mask | None:
    """The non-reviewer mask a reviewer mask finally replaces: follows import_meta["replaces"] through
    earlier reviewer masks; without that key, the newest earlier non-reviewer version of the organ."""
    current, seen = mask, {mask.pk}
    for _ in range(CHAIN_MAX):
        replaces = (current.import_meta or {}).get("replaces")
        if replaces is None:
            break
        try:
            previous = Mask.objects.filter(pk=int(replaces), image_id=mask.image_id, organ=mask.organ).first()
        except (TypeError, ValueError):
            previous = None
        if previous is None or previous.pk in seen:
            break
        if previous.source != MaskSource.REVIEWER:
            return previous
        current = previous
        seen.add(previous.pk)
    return (
        Mask.objects.filter(image_id=mask.image_id, organ=mask.organ, version__lt=mask.version)
        .exclude(source=MaskSource.REVIEWER)
        .order_by("-version")
        .first()
    )


def _qc_result_for(machine: Mask, item: ReviewItem | None) -> QcResult | None:
    """The QC result that judged `machine`: the one the review item showed, else the newest that did."""
    if item is not None:
        shown = QcResult.objects.filter(pk=(item.prefill or {}).get("qc_result"), image_id=machine.image_id).first()
        if shown is not None and machine.pk in (shown.mask_ids or []):
            return shown
    # mask_ids is a JSON list (no portable "contains" lookup); an image has a few results, one per QC run.
    for result in QcResult.objects.filter(image_id=machine.image_id).order_by("-id")[:50]:
        if machine.pk in (result.mask_ids or []):
            return result
    return None


def _estimate(result: QcResult | None, organ: str) -> float | None:
    if result is None or organ not in ESTIMATED_ORGANS:
        return None
    value = (result.estimates or {}).get(organ)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def record_correction(new_masks: list[Mask]) -> list[MaskTruth]:
    """Store the true Dice and IoU of the machine mask each new reviewer mask replaces.

    Called by labeling.review.masks.save_correction in its transaction, with the Mask rows it created. Masks
    that are not reviewer masks, that replace no machine mask, or that sit on another grid are skipped; a
    mask already recorded is not recorded twice. Returns the stored rows."""
    from .qc.rle import RleError

    stored = []
    for mask in new_masks:
        if mask.source != MaskSource.REVIEWER or mask.pk is None:
            continue
        existing = MaskTruth.objects.filter(reviewer_mask=mask).first()
        if existing is not None:
            stored.append(existing)
            continue
        machine = machine_mask_of(mask)
        if machine is None:
            continue
        try:
            dice, iou = mask_overlap(mask, machine)
        except (ValueError, RleError) as exc:  # RleError is a ValueError; named for the reader
            logger.warning("no true Dice for mask %s: %s", mask.pk, exc)
            continue
        item_id = (mask.import_meta or {}).get("review_item")
        item = ReviewItem.objects.filter(pk=item_id, project_id=mask.project_id).first() if item_id else None
        result = _qc_result_for(machine, item)
        stored.append(
            MaskTruth.objects.create(
                project_id=mask.project_id,
                image_id=mask.image_id,
                organ=mask.organ,
                reviewer_mask=mask,
                machine_mask=machine,
                review_item=item,
                reader_id=mask.created_by_id,
                qc_result=result,
                estimated_dice=_estimate(result, mask.organ),
                true_dice=round(dice, 6),
                true_iou=round(iou, 6),
            )
        )
    return stored


# --- calibration ------------------------------------------------------------------------------------
def calibration_figures(estimated: Sequence[float], true: Sequence[float]) -> dict:
    """Spearman and Pearson correlation and mean absolute error of estimated vs true Dice, with n.

    A correlation is None when it is undefined: fewer than three points, or either side constant (every
    reviewed mask accepted gives true Dice 1.0 throughout, which says nothing about ranking)."""
    from scipy.stats import pearsonr, spearmanr

    est = np.asarray(estimated, dtype=float)
    tru = np.asarray(true, dtype=float)
    if est.shape != tru.shape:
        raise ValueError("estimated and true Dice must pair up")
    n = int(est.size)
    out = {"n": n, "spearman": None, "pearson": None, "mae": None}
    if n == 0:
        return out
    out["mae"] = round(float(np.abs(est - tru).mean()), 4)
    if n >= 3 and np.ptp(est) > 0 and np.ptp(tru) > 0:
        out["spearman"] = round(float(spearmanr(est, tru)[0]), 4)
        out["pearson"] = round(float(pearsonr(est, tru)[0]), 4)
    return out


def calibration_points(project, limit: int = POINTS_MAX) -> list[dict]:
    """One point per reviewed machine mask with a QC estimate: {image, study, organ, estimated, true, kind,
    item}, kind being "corrected" or "accepted".

    Corrections: the newest truth of each reader, averaged over readers when several corrected the same mask.
    Accepts: items whose answer is "accept" (agreed by the readers or adjudicated) give true Dice 1.0 to each
    organ of the judged mask set that nobody corrected."""
    rows = (
        MaskTruth.objects.filter(project=project, estimated_dice__isnull=False)
        .order_by("-id")
        .values_list(
            "machine_mask_id",
            "reader_id",
            "image_id",
            "image__study_id",
            "organ",
            "estimated_dice",
            "true_dice",
            "review_item_id",
        )[:limit]
    )
    newest: dict[tuple[int, int | None], tuple] = {}
    for row in rows:
        newest.setdefault((row[0], row[1]), row)
    by_machine: dict[int, list[tuple]] = defaultdict(list)
    for row in newest.values():
        by_machine[row[0]].append(row)
    points = []
    for machine_id, group in by_machine.items():
        _m, _r, image, study, organ, estimated, _t, item = group[0]
        points.append(
            {
                "image": image,
                "study": study,
                "organ": organ,
                "estimated": estimated,
                "true": round(sum(r[6] for r in group) / len(group), 6),
                "kind": "corrected",
                "item": item,
                "machine_mask": machine_id,
            }
        )
    corrected = set(by_machine)
    points += _accepted_points(project, corrected, max(0, limit - len(points)))
    return points


def _accepted_points(project, corrected: set[int], limit: int) -> list[dict]:
    if limit <= 0:
        return []
    items = list(
        ReviewItem.objects.filter(
            project=project,
            kind=ReviewKind.MASK,
            state__in=[ReviewState.DECIDED, ReviewState.FINAL],
        )
        .filter(Q(final__verdict="accept"))
        .order_by("-id")
        .values_list("pk", "image_id", "study_id", "prefill")[:limit]
    )
    result_ids = {(prefill or {}).get("qc_result") for _pk, _img, _study, prefill in items}
    results = {r.pk: r for r in QcResult.objects.filter(pk__in=[r for r in result_ids if isinstance(r, int)])}
    mask_ids = [m for r in results.values() for m in (r.mask_ids or []) if isinstance(m, int)]
    organs = dict(Mask.objects.filter(pk__in=mask_ids).values_list("pk", "organ"))
    points = []
    for pk, image, study, prefill in items:
        result = results.get((prefill or {}).get("qc_result"))
        if result is None:
            continue
        for mask_id in result.mask_ids or []:
            organ = organs.get(mask_id)
            estimated = _estimate(result, organ) if organ else None
            if estimated is None or mask_id in corrected:
                continue
            points.append(
                {
                    "image": image,
                    "study": study,
                    "organ": organ,
                    "estimated": estimated,
                    "true": 1.0,
                    "kind": "accepted",
                    "item": pk,
                    "machine_mask": mask_id,
                }
            )
    return points[:limit]


def calibration(project, limit: int = POINTS_MAX) -> dict:
    """The calibration of the QC estimate on this project's reviewed masks: figures over all points, per
    organ, and over corrections only (the masks a reviewer had to redraw), plus the points themselves."""
    points = calibration_points(project, limit)

    def figures(selected: list[dict]) -> dict:
        return calibration_figures([p["estimated"] for p in selected], [p["true"] for p in selected])

    organs = sorted({p["organ"] for p in points}, key=ESTIMATED_ORGANS.index)
    return {
        "all": figures(points),
        "corrected": figures([p for p in points if p["kind"] == "corrected"]),
        "by_organ": {organ: figures([p for p in points if p["organ"] == organ]) for organ in organs},
        "points": points,
        "limit": limit,
    }
