"""Review priority: how likely a mined label is wrong, so the review queue shows doubtful labels first.

Following the idea of BoMD (noisy multi-label chest X-ray learning), each label gets a score in [0, 1]
from independent signs of doubt: a hedge, mentions that disagree (e.g. FINDINGS against IMPRESSION),
disagreement with the label the dataset already ships, and phrasing that is rare in the batch.
Signs combine as independent probabilities: score = 1 - prod(1 - weight).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from nlp.core.label_spaces import report_labels, space_status
from nlp.core.labeler import Evidence, ReportResult
from nlp.core.vocabulary import Vocabulary

# Weights are the chance that the sign alone means the label is wrong; chosen so that one strong
# sign (native disagreement, uncertainty) outranks any number of weak ones.
WEIGHTS = {
    "uncertain": 0.5,
    "native_disagreement": 0.6,
    "conflicting_sections": 0.4,
    "conflicting_mentions": 0.25,
    "hedged_positive": 0.3,
    "rare_phrasing": 0.2,
    "no_normal_statement": 0.15,
}
# A phrase seen at most this many times in a batch counts as rare; batches smaller than
# _MIN_BATCH carry no frequency information.
_RARE_COUNT = 1
_MIN_BATCH = 20


@dataclass(frozen=True)
class ReviewPriority:
    """The review score of one mined label of one report, with the reasons that raised it."""

    report_id: str
    label: str
    status: str | None
    score: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "report_id": self.report_id,
            "label": self.label,
            "status": self.status,
            "score": round(self.score, 4),
            "reasons": list(self.reasons),
        }


def term_counts(results: Mapping[str, ReportResult]) -> Counter:
    """How often each evidence phrase (lower case) occurs in a batch, for the rare-phrasing sign."""
    counts: Counter = Counter()
    for result in results.values():
        for finding in result.findings.values():
            for mention in finding.mentions:
                counts[mention.text.lower()] += 1
    return counts


def _label_mentions(result: ReportResult, label: str, space_name: str, vocabulary: Vocabulary) -> list[Evidence]:
    mentions = []
    for finding_id, finding in result.findings.items():
        spec = vocabulary.findings.get(finding_id)
        if spec is not None and label in spec.labels.get(space_name, ()):
            mentions.extend(finding.mentions)
    return mentions


def label_priority(
    report_id: str,
    result: ReportResult,
    label: str,
    space_name: str,
    vocabulary: Vocabulary,
    native_status: str | None = None,
    counts: Counter | None = None,
    batch_size: int = 0,
) -> ReviewPriority:
    """Review score of one label of one report.

    `native_status` is the dataset's own label for this report ("positive", "negative", "uncertain" or
    None when the dataset has no label); `counts` and `batch_size` come from `term_counts` over the batch.
    """
    space = vocabulary.label_space(space_name)
    status = report_labels(result, vocabulary, space_name)[label]
    mentions = _label_mentions(result, label, space.name, vocabulary)
    reasons: list[str] = []
    if status == "uncertain":
        reasons.append("uncertain")
    if status == "positive" and any(mention.status == "uncertain" for mention in mentions):
        reasons.append("hedged_positive")
    statuses_by_section: dict[str, set[str]] = {}
    for mention in mentions:
        mention_status = space_status(mention, space)
        if mention_status is not None:
            statuses_by_section.setdefault(mention.section, set()).add(mention_status)
    all_statuses = set().union(*statuses_by_section.values()) if statuses_by_section else set()
    if "positive" in all_statuses and "negative" in all_statuses:
        sections_disagree = (
            len(statuses_by_section) > 1 and len({frozenset(values) for values in statuses_by_section.values()}) > 1
        )
        reasons.append("conflicting_sections" if sections_disagree else "conflicting_mentions")
    if native_status is not None or status is not None:
        mined_present = status in ("positive", "uncertain")
        native_present = native_status in ("positive", "uncertain")
        if native_status is not None and mined_present != native_present:
            reasons.append("native_disagreement")
    if counts is not None and batch_size >= _MIN_BATCH and mentions:
        if min(counts.get(mention.text.lower(), 0) for mention in mentions) <= _RARE_COUNT:
            reasons.append("rare_phrasing")
    if label == space.no_finding and status == "positive" and not result.normal_statements:
        reasons.append("no_normal_statement")
    keep = 1.0
    for reason in reasons:
        keep *= 1.0 - WEIGHTS[reason]
    return ReviewPriority(report_id, label, status, 1.0 - keep, tuple(reasons))


def rank_for_review(
    results: Mapping[str, ReportResult],
    space_name: str,
    vocabulary: Vocabulary,
    native_labels: Mapping[str, Mapping[str, str | None]] | None = None,
    include_unmentioned: bool = False,
) -> list[ReviewPriority]:
    """Every mined label of every report, most doubtful first (ties: report id, label order).

    `native_labels` maps report id -> {label: status} in the same label space (use
    `label_spaces.harmonise` to bring a dataset's own labels there).  Labels that are not mentioned are
    included only when the dataset's own label says present or `include_unmentioned` is set.
    """
    space = vocabulary.label_space(space_name)
    counts = term_counts(results)
    order = {label: index for index, label in enumerate(space.labels)}
    ranked = []
    for report_id, result in results.items():
        native = (native_labels or {}).get(report_id, {})
        mined = report_labels(result, vocabulary, space.name)
        for label in space.labels:
            native_status = native.get(label) if native else None
            if mined[label] is None and native_status is None and not include_unmentioned:
                continue
            ranked.append(
                label_priority(report_id, result, label, space.name, vocabulary, native_status, counts, len(results))
            )
    ranked.sort(key=lambda item: (-item.score, item.report_id, order[item.label]))
    return ranked
