"""Benchmark of the mask QC core on ../shared/data/masks (not shipped): prints one JSON object.

Leakage control: the 588 U-Net masks and the synthetic corruptions are masks of JSRT images whose SCR
references form the bank. Every lookup excludes the mask's own image's reference (leave-one-image-out), and
the calibration used for a mask is refitted without the corruptions of that image's reference.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, rankdata, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.qc.bank import build_bank  # noqa: E402
from labeling.qc.calibration import calibration_samples, fit_calibration, fit_calibration_to_labels  # noqa: E402
from labeling.qc.estimate import FEATURES  # noqa: E402
from labeling.qc.io import iter_bitmask_folder, read_label_png  # noqa: E402
from labeling.qc.pipeline import QcConfig, qc_mask_set  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "masks"
UNET_VALUES = {1: "lungs", 2: "heart"}


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for `positive` (Mann-Whitney with average ranks)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def agreement(estimate: np.ndarray, truth: np.ndarray) -> dict:
    return {
        "pearson": round(float(pearsonr(estimate, truth)[0]), 4),
        "spearman": round(float(spearmanr(estimate, truth)[0]), 4),
        "mae": round(float(np.abs(estimate - truth).mean()), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--corruptions-per-reference", type=int, default=4)
    parser.add_argument("--limit-synthetic", type=int, default=0, help="use every n-th synthetic mask (0: all)")
    args = parser.parse_args()
    if not (args.data / "jsrt_scr_reference_masks").is_dir():
        print(f"mask data not found at {args.data} (expected ../shared/data/masks); nothing to benchmark")
        return 2
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    config = QcConfig()

    t0 = time.perf_counter()
    bank, _ = build_bank(iter_bitmask_folder(args.data / "jsrt_scr_reference_masks"), calibrate=False)
    build_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = calibration_samples(bank, args.corruptions_per_reference, seed=0)
    calibration_seconds = time.perf_counter() - t0
    per_image: dict = {}

    def calibration_for(image: str) -> dict:
        if image not in per_image:
            per_image[image] = fit_calibration(samples, exclude_groups=[image])
        return per_image[image]

    # 588 real U-Net masks.
    rows = list(csv.DictReader(open(args.data / "jsrt_unet_masks_588" / "true_dice.csv")))
    est, truth, feats, groups, decisions, seconds = [], [], [], [], [], 0.0
    flag_counts: dict = defaultdict(int)
    for row in rows:
        bank.calibration = calibration_for(row["image"])
        t0 = time.perf_counter()
        masks = read_label_png(args.data / row["file"], UNET_VALUES)
        report = qc_mask_set(masks, bank, config, exclude_ids=[row["image"]])
        seconds += time.perf_counter() - t0
        e = report.estimated_dice
        est.append([e["lungs"], e["heart"], e["overall"]])
        truth.append([float(row["dice_lungs"]), float(row["dice_heart"]), float(row["dice_mean_lh"])])
        feats.append(report.features["lungs"] + report.features["heart"])
        groups.append(row["image"])
        decisions.append(report.decision)
        for f in report.flags:
            flag_counts[f"{f['code']}:{f['organ']}:{f['severity']}"] += 1
    est, truth, feats, groups = np.array(est), np.array(truth), np.array(feats), np.array(groups)
    unet = {
        "n": len(rows),
        "overall": agreement(est[:, 2], truth[:, 2]),
        "lungs": agreement(est[:, 0], truth[:, 0]),
        "heart": agreement(est[:, 1], truth[:, 1]),
        "auroc_true_dice_below_0.8": round(auroc(-est[:, 2], truth[:, 2] < 0.8), 4),
        "decisions": _count(decisions),
        "true_dice_by_decision": _buckets(np.array(decisions), truth[:, 2]),
        "flags_code_organ_severity": dict(sorted(flag_counts.items(), key=lambda kv: -kv[1])),
    }

    # Secondary: the same features with a calibration fitted on the U-Net masks' own true Dice (what a
    # project could do with radiologist-corrected masks), cross-validated grouped by image (7 folds).
    folds = {g: i % 7 for i, g in enumerate(np.random.default_rng(0).permutation(np.unique(groups)))}
    fold = np.array([folds[g] for g in groups])
    cv = np.zeros((len(rows), 2))
    for k in range(7):
        train, test = fold != k, fold == k
        n_feat = len(FEATURES)
        for organ, cols in ((0, slice(0, n_feat)), (1, slice(n_feat, 2 * n_feat))):
            w = np.array(fit_calibration_to_labels(feats[train, cols], truth[train, organ]))
            cv[test, organ] = np.clip(w[0] + feats[test, cols] @ w[1:], 0, 1)
    cv_overall = cv.mean(axis=1)
    unet_cv = {
        "overall": agreement(cv_overall, truth[:, 2]),
        "lungs": agreement(cv[:, 0], truth[:, 0]),
        "heart": agreement(cv[:, 1], truth[:, 1]),
        "auroc_true_dice_below_0.8": round(auroc(-cv_overall, truth[:, 2] < 0.8), 4),
    }

    # Synthetic corruptions: recall = share routed to review or reject, per kind.
    synth_rows = list(csv.DictReader(open(args.data / "synthetic_corruptions" / "true_dice.csv")))
    if args.limit_synthetic:
        synth_rows = synth_rows[:: args.limit_synthetic]
    routed, total = defaultdict(int), defaultdict(int)
    routed_bad, total_bad = defaultdict(int), defaultdict(int)
    synth_est, synth_truth = [], []
    for row in synth_rows:
        bank.calibration = calibration_for(row["image"])
        masks = read_label_png(args.data / "synthetic_corruptions" / row["file"])
        report = qc_mask_set(masks, bank, config, exclude_ids=[row["image"]])
        total[row["kind"]] += 1
        routed[row["kind"]] += report.decision != "accept"
        synth_est.append(report.estimated_dice["overall"])
        synth_truth.append((float(row["dice_lungs_union"]) + float(row["dice_h"])) / 2)
        # A mild corruption (e.g. a small elastic warp at true Dice 0.98) is rightly accepted; recall over the
        # corruptions that make the mask bad says whether the ones that matter are caught.
        if min(float(row["dice_lungs_union"]), float(row["dice_h"])) < 0.8:
            total_bad[row["kind"]] += 1
            routed_bad[row["kind"]] += report.decision != "accept"
    recall = {k: round(routed[k] / total[k], 3) for k in sorted(total) if k != "identity"}
    recall_bad = {k: f"{routed_bad[k]}/{total_bad[k]}" for k in sorted(total_bad)}

    result = {
        "protocol": {
            "bank": f"{len(bank)} SCR reference masks of JSRT, built with labeling.qc.bank.build_bank",
            "leakage": "leave-one-image-out: each mask's own image's reference is excluded from every bank "
            "lookup, and its calibration is refitted without that reference's corruptions",
            "calibration": "quadratic ridge per organ (labeling.qc.calibration) on "
            f"{args.corruptions_per_reference + 1} synthetic corruptions per bank reference (features computed "
            "leave-one-out); no U-Net mask or true Dice is used",
            "review_threshold": {
                "review_below": config.review_below,
                "reject_below": config.reject_below,
                "also_review": "plausibility flags of severity review or reject; info flags are only reported",
            },
            "cpu": "pinned to one core (sched_setaffinity {0})",
        },
        "unet_588": unet,
        "unet_588_calibrated_on_unet_grouped_cv7": unet_cv,
        "synthetic": {
            "n": len(synth_rows),
            "recall_review_or_reject_by_kind": recall,
            "recall_where_lungs_or_heart_true_dice_below_0.8": recall_bad,
            "identity_routed_to_review": round(routed["identity"] / max(total["identity"], 1), 3),
            "overall_vs_true_mean_lungs_heart": agreement(np.array(synth_est), np.array(synth_truth)),
        },
        "seconds_per_mask": round(seconds / len(rows), 4),
        "seconds_per_mask_note": "PNG decode + qc_mask_set (checks + estimate), 1024² U-Net masks, one core",
        "bank_build_seconds": round(build_seconds, 1),
        "bank_calibration_seconds": round(calibration_seconds, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


def _buckets(decisions: np.ndarray, truth: np.ndarray) -> dict:
    """Per decision: how many masks, and how their true overall Dice spreads (<0.8, 0.8-0.9, >=0.9)."""
    out = {}
    for decision in ("accept", "review", "reject"):
        t = truth[decisions == decision]
        out[decision] = {
            "n": int(t.size),
            "true_dice_below_0.8": int((t < 0.8).sum()),
            "true_dice_0.8_to_0.9": int(((t >= 0.8) & (t < 0.9)).sum()),
            "true_dice_0.9_or_more": int((t >= 0.9).sum()),
            "true_dice_median": round(float(np.median(t)), 4) if t.size else None,
        }
    return out


def _count(values) -> dict:
    out: dict = defaultdict(int)
    for v in values:
        out[v] += 1
    return dict(out)


if __name__ == "__main__":
    sys.exit(main())
