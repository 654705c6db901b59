"""Quality estimate without ground truth: reverse classification accuracy on masks plus a shape-model fit.

Per organ, in the canonical frame (lungs' box, 64²):
- `rca_best`: the best Dice of the mask against any trusted reference (mask RCA: if the mask is good, some
  reference of similar anatomy matches it closely);
- `rca_top5`: the mean of the five best Dice (less sensitive to one lucky reference);
- `shape_fit`: Dice against a local shape model: the similarity-weighted mean of the 7 references closest
  to the cleaned mask, thresholded at 0.5 (what a plausible version of this mask looks like);
- `clean_agreement`: Dice of the mask with itself after removing stray components and filling holes.
A calibration per organ (fitted on the bank, see calibration.py) maps the features it names (linear, with
squares, or a full quadratic surface, as it says) to a Dice estimate; banks calibrated by an earlier version
keep working. Without a calibration the estimate is `rca_best`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .bank import ReferenceBank
from .shapes import CHANNELS, HEART, LEFT, LUNGS, RIGHT, PreparedMask, soft_dice

FEATURES = ("rca_best", "rca_top5", "shape_fit", "clean_agreement")
# Which calibration model serves which channel: single lungs behave differently from the union.
MODEL_OF_CHANNEL = {
    "lungs": "lungs",
    "heart": "heart",
    "right_lung": "single_lung",
    "left_lung": "single_lung",
}
TOP_RCA = 5
TOP_FIT = 7
FIT_TEMPERATURE = 0.01  # Dice units: references 0.01 worse weigh e^-1 as much in the local shape model


def compute_features(
    prepared: PreparedMask, bank: ReferenceBank, exclude_ids: Iterable[str] = ()
) -> dict[str, np.ndarray | None]:
    """Features per channel name (`lungs`, `heart`, and `right_lung`/`left_lung` when split); None when the
    organ is empty or the bank has nothing to compare it with.

    `exclude_ids` removes bank entries from every lookup (e.g. the reference of the same image in a
    benchmark, or the entry itself when calibrating).
    """
    channels = [LUNGS, HEART] + ([RIGHT, LEFT] if prepared.has_split_lungs else [])
    result: dict[str, np.ndarray | None] = {CHANNELS[ch]: None for ch in channels}
    if prepared.canonical is None or len(bank) == 0:
        return result
    if bank.frame.canonical_size != prepared.canonical.shape[-1]:
        raise ValueError("mask was prepared with a different frame than the bank's")
    vectors = bank.vectors
    usable = np.ones(len(bank), dtype=bool)
    exclude = set(exclude_ids)
    if exclude:
        usable &= ~np.isin(np.array(bank.ids, dtype=object), np.array(sorted(exclude), dtype=object))
    raw = prepared.canonical.reshape(4, -1)
    clean = prepared.canonical_clean.reshape(4, -1)
    sums = vectors.sum(axis=2)  # (N, 4)

    # Rank references by how well they match the cleaned lungs and heart together, so the local shape model
    # is built from anatomy like this patient's rather than from what the errors look like.
    def dice_all(ch: int, cand: np.ndarray, extra: float = 0.0) -> np.ndarray:
        denom = sums[:, ch] + cand.sum() + extra
        return np.where(denom > 0, 2 * (vectors[:, ch] @ cand) / np.maximum(denom, 1e-9), 0.0)

    rank_score = dice_all(LUNGS, clean[LUNGS])
    has_heart = sums[:, HEART] > 0
    if clean[HEART].any():
        rank_score = np.where(has_heart, (rank_score + dice_all(HEART, clean[HEART])) / 2, rank_score / 2)
    for ch in channels:
        name = CHANNELS[ch]
        ok = usable.copy()
        if ch == HEART:
            ok &= has_heart
        elif ch in (RIGHT, LEFT):
            ok &= bank.split_lungs
        if not ok.any() or not raw[ch].any():
            continue
        outside = float(prepared.outside[ch])
        dice = dice_all(ch, raw[ch], outside)[ok]
        order = np.argsort(dice)[::-1]
        rca_best = float(dice[order[0]])
        rca_top = float(dice[order[:TOP_RCA]].mean())
        idx = np.flatnonzero(ok)
        scores = rank_score[idx]
        near = np.argsort(scores)[::-1][:TOP_FIT]
        weights = np.exp((scores[near] - scores[near[0]]) / FIT_TEMPERATURE)
        model = (weights[:, None] * vectors[idx[near], ch]).sum(axis=0) / weights.sum()
        shape_fit = soft_dice(raw[ch], (model > 0.5).astype(np.float32), extra_a=outside)
        clean_agreement = soft_dice(prepared.working[ch], prepared.clean[ch].astype(np.float32))
        result[name] = np.array([rca_best, rca_top, shape_fit, clean_agreement], dtype=np.float64)
    return result


def apply_calibration(features: dict[str, np.ndarray | None], calibration: dict | None) -> dict[str, float]:
    """Estimated Dice per channel: calibrated feature combination clipped to [0, 1]; 0 for empty organs."""
    estimates = {}
    calibration = calibration or {}
    names = list(calibration.get("features", FEATURES))
    known = all(n in FEATURES for n in names)
    for name, feats in features.items():
        if feats is None:
            estimates[name] = 0.0
            continue
        weights = calibration.get("models", {}).get(MODEL_OF_CHANNEL[name])
        terms = calibration_terms(feats, names, terms_of(calibration)) if known else None
        if weights is None or terms is None or len(weights) != terms.size + 1:
            value = feats[0]
        else:
            value = weights[0] + float(np.dot(weights[1:], terms))
        estimates[name] = float(np.clip(value, 0.0, 1.0))
    return estimates


def calibration_terms(feats: np.ndarray, names, terms: str = "linear") -> np.ndarray:
    """The regression terms of one feature vector: the named features, then their squares (`squares`) or all
    their pairwise products including squares (`quadratic`)."""
    x = np.asarray(feats, dtype=np.float64)[[FEATURES.index(n) for n in names]]
    if terms == "squares":
        return np.concatenate([x, x * x])
    if terms == "quadratic":
        rows, cols = np.triu_indices(x.size)
        return np.concatenate([x, x[rows] * x[cols]])
    return x


def terms_of(calibration: dict) -> str:
    """Which terms a stored calibration was fitted on (banks from before `terms` was stored are linear)."""
    if "terms" in calibration:
        return calibration["terms"]
    return "squares" if calibration.get("squares") else "linear"
