"""Per-report structure: findings with term, presence, certainty, location, severity and stated change.

Sections, sentences (its tokenizer and sentence ends), term matching and ConText negation/uncertainty come
from the label miner (`nlp.core`): the `Labeler` runs on the structure vocabulary and gives every mention
with its status and offsets.  This module adds what the label miner does not have: which change cue of the
sentence belongs to which mention, locations and severities, and the merging of mentions into one row per
(term, location) following the longitudinal conventions (§5).  The change stated here is what the text says;
`nlp.structure.timeline` turns it into the final value using the patient's previous report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nlp.core.labeler import Labeler
from nlp.core.sections import labelled_segments
from nlp.structure.vocabulary import (
    DEVICE_TERMS,
    UNLOCATED_TERMS,
    Lexicon,
    load_lexicon,
    phrase_pattern,
)

PRESENCE_RANK = {("present", "definite"): 4, ("present", "tentative"): 3, ("absent", "tentative"): 2}
DIRECTIONS = ("new", "worsened", "improved", "resolved", "recurrent")
# Where the labeler's tokenizer makes a sentence-end token ("." "?" "!" not inside "1.5" or "vs."); a regex
# here because tokenizing every segment a second time would halve the throughput.
_SENTENCE_END = re.compile(r"(?<!\bvs)(?<!\be\.g)(?<!\bi\.e)[.?!]+(?=\s|$)", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9][a-z0-9.'/\-]*|[,;:()]")
_SIDE = re.compile(r"(?<![\w-])(left|right)(?![\w])", re.IGNORECASE)
_BILATERAL = re.compile(r"(?<![\w-])(bilateral|bilaterally|both)(?![\w-])", re.IGNORECASE)
_RIB = re.compile(r"(?<![\w-])ribs?(?![\w-])", re.IGNORECASE)
_CLAVICLE = re.compile(r"(?<![\w-])clavic(le|les|ular)(?![\w-])", re.IGNORECASE)
_SPINE = re.compile(r"(?<![\w-])(spine|spinal|vertebral|vertebra|vertebrae|t\d{1,2})(?![\w-])", re.IGNORECASE)
_POST_PREPOSITION = re.compile(r"(?<![\w-])(in|at|of|within|involving|throughout|around|along)(?![\w-])", re.I)
_POST_STOP = re.compile(
    r",|;|(?<![\w-])(which|with|but|and|after|following|since|than|compared|from)(?![\w-])", re.IGNORECASE
)
# Change categories whose words take a magnitude ("slightly increased"); "small residual" keeps its grade.
_MAGNIFIED = frozenset({"worsened", "improved", "resolved"})
_GRADED_CHANGE_WORDS = frozenset({"residual"})
_ELLIPSIS = re.compile(
    r"(?:,|;|(?<![\w-])and|(?<![\w-])while|(?<![\w-])whereas)\s+(?:the\s+)?(left|right)(?:\s+(?:one|side))?\s+"
    r"(?:is|has|have|remains|appears)(?![\w-])",
    re.IGNORECASE,
)
_BONE = re.compile(
    r"(?<![\w-])(ribs?|clavic\w*|spine|vertebr\w*|humer\w*|scapula\w*|sternum|sternal body)(?![\w-])", re.I
)
_NOW = re.compile(r"(?<![\w-])now\s+(?:\w+\s+)?", re.IGNORECASE)
# "small left and moderate right effusions": each side carries its own grade, so one row per side (§5.3).
_SIDED_PAIR = re.compile(r"(?<![\w-])(\w+)\s+(left|right)\s+and\s+(\w+)\s+(left|right)(?![\w-])", re.IGNORECASE)
# Words that end the noun phrase before a mention: a cue further left does not modify the mention.
_PRE_BREAK = frozenset(
    "; : is are was were has have had been be with which that but after without from likely compatible "
    "consistent may might could represent represents reflect suggest suggesting suggestive concerning "
    "suspicious versus vs or".split()
)
_POST_BREAK = frozenset("; which but however although whereas while without".split())
_COORDINATION = frozenset({"and", ",", "or"})
_COORDINATION_BREAK = frozenset(
    "is are was were has have had been with which that but after without from likely of in at to".split()
)
_PREPOSITIONS = frozenset(
    "around of in at within near surrounding adjacent after from following over along behind beneath".split()
)
_VERBS = frozenset("is are was were has have had been".split())
_INTERPRETATION = frozenset(
    "likely represent represents representing reflect reflects reflecting consistent compatible suspicious "
    "concerning suggestive suggesting suggests worrisome possibly probably probable possible or versus vs "
    "due keeping".split()
)
# A comparison statement that names no finding ("No significant interval change.") applies to every present
# row that has no cue of its own (conventions §9, C2).  Sentences about normal lungs or devices are not one.
_GLOBAL_CUES = frozenset(
    {
        "unchanged",
        "stable",
        "no change",
        "no significant change",
        "no interval change",
        "no significant interval change",
        "not significantly changed",
        "without change",
        "without significant change",
        "without interval change",
        "similar",
    }
)
_NOT_GLOBAL = re.compile(
    r"(?<![\w-])(clear|normal|lungs?|heart|volumes?|aeration|position|positions|lines?|tubes?|devices?|"
    r"hardware|osseous|bones?|inspiration)(?![\w-])",
    re.IGNORECASE,
)


@dataclass(slots=True)
class ChangeCue:
    """A change phrase in a sentence; `category` is one of DIRECTIONS, "stable" or "device_stable"."""

    start: int
    end: int
    category: str
    text: str


@dataclass(slots=True)
class Sentence:
    start: int
    end: int
    section: str
    mentions: list[Mention] = field(default_factory=list)


@dataclass(slots=True)
class Mention:
    """One concept the labeler matched (a term of the 18, or another finding that only absorbs cues)."""

    start: int
    end: int
    text: str
    terms: tuple[str, ...]
    status: str
    trigger: str | None
    rule: str
    sentence: Sentence
    cues: list[ChangeCue] = field(default_factory=list)
    inherited_from: Mention | None = None


@dataclass(slots=True)
class Finding:
    """One row of a report: the schema of the longitudinal set plus evidence offsets and provenance."""

    term: str
    presence: str
    certainty: str
    location: str | None
    severity: str | None
    change: str | None
    evidence: str
    evidence_start: int
    evidence_end: int
    stated_change: str | None = None
    cue: str | None = None
    change_source: str | None = None
    linked_to: str | None = None

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        """The row as the longitudinal schema has it; `details` adds offsets, cue and provenance."""
        row: dict[str, Any] = {
            "term": self.term,
            "presence": self.presence,
            "certainty": self.certainty,
            "location": self.location,
            "severity": self.severity,
            "change": self.change,
            "evidence": self.evidence,
        }
        if details:
            row.update(
                {
                    "evidence_start": self.evidence_start,
                    "evidence_end": self.evidence_end,
                    "stated_change": self.stated_change,
                    "cue": self.cue,
                    "change_source": self.change_source,
                    "linked_to": self.linked_to,
                }
            )
        return row


@dataclass(slots=True)
class ReportStructure:
    """The rows of one report, whether it holds a global comparison statement, and problems met."""

    findings: list[Finding]
    global_change: str | None = None
    global_cue: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Candidate:
    term: str
    presence: str
    certainty: str
    location: str | None
    severity: str | None
    stated_change: str | None
    cue: str | None
    evidence: tuple[int, int]
    order: int


class StructureExtractor:
    """Extracts longitudinal rows from report texts.  Build once (about half a second), reuse for batches."""

    def __init__(self, lexicon: Lexicon | None = None):
        self.lexicon = lexicon or load_lexicon()
        self.labeler = Labeler(self.lexicon.vocabulary)
        cues = dict(self.lexicon.change_cues)
        for phrase in self.lexicon.device_stable_cues:
            cues.setdefault(phrase, "device_stable")
        self._cue_table = cues
        self._cue_pattern = phrase_pattern(cues)
        self._location_pattern = phrase_pattern(self.lexicon.locations)
        self._severity_pattern = phrase_pattern(self.lexicon.severities)
        self._plan_pattern = phrase_pattern(self.lexicon.plan_words)
        self._change_word = phrase_pattern([phrase for phrase, value in cues.items() if value])

    # ------------------------------------------------------------------ public
    def extract(self, text: str) -> ReportStructure:
        """The rows of one report text, in the order of their first mention (stated change only)."""
        return next(iter(self.extract_many([text])))

    def extract_many(self, texts: Iterable[str | None]) -> Iterable[ReportStructure]:
        """Rows for many texts, lazily and in order; a bad text gives a result with `error`, never raises."""
        texts = list(texts)
        safe = [text if isinstance(text, str) else "" for text in texts]
        for text, original, result in zip(safe, texts, self.labeler.label_many(safe), strict=True):
            if not isinstance(original, str):
                yield ReportStructure([], error="report text is missing or not a string")
            elif result.error:
                yield ReportStructure([], error=result.error)
            else:
                yield self._structure(text, result)

    # ------------------------------------------------------------------ sentences and mentions
    def _sentences(self, text: str) -> list[Sentence]:
        """Sentences of the labelled sections: the labeler's segments cut where its tokenizer ends a sentence."""
        sentences: list[Sentence] = []
        for segment in labelled_segments(text):
            start = segment.start
            for match in _SENTENCE_END.finditer(text, segment.start, segment.end):
                sentences.append(Sentence(start, match.end(), segment.section))
                start = match.end()
            if text[start : segment.end].strip():
                sentences.append(Sentence(start, segment.end, segment.section))
        return [_strip(text, sentence) for sentence in sentences if text[sentence.start : sentence.end].strip()]

    def _mentions(self, result, sentences: list[Sentence]) -> list[Mention]:
        by_span: dict[tuple[int, int], Mention] = {}
        for finding in result.findings.values():
            terms = self.lexicon.finding_terms.get(finding.finding, ())
            for item in finding.mentions:
                sentence = _sentence_of(sentences, item.start)
                if sentence is None:
                    continue
                key = (item.start, item.end)
                mention = by_span.get(key)
                if mention is None:
                    by_span[key] = Mention(
                        item.start, item.end, item.text, terms, item.status, item.trigger, item.rule, sentence
                    )
                else:
                    mention.terms = mention.terms + tuple(term for term in terms if term not in mention.terms)
        return sorted(by_span.values(), key=lambda item: item.start)

    # ------------------------------------------------------------------ the report
    def _structure(self, text: str, result) -> ReportStructure:
        sentences = self._sentences(text)
        mentions = self._mentions(result, sentences)
        report = ReportStructure([])
        for sentence in sentences:
            in_sentence = [mention for mention in mentions if mention.sentence is sentence]
            sentence.mentions = in_sentence
            cues = self._change_cues(text, sentence, in_sentence)
            if not in_sentence:
                self._global_statement(text, sentence, cues, report)
                continue
            self._attach(text, in_sentence, cues)
            self._inherit(text, in_sentence)
        candidates: list[_Candidate] = []
        for order, mention in enumerate(mentions):
            if not mention.terms or self._is_plan(text, mention) or _is_wire_fracture(text, mention):
                continue
            candidates.extend(self._candidates(text, mention, order))
            candidates.extend(self._elliptical_sides(text, mention, order, candidates[-1] if candidates else None))
        report.findings = _merge(candidates, text)
        return report

    def _change_cues(self, text: str, sentence: Sentence, mentions: list[Mention]) -> list[ChangeCue]:
        cues = []
        for match in self._cue_pattern.finditer(text, sentence.start, sentence.end):
            category = self._cue_table[" ".join(match.group(0).lower().split())]
            if category is None:
                continue
            if any(mention.start < match.end() and match.start() < mention.end for mention in mentions):
                continue
            cues.append(ChangeCue(match.start(), match.end(), category, match.group(0)))
        return cues

    def _global_statement(self, text: str, sentence: Sentence, cues: list[ChangeCue], report) -> None:
        body = text[sentence.start : sentence.end]
        if _NOT_GLOBAL.search(body):
            return
        for cue in cues:
            if cue.category == "stable" and " ".join(cue.text.lower().split()) in _GLOBAL_CUES:
                report.global_change, report.global_cue = "stable", cue.text
                return

    # ------------------------------------------------------------------ which cue belongs to which mention
    def _attach(self, text: str, mentions: list[Mention], cues: list[ChangeCue]) -> None:
        direct: dict[int, list[tuple[ChangeCue, str]]] = {}
        for cue in cues:
            prev = max((i for i, m in enumerate(mentions) if m.end <= cue.start), default=None)
            nxt = min((i for i, m in enumerate(mentions) if m.start >= cue.end), default=None)
            pre_gap = _words(text[cue.end : mentions[nxt].start]) if nxt is not None else None
            post_gap = _words(text[mentions[prev].end : cue.start]) if prev is not None else None
            pre_ok = pre_gap is not None and _pre_gap_ok(pre_gap)
            post_ok = post_gap is not None and _post_gap_ok(post_gap)
            if cue.text.lower().endswith((" of", " in")):
                # "removal of X", "no change in X" introduce their object.
                post_ok = False
            if pre_ok and post_ok:
                use_pre = len(pre_gap) < len(post_gap) or (len(pre_gap) == len(post_gap) and bool(post_gap))
            else:
                use_pre = pre_ok
            if use_pre:
                target = nxt
                # "progressing aspiration pneumonia": a modifier belongs to the head of a compound.
                while (
                    target + 1 < len(mentions) and not text[mentions[target].end : mentions[target + 1].start].strip()
                ):
                    target += 1
                direct.setdefault(target, []).append((cue, "pre"))
            elif post_ok:
                target = prev
                if post_gap:
                    # "opacity around the nodule has decreased": the predicate belongs to the subject's head.
                    while target > 0 and _is_subordinate(
                        _words(text[mentions[target - 1].end : mentions[target].start])
                    ):
                        target -= 1
                direct.setdefault(target, []).append((cue, "post"))
        for index, attached in direct.items():
            mentions[index].cues.extend(cue for cue, _ in attached)
        for index, attached in sorted(direct.items()):
            for cue, side in attached:
                step = 1 if side == "pre" else -1
                current = index
                while 0 <= current + step < len(mentions):
                    left, right = sorted((current, current + step))
                    if not _coordinated(_words(text[mentions[left].end : mentions[right].start])):
                        break
                    current += step
                    if current in direct:
                        break
                    mentions[current].cues.append(cue)
        for mention in mentions:
            if mention.terms and not (set(mention.terms) <= DEVICE_TERMS):
                mention.cues = [cue for cue in mention.cues if cue.category != "device_stable"]

    def _inherit(self, text: str, mentions: list[Mention]) -> None:
        """§5.5: "X, likely Y": Y takes X's location and change cue unless it has its own."""
        for index in range(1, len(mentions)):
            previous, mention = mentions[index - 1], mentions[index]
            gap = _words(text[previous.end : mention.start])
            if not gap:
                mention.inherited_from = previous
            elif len(gap) <= 12 and ";" not in gap and any(word in _INTERPRETATION for word in gap):
                mention.inherited_from = previous

    # ------------------------------------------------------------------ rows
    def _is_plan(self, text: str, mention: Mention) -> bool:
        start, end = _clause(text, mention.sentence, mention.start)
        return bool(self._plan_pattern.search(text, start, end))

    def _candidates(self, text: str, mention: Mention, order: int) -> list[_Candidate]:
        presence, certainty = self._presence(mention)
        evidence = _clause(text, mention.sentence, mention.start)
        stated, cue = _stated_change(mention)
        source = mention.inherited_from
        while stated is None and source is not None:
            if self._presence(source)[0] == presence:
                stated, cue = _stated_change(source)
            source = source.inherited_from
        rows = []
        for term in mention.terms:
            # Fracture words ("mildly displaced") describe displacement, not a grade of the finding.
            graded = term not in DEVICE_TERMS and term != "Fracture" and presence == "present"
            per_side = self._sided_grades(text, mention) if graded and term not in UNLOCATED_TERMS else []
            if per_side:
                for location, severity in per_side:
                    rows.append(_Candidate(term, presence, certainty, location, severity, stated, cue, evidence, order))
                continue
            severity = self._severity(text, mention) if graded else None
            for location in self._locations(text, mention, term):
                rows.append(_Candidate(term, presence, certainty, location, severity, stated, cue, evidence, order))
        return rows

    def _elliptical_sides(self, text: str, mention: Mention, order: int, main: _Candidate | None) -> list[_Candidate]:
        """§5.3: "the right effusion has increased, the left is unchanged": the other side gets its own row."""
        if main is None or main.location not in ("left", "right") or main.term in DEVICE_TERMS:
            return []
        end = min((other.start for other in _mentions_after(mention)), default=mention.sentence.end)
        match = _ELLIPSIS.search(text, mention.end, end)
        if not match or match.group(1).lower() == main.location:
            return []
        cue = next(
            (m for m in self._cue_pattern.finditer(text, match.end(), end) if self._cue_table[_key(m.group(0))]),
            None,
        )
        if cue is None:
            return []
        category = self._cue_table[_key(cue.group(0))]
        presence = "absent" if category == "resolved" else "present"
        stated = "stable" if category == "device_stable" else category
        # The whole sentence, so that the evidence holds a word of the term (§2).
        evidence = _trim(text, mention.sentence.start, mention.sentence.end)
        return [
            _Candidate(
                main.term, presence, "definite", match.group(1).lower(), None, stated, cue.group(0), evidence, order
            )
        ]

    def _sided_grades(self, text: str, mention: Mention) -> list[tuple[str, str]]:
        before, _ = self._windows(text, mention)
        match = _SIDED_PAIR.search(before)
        if not match or match.group(2).lower() == match.group(4).lower():
            return []
        first = self.lexicon.severities.get(match.group(1).lower())
        second = self.lexicon.severities.get(match.group(3).lower())
        if first is None or second is None or first == second:
            return []
        return [(match.group(2).lower(), first), (match.group(4).lower(), second)]

    def _presence(self, mention: Mention) -> tuple[str, str]:
        if mention.status == "positive":
            return "present", "definite"
        if mention.status == "negative":
            return "absent", "definite"
        trigger = " ".join((mention.trigger or "").lower().split())
        if mention.rule.startswith("novelty"):
            return "absent", "definite"
        if trigger in self.lexicon.absent_hedges:
            return "absent", "tentative"
        return "present", "tentative"

    def _windows(self, text: str, mention: Mention) -> tuple[str, str]:
        """The words before the mention in its noun phrase, and the phrase after it up to a boundary."""
        sentence = mention.sentence
        start = sentence.start
        head_start = mention.start
        for other in reversed(_mentions_before(mention)):
            if text[other.end : head_start].strip():
                start = max(start, other.end)
                break
            # "right lower lobe aspiration pneumonia": a compound's modifiers belong to its head.
            head_start = other.start
        before = text[start : mention.start]
        cut = max(before.rfind(","), before.rfind(";"))
        if cut >= 0:
            before = before[cut + 1 :]
        after_end = sentence.end
        for other in _mentions_after(mention):
            after_end = min(after_end, other.start)
            break
        after = text[mention.end : after_end]
        stop = _POST_STOP.search(after)
        if stop:
            after = after[: stop.start()]
        return before, after

    def _locations(self, text: str, mention: Mention, term: str) -> list[str | None]:
        if term in UNLOCATED_TERMS:
            return [None]
        before, after = self._windows(text, mention)
        if term in DEVICE_TERMS:
            side = _SIDE.search(before)
            return [side.group(1).lower() if side else None]
        if term == "Fracture":
            return _bones(before + " " + mention.text + " " + _after_preposition(after))
        found = self._location_in(before)
        if found is None:
            found = self._location_in(_after_preposition(after))
        if found is None and mention.inherited_from is not None:
            source = mention.inherited_from
            while source is not None and found is None:
                source_before, source_after = self._windows(text, source)
                found = self._location_in(source_before) or self._location_in(_after_preposition(source_after))
                source = source.inherited_from
        return [found]

    def _location_in(self, window: str) -> str | None:
        values = [
            self.lexicon.locations[" ".join(m.group(0).lower().split())]
            for m in self._location_pattern.finditer(window)
        ]
        if not values:
            return None
        specific = [value for value in values if value not in ("left", "right", "bilateral")]
        if specific:
            return specific[0]
        if "bilateral" in values or ("left" in values and "right" in values):
            return "bilateral"
        return values[0]

    def _severity(self, text: str, mention: Mention) -> str | None:
        before, after = self._windows(text, mention)
        # "has decreased, now small": the grade now, even after a comma (conventions §8).
        clause_end = min((other.start for other in _mentions_after(mention)), default=mention.sentence.end)
        now = _NOW.search(text, mention.end, clause_end)
        later = text[now.start() : clause_end] if now else ""
        grades = []
        for window in (before, mention.text, after, later):
            for match in self._severity_pattern.finditer(window):
                following = window[match.end() :].lstrip()
                # "slightly increased", "mildly improved": a magnitude of the change, not a grade.
                change = self._change_word.match(following)
                category = self._cue_table.get(" ".join(change.group(0).lower().split())) if change else None
                word = " ".join(change.group(0).lower().split()) if change else ""
                magnified = category in _MAGNIFIED and word not in _GRADED_CHANGE_WORDS
                if category and (match.group(0).lower().endswith("ly") or magnified):
                    continue
                grades.append(self.lexicon.severities[match.group(0).lower()])
        if not grades:
            return None
        return max(grades, key=self.lexicon.severity_order.index)


