"""Mask agreement on the agreement page: Dice and IoU between two readers' masks of one image and between
each reader and the machine, from reads made through the mask review services."""

import pytest

from curation.models import Role
from labeling.qc.rle import encode_chexmask_rle
from labeling.review import agreement, queue, services
from labeling.review import masks as mask_review
from tests.factories import MembershipFactory, UserFactory
from tests.labeling.mask_helpers import qc_image, square

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(project, members):
    second = MembershipFactory(project=project, user=UserFactory(username="rad2"), role=Role.RADIOLOGIST).user
    return members["radiologist"], second


def two_read_item(project, priority):
    image, machine, result, item = qc_image(project, {"heart": 0.8, "lungs": 0.9})
    item.required_reads, item.priority = 2, priority
    item.save()
    return item


def heart_moved_by(shift):
    return {"heart": encode_chexmask_rle(square(4, 4 + shift))}


def test_dice_and_iou_between_readers_and_against_the_machine(project, readers):
    first, second = readers
    # Given an image both readers corrected (the heart moved 2 and 4 columns), and one the first accepted and
    # the second corrected (2 columns); the machine heart is a 10x10 square, lungs left as they were
    both = two_read_item(project, 0.9)
    mixed = two_read_item(project, 0.5)
    for reader in readers:
        assert queue.next_item(reader, project, "mask").item.pk == both.pk
    mask_review.save_correction(first, project, both.pk, heart_moved_by(2), 20)
    mask_review.save_correction(second, project, both.pk, heart_moved_by(4), 25)
    for reader in readers:
        assert queue.next_item(reader, project, "mask").item.pk == mixed.pk
    services.decide(first, project, mixed.pk, {"verdict": "accept"}, 5)
    mask_review.save_correction(second, project, mixed.pk, heart_moved_by(2), 15)
    # When the agreement page's figures are computed
    masks = agreement.agreement_report(project, "mask")["masks"]
    # Then readers agree on the heart at Dice 0.8 (moved 2 vs 4: 80 shared pixels of 100 each) and at 0.8
    # (machine vs moved 2), on the lungs perfectly
    [pair] = masks["pairs"]
    assert (pair["readers"], pair["items"], pair["masks"]) == (["rad2", "radiologist"], 2, 4)
    assert pair["by_organ"] == {
        "heart": {"masks": 2, "dice": 0.8, "iou": round(80 / 120, 4)},
        "lungs": {"masks": 2, "dice": 1.0, "iou": 1.0},
    }
    assert pair["dice"] == 0.9
    # And against the machine: the first moved one heart by 2 and accepted the other; the second moved by 4 and 2
    by_reader = {row["reader"]: row for row in masks["vs_machine"]}
    assert by_reader["radiologist"]["by_organ"]["heart"] == {
        "masks": 2,
        "dice": 0.9,
        "iou": round((80 / 120 + 1) / 2, 4),
    }
    assert by_reader["rad2"]["by_organ"]["heart"] == {
        "masks": 2,
        "dice": 0.7,
        "iou": round((60 / 140 + 80 / 120) / 2, 4),
    }
    assert by_reader["rad2"]["items"] == 2


def test_a_rejected_mask_set_is_left_out(project, readers):
    first, _second = readers
    item = two_read_item(project, 0.9)
    queue.next_item(first, project, "mask")
    services.decide(first, project, item.pk, {"verdict": "reject", "reason": "wrong_organ"}, 5)
    masks = agreement.agreement_report(project, "mask")["masks"]
    assert (masks["pairs"], masks["vs_machine"], masks["reads"]) == ([], [], 0)


def test_label_agreement_has_no_mask_section(project):
    assert "masks" not in agreement.agreement_report(project, "label")
