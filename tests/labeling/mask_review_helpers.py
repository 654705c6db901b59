"""Builders for mask review tests: an image with machine masks, its QC result and a mask review item."""

import numpy as np

from labeling.models import Mask, MaskSource, QcResult, ReviewItem, ReviewKind
from labeling.qc.rle import encode_chexmask_rle
from tests.factories import ImageFactory

SIZE = 64


def organ_bitmaps(size: int = SIZE) -> dict[str, np.ndarray]:
    """Two lung rectangles and a heart square on a size x size grid (the lungs on the patient's sides)."""
    right, left, heart = (np.zeros((size, size), dtype=bool) for _ in range(3))
    right[10:50, 6:26] = True
    left[10:50, 38:58] = True
    heart[34:54, 24:40] = True
    return {"right_lung": right, "left_lung": left, "heart": heart}


def mask_item(project, image=None, priority=0.4, required_reads=1, size=SIZE) -> ReviewItem:
    """A mask item on an image with model masks (version 1 of each organ) and the QC result that judged them."""
    image = image or ImageFactory(study__patient__project=project, display="renders/d.png", rows=size, columns=size)
    masks = [
        Mask.objects.create(
            project=project,
            image=image,
            organ=organ,
            source=MaskSource.MODEL,
            rle=encode_chexmask_rle(bitmap),
            height=size,
            width=size,
        )
        for organ, bitmap in organ_bitmaps(size).items()
    ]
    result = QcResult.objects.create(
        project=project,
        image=image,
        mask_ids=[m.pk for m in masks],
        estimated_dice=1 - priority,
        estimated_dice_lungs=1 - priority,
        estimated_dice_heart=0.9,
        estimates={"right_lung": 1 - priority, "left_lung": 0.9, "heart": 0.9},
        flags=[{"code": "hole", "organ": "right_lung", "reason": "a hole of 5% of the organ", "severity": "review"}],
        decision="review",
        method="test",
        version="1",
    )
    return ReviewItem.objects.create(
        project=project,
        kind=ReviewKind.MASK,
        study=image.study,
        image=image,
        target_key=f"image:{image.pk}",
        prefill={
            "qc_result": result.pk,
            "decision": "review",
            "estimated_dice": result.estimated_dice,
            "flags": result.flags,
            "mask_ids": result.mask_ids,
        },
        priority=priority,
        reasons=[f"estimated Dice {result.estimated_dice:.2f} without ground truth", "right lung: a hole of 5%"],
        required_reads=required_reads,
    )
