import csv
import io

import numpy as np
from conftest import ellipse, plausible_masks

from labeling.qc.bank import add_to_bank, build_bank, load_bank, save_bank
from labeling.qc.cli import QC_COLUMNS, build_bank_from_path, qc_chexmask_csv
from labeling.qc.io import write_label_png
from labeling.qc.pipeline import qc_mask_set
from labeling.qc.rle import encode_chexmask_rle


def test_bank_save_load_round_trip(bank, tmp_path):
    path = save_bank(bank, tmp_path / "bank")
    loaded = load_bank(path)
    assert path.name == "bank.npz"
    assert loaded.ids == ["ref0", "ref1", "ref2", "ref3", "ref4"]
    assert np.array_equal(loaded.canonical, bank.canonical)
    assert loaded.calibration == bank.calibration
    assert sorted(loaded.calibration["models"]) == ["heart", "lungs", "single_lung"]


def test_add_to_bank_appends_and_replaces_by_id():
    built, _ = build_bank([("a", plausible_masks()), ("b", plausible_masks(jitter=0.05))], calibrate=False)
    grown, errors = add_to_bank(built, [("b", plausible_masks()), ("c", plausible_masks(jitter=-0.05))])
    assert errors == []
    assert grown.ids == ["a", "b", "c"]
    assert grown.canonical.shape == (3, 4, 64, 64)


def test_add_to_bank_reports_masks_without_lungs():
    built, _ = build_bank([("a", plausible_masks())], calibrate=False)
    empty = {k: np.zeros_like(v) for k, v in plausible_masks().items()}
    _, errors = add_to_bank(built, [("bad", empty)])
    assert errors == [("bad", "reference has no lungs")]


def test_good_mask_is_accepted_with_high_estimate(bank):
    report = qc_mask_set(plausible_masks(jitter=0.01), bank)
    assert report.decision == "accept"
    assert report.flags == []
    assert report.estimated_dice["overall"] > 0.9
    assert sorted(report.estimated_dice) == ["heart", "left_lung", "lungs", "overall", "right_lung"]


def test_corrupted_mask_scores_lower_and_is_routed(bank):
    good = qc_mask_set(plausible_masks(jitter=0.01), bank)
    m = plausible_masks(jitter=0.01)
    m["heart"] = ellipse(m["heart"].shape, 120, 135, 70, 48)  # heart swallowing the mediastinum
    m["right_lung"] |= ellipse(m["right_lung"].shape, 230, 30, 15, 20)
    bad = qc_mask_set(m, bank)
    assert bad.estimated_dice["overall"] < good.estimated_dice["overall"] - 0.05
    assert bad.decision in ("review", "reject")


def test_report_is_json_serialisable(bank):
    import json

    report = qc_mask_set(plausible_masks(), bank).as_dict()
    assert sorted(json.loads(json.dumps(report))) == [
        "decision",
        "estimated_dice",
        "features",
        "flags",
        "method",
        "metrics",
        "version",
    ]


def test_qc_chexmask_csv_output_contract(bank, tmp_path):
    good = plausible_masks(size=128)
    rows = [
        [
            "img1",
            encode_chexmask_rle(good["left_lung"]),
            encode_chexmask_rle(good["right_lung"]),
            encode_chexmask_rle(good["heart"]),
            128,
            128,
        ],
        ["img2", "1 2 3", "", "", 128, 128],
    ]
    source = tmp_path / "masks.csv"
    with open(source, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Path", "Left Lung", "Right Lung", "Heart", "Height", "Width"])
        w.writerows(rows)
    summary = qc_chexmask_csv(source, bank, tmp_path / "qc.csv")
    out = list(csv.reader(io.StringIO((tmp_path / "qc.csv").read_text())))
    assert out[0] == list(QC_COLUMNS)
    assert out[0] == ["image_id", "estimated_dice", "estimated_dice_lungs", "estimated_dice_heart", "decision", "flags"]
    assert [r[0] for r in out[1:]] == ["img1", "img2"]
    assert out[1][4] == "accept"
    assert out[2][1:] == [
        "",
        "",
        "",
        "error",
        "error: row 2: Left Lung: RLE has an odd number of values (3); expected start/length pairs",
    ]
    assert (summary["rows"], summary["accept"], summary["error"]) == (2, 1, 1)


def test_build_bank_from_folder_of_bitmask_pngs(tmp_path):
    folder = tmp_path / "refs"
    folder.mkdir()
    for i, j in enumerate((-0.04, 0.0, 0.04)):
        write_label_png(plausible_masks(jitter=j), folder / f"r{i}.png")
    summary = build_bank_from_path(folder, tmp_path / "bank.npz", corruptions_per_reference=1)
    assert (summary["references"], summary["skipped"], summary["calibrated"]) == (3, 0, True)
    assert load_bank(tmp_path / "bank.npz").ids == ["r0", "r1", "r2"]
