"""Builders for mask review tests: small synthetic masks, QC results and mask items, reviewer corrections."""

import numpy as np

from labeling.models import Mask, MaskSource, QcResult, ReviewItem, ReviewKind
from labeling.qc.rle import encode_chexmask_rle
from tests.factories import ImageFactory

SIZE = 20


def square(top, left, side=10):
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def mask_row(project, image, organ, bitmap, version=1, source=MaskSource.MODEL, created_by=None, **meta):
    return Mask.objects.create(
        created_by=created_by,
        project=project,
        image=image,
        organ=organ,
        source=source,
        rle=encode_chexmask_rle(bitmap),
        height=SIZE,
        width=SIZE,
        version=version,
        import_meta=meta,
    )


def qc_image(project, estimates, organs=("heart", "lungs")):
    """An image with machine masks and a QC result estimating each organ; the mask item QC put in review."""
    image = ImageFactory(study__patient__project=project)
    machine = {organ: mask_row(project, image, organ, square(4, 4)) for organ in organs}
    result = QcResult.objects.create(
        project=project,
        image=image,
        mask_ids=[m.pk for m in machine.values()],
        estimated_dice=sum(estimates.values()) / len(estimates),
        estimates={**estimates, "overall": sum(estimates.values()) / len(estimates)},
        decision="review",
        method="test",
        version="1",
    )
    item = ReviewItem.objects.create(
        project=project,
        kind=ReviewKind.MASK,
        study=image.study,
        image=image,
        target_key=f"image:{image.pk}",
        prefill={"qc_result": result.pk, "mask_ids": result.mask_ids},
    )
    return image, machine, result, item


def correct(project, reader, image, machine, item, organ, bitmap):
    """A reviewer mask as save_correction makes it: next version, replaces the machine mask."""
    return mask_row(
        project,
        image,
        organ,
        bitmap,
        version=machine[organ].version + 1,
        source=MaskSource.REVIEWER,
        created_by=reader,
        review_item=item.pk,
        replaces=machine[organ].pk,
        seconds=12.0,
    )
