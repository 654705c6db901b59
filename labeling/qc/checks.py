"""Plausibility checks on a prepared lung/heart mask set: each failed check becomes a flag with a reason a
reviewer can read ("cardiothoracic ratio 0.83 outside 0.36–0.68").

Checks look at one mask set only (no reference bank), so they also run where no bank exists yet.

Severity: `reject` (nothing usable, e.g. an organ missing or lungs swapped), `review` (the mask is implausible
in a way the Dice estimate cannot see, or a defect large enough to matter on its own: a stray part over 5% of
the organ, holes over 3%), `info` (a minor defect: reported so a reviewer can see it, but the estimate decides).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from .ranges import DEFECT_LIMITS, DEFECT_REVIEW_DICE_COST, DEFECT_REVIEW_FRACTIONS, RANGES, Range
from .shapes import CHANNELS, HEART, LEFT, LUNGS, RIGHT, PreparedMask

INFO, REVIEW, REJECT = "info", "review", "reject"
SEVERITIES = (INFO, REVIEW, REJECT)  # in increasing order


@dataclass(frozen=True)
class Flag:
    """One failed plausibility check."""

    code: str
    organ: str
    reason: str
    severity: str  # "info", "review" or "reject"
    value: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def run_checks(prepared: PreparedMask, expected: tuple[str, ...] = ("lungs", "heart")) -> tuple[list, dict]:
    """Run every plausibility check; return (flags, metrics). Metrics are plain floats for storage."""
    flags: list[Flag] = []
    metrics: dict = {}
    clean = prepared.clean
    lungs_area = float(clean[LUNGS].sum())
    heart_area = float(clean[HEART].sum())

    # Missing organs are decisive: nothing else about that organ can be judged.
    if "lungs" in expected:
        if lungs_area == 0:
            flags.append(Flag("organ_missing", "lungs", "lungs missing (empty mask)", REJECT))
        elif prepared.has_split_lungs:
            for ch in (RIGHT, LEFT):
                if not clean[ch].any():
                    name = CHANNELS[ch]
                    flags.append(Flag("organ_missing", name, f"{_label(name)} missing (empty mask)", REJECT))
    if "heart" in expected and heart_area == 0:
        flags.append(Flag("organ_missing", "heart", "heart missing (empty mask)", REJECT))

    right, left, split_flags = _lungs_sides(prepared)
    flags += split_flags
    _defects(prepared, flags, metrics)

    if lungs_area > 0:
        thorax_width = _width(clean[LUNGS])
        if right is not None and left is not None:
            a_r, a_l = float(right.sum()), float(left.sum())
            _range_check(flags, metrics, "rl_ll_area_ratio", a_r / a_l, "lungs", "right/left lung area ratio")
            _range_check(
                flags,
                metrics,
                "rl_ll_height_ratio",
                _height(right) / _height(left),
                "lungs",
                "right/left lung height ratio",
            )
            for name, mask in (("right_lung", right), ("left_lung", left)):
                _solidity_check(flags, metrics, f"solidity_{name}", _solidity(mask), name, f"{_label(name)} solidity")
        if heart_area > 0:
            heart = clean[HEART]
            _range_check(
                flags,
                metrics,
                "cardiothoracic_ratio",
                _width(heart) / thorax_width,
                "heart",
                "cardiothoracic ratio",
            )
            _range_check(
                flags,
                metrics,
                "heart_lung_area_ratio",
                heart_area / lungs_area,
                "heart",
                "heart/lungs area ratio",
            )
            overlap = float((prepared.working[HEART] > 0.5)[prepared.working[LUNGS] > 0.5].sum()) / heart_area
            _range_check(flags, metrics, "heart_lung_overlap", overlap, "heart", "fraction of heart inside lungs")
            _solidity_check(flags, metrics, "solidity_heart", _solidity(heart), "heart", "heart solidity")
            if right is not None and left is not None:
                cx_r, cx_l, cx_h = _centre_x(right), _centre_x(left), _centre_x(heart)
                if cx_l != cx_r:
                    position = (cx_h - cx_r) / (cx_l - cx_r)
                    metrics["heart_position"] = position
                    rng = RANGES["heart_position"]
                    if not rng.contains(position):
                        side = "the patient's right" if position < 0.5 else "too far to the patient's left"
                        flags.append(
                            Flag(
                                "heart_side",
                                "heart",
                                f"heart centre at {position:.2f} between the lung centres, {side} "
                                f"(expected {_fmt_range(rng)})",
                                REJECT if position < 0.3 else REVIEW,
                                position,
                            )
                        )
    return flags, metrics


def _lungs_sides(prepared: PreparedMask):
    """Right and left lung masks (patient's right = image left), and flags for merged or swapped lungs."""
    clean = prepared.clean
    flags: list[Flag] = []
    if prepared.has_split_lungs:
        right, left = clean[RIGHT], clean[LEFT]
        if not right.any() or not left.any():
            return None, None, flags
        cx_r, cx_l = _centre_x(right), _centre_x(left)
        union_width = _width(clean[LUNGS])
        if max(_width(right), _width(left)) > 0.8 * union_width or abs(cx_l - cx_r) < 0.2 * union_width:
            flags.append(
                Flag(
                    "lungs_merged",
                    "lungs",
                    "one lung label covers both lungs (lungs merged or duplicated)",
                    REJECT,
                )
            )
            return None, None, flags
        lung_parts = prepared.components["lungs"]
        if len(lung_parts) == 1 or lung_parts[1] < 0.2 * lung_parts[0]:
            # Separate labels but one region: the lungs are bridged (over the mediastinum or below the heart).
            flags.append(
                Flag("lungs_merged", "lungs", "right and left lungs touch or are joined into one region", REVIEW)
            )
        if cx_r > cx_l:
            flags.append(
                Flag(
                    "lungs_swapped",
                    "lungs",
                    "right lung lies on the image right of the left lung (labels swapped or image flipped)",
                    REJECT,
                )
            )
        return right, left, flags
    # Lungs as one region: the two largest components are the lungs, ordered by position.
    labels, n = ndimage.label(clean[LUNGS])
    if n == 0:
        return None, None, flags
    if n == 1:
        heart = clean[HEART]
        lungs = clean[LUNGS]
        if heart.any():
            cx_h = _centre_x(heart)
            cols = np.flatnonzero(lungs.any(axis=0))
            if cols[0] < cx_h < cols[-1] and lungs[:, : int(cx_h)].any() and lungs[:, int(cx_h) + 1 :].any():
                # The single region reaches both sides of the heart: the lungs are joined.
                flags.append(Flag("lungs_merged", "lungs", "right and left lungs form one region (merged)", REVIEW))
                return None, None, flags
        flags.append(Flag("organ_missing", "lungs", "only one lung found", REJECT))
        return None, None, flags
    parts = [labels == i for i in (1, 2)]
    parts.sort(key=_centre_x)
    return parts[0], parts[1], flags


def _defects(prepared: PreparedMask, flags: list, metrics: dict) -> None:
    working = prepared.working > 0.5
    h, w = working.shape[1:]
    channels = (RIGHT, LEFT, HEART) if prepared.has_split_lungs else (LUNGS, HEART)
    for ch in channels:
        name = CHANNELS[ch]
        areas = prepared.components[name]
        if not areas:
            continue
        main = areas[1] + areas[0] if ch == LUNGS and len(areas) > 1 and areas[1] >= 0.2 * areas[0] else areas[0]
        extra = areas[2:] if main != areas[0] else areas[1:]
        big = [a for a in extra if a >= DEFECT_LIMITS["extra_component_fraction"].high * main]
        metrics[f"extra_components_{name}"] = len(big)
        if big:
            largest = max(big) / main
            stray_limit = DEFECT_REVIEW_FRACTIONS["stray_component"]
            parts = "a stray part" if len(big) == 1 else f"{len(big)} stray parts"
            reason = f"{_label(name)}: {parts} apart from the organ"
            reason += f", {largest:.1%} of its size" if len(big) == 1 else f", the largest {largest:.1%} of its size"
            severity = defect_severity(extra_area_cost(sum(big) / main))
            if largest > stray_limit:
                severity = REVIEW
                reason += f" (over {stray_limit:.0%} goes to review)"
            flags.append(Flag("stray_components", name, reason, severity, float(sum(big) / main)))
        hole_frac = prepared.hole_area[name] / main
        metrics[f"hole_fraction_{name}"] = hole_frac
        if hole_frac > DEFECT_LIMITS["hole_fraction"].high:
            hole_limit = DEFECT_REVIEW_FRACTIONS["hole"]
            reason = f"{_label(name)}: holes cover {hole_frac:.1%} of the organ"
            severity = defect_severity(missing_area_cost(hole_frac))
            if hole_frac > hole_limit:
                severity = REVIEW
                reason += f" (over {hole_limit:.0%} goes to review)"
            flags.append(Flag("holes", name, reason, severity, hole_frac))
        m = working[ch]
        border = m[0].sum() + m[-1].sum() + m[:, 0].sum() + m[:, -1].sum()
        contact = float(border) / (2 * (h + w))
        metrics[f"border_contact_{name}"] = contact
        if contact > DEFECT_LIMITS["border_contact_fraction"].high:
            flags.append(
                Flag(
                    "border_contact",
                    name,
                    f"{_label(name)} touches the image border along {contact:.1%} of it (cut off?)",
                    REVIEW,
                    contact,
                )
            )


def _range_check(flags: list, metrics: dict, key: str, value: float, organ: str, label: str) -> None:
    metrics[key] = float(value)
    rng = RANGES[key]
    if not rng.contains(value):
        flags.append(Flag(key, organ, f"{label} {value:.2f} outside {_fmt_range(rng)}", REVIEW, float(value)))


def _solidity_check(flags: list, metrics: dict, key: str, value: float, organ: str, label: str) -> None:
    # Concavity beyond the least solid reference is area the organ should probably cover.
    metrics[key] = float(value)
    rng = RANGES[key]
    if not rng.contains(value):
        excess = max(0.0, 1 / max(value, 1e-6) - 1 / rng.low)
        severity = defect_severity(missing_area_cost(excess))
        flags.append(Flag(key, organ, f"{label} {value:.2f} outside {_fmt_range(rng)}", severity, float(value)))


def extra_area_cost(fraction: float) -> float:
    """Dice lost by a perfect organ when wrong area of `fraction` × its size is added to it."""
    return fraction / (2 + fraction)


def missing_area_cost(fraction: float) -> float:
    """Dice lost by a perfect organ when `fraction` of its area is left out (capped at the whole organ)."""
    fraction = min(max(fraction, 0.0), 1.0)
    return fraction / (2 - fraction)


def defect_severity(dice_cost: float) -> str:
    """`review` for a defect that alone costs at least DEFECT_REVIEW_DICE_COST Dice, else `info`."""
    return REVIEW if dice_cost >= DEFECT_REVIEW_DICE_COST else INFO


def _fmt_range(rng: Range) -> str:
    return f"{rng.low:.2f}–{rng.high:.2f}"


def _label(name: str) -> str:
    return name.replace("_", " ")


def _width(mask: np.ndarray) -> float:
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[-1] - cols[0] + 1) if cols.size else 0.0


def _height(mask: np.ndarray) -> float:
    rows = np.flatnonzero(mask.any(axis=1))
    return float(rows[-1] - rows[0] + 1) if rows.size else 0.0


def _centre_x(mask: np.ndarray) -> float:
    cols = mask.sum(axis=0)
    total = cols.sum()
    return float((cols * np.arange(cols.size)).sum() / total) if total else 0.0


def _solidity(mask: np.ndarray) -> float:
    # Hull of pixel boundary points only: the interior adds nothing to a convex hull and costs time.
    edge = mask & ~ndimage.binary_erosion(mask)
    ys, xs = np.nonzero(edge)
    if ys.size < 3:
        return 1.0
    pts = np.concatenate([np.c_[xs, ys], np.c_[xs + 1, ys], np.c_[xs, ys + 1], np.c_[xs + 1, ys + 1]])
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return 1.0
    return float(mask.sum() / hull.volume)
