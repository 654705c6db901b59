"""The report labeler: sections, spaCy tokens, phrase matching and ConText scope -> findings with evidence.

`Labeler(vocabulary).label_many(reports)` labels reports in batches.  A report is a string or a mapping
of field name to text (e.g. {"findings": ..., "impression": ...}); evidence offsets point into the
original text of the field named in the evidence.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from spacy.matcher import PhraseMatcher

from nlp.core import context as ctx
from nlp.core.sections import Segment, labelled_segments
from nlp.core.vocabulary import Vocabulary, inflections, load_vocabulary

LABELER_VERSION = "1.1.0"
STATUS_RANK = {"negative": 1, "uncertain": 2, "positive": 3}
# Longer texts are refused rather than labelled: a chest X-ray report is a few kB, and spaCy refuses
# documents over a million characters anyway.
MAX_REPORT_CHARS = 100_000
_SENTENCE_END = (".", "?", "!", "..", "...")

Report = str | Mapping[str, Any] | None


@dataclass(slots=True)
class Evidence:
    """One mention: the words, where they are, and the rule that gave it its status."""

    finding: str
    status: str
    text: str
    field: str
    section: str
    start: int
    end: int
    rule: str
    trigger: str | None = None
    trigger_start: int | None = None
    trigger_end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding": self.finding,
            "status": self.status,
            "text": self.text,
            "field": self.field,
            "section": self.section,
            "start": self.start,
            "end": self.end,
            "rule": self.rule,
            "trigger": self.trigger,
            "trigger_start": self.trigger_start,
            "trigger_end": self.trigger_end,
        }


@dataclass(slots=True)
class FindingResult:
    """The report-level status of one finding: strongest mention wins (positive > uncertain > negative)."""

    finding: str
    status: str
    rule: str
    evidence: list[Evidence]
    mentions: list[Evidence]

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding": self.finding,
            "status": self.status,
            "rule": self.rule,
            "evidence": [item.to_dict() for item in self.evidence],
            "other_mentions": [item.to_dict() for item in self.mentions if item not in self.evidence],
        }


@dataclass(slots=True)
class ReportResult:
    """Everything the labeler found in one report; JSON-serialisable through `to_dict`."""

    findings: dict[str, FindingResult]
    normal_statements: list[Evidence]
    has_labelled_text: bool
    labeler_version: str
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def status(self, finding: str) -> str | None:
        result = self.findings.get(finding)
        return result.status if result else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "labeler_version": self.labeler_version,
            "error": self.error,
            "warnings": list(self.warnings),
            "has_labelled_text": self.has_labelled_text,
            "normal_statements": [item.to_dict() for item in self.normal_statements],
            "findings": {key: value.to_dict() for key, value in sorted(self.findings.items())},
        }


def make_nlp():
    """A blank English pipeline with scispacy's tokenizer (no model can be downloaded here)."""
    import spacy
    from scispacy.custom_tokenizer import combined_rule_tokenizer

    nlp = spacy.blank("en")
    with warnings.catch_warnings():
        # scispacy's infix regex triggers a harmless FutureWarning from the re module.
        warnings.simplefilter("ignore", FutureWarning)
        tokenizer = combined_rule_tokenizer(nlp)
        # Reports join alternatives with a slash ("atelectasis/scarring"); scispacy keeps them as one token.
        infix = tokenizer.infix_finditer.__self__.pattern
        tokenizer.infix_finditer = re.compile(f"(?:{infix})|/").finditer
        nlp.tokenizer = tokenizer
    return nlp


_CUE_GROUPS = (
    ("negation", "forward", ctx.NEG, ctx.FORWARD),
    ("negation", "backward", ctx.NEG, ctx.BACKWARD),
    ("uncertainty", "forward", ctx.UNC, ctx.FORWARD),
    ("uncertainty", "forward_assertion", ctx.UNC_ASSERT, ctx.FORWARD),
    ("uncertainty", "backward", ctx.UNC, ctx.BACKWARD),
    ("pseudo", "forward", ctx.PSEUDO, ctx.FORWARD),
    ("pseudo", "backward", ctx.PSEUDO, ctx.BACKWARD),
    ("terminators", "plain", ctx.TERM, 0),
    ("terminators", "relative", ctx.REL, 0),
    ("descriptors", "positive", ctx.DESC_POS, 0),
    ("descriptors", "uncertain", ctx.DESC_UNC, 0),
    ("descriptors", "negative", ctx.DESC_NEG, 0),
    ("descriptors", "stable", ctx.DESC_STABLE, 0),
)
_CUE_LISTS = (
    ("novelty", ctx.NEW, ctx.FORWARD),
    ("ignore", ctx.IGNORE, 0),
    ("alternatives", ctx.ALT, 0),
    ("artifacts", ctx.ARTIFACT, 0),
)


