"""Mask review: a reader's corrected organs saved as new reviewer Mask versions, and mask layers for the viewer.

A correction never overwrites: each corrected organ gets the next version of its (image, organ) with source
"reviewer", and records which mask it replaces, so `labeling.truth` can score the machine mask against it.
Every size is checked against settings.MASK_MAX_PIXELS before anything is allocated.
"""

from __future__ import annotations

import io

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from curation.errors import Conflict
from curation.permissions import Action, action

from ..models import Mask, MaskSource, Organ, ReviewItem, ReviewKind, ReviewState
from ..qc.rle import RleError, check_mask_size, decode_chexmask_rle, decode_coco_rle, encode_chexmask_rle
from . import locks, services
from .queue import my_claim


def _replaced(item: ReviewItem) -> dict[str, Mask]:
    """The mask each organ's correction replaces: the version QC judged (the item's prefill), else the newest."""
    judged = [int(i) for i in (item.prefill or {}).get("mask_ids", []) if isinstance(i, int)]
    out = {m.organ: m for m in Mask.objects.filter(pk__in=judged, image_id=item.image_id)}
    newest = Mask.objects.filter(image_id=item.image_id).exclude(organ__in=list(out)).order_by("organ", "-version")
    for mask in newest:
        out.setdefault(mask.organ, mask)
    return out


def _grid(item: ReviewItem, replaced: dict[str, Mask]) -> tuple[int, int]:
    """The (height, width) of the image's masks: a new organ is drawn on the same grid as the others."""
    for mask in replaced.values():
        return mask.height, mask.width
    image = item.image
    if not image.rows or not image.columns:
        raise ValidationError({"organs": "The image has no masks and no known size to draw a new one on."})
    return image.rows, image.columns


def _bitmap(organ: str, value, height: int, width: int) -> np.ndarray:
    """One organ's corrected mask as a bool array of the grid's size: CheXmask RLE text, COCO RLE or a bitmap."""
    try:
        check_mask_size(height, width, settings.MASK_MAX_PIXELS)
        if isinstance(value, str):
            return decode_chexmask_rle(value, height, width, max_pixels=settings.MASK_MAX_PIXELS)
        if isinstance(value, dict):
            if list(value.get("size") or []) != [height, width]:
                raise RleError(f"the mask must be {height}x{width}, the size of the image's masks")
            return decode_coco_rle(value, max_pixels=settings.MASK_MAX_PIXELS)
        if isinstance(value, np.ndarray):
            if value.shape != (height, width):
                raise RleError(f"the mask must be {height}x{width}, the size of the image's masks")
            return value.astype(bool)
    except RleError as exc:
        raise ValidationError({"organs": f"{organ}: {exc}"}) from None
    raise ValidationError({"organs": f"{organ}: give CheXmask RLE text, COCO RLE or a bitmap."})


def save_correction(reader, project, item_id: int, organs: dict, seconds=0, comment: str = "") -> list[Mask]:
    """Save a reader's corrected organs of a mask item as new reviewer Mask versions and record the read.

    `organs` maps an organ to its whole corrected mask (CheXmask RLE text, COCO RLE, or a bool array) on the
    grid of the image's masks. Each becomes version max+1 of its (image, organ), source "reviewer", with
    import_meta {"seconds", "review_item", "replaces"}; the read is verdict "correct" naming the new masks,
    and labeling.truth scores each replaced machine mask against its correction.
    """
    action(Action.REVIEW).check(reader, project)
    seconds = services._seconds(seconds)
    if not isinstance(organs, dict) or not organs:
        raise ValidationError({"organs": "Give at least one corrected organ as {organ: mask}."})
    unknown = sorted(str(name) for name in organs if name not in Organ.values)
    if unknown:
        raise ValidationError({"organs": f"Not an organ: {', '.join(unknown[:5])}."})
    with transaction.atomic():
        item = locks.item_for_update(project, item_id)
        if item.kind != ReviewKind.MASK or item.image_id is None:
            raise ValidationError({"item": "Only mask items take corrected masks."})
        if item.state in (ReviewState.ADJUDICATION, ReviewState.FINAL):
            raise Conflict(f"This item is in {item.get_state_display().lower()}: reads can no longer change.")
        claim = my_claim(reader, item)
        if claim is None:
            raise Conflict("You hold no claim on this item: it may have expired and gone to another reader.")
        replaced = _replaced(item)
        height, width = _grid(item, replaced)
        bitmaps = {organ: _bitmap(organ, value, height, width) for organ, value in sorted(organs.items())}
        versions = dict(
            Mask.objects.filter(image_id=item.image_id, organ__in=list(bitmaps))
            .values_list("organ")
            .annotate(v=Max("version"))
            .order_by()
        )
        new_masks = [
            Mask.objects.create(
                project=project,
                image_id=item.image_id,
                organ=organ,
                source=MaskSource.REVIEWER,
                rle=encode_chexmask_rle(bitmap),
                height=height,
                width=width,
                version=versions.get(organ, 0) + 1,
                import_meta={
                    "seconds": seconds,
                    "review_item": item.pk,
                    "replaces": replaced[organ].pk if organ in replaced else None,
                },
                created_by=reader,
            )
            for organ, bitmap in bitmaps.items()
        ]
        payload = {"verdict": "correct", "masks": {m.organ: m.pk for m in new_masks}, "comment": comment}
        services.decide(reader, project, item.pk, payload, seconds)
        from .. import truth

        truth.record_correction(new_masks)
    return new_masks


def mask_layer_png(mask: Mask) -> bytes:
    """One mask as a 1-bit PNG at its own size (white = organ), for the viewer's overlay and the editor."""
    from PIL import Image as PILImage

    bitmap = decode_chexmask_rle(mask.rle, mask.height, mask.width, max_pixels=settings.MASK_MAX_PIXELS)
    out = io.BytesIO()
    PILImage.fromarray(bitmap).convert("1").save(out, format="PNG", optimize=False)
    return out.getvalue()