# ---------------------------------------------------------------------- helpers
def _strip(text: str, sentence: Sentence) -> Sentence:
    body = text[sentence.start : sentence.end]
    lead = len(body) - len(body.lstrip())
    trail = len(body) - len(body.rstrip())
    return Sentence(sentence.start + lead, sentence.end - trail, sentence.section)


def _sentence_of(sentences: list[Sentence], offset: int) -> Sentence | None:
    for sentence in sentences:
        if sentence.start <= offset < sentence.end:
            return sentence
    return None


def _mentions_before(mention: Mention) -> list[Mention]:
    return [other for other in mention.sentence.mentions if other.end <= mention.start]


def _mentions_after(mention: Mention) -> list[Mention]:
    return [other for other in mention.sentence.mentions if other.start >= mention.end]


def _words(gap: str) -> list[str]:
    return _WORD.findall(gap.lower())


def _pre_gap_ok(words: list[str]) -> bool:
    return len(words) <= 6 and not any(word in _PRE_BREAK or word == "," for word in words)


def _post_gap_ok(words: list[str]) -> bool:
    if len(words) > 8 or any(word in _POST_BREAK for word in words):
        return False
    if "," in words:
        last = len(words) - 1 - words[::-1].index(",")
        return len(words) - last - 1 <= 1
    return True