class Labeler:
    """Labels chest X-ray reports with findings, statuses and evidence.  Build once, reuse for batches."""

    def __init__(self, vocabulary: Vocabulary | None = None):
        self.vocabulary = vocabulary or load_vocabulary()
        self.version = LABELER_VERSION
        if vocabulary is not None and vocabulary.raw != load_vocabulary().raw:
            self.version = f"{LABELER_VERSION}+vocab.{vocabulary.fingerprint}"
        self.nlp = make_nlp()
        self.tokenizer = self.nlp.tokenizer
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self._payload: dict[int, tuple[str, Any]] = {}
        self._build_patterns()

    # ------------------------------------------------------------------ patterns
    def _add(self, layer: str, phrase: str, payload: Any) -> None:
        key = f"{layer}|{phrase}"
        match_id = self.nlp.vocab.strings.add(key)
        if match_id in self._payload:
            existing = self._payload[match_id][1]
            if layer == "C":
                # The same phrase under two findings ("hydropneumothorax"): keep both.
                known = {finding_id for finding_id, _ in existing}
                merged = existing + [item for item in payload if item[0] not in known]
                self._payload[match_id] = (layer, merged)
            return
        self._payload[match_id] = (layer, payload)
        self.matcher.add(key, [self.tokenizer(phrase)])

    def _build_patterns(self) -> None:
        vocab = self.vocabulary
        for finding in vocab.findings.values():
            for term in finding.terms:
                variants = [term.text] if term.exact else inflections(term.text)
                for variant in variants:
                    self._add("C", variant, [(finding.id, term)])
        for phrase in vocab.ignore:
            for variant in inflections(phrase):
                self._add("C", variant, [])
        cues = vocab.cues
        for group, direction_key, kind, direction in _CUE_GROUPS:
            for phrase in cues.get(group, {}).get(direction_key, []) or []:
                self._add_cue(str(phrase), kind, direction)
        for group, kind, direction in _CUE_LISTS:
            for phrase in cues.get(group, []) or []:
                self._add_cue(str(phrase), kind, direction)
        for mark in _SENTENCE_END:
            self._add_cue(mark, ctx.SENT, 0)
        for phrase in vocab.normal_statements:
            self._add("S", phrase, phrase)

    def _add_cue(self, phrase: str, kind: int, direction: int) -> None:
        phrase = " ".join(phrase.lower().split())
        key = f"Q|{phrase}"
        match_id = self.nlp.vocab.strings.add(key)
        if match_id in self._payload:
            # A phrase listed in several groups ("unlikely" forward and backward): widen its direction.
            layer, (old_kind, old_direction, _) = self._payload[match_id]
            if old_kind in (ctx.UNC, ctx.UNC_ASSERT) and kind in (ctx.UNC, ctx.UNC_ASSERT):
                merged_kind = ctx.UNC_ASSERT if ctx.UNC_ASSERT in (old_kind, kind) else ctx.UNC
                self._payload[match_id] = (layer, (merged_kind, old_direction | direction, phrase))
            elif {old_kind, kind} == {ctx.DESC_NEG, ctx.NEG}:
                # An organ descriptor that is also a post-negation for other findings ("... are normal").
                self._payload[match_id] = (layer, (ctx.DESC_NEG, ctx.BACKWARD, phrase))
            elif old_kind == kind:
                self._payload[match_id] = (layer, (kind, old_direction | direction, phrase))
            return
        self._payload[match_id] = ("Q", (kind, direction, phrase))
        self.matcher.add(key, [self.tokenizer(phrase)])

    # ------------------------------------------------------------------ labelling
    def label(self, report: Report) -> ReportResult:
        """Label one report (a string, or a mapping of field name to text)."""
        return next(iter(self.label_many([report])))

    def label_many(self, reports: Iterable[Report], batch_size: int = 512) -> Iterator[ReportResult]:
        """Label reports lazily, in order; a bad report yields a result with `error` set, never raises."""
        batch: list[Report] = []
        for report in reports:
            batch.append(report)
            if len(batch) >= batch_size:
                yield from self._label_batch(batch)
                batch = []
        if batch:
            yield from self._label_batch(batch)

    def _label_batch(self, reports: list[Report]) -> list[ReportResult]:
        prepared: list[tuple[dict[str, str], list[Segment], str | None, list[str]]] = []
        for report in reports:
            prepared.append(self._prepare(report))
        texts = []
        for fields, segments, _error, _warnings in prepared:
            texts.extend(fields[segment.field][segment.start : segment.end] for segment in segments)
        docs = iter(self.tokenizer.pipe(texts, batch_size=1024))
        results = []
        for fields, segments, error, warns in prepared:
            mentions: list[Evidence] = []
            statements: list[Evidence] = []
            for segment in segments:
                self._label_segment(next(docs), segment, fields[segment.field], mentions, statements)
            results.append(self._aggregate(mentions, statements, bool(segments), error, warns))
        return results

    def _prepare(self, report: Report) -> tuple[dict[str, str], list[Segment], str | None, list[str]]:
        if report is None:
            fields: dict[str, str] = {}
        elif isinstance(report, str):
            fields = {"text": report}
        elif isinstance(report, Mapping):
            fields = {str(key): "" if value is None else str(value) for key, value in report.items()}
        else:
            return {}, [], f"a report must be text or a mapping of fields, got {type(report).__name__}", []
        size = sum(len(value) for value in fields.values())
        if size > MAX_REPORT_CHARS:
            return {}, [], f"report is {size} characters, longer than the {MAX_REPORT_CHARS} allowed", []
        warns = []
        if any("\ufffd" in value for value in fields.values()):
            warns.append("text contains bytes that are not valid UTF-8 (replaced)")
        segments: list[Segment] = []
        for name, text in fields.items():
            if text.strip():
                segments.extend(labelled_segments(text, name))
        return fields, segments, None, warns

    def _label_segment(self, doc, segment: Segment, text: str, mentions: list, statements: list) -> None:
        payload = self._payload
        concepts: list[ctx.Concept] = []
        cues: list[ctx.Cue] = []
        spans: list[tuple[int, int, int]] = []
        statement_spans: list[tuple[int, int]] = []
        for match_id, start, end in self.matcher(doc):
            layer = payload[match_id][0]
            if layer == "S":
                statement_spans.append((start, end))
            else:
                spans.append((start, end, match_id))
        # Longest match wins; findings (and ignore phrases) first, then cues outside them.
        spans.sort(key=lambda item: (item[0] - item[1], item[0]))
        taken = bytearray(len(doc))
        for start, end, match_id in spans:
            layer, data = payload[match_id]
            if layer != "C" or any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            if not data:
                continue
            term = data[0][1]
            concepts.append(
                ctx.Concept(
                    start,
                    end,
                    tuple(finding_id for finding_id, _ in data),
                    term.neutral,
                    term.stable,
                    term.max_status,
                    term.status,
                    term.defer_to_cause,
                    "",
                )
            )
        for start, end, match_id in spans:
            layer, data = payload[match_id]
            if layer != "Q":
                continue
            kind, direction, phrase = data
            if kind == ctx.ARTIFACT:
                # "may be due to low lung volumes": the artefact may also be a finding of its own.
                if 2 in taken[start:end]:
                    continue
            elif any(taken[start:end]):
                continue
            else:
                taken[start:end] = b"\x02" * (end - start)
            if kind != ctx.IGNORE:
                cues.append(ctx.Cue(start, end, kind, direction, phrase))
        base = segment.start
        for start, end in _longest(statement_spans):
            span = doc[start:end]
            statements.append(
                Evidence(
                    "normal_statement",
                    "positive",
                    span.text,
                    segment.field,
                    segment.section,
                    base + span.start_char,
                    base + span.end_char,
                    "normality statement",
                )
            )
        if not concepts:
            return
        concepts.sort(key=lambda item: item.start)
        cues.sort(key=lambda item: item.start)
        sentence_start = 0
        boundaries = [cue.end for cue in cues if cue.kind == ctx.SENT] + [len(doc)]
        concept_index = cue_index = 0
        for boundary in boundaries:
            sentence_concepts = []
            while concept_index < len(concepts) and concepts[concept_index].start < boundary:
                sentence_concepts.append(concepts[concept_index])
                concept_index += 1
            sentence_cues = []
            while cue_index < len(cues) and cues[cue_index].start < boundary:
                if cues[cue_index].kind != ctx.SENT:
                    sentence_cues.append(cues[cue_index])
                cue_index += 1
            if sentence_concepts:
                for assertion in ctx.assert_sentence(sentence_concepts, sentence_cues, sentence_start, boundary):
                    self._record(doc, segment, base, assertion, mentions)
            sentence_start = boundary

    def _record(self, doc, segment: Segment, base: int, assertion: ctx.Assertion, mentions: list) -> None:
        concept = assertion.concept
        span = doc[concept.start : concept.end]
        cue = assertion.cue
        trigger_start = trigger_end = None
        if cue is not None:
            cue_span = doc[cue.start : cue.end]
            trigger_start, trigger_end = base + cue_span.start_char, base + cue_span.end_char
        for finding_id in concept.findings:
            mentions.append(
                Evidence(
                    finding_id,
                    assertion.status,
                    span.text,
                    segment.field,
                    segment.section,
                    base + span.start_char,
                    base + span.end_char,
                    assertion.rule,
                    cue.text if cue is not None else None,
                    trigger_start,
                    trigger_end,
                )
            )

    def _aggregate(self, mentions, statements, has_text, error, warns) -> ReportResult:
        by_finding: dict[str, list[Evidence]] = {}
        for mention in mentions:
            by_finding.setdefault(mention.finding, []).append(mention)
        findings = {}
        for finding_id, items in by_finding.items():
            best = max(STATUS_RANK[item.status] for item in items)
            decisive = [item for item in items if STATUS_RANK[item.status] == best]
            findings[finding_id] = FindingResult(finding_id, decisive[0].status, decisive[0].rule, decisive, items)
        return ReportResult(findings, statements, has_text, self.version, error, warns)


def _longest(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    chosen: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda item: (item[0] - item[1], item[0])):
        if all(end <= other_start or start >= other_end for other_start, other_end in chosen):
            chosen.append((start, end))
    return sorted(chosen)
