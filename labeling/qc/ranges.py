"""Plausibility ranges for lung and heart masks, as data, each with the reference it was derived from.

Sources (numbers derived once from these reference sets and written here; the sets themselves are not
shipped with the project):
- "911 refs": per-shape geometry of 911 lung and 383 heart expert reference shapes (JSRT, Shenzhen,
  Montgomery, Padchest; Gaggion et al., IEEE TMI 2022, Chest-xray-landmark-dataset), 0.5th and 99.5th
  percentiles.
- "SCR refs": the 247 SCR expert references of JSRT (van Ginneken et al., 2006), rasterised at 1024²,
  measured at the QC working resolution (256²), 0.5th percentile rounded down.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """A closed interval of plausible values and where it comes from."""

    low: float
    high: float
    source: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


RANGES: dict[str, Range] = {
    # Right lung area / left lung area.
    "rl_ll_area_ratio": Range(0.81, 1.76, "911 refs, 0.5-99.5th percentile (0.814-1.755)"),
    # Heart width / thorax width (outer lung box width).
    "cardiothoracic_ratio": Range(0.36, 0.68, "383 heart refs, 0.5-99.5th percentile (0.363-0.680)"),
    # Heart area / lungs area.
    "heart_lung_area_ratio": Range(0.19, 0.81, "383 heart refs, 0.5-99.5th percentile (0.199-0.801)"),
    # Right lung height / left lung height.
    "rl_ll_height_ratio": Range(0.80, 1.29, "911 refs, 0.5-99.5th percentile (0.804-1.290)"),
    # Heart centre between the lung centres: 0 = right lung centre, 1 = left lung centre.
    "heart_position": Range(0.45, 0.85, "383 heart refs, 0.5-99.5th percentile 0.51-0.72, widened by ~0.1"),
    # Fraction of the heart that the lungs also cover. The references reach 0.024 (maximum); predicted masks
    # are allowed twice that before the overlap is called implausible.
    "heart_lung_overlap": Range(0.0, 0.05, "383 heart refs, maximum 0.024, doubled"),
    # Area / convex hull area.
    "solidity_right_lung": Range(0.80, 1.0, "SCR refs, 0.5th percentile 0.818"),
    "solidity_left_lung": Range(0.65, 1.0, "SCR refs, 0.5th percentile 0.668"),
    "solidity_heart": Range(0.93, 1.0, "SCR refs, 0.5th percentile 0.964, widened"),
}

# Limits that are not distributions of reference values but tolerances for defects the references never
# show (no SCR reference has a hole, a second component, or an organ touching the image border).
DEFECT_LIMITS: dict[str, Range] = {
    "extra_component_fraction": Range(0.0, 0.01, "SCR refs: none; a component above 1% of the organ flags"),
    "hole_fraction": Range(0.0, 0.005, "SCR refs: none; holes above 0.5% of the organ flag"),
    "border_contact_fraction": Range(0.0, 0.02, "SCR refs: 2 of 247 touch; >2% of the border length flags"),
}

# When a defect forces review. A defect (stray component, hole, concavity beyond what the references show) is
# treated as wrongly labelled area; if that area alone would cost a perfect organ this much Dice, the mask goes
# to review whatever the estimate says. Smaller defects are reported with severity "info" and the estimate,
# which already sees them, decides. 0.10 Dice is a third of the way from a perfect mask down to the 0.7 floor
# CheXmask recommends for using a mask at all.
DEFECT_REVIEW_DICE_COST = 0.10

# Defects a radiologist sends back on sight, whatever they cost in Dice: a stray part over 5% of the organ (a
# lung blob outside the chest) or holes over 3% of it. Through the Dice cost alone an 11% blob costs 0.05 Dice
# and a 5% hole 0.03, so both stayed `info` while the mask was plainly wrong to anyone who looked at it.
DEFECT_REVIEW_FRACTIONS: dict[str, float] = {"stray_component": 0.05, "hole": 0.03}