def _coordinated(words: list[str]) -> bool:
    return (
        bool(words)
        and len(words) <= 5
        and words[0] in _COORDINATION
        and not any(word in _COORDINATION_BREAK for word in words)
    )


def _is_subordinate(words: list[str]) -> bool:
    return bool(words) and words[0] in _PREPOSITIONS and not any(word in _VERBS or word == "," for word in words)


def _after_preposition(window: str) -> str:
    match = _POST_PREPOSITION.search(window)
    return window[match.end() :] if match else ""


def _bones(window: str) -> list[str | None]:
    side = _SIDE.search(window)
    bones: list[str | None] = []
    positions = []
    for pattern, bone in ((_CLAVICLE, "clavicle"), (_RIB, "ribs"), (_SPINE, "spine")):
        match = pattern.search(window)
        if match:
            positions.append((match.start(), bone))
    for _, bone in sorted(positions):
        if bone == "spine":
            bones.append("spine")
        elif side:
            bones.append(f"{side.group(1).lower()} {bone}")
    return bones or [None]


def _clause(text: str, sentence: Sentence, offset: int) -> tuple[int, int]:
    """The evidence span: the sentence (or its ';' / ', and' clause) holding the offset, without the full stop."""
    start, end = sentence.start, sentence.end
    for match in re.finditer(r";|,\s+and\s+|,\s+while\s+", text[start:end]):
        cut_start, cut_end = start + match.start(), start + match.end()
        if cut_end <= offset:
            start = cut_end
        elif cut_start >= offset:
            end = min(end, cut_start)
            break
    while end > start and text[end - 1] in ".;:, \n\t":
        end -= 1
    return start, end


