"""Report-level labels in a label space (CheXpert 14, ChestX-ray14 + No Finding) and native label maps.

Findings are aggregated per label as CheXpert does (positive > uncertain > negative).  No Finding is
positive only when no finding that blocks it (anything but support devices, including abnormalities
outside the label space) is positive or uncertain, and, where the space requires it, a normality
statement is present.  It is never negative or uncertain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nlp.core.labeler import STATUS_RANK, Evidence, ReportResult
from nlp.core.vocabulary import LabelSpace, Vocabulary, VocabularyError

CSV_VALUES = {"positive": "1", "negative": "0", "uncertain": "-1", None: ""}
STATUS_FROM_CSV = {
    "1": "positive",
    "1.0": "positive",
    "0": "negative",
    "0.0": "negative",
    "-1": "uncertain",
    "-1.0": "uncertain",
    "": None,
}


def report_labels(result: ReportResult, vocabulary: Vocabulary, space_name: str) -> dict[str, str | None]:
    """Label -> status (None = not mentioned) for one report, in the column order of the label space."""
    space = vocabulary.label_space(space_name)
    labels: dict[str, str | None] = dict.fromkeys(space.labels)
    if result.error is not None:
        return labels
    blocked = False
    for finding_id, finding_result in result.findings.items():
        finding = vocabulary.findings.get(finding_id)
        if finding is None:
            continue
        status = finding_result.status
        if not space.stability_uncertain or space.strong_hedges:
            kept = [space_status(item, space) for item in finding_result.mentions]
            kept = [item for item in kept if item is not None]
            if not kept:
                continue
            status = max(kept, key=STATUS_RANK.__getitem__)
        if finding.blocks(space.name) and status in ("positive", "uncertain"):
            blocked = True
        for label in finding.labels.get(space.name, ()):
            current = labels[label]
            if current is None or STATUS_RANK[status] > STATUS_RANK[current]:
                labels[label] = status
    if result.has_labelled_text and not blocked:
        if result.normal_statements or not space.requires_normal_statement:
            labels[space.no_finding] = "positive"
    return labels


def space_status(mention: Evidence, space: LabelSpace) -> str | None:
    """A mention's status under the label space's conventions (None = not a mention there)."""
    if not space.stability_uncertain and mention.rule.startswith("stability"):
        return None
    if mention.status == "uncertain" and space.strong_hedges:
        kind = mention.rule.split(":", 1)[0]
        trigger = (mention.trigger or "").lower()
        if kind in space.strong_hedges or (kind != "negation" and trigger in space.strong_hedges):
            return "positive"
    return mention.status


def csv_row(labels: Mapping[str, str | None]) -> list[str]:
    """The labels.csv values for one report: 1, 0, -1 or blank."""
    return [CSV_VALUES[status] for status in labels.values()]


def harmonise(
    native_labels: Iterable[str] | Mapping[str, object],
    dataset: str,
    space_name: str,
    vocabulary: Vocabulary,
) -> dict[str, str | None]:
    """Map a dataset's native labels (e.g. NIH "Effusion", PadChest "pleural effusion") into a label space.

    `native_labels` is either the list of labels present, or a mapping native label -> value where a
    value of 1/"1"/True means positive, -1 uncertain, 0 negative and blank not mentioned.  Unknown
    native labels raise VocabularyError so that a typo is not silently dropped.
    """
    space = vocabulary.label_space(space_name)
    table = vocabulary.native_maps.get(dataset.lower())
    if table is None:
        known = ", ".join(sorted(vocabulary.native_maps))
        raise VocabularyError([f"unknown dataset {dataset!r} (known: {known})"])
    if isinstance(native_labels, Mapping):
        items = [(name, _status_of(value)) for name, value in native_labels.items()]
    else:
        items = [(name, "positive") for name in native_labels]
    labels: dict[str, str | None] = dict.fromkeys(space.labels)
    unknown = []
    for name, status in items:
        mapping = table.get(str(name).strip().lower())
        if mapping is None:
            unknown.append(str(name))
            continue
        target = mapping.get(space.name)
        if target is None or status is None:
            continue
        current = labels[target]
        if current is None or STATUS_RANK[status] > STATUS_RANK[current]:
            labels[target] = status
    if unknown:
        raise VocabularyError([f"unknown {dataset} labels: {', '.join(sorted(unknown))}"])
    return labels


def _status_of(value: object) -> str | None:
    if value is True:
        return "positive"
    if value is None or value is False:
        return None
    return STATUS_FROM_CSV.get(str(value).strip(), "positive")
