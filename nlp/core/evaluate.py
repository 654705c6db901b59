"""Precision, recall and F1 of mined labels against gold labels (positive detection and per status).

Values are labels.csv strings: "1" positive, "0" negative, "-1" uncertain, "" not mentioned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

STATUS_VALUES = {"positive": "1", "negative": "0", "uncertain": "-1"}
_CANONICAL = {"1": "1", "1.0": "1", "0": "0", "0.0": "0", "-1": "-1", "-1.0": "-1", "": ""}


@dataclass(frozen=True)
class Score:
    """Counts and scores for one label (or one label x status cell)."""

    tp: int
    fp: int
    fn: int

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.support,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass
class EvaluationSummary:
    """Per-label positive-detection scores, optional per-status scores, and their micro/macro averages."""

    labels: list[str]
    reports: int
    missing_predictions: int
    positive: dict[str, Score]
    by_status: dict[str, dict[str, Score]] = field(default_factory=dict)

    @property
    def micro_f1(self) -> float:
        return _pooled(self.positive.values()).f1

    @property
    def macro_f1(self) -> float:
        return _macro(self.positive.values())

    @property
    def status_macro_f1(self) -> float | None:
        cells = [score for statuses in self.by_status.values() for score in statuses.values()]
        return _macro(cells) if cells else None

    def to_dict(self) -> dict:
        result = {
            "reports": self.reports,
            "missing_predictions": self.missing_predictions,
            "positive": {label: score.to_dict() for label, score in self.positive.items()},
            "micro_f1": round(self.micro_f1, 4),
            "macro_f1": round(self.macro_f1, 4),
        }
        if self.by_status:
            result["by_status"] = {
                label: {status: score.to_dict() for status, score in statuses.items()}
                for label, statuses in self.by_status.items()
            }
            result["status_macro_f1"] = round(self.status_macro_f1 or 0.0, 4)
        return result


def _pooled(scores: Iterable[Score]) -> Score:
    scores = list(scores)
    return Score(sum(s.tp for s in scores), sum(s.fp for s in scores), sum(s.fn for s in scores))


def _macro(scores: Iterable[Score]) -> float:
    supported = [score.f1 for score in scores if score.support]
    return sum(supported) / len(supported) if supported else 0.0


def canonical_value(value: object) -> str:
    """A label value as "1", "0", "-1" or "" (blank); anything else raises ValueError."""
    text = "" if value is None else str(value).strip()
    try:
        return _CANONICAL[text]
    except KeyError:
        raise ValueError(f"label value {text!r} is not 1, 0, -1 or blank") from None


def evaluate_labels(
    predictions: Mapping[str, Mapping[str, object]],
    gold: Mapping[str, Mapping[str, object]],
    labels: list[str],
    uncertain_as_positive: bool = False,
    per_status: bool | None = None,
) -> EvaluationSummary:
    """Score predictions against gold over the gold's report ids.

    Positive detection counts "1" (and "-1" too with `uncertain_as_positive`).  Per-status scores
    (1, 0, -1 each against the gold's same status) are computed when `per_status` is true, or by
    default when the gold contains any 0 or -1.
    """
    positive_values = {"1", "-1"} if uncertain_as_positive else {"1"}
    counts = {label: [0, 0, 0] for label in labels}
    status_counts = {label: {status: [0, 0, 0] for status in STATUS_VALUES} for label in labels}
    gold_has_status = False
    missing = 0
    for report_id, gold_row in gold.items():
        pred_row = predictions.get(report_id)
        if pred_row is None:
            missing += 1
            pred_row = {}
        for label in labels:
            gold_value = canonical_value(gold_row.get(label))
            pred_value = canonical_value(pred_row.get(label))
            gold_has_status = gold_has_status or gold_value in ("0", "-1")
            _count(counts[label], pred_value in positive_values, gold_value in positive_values)
            for status, value in STATUS_VALUES.items():
                _count(status_counts[label][status], pred_value == value, gold_value == value)
    summary = EvaluationSummary(
        labels=list(labels),
        reports=len(gold),
        missing_predictions=missing,
        positive={label: Score(*counts[label]) for label in labels},
    )
    if per_status or (per_status is None and gold_has_status):
        summary.by_status = {
            label: {status: Score(*cell) for status, cell in statuses.items() if cell[0] + cell[2]}
            for label, statuses in status_counts.items()
        }
        summary.by_status = {label: cells for label, cells in summary.by_status.items() if cells}
    return summary


def _count(cell: list[int], predicted: bool, actual: bool) -> None:
    if predicted and actual:
        cell[0] += 1
    elif predicted:
        cell[1] += 1
    elif actual:
        cell[2] += 1


def format_summary(summary: EvaluationSummary) -> str:
    """A plain-text table of the summary, as `manage.py evaluate_labels` prints it."""
    lines = [f"{summary.reports} reports scored ({summary.missing_predictions} without a prediction)", ""]
    header = f"{'label':32s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'support':>8s}"
    lines += ["Positive detection", header]
    for label, score in summary.positive.items():
        lines.append(_line(label, score))
    lines.append(f"{'micro':32s} {'':>9s} {'':>7s} {summary.micro_f1:6.3f}")
    lines.append(f"{'macro':32s} {'':>9s} {'':>7s} {summary.macro_f1:6.3f}")
    if summary.by_status:
        lines += ["", "Per status (label x status, cells with gold support)", header]
        for label, statuses in summary.by_status.items():
            for status, score in statuses.items():
                lines.append(_line(f"{label} / {status}", score))
        lines.append(f"{'macro':32s} {'':>9s} {'':>7s} {summary.status_macro_f1 or 0.0:6.3f}")
    return "\n".join(lines)


def _line(name: str, score: Score) -> str:
    return f"{name:32s} {score.precision:9.3f} {score.recall:7.3f} {score.f1:6.3f} {score.support:8d}"
