"""One entry point for QC of one image's masks: plausibility flags, estimated Dice, decision.

The result is plain JSON-serialisable data, so the Django job can store it in `QcResult` as is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from .bank import ReferenceBank
from .checks import REJECT, REVIEW, Flag, run_checks
from .estimate import apply_calibration, compute_features
from .shapes import MaskInputError, prepare

METHOD = "mask-rca+local-shape-model+plausibility"
# 1.1: flag severities (info flags leave the decision to the estimate), quadratic calibration.
# 1.2: a stray part over 5% of the organ or holes over 3% force review; a threshold behind a decision is a flag.
VERSION = "1.2"


@dataclass(frozen=True)
class QcConfig:
    """Decision thresholds on the overall estimated Dice (mean of lungs and heart)."""

    review_below: float = 0.85
    reject_below: float = 0.60
    expected: tuple[str, ...] = ("lungs", "heart")


@dataclass
class QcReport:
    """Everything a QcResult row holds."""

    estimated_dice: dict  # right_lung/left_lung (when split), lungs, heart, overall
    flags: list = field(default_factory=list)  # list of Flag.as_dict()
    decision: str = "review"  # accept / review / reject
    metrics: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)
    method: str = METHOD
    version: str = VERSION

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def reasons(self) -> list[str]:
        return [f["reason"] for f in self.flags]


def qc_mask_set(
    masks_by_organ: dict, bank: ReferenceBank, config: QcConfig | None = None, exclude_ids: Iterable[str] = ()
) -> QcReport:
    """QC one image's organ masks (organ name -> 2-D bool array on one grid) against a reference bank.

    Organs: `right_lung`, `left_lung` (or `lungs` for both as one region), `heart`. Raises MaskInputError
    when nothing can be assessed (no masks, mismatched grids).
    """
    config = config or QcConfig()
    prepared = prepare(masks_by_organ, bank.frame)
    flags, metrics = run_checks(prepared, config.expected)
    features = compute_features(prepared, bank, exclude_ids)
    estimates = apply_calibration(features, bank.calibration)
    parts = [estimates.get(o, 0.0) for o in config.expected]
    estimates["overall"] = float(sum(parts) / len(parts)) if parts else 0.0
    estimates = {k: round(v, 4) for k, v in estimates.items()}
    decision = decide(estimates["overall"], flags, config)
    threshold = threshold_flag(estimates["overall"], config)
    if threshold is not None:
        flags.append(threshold)
    return QcReport(
        estimated_dice=estimates,
        flags=[f.as_dict() for f in flags],
        decision=decision,
        metrics={k: round(float(v), 4) for k, v in metrics.items()},
        features={k: None if v is None else [round(float(x), 4) for x in v] for k, v in features.items()},
    )


def decide(overall: float, flags: list[Flag], config: QcConfig) -> str:
    """reject on a decisive flag or a very low estimate, review on a review flag or a low estimate, else accept.

    Flags of severity `info` (minor defects the estimate already accounts for) never change the decision.
    """
    if overall < config.reject_below or any(f.severity == REJECT for f in flags):
        return "reject"
    if overall < config.review_below or any(f.severity == REVIEW for f in flags):
        return "review"
    return "accept"


def threshold_flag(overall: float, config: QcConfig) -> Flag | None:
    """The threshold the overall estimate fell below, as a flag with its own reason, or None.

    Without it a mask sent to review by its estimate alone would show no reason at all (every plausibility
    check passed), and a reviewer could not tell why it is in the queue."""
    for code, name, limit, severity in (
        ("below_reject_threshold", "reject", config.reject_below, REJECT),
        ("below_review_threshold", "review", config.review_below, REVIEW),
    ):
        if overall < limit:
            value, bound = _below(overall, limit)
            return Flag(code, "", f"estimated Dice {value} below the {name} threshold {bound}", severity, overall)
    return None


def _below(value: float, limit: float) -> tuple[str, str]:
    """Both numbers with two decimals, or as many more as the threshold needs (0.999 is not 1.00) or as keep
    the value from printing equal to the threshold (0.8996 is not "0.90 below 0.90")."""
    digits = next((d for d in (2, 3, 4) if round(limit, d) == limit), 4)
    while f"{value:.{digits}f}" == f"{limit:.{digits}f}" and digits < 6:
        digits += 1
    return f"{value:.{digits}f}", f"{limit:.{digits}f}"


__all__ = [
    "QcConfig",
    "QcReport",
    "qc_mask_set",
    "decide",
    "threshold_flag",
    "MaskInputError",
    "METHOD",
    "VERSION",
]
