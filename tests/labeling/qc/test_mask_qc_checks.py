import numpy as np
from conftest import ellipse, plausible_masks

from labeling.qc.checks import defect_severity, extra_area_cost, missing_area_cost, run_checks
from labeling.qc.shapes import prepare


def _codes(masks):
    flags, _ = run_checks(prepare(masks))
    return sorted({f.code for f in flags})


def _reasons(masks):
    flags, _ = run_checks(prepare(masks))
    return [f.reason for f in flags]


def test_plausible_mask_has_no_flags():
    assert _codes(plausible_masks()) == []


def test_plausible_mask_as_one_lung_region_has_no_flags():
    m = plausible_masks()
    assert _codes({"lungs": m["right_lung"] | m["left_lung"], "heart": m["heart"]}) == []


def test_missing_heart_is_rejected():
    m = plausible_masks()
    m["heart"] = np.zeros_like(m["heart"])
    flags, _ = run_checks(prepare(m))
    assert [(f.code, f.organ, f.severity) for f in flags] == [("organ_missing", "heart", "reject")]


def test_missing_left_lung():
    m = plausible_masks()
    m["left_lung"] = np.zeros_like(m["left_lung"])
    assert "organ_missing" in _codes(m)


def test_stray_component():
    m = plausible_masks()
    m["heart"] |= ellipse(m["heart"].shape, 20, 128, 6, 6)
    assert _codes(m) == ["stray_components"]


def test_small_speck_below_minimum_size_is_ignored():
    m = plausible_masks()
    m["heart"][10, 128] = True
    assert _codes(m) == []


def test_holes():
    m = plausible_masks()
    m["right_lung"] &= ~ellipse(m["right_lung"].shape, 110, 78, 8, 8)
    assert _codes(m) == ["holes"]


def test_cardiothoracic_ratio_reason_is_readable():
    m = plausible_masks()
    m["heart"] = ellipse(m["heart"].shape, 170, 128, 32, 70)
    reasons = [r for r in _reasons(m) if r.startswith("cardiothoracic")]
    assert reasons == ["cardiothoracic ratio 0.81 outside 0.36–0.68"]


def test_area_ratio():
    m = plausible_masks()
    m["left_lung"] = ellipse(m["left_lung"].shape, 115, 178, 40, 20) & ~m["heart"]
    assert "rl_ll_area_ratio" in _codes(m)


def test_heart_lung_overlap():
    m = plausible_masks()
    m["right_lung"] = ellipse(m["right_lung"].shape, 120, 78, 80, 38)
    m["left_lung"] = ellipse(m["left_lung"].shape, 115, 178, 78, 36)
    m["heart"] = ellipse(m["heart"].shape, 150, 128, 32, 48)
    assert "heart_lung_overlap" in _codes(m)


def test_heart_on_wrong_side():
    m = plausible_masks()
    m["heart"] = ellipse(m["heart"].shape, 170, 80, 30, 40)
    flags, _ = run_checks(prepare(m))
    assert [(f.code, f.severity) for f in flags if f.code == "heart_side"] == [("heart_side", "reject")]


def test_swapped_lungs():
    m = plausible_masks()
    m["right_lung"], m["left_lung"] = m["left_lung"], m["right_lung"]
    assert "lungs_swapped" in _codes(m)


def test_merged_lung_labels():
    m = plausible_masks()
    m["right_lung"] = m["right_lung"] | m["left_lung"]
    m["left_lung"] = m["right_lung"].copy()
    assert "lungs_merged" in _codes(m)


def test_merged_lungs_as_one_region():
    m = plausible_masks()
    bridge = np.zeros_like(m["heart"])
    bridge[60:100, 80:180] = True
    assert "lungs_merged" in _codes({"lungs": m["right_lung"] | m["left_lung"] | bridge, "heart": m["heart"]})


def test_border_contact():
    m = plausible_masks()
    m["right_lung"][:, :6] |= ellipse(m["right_lung"].shape, 120, 0, 100, 6)[:, :6]
    assert "border_contact" in _codes(m)


def test_low_solidity_left_lung():
    m = plausible_masks()
    m["left_lung"] &= ~ellipse(m["left_lung"].shape, 115, 170, 40, 22)  # a deep bite from the medial side
    assert "solidity_left_lung" in _codes(m)


def test_low_solidity_heart():
    m = plausible_masks()
    m["heart"] &= ~ellipse(m["heart"].shape, 150, 135, 30, 12)
    assert "solidity_heart" in _codes(m)


def test_bridged_lungs_with_separate_labels():
    m = plausible_masks()
    m["right_lung"][60:70, 100:130] = True  # a band joining the right lung to the left over the mediastinum
    m["left_lung"][60:70, 130:150] = True
    assert "lungs_merged" in _codes(m)


def _severities(masks):
    flags, _ = run_checks(prepare(masks))
    return [(f.code, f.organ, f.severity) for f in flags]


def test_small_stray_component_is_info():
    m = plausible_masks()
    m["heart"] |= ellipse(m["heart"].shape, 20, 128, 6, 6)  # about 2% of the heart
    assert _severities(m) == [("stray_components", "heart", "info")]


def test_large_stray_component_forces_review():
    m = plausible_masks()
    m["heart"] |= ellipse(m["heart"].shape, 30, 128, 20, 30)  # about 39% of the heart
    assert _severities(m) == [("stray_components", "heart", "review")]


def test_small_hole_is_info():
    m = plausible_masks()
    m["right_lung"] &= ~ellipse(m["right_lung"].shape, 110, 78, 8, 8)
    assert _severities(m) == [("holes", "right_lung", "info")]


def test_large_hole_forces_review():
    m = plausible_masks()
    m["right_lung"] &= ~ellipse(m["right_lung"].shape, 110, 78, 30, 20)  # about 27% of the lung
    assert _severities(m) == [("holes", "right_lung", "review")]


def test_slightly_low_heart_solidity_is_info():
    m = plausible_masks()
    m["heart"] &= ~ellipse(m["heart"].shape, 150, 135, 30, 6)  # a narrow notch in the upper border
    assert _severities(m) == [("solidity_heart", "heart", "info")]


def test_deep_bite_out_of_the_heart_forces_review():
    m = plausible_masks()
    m["heart"] &= ~ellipse(m["heart"].shape, 140, 135, 30, 24)
    assert _severities(m) == [("solidity_heart", "heart", "review")]


def test_border_contact_forces_review_whatever_its_size():
    m = plausible_masks()
    m["right_lung"][:, :6] |= ellipse(m["right_lung"].shape, 120, 0, 100, 6)[:, :6]
    assert ("border_contact", "right_lung", "review") in _severities(m)


def test_dice_cost_of_defect_area():
    assert extra_area_cost(0.2) == 0.2 / 2.2
    assert missing_area_cost(0.5) == 0.5 / 1.5
    assert missing_area_cost(1.5) == 1.0


def test_defect_severity_threshold_is_a_dice_cost_of_one_tenth():
    assert defect_severity(0.0999) == "info"
    assert defect_severity(0.10) == "review"