def _key(phrase: str) -> str:
    return " ".join(phrase.lower().split())


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1] in ".;:, \n\t":
        end -= 1
    return start, end


def _is_wire_fracture(text: str, mention: Mention) -> bool:
    """ "Sternotomy wires, the second of which is fractured": a broken wire is not a Fracture (§3)."""
    if mention.terms != ("Fracture",):
        return False
    for other in reversed(_mentions_before(mention)):
        if "Sternotomy Wires" in other.terms:
            between = text[other.end : mention.end]
            return not _BONE.search(between) and not _BONE.search(_clause_text(text, mention))
        if other.terms:
            return False
    return False


def _clause_text(text: str, mention: Mention) -> str:
    start, end = _clause(text, mention.sentence, mention.start)
    return text[start:end]


def _stated_change(mention: Mention) -> tuple[str | None, str | None]:
    """Direction beats persistence ("decreased but persistent" is improved); the nearest direction wins."""
    if mention.text.lower() in ("extubated", "extubation"):
        return "resolved", mention.text
    directions = [cue for cue in mention.cues if cue.category in DIRECTIONS]
    if directions:
        nearest = min(directions, key=lambda cue: min(abs(cue.start - mention.end), abs(mention.start - cue.end)))
        return nearest.category, nearest.text
    for cue in mention.cues:
        if cue.category in ("stable", "device_stable"):
            return "stable", cue.text
    return None, None


