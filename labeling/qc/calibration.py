"""Calibration of the Dice estimate, fitted on the user's own bank: each reference is corrupted with
segmentation-like errors (boundary warps, ragged borders, erosion/dilation of a whole organ or of one
border, stray blobs, holes, the heart leaking up or down, missed or added costophrenic angles and apices,
shifts, cut-offs), the true Dice against the clean reference is known, the features are computed against the
rest of the bank (leave-one-out), and a ridge regression per organ maps features to Dice.

The regression is a quadratic surface (features, squares and pairwise products) in the reference-based
features (best and top-5 mask RCA, local shape-model fit). The second-order terms let the estimate bend where
the features saturate (a perfect mask still differs from every other patient's reference). `clean_agreement`
is left out so the fit does not learn how the synthetic stray blobs and holes happen to look, which transfers
poorly to real segmentations; the RCA features see those defects anyway, since they compare the raw mask.

This is what makes the estimate come out in Dice units without shipping any model fitted elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .bank import ReferenceBank, masks_from_canonical
from .estimate import FEATURES, MODEL_OF_CHANNEL, calibration_terms, compute_features
from .shapes import prepare

CANVAS = 256  # corrupt at the working resolution so the errors have the scale real ones have there
RIDGE = 1e-3
CALIBRATION_VERSION = "ridge-quadratic-loo-corruptions-3"
CALIBRATION_FEATURES = ("rca_best", "rca_top5", "shape_fit")
TERMS = "quadratic"
OPERATIONS = (
    "elastic",
    "jitter",
    "erode",
    "dilate",
    "border",
    "corner",
    "blobs",
    "holes",
    "heart_up",
    "heart_down",
    "shift",
    "scale",
    "cut",
)


@dataclass
class CalibrationSamples:
    """Features and true Dice of corrupted bank entries, per calibration model."""

    features: dict  # model -> (n, len(FEATURES)) array
    targets: dict  # model -> (n,) array
    groups: dict  # model -> (n,) array of bank ids (the reference each sample came from)


def corrupt(masks: dict, rng: np.random.Generator) -> dict:
    """Apply 0–3 random segmentation-like errors to a mask set (dict of bool arrays); returns a new dict."""
    out = {k: v.copy() for k, v in masks.items()}
    organs = list(out)
    if rng.random() < 0.1:
        return out
    for _ in range(rng.integers(1, 4)):
        op = OPERATIONS[rng.integers(len(OPERATIONS))]
        target = organs if rng.random() < 0.3 else [organs[rng.integers(len(organs))]]
        if op == "elastic":
            field = _smooth_field(out[organs[0]].shape, rng, amplitude=rng.uniform(1, 10))
            for k in target:
                out[k] = _warp(out[k], field)
        elif op == "jitter":
            for k in target:
                out[k] = _ragged(out[k], rng, scale=rng.uniform(1, 3), amplitude=rng.uniform(0.2, 0.8))
        elif op == "border":
            for k in target:
                out[k] = _one_border(out[k], rng, int(rng.integers(2, 13)), grow=bool(rng.random() < 0.5))
        elif op == "corner":
            for k in target:
                out[k] = _corner(out[k], rng, rng.uniform(5, 30), add=bool(rng.random() < 0.3))
        elif op in ("erode", "dilate"):
            r = int(rng.integers(1, 9))
            fn = ndimage.binary_erosion if op == "erode" else ndimage.binary_dilation
            for k in target:
                out[k] = fn(out[k], structure=_disk(r))
        elif op == "blobs":
            for _ in range(rng.integers(1, 7)):
                k = organs[rng.integers(len(organs))]
                out[k] |= _ellipse(out[k].shape, rng, rng.uniform(2, 20))
        elif op == "holes":
            for k in target:
                for _ in range(rng.integers(1, 5)):
                    out[k] &= ~_ellipse_inside(out[k], rng, rng.uniform(2, 12))
        elif op == "heart_up" and "heart" in out:
            s = int(rng.integers(5, 40))
            up = np.zeros_like(out["heart"])
            up[:-s] = out["heart"][s:]
            out["heart"] |= ndimage.binary_dilation(up, iterations=int(rng.integers(0, 4))) if s else up
        elif op == "heart_down" and "heart" in out:
            s = int(rng.integers(5, 40))
            down = np.zeros_like(out["heart"])
            down[s:] = out["heart"][:-s]
            out["heart"] |= ndimage.binary_dilation(down, iterations=int(rng.integers(0, 4))) if s else down
        elif op == "shift":
            dy, dx = rng.integers(-15, 16, size=2)
            for k in target:
                out[k] = np.roll(out[k], (int(dy), int(dx)), axis=(0, 1))
        elif op == "scale":
            for k in target:
                out[k] = _scale(out[k], rng.uniform(0.8, 1.2))
        elif op == "cut":
            for k in target:
                rows = np.flatnonzero(out[k].any(axis=1))
                if rows.size:
                    n = int(rows.size * rng.uniform(0.05, 0.3))
                    if rng.random() < 0.5:
                        out[k][rows[-1] - n + 1 :] = False
                    else:
                        out[k][: rows[0] + n] = False
    return out


def calibration_samples(bank: ReferenceBank, corruptions_per_reference: int = 8, seed: int = 0) -> CalibrationSamples:
    """Corrupt every bank entry and compute its features against the rest of the bank."""
    rng = np.random.default_rng(seed)
    feats: dict = {m: [] for m in set(MODEL_OF_CHANNEL.values())}
    targets: dict = {m: [] for m in feats}
    groups: dict = {m: [] for m in feats}
    for i, ref_id in enumerate(bank.ids):
        clean = masks_from_canonical(bank.canonical[i], bool(bank.split_lungs[i]), CANVAS)
        truth = _channels(clean)
        for _ in range(corruptions_per_reference + 1):
            masks = corrupt(clean, rng)
            prepared = prepare(masks, bank.frame)
            features = compute_features(prepared, bank, exclude_ids=[ref_id])
            observed = _channels(masks)
            for name, f in features.items():
                if f is None or name not in truth or not truth[name].any():
                    continue
                model = MODEL_OF_CHANNEL[name]
                feats[model].append(f)
                targets[model].append(_dice(observed[name], truth[name]))
                groups[model].append(ref_id)
    return CalibrationSamples(
        features={m: np.array(v, dtype=np.float64).reshape(-1, len(FEATURES)) for m, v in feats.items()},
        targets={m: np.array(v, dtype=np.float64) for m, v in targets.items()},
        groups={m: np.array(v, dtype=str) for m, v in groups.items()},
    )


def fit_calibration(samples: CalibrationSamples, exclude_groups=()) -> dict:
    """Ridge regression per model from features to true Dice; `exclude_groups` leaves references out."""
    models = {}
    counts = {}
    exclude = np.array(sorted(set(exclude_groups)), dtype=str)
    for model, x in samples.features.items():
        keep = ~np.isin(samples.groups[model], exclude) if exclude.size else np.ones(len(x), dtype=bool)
        terms = np.array([calibration_terms(f, CALIBRATION_FEATURES, TERMS) for f in x[keep]])
        if keep.sum() < terms.shape[-1] + 2:
            continue
        models[model] = _ridge(terms, samples.targets[model][keep]).tolist()
        counts[model] = int(keep.sum())
    return {
        "version": CALIBRATION_VERSION,
        "features": list(CALIBRATION_FEATURES),
        "terms": TERMS,
        "models": models,
        "samples": counts,
    }


def fit_calibration_to_labels(features: np.ndarray, true_dice: np.ndarray) -> list[float]:
    """Ridge weights for one organ from user-provided features and true Dice (e.g. corrected masks)."""
    return _ridge(np.asarray(features, dtype=np.float64), np.asarray(true_dice, dtype=np.float64)).tolist()


def calibrate_bank(bank: ReferenceBank, corruptions_per_reference: int = 8, seed: int = 0) -> dict:
    """Fit and store the bank's calibration; returns it."""
    samples = calibration_samples(bank, corruptions_per_reference, seed)
    bank.calibration = fit_calibration(samples)
    return bank.calibration


