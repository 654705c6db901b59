import numpy as np
import pytest
from conftest import ellipse, plausible_masks
from scipy import ndimage

from labeling.qc.calibration import _corner, _one_border, _ragged, corrupt, fit_calibration
from labeling.qc.checks import Flag
from labeling.qc.estimate import FEATURES, apply_calibration, calibration_terms
from labeling.qc.pipeline import QcConfig, decide, qc_mask_set

FEATS = np.array([0.9, 0.8, 0.7, 0.6])


def test_info_flag_leaves_the_decision_to_the_estimate():
    flags = [Flag("holes", "heart", "heart: holes cover 1.0% of the organ", "info", 0.01)]
    assert decide(0.90, flags, QcConfig()) == "accept"
    assert decide(0.80, flags, QcConfig()) == "review"
    assert decide(0.50, flags, QcConfig()) == "reject"


def test_review_flag_forces_review_of_a_high_estimate():
    flags = [Flag("border_contact", "heart", "heart touches the image border", "review", 0.05)]
    assert decide(0.97, flags, QcConfig()) == "review"


def test_reject_flag_rejects_a_high_estimate():
    flags = [Flag("organ_missing", "heart", "heart missing (empty mask)", "reject")]
    assert decide(0.97, flags, QcConfig()) == "reject"


def test_mask_with_a_small_stray_blob_is_accepted_and_the_blob_reported(bank):
    m = plausible_masks(jitter=0.01)
    m["heart"] |= ellipse(m["heart"].shape, 20, 128, 6, 6)
    report = qc_mask_set(m, bank)
    assert report.decision == "accept"
    assert [(f["code"], f["organ"], f["severity"]) for f in report.flags] == [("stray_components", "heart", "info")]


def test_calibration_names_its_features_and_terms(bank):
    assert bank.calibration["features"] == ["rca_best", "rca_top5", "shape_fit"]
    assert bank.calibration["terms"] == "quadratic"
    assert [len(w) for w in bank.calibration["models"].values()] == [10, 10, 10]


def test_calibration_terms_select_named_features_then_squares():
    terms = calibration_terms(FEATS, ("rca_best", "shape_fit"), "squares")
    assert np.allclose(terms, [0.9, 0.7, 0.81, 0.49])


def test_quadratic_calibration_terms_include_pairwise_products():
    terms = calibration_terms(FEATS, ("rca_best", "shape_fit"), "quadratic")
    assert np.allclose(terms, [0.9, 0.7, 0.81, 0.63, 0.49])


def test_full_quadratic_calibration_is_applied():
    calibration = {
        "features": ["rca_best", "shape_fit"],
        "terms": "quadratic",
        "models": {"lungs": [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]},
    }
    assert apply_calibration({"lungs": FEATS}, calibration) == {"lungs": pytest.approx(0.63, abs=1e-12)}


def test_squares_calibration_of_an_earlier_bank_is_applied():
    calibration = {"features": ["rca_best"], "squares": True, "models": {"heart": [0.1, 0.0, 1.0]}}
    assert apply_calibration({"heart": FEATS}, calibration) == {"heart": pytest.approx(0.91, abs=1e-12)}


def test_linear_calibration_of_an_older_bank_still_applies():
    calibration = {"features": list(FEATURES[:4]), "models": {"lungs": [0.05, 0.5, 0.0, 0.5, 0.0]}}
    assert apply_calibration({"lungs": FEATS}, calibration) == {"lungs": pytest.approx(0.85, abs=1e-12)}


def test_calibration_with_unknown_features_falls_back_to_best_rca():
    calibration = {"features": ["something_else"], "models": {"lungs": [0.0, 1.0]}}
    assert apply_calibration({"lungs": FEATS, "heart": None}, calibration) == {"lungs": 0.9, "heart": 0.0}


def test_fit_calibration_without_samples_for_a_model_skips_it():
    from labeling.qc.calibration import CalibrationSamples

    n = 20  # enough for the 10 coefficients of a quadratic in 3 features
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.0, size=(n, len(FEATURES)))
    samples = CalibrationSamples(
        features={"lungs": x, "heart": x[:2]},
        targets={"lungs": x[:, 0], "heart": x[:2, 0]},
        groups={"lungs": np.array(["a"] * n), "heart": np.array(["a", "a"])},
    )
    assert sorted(fit_calibration(samples)["models"]) == ["lungs"]


def test_ragged_corruption_frays_the_border_but_keeps_the_organ():
    disk = ellipse((128, 128), 64, 64, 40, 40)
    ragged = _ragged(disk, np.random.default_rng(0), scale=2.0, amplitude=0.6)
    changed = int((ragged ^ disk).sum())
    assert 0 < changed < 0.2 * disk.sum()
    assert bool(ragged[64, 64]) is True


def test_one_border_grows_the_organ_on_one_side_only():
    square = np.zeros((100, 100), dtype=bool)
    square[30:70, 30:70] = True
    grown = _one_border(square, np.random.default_rng(0), radius=5, grow=True)
    added = grown & ~square
    ring = int((ndimage.binary_dilation(square, iterations=5) & ~square).sum())
    assert bool((grown >= square).all()) is True
    assert 0 < int(added.sum()) < 0.75 * ring
    assert sum([added[:30].any(), added[70:].any(), added[:, :30].any(), added[:, 70:].any()]) < 4


def test_corner_removes_area_at_an_extreme_point():
    square = np.zeros((100, 100), dtype=bool)
    square[30:70, 30:70] = True
    cut = _corner(square, np.random.default_rng(0), radius=10.0, add=False)
    assert bool((cut <= square).all()) is True
    assert int(square.sum() - cut.sum()) > 50
    assert bool(cut[50, 50]) is True


def test_corrupt_keeps_the_organs_and_the_grid():
    masks = plausible_masks(size=128)
    for seed in range(5):
        corrupted = corrupt(masks, np.random.default_rng(seed))
        assert sorted(corrupted) == ["heart", "left_lung", "right_lung"]
        assert {v.shape for v in corrupted.values()} == {(128, 128)}
        assert {v.dtype for v in corrupted.values()} == {np.dtype(bool)}


def test_corrupt_leaves_some_samples_clean_and_changes_the_rest():
    masks = plausible_masks(size=64)
    changed = set()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        corrupted = corrupt(masks, rng)
        changed.add(any(bool((corrupted[k] ^ masks[k]).any()) for k in masks))
    assert changed == {True, False}