def _merge(candidates: list[_Candidate], text: str) -> list[Finding]:
    """One row per (term, location), conventions §5."""
    present_terms = {c.term for c in candidates if c.presence == "present"}
    # §5.4: "no other consolidation" beside a localized consolidation gives no row.
    candidates = [
        c for c in candidates if not (c.presence == "absent" and c.location is None and c.term in present_terms)
    ]
    groups: dict[tuple[str, str | None], list[_Candidate]] = {}
    for candidate in candidates:
        groups.setdefault((candidate.term, candidate.location), []).append(candidate)
    # §5.7: an unlocalized (or only sided) mention joins the one more specific row of the same term and presence.
    for key in list(groups):
        term, location = key
        if location is not None and location not in ("left", "right"):
            continue
        presence = _best(groups[key])[0]
        targets = [
            other
            for other in groups
            if other != key
            and other[0] == term
            and other[1] is not None
            and (location is None or (other[1] != location and other[1].startswith(location + " ")))
            and _best(groups[other])[0] == presence
        ]
        if len(targets) == 1:
            groups[targets[0]].extend(groups.pop(key))
    rows = []
    for (term, location), items in groups.items():
        presence, certainty = _best(items)
        chosen = [c for c in items if c.presence == presence] or items
        changes = [c for c in chosen if c.stated_change in DIRECTIONS] or [c for c in chosen if c.stated_change]
        carrier = changes[0] if changes else None
        severity = next((c.severity for c in chosen if c.severity), None)
        evidence_item = next(
            (
                c
                for c in chosen
                if c.certainty == certainty and (carrier is None or c.stated_change == carrier.stated_change)
            ),
            chosen[0],
        )
        start, end = evidence_item.evidence
        rows.append(
            (
                min(c.order for c in items),
                Finding(
                    term=term,
                    presence=presence,
                    certainty=certainty,
                    location=location,
                    severity=None if presence == "absent" else severity,
                    change=None,
                    evidence=text[start:end],
                    evidence_start=start,
                    evidence_end=end,
                    stated_change=carrier.stated_change if carrier else None,
                    cue=carrier.cue if carrier else None,
                ),
            )
        )
    rows.sort(key=lambda item: item[0])
    return [row for _, row in rows]


def _best(items: list[_Candidate]) -> tuple[str, str]:
    best = max(items, key=lambda c: PRESENCE_RANK.get((c.presence, c.certainty), 1))
    return best.presence, best.certainty