def _ridge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    design = np.c_[np.ones(len(x)), x]
    penalty = RIDGE * len(x) * np.eye(design.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(design.T @ design + penalty, design.T @ y)


def _channels(masks: dict) -> dict:
    out = dict(masks)
    if "lungs" not in out:
        out["lungs"] = masks["right_lung"] | masks["left_lung"]
    return out


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    denom = a.sum() + b.sum()
    return float(2 * (a & b).sum() / denom) if denom else 1.0


def _disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def _ellipse(shape, rng, radius: float) -> np.ndarray:
    h, w = shape
    cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
    ry, rx = radius * rng.uniform(0.5, 1.5), radius * rng.uniform(0.5, 1.5)
    y, x = np.ogrid[:h, :w]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def _ellipse_inside(mask: np.ndarray, rng, radius: float) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return np.zeros_like(mask)
    i = rng.integers(ys.size)
    h, w = mask.shape
    y, x = np.ogrid[:h, :w]
    return ((y - ys[i]) / radius) ** 2 + ((x - xs[i]) / (radius * rng.uniform(0.5, 1.5))) ** 2 <= 1


def _ragged(mask: np.ndarray, rng, scale: float, amplitude: float) -> np.ndarray:
    """Frayed border: the blurred mask plus smooth noise, thresholded (what an unsure network produces)."""
    noise = ndimage.gaussian_filter(rng.normal(size=mask.shape).astype(np.float32), scale)
    noise /= max(float(np.abs(noise).max()), 1e-9)
    return ndimage.gaussian_filter(mask.astype(np.float32), scale) + amplitude * noise > 0.5


def _one_border(mask: np.ndarray, rng, radius: int, grow: bool) -> np.ndarray:
    """Grow or shrink one side of an organ (e.g. the heart's left border or its ill-defined top)."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return mask
    changed = (ndimage.binary_dilation if grow else ndimage.binary_erosion)(mask, structure=_disk(radius))
    h, w = mask.shape
    yy, xx = np.mgrid[:h, :w]
    angle = rng.uniform(0, 2 * np.pi)
    side = (yy - ys.mean()) * np.sin(angle) + (xx - xs.mean()) * np.cos(angle) > 0
    return np.where(side, changed, mask)


def _corner(mask: np.ndarray, rng, radius: float, add: bool) -> np.ndarray:
    """Miss (or overshoot) a corner such as the costophrenic angle or the apex: an ellipse at an extreme point."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return mask
    cy, cx = ys.mean(), xs.mean()
    # Extreme points towards one of the four diagonal corners, or straight up (the apex).
    dy, dx = [(1, -1), (1, 1), (-1, -1), (-1, 1), (-1, 0)][rng.integers(5)]
    i = int(np.argmax((ys - cy) * dy + (xs - cx) * dx))
    h, w = mask.shape
    yy, xx = np.ogrid[:h, :w]
    blob = ((yy - ys[i]) / radius) ** 2 + ((xx - xs[i]) / (radius * rng.uniform(0.6, 1.6))) ** 2 <= 1
    return mask | blob if add else mask & ~blob


def _smooth_field(shape, rng, amplitude: float) -> np.ndarray:
    coarse = rng.normal(size=(2, 8, 8))
    field = ndimage.zoom(coarse, (1, shape[0] / 8, shape[1] / 8), order=3)
    return field / max(np.abs(field).max(), 1e-9) * amplitude


def _warp(mask: np.ndarray, field: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    return ndimage.map_coordinates(mask.astype(np.float32), [yy + field[0], xx + field[1]], order=1) > 0.5


def _scale(mask: np.ndarray, factor: float) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return mask
    cy, cx = ys.mean(), xs.mean()
    h, w = mask.shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    coords = [cy + (yy - cy) / factor, cx + (xx - cx) / factor]
    return ndimage.map_coordinates(mask.astype(np.float32), coords, order=1) > 0.5
