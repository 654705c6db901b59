"""QC that learns from review: the true Dice of a machine mask a reviewer replaced, and the calibration of the
estimate over reviewed masks, checked against Dice computed here directly on small synthetic masks."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from labeling import truth
from labeling.models import Mask, MaskSource, MaskTruth, ReviewState
from labeling.qc.rle import encode_chexmask_rle
from labeling.review import masks as mask_review
from labeling.review import queue, services
from tests.labeling.mask_helpers import SIZE, correct, mask_row, qc_image, square

pytestmark = pytest.mark.django_db


def direct_dice(a, b):
    """Dice written out from its definition, independent of labeling.truth."""
    inter = sum(1 for y in range(SIZE) for x in range(SIZE) if a[y, x] and b[y, x])
    return 2 * inter / (int(a.sum()) + int(b.sum()))


def test_a_correction_stores_the_true_dice_and_iou_of_the_machine_mask_it_replaced(project, members):
    # Given a machine heart mask estimated at 0.90, corrected by a reviewer two columns to the right
    image, machine, result, item = qc_image(project, {"heart": 0.90, "lungs": 0.95})
    reviewer = correct(project, members["radiologist"], image, machine, item, "heart", square(4, 6))
    # When the correction is recorded
    [stored] = truth.record_correction([reviewer])
    # Then the true Dice is Dice(machine, correction) = 2*80/200, IoU 80/120, beside the estimate shown
    assert direct_dice(square(4, 4), square(4, 6)) == 0.8
    assert (stored.organ, stored.true_dice, stored.true_iou) == ("heart", 0.8, round(80 / 120, 6))
    assert (stored.machine_mask_id, stored.qc_result_id, stored.estimated_dice) == (
        machine["heart"].pk,
        result.pk,
        0.90,
    )
    assert (stored.review_item_id, stored.reader_id) == (item.pk, members["radiologist"].pk)


def test_recording_twice_stores_one_row_and_non_reviewer_masks_are_skipped(project):
    image, machine, _result, item = qc_image(project, {"heart": 0.9, "lungs": 0.9})
    reviewer = correct(project, None, image, machine, item, "heart", square(5, 5))
    first = truth.record_correction([reviewer, machine["lungs"]])
    again = truth.record_correction([reviewer])
    assert [t.pk for t in first] == [t.pk for t in again]
    assert MaskTruth.objects.count() == 1


def test_a_correction_of_a_correction_is_scored_against_the_machine_mask(project):
    # Given a reviewer mask replaced by a second reviewer mask
    image, machine, _result, item = qc_image(project, {"heart": 0.9, "lungs": 0.9})
    first = correct(project, None, image, machine, item, "heart", square(5, 5))
    second = mask_row(project, image, "heart", square(4, 8), version=3, source=MaskSource.REVIEWER, replaces=first.pk)
    # When the second is recorded, the truth compares it with the machine mask at the start of the chain
    [stored] = truth.record_correction([second])
    assert stored.machine_mask_id == machine["heart"].pk
    assert stored.true_dice == round(direct_dice(square(4, 4), square(4, 8)), 6) == 0.6


def test_calibration_figures_match_a_direct_computation(project, members):
    # Given four corrected hearts and one accepted mask set, each with its QC estimate
    shifts = {0.95: 1, 0.80: 3, 0.70: 5, 0.85: 2}  # estimate -> how far the reviewer moved the heart
    true_by_estimate = {}
    for estimate, shift in shifts.items():
        image, machine, _result, item = qc_image(project, {"heart": estimate, "lungs": 0.97}, organs=("heart",))
        truth.record_correction([correct(project, None, image, machine, item, "heart", square(4, 4 + shift))])
        true_by_estimate[estimate] = direct_dice(square(4, 4), square(4, 4 + shift))
    _image, _machine, _result, accepted = qc_image(project, {"heart": 0.93, "lungs": 0.96})
    accepted.state, accepted.final = ReviewState.DECIDED, {"verdict": "accept"}
    accepted.save()
    # When the calibration is computed
    calibration = truth.calibration(project)
    # Then corrections pair each estimate with the Dice computed directly, and the accept adds Dice 1.0 for
    # each organ it judged
    estimated = list(shifts) + [0.93, 0.96]
    true = [true_by_estimate[e] for e in shifts] + [1.0, 1.0]
    points = sorted((p["estimated"], round(p["true"], 6), p["kind"]) for p in calibration["points"])
    expected = sorted(
        [(e, round(true_by_estimate[e], 6), "corrected") for e in shifts]
        + [(0.93, 1.0, "accepted"), (0.96, 1.0, "accepted")]
    )
    assert points == expected
    assert calibration["all"] == {
        "n": 6,
        "spearman": round(float(spearmanr(estimated, true)[0]), 4),
        "pearson": round(float(pearsonr(estimated, true)[0]), 4),
        "mae": round(float(np.mean(np.abs(np.array(estimated) - np.array(true)))), 4),
    }
    assert calibration["corrected"]["n"] == 4
    assert calibration["corrected"]["spearman"] == 1.0  # the more the heart moved, the lower the estimate
    assert calibration["by_organ"]["lungs"] == {"n": 1, "spearman": None, "pearson": None, "mae": 0.04}


def test_items_not_yet_agreed_or_rejected_give_no_accept_points(project):
    _i, _m, _r, pending = qc_image(project, {"heart": 0.9, "lungs": 0.9})
    _i, _m, _r, rejected = qc_image(project, {"heart": 0.5, "lungs": 0.5})
    rejected.state, rejected.final = ReviewState.DECIDED, {"verdict": "reject", "reason": "wrong_organ"}
    rejected.save()
    assert truth.calibration(project)["points"] == []
    assert pending.state == ReviewState.PENDING


def test_two_readers_correcting_one_mask_count_once_at_their_mean_dice(project, members):
    image, machine, _result, item = qc_image(project, {"heart": 0.9, "lungs": 0.9}, organs=("heart",))
    for reader, shift in ((members["radiologist"], 2), (members["curator"], 4)):
        mask = mask_row(
            project,
            image,
            "heart",
            square(4, 4 + shift),
            version=Mask.objects.filter(image=image).count() + 1,
            source=MaskSource.REVIEWER,
            created_by=reader,
            review_item=item.pk,
            replaces=machine["heart"].pk,
        )
        truth.record_correction([mask])
    [point] = truth.calibration(project)["points"]
    assert point["true"] == pytest.approx((0.8 + 0.6) / 2)


def test_undefined_correlations_are_none():
    assert truth.calibration_figures([], []) == {"n": 0, "spearman": None, "pearson": None, "mae": None}
    assert truth.calibration_figures([0.9, 0.8], [1.0, 0.5]) == {"n": 2, "spearman": None, "pearson": None, "mae": 0.2}
    constant = truth.calibration_figures([0.9, 0.8, 0.7], [1.0, 1.0, 1.0])
    assert (constant["spearman"], constant["pearson"], constant["mae"]) == (None, None, 0.2)


def test_dice_iou_of_two_empty_masks_is_perfect_and_grids_must_match():
    empty = np.zeros((3, 3), dtype=bool)
    assert truth.dice_iou(empty, empty) == (1.0, 1.0)
    with pytest.raises(ValueError):
        truth.dice_iou(empty, np.zeros((3, 4), dtype=bool))


def test_save_correction_through_the_review_service_records_the_truth(project, members):
    # Given a radiologist holding the mask item of a QC-judged image
    image, machine, result, item = qc_image(project, {"heart": 0.88, "lungs": 0.95})
    reader = members["radiologist"]
    assert queue.next_item(reader, project, "mask").item.pk == item.pk
    # When they save a corrected heart
    [new] = mask_review.save_correction(reader, project, item.pk, {"heart": encode_chexmask_rle(square(6, 4))}, 30)
    # Then its truth is stored against the machine heart, with the estimate the reviewer was shown
    stored = MaskTruth.objects.get(reviewer_mask=new)
    assert (stored.machine_mask_id, stored.estimated_dice, stored.true_dice) == (machine["heart"].pk, 0.88, 0.8)
    assert services.latest_reads(item)[reader.pk].payload["verdict"] == "correct"
