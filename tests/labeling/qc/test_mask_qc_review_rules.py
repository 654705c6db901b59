"""QC decisions that match what a radiologist sees: stray parts over 5% and holes over 3% go to review, and a
review or reject caused by a threshold says which threshold."""

import pytest
from conftest import ellipse, plausible_masks

from labeling.qc.checks import Flag, run_checks
from labeling.qc.pipeline import QcConfig, decide, qc_mask_set, threshold_flag
from labeling.qc.ranges import DEFECT_REVIEW_FRACTIONS
from labeling.qc.shapes import prepare


def _flags(masks):
    flags, _ = run_checks(prepare(masks))
    return [(f.code, f.organ, f.severity, f.reason) for f in flags]


def test_the_review_fractions_are_five_and_three_percent():
    assert DEFECT_REVIEW_FRACTIONS == {"stray_component": 0.05, "hole": 0.03}


def test_stray_part_of_eleven_percent_goes_to_review_with_a_plain_reason():
    m = plausible_masks()
    m["heart"] |= ellipse(m["heart"].shape, 20, 128, 12, 14)  # 10.9% of the heart, a Dice cost of 0.05 only
    assert _flags(m) == [
        (
            "stray_components",
            "heart",
            "review",
            "heart: a stray part apart from the organ, 10.9% of its size (over 5% goes to review)",
        )
    ]


def test_stray_part_of_two_percent_stays_info():
    m = plausible_masks()
    m["heart"] |= ellipse(m["heart"].shape, 20, 128, 6, 6)
    assert _flags(m) == [
        ("stray_components", "heart", "info", "heart: a stray part apart from the organ, 2.3% of its size")
    ]


def test_stray_lung_blob_outside_the_chest_goes_to_review_with_lungs_as_one_region():
    m = plausible_masks()
    lungs = m["right_lung"] | m["left_lung"]
    lungs |= ellipse(lungs.shape, 238, 20, 10, 30)  # below the right costophrenic angle, away from the border
    flags = [f for f in _flags({"lungs": lungs, "heart": m["heart"]}) if f[0] == "stray_components"]
    assert [(code, organ, severity) for code, organ, severity, _reason in flags] == [
        ("stray_components", "lungs", "review")
    ]
    assert flags[0][3].endswith("of its size (over 5% goes to review)")


def test_hole_of_five_percent_goes_to_review():
    m = plausible_masks()
    m["right_lung"] &= ~ellipse(m["right_lung"].shape, 110, 78, 12, 12)
    assert _flags(m) == [
        ("holes", "right_lung", "review", "right lung: holes cover 5.3% of the organ (over 3% goes to review)")
    ]


def test_hole_of_two_percent_stays_info():
    m = plausible_masks()
    m["right_lung"] &= ~ellipse(m["right_lung"].shape, 110, 78, 8, 8)
    assert _flags(m) == [("holes", "right_lung", "info", "right lung: holes cover 2.3% of the organ")]


def test_a_review_caused_by_the_threshold_alone_says_so():
    flag = threshold_flag(0.8712, QcConfig(review_below=0.90, reject_below=0.60))
    assert flag == Flag(
        "below_review_threshold", "", "estimated Dice 0.87 below the review threshold 0.90", "review", 0.8712
    )
    assert decide(0.8712, [flag], QcConfig(review_below=0.90)) == "review"


def test_a_reject_below_the_reject_threshold_names_that_threshold():
    flag = threshold_flag(0.41, QcConfig())
    assert (flag.code, flag.severity, flag.reason) == (
        "below_reject_threshold",
        "reject",
        "estimated Dice 0.41 below the reject threshold 0.60",
    )


def test_threshold_reason_gets_a_digit_more_rather_than_print_a_value_below_itself():
    assert threshold_flag(0.8996, QcConfig(review_below=0.90)).reason == (
        "estimated Dice 0.8996 below the review threshold 0.9000"
    )


def test_threshold_reason_prints_a_three_decimal_threshold_as_given():
    assert threshold_flag(0.9896, QcConfig(review_below=0.999)).reason == (
        "estimated Dice 0.990 below the review threshold 0.999"
    )


@pytest.mark.parametrize("overall", [0.90, 0.97])
def test_no_threshold_flag_at_or_above_the_review_threshold(overall):
    assert threshold_flag(overall, QcConfig(review_below=0.90)) is None


def test_qc_report_carries_the_threshold_reason_when_only_the_estimate_sends_it_to_review(bank):
    m = plausible_masks(jitter=0.01)
    report = qc_mask_set(m, bank, QcConfig(review_below=0.999, reject_below=0.1))
    overall = report.estimated_dice["overall"]
    assert report.decision == "review"
    assert report.flags == [
        {
            "code": "below_review_threshold",
            "organ": "",
            "reason": f"estimated Dice {overall:.3f} below the review threshold 0.999",
            "severity": "review",
            "value": overall,
        }
    ]
