"""ConText-style assertion: negation, uncertainty and pseudo-negation with clause scope.

Works on one sentence at a time, on token spans already found by the phrase matcher.  A forward cue
scopes over everything after it up to a terminator ("but", "however", "which", ";") or the end of
the sentence; a backward cue ("is not seen", "cannot be excluded") over its own clause before it.
This is our own pass rather than medspacy's ConText component: it does the same job over a handful of
spans per sentence in plain Python, with no Doc extension attributes, at a small fraction of the cost
(see bench/label_mining.py for the measured throughput of both).
"""

from __future__ import annotations

from dataclasses import dataclass

# Cue kinds.  Integers, because this loop runs for every mention of every report.
NEG = 1  # negation
UNC = 2  # hedge connecting a description to an interpretation ("suggestive of")
UNC_ASSERT = 3  # hedge opening a new assertion ("possible"); also ends a negation's scope
PSEUDO = 4  # looks like a cue but keeps the finding positive ("no change in")
NEW = 5  # novelty word: "no new X" is uncertain
TERM = 6  # terminator
REL = 7  # relative-clause terminator ("which"), crossable by a backward cue
ALT = 8  # alternative ("X or Y", "X versus Y")
ARTIFACT = 9  # an artefact or technique offered as the explanation
DESC_POS = 10  # descriptors for neutral organ mentions
DESC_UNC = 11
DESC_NEG = 12
DESC_STABLE = 13
IGNORE = 14  # hides shorter cues, does nothing
SENT = 15  # sentence end

FORWARD = 1
BACKWARD = 2
BOTH = 3

KIND_NAMES = {
    NEG: "negation",
    UNC: "uncertainty",
    UNC_ASSERT: "uncertainty",
    PSEUDO: "pseudo-negation",
    NEW: "novelty",
    ARTIFACT: "artifact",
    DESC_POS: "descriptor",
    DESC_UNC: "descriptor",
    DESC_NEG: "descriptor",
    DESC_STABLE: "stability",
    ALT: "alternative",
}

# Allowed distance in tokens between a finding and "or"/"versus" (room for one or two modifiers,
# "effusion or small atelectasis"), so that a list "A, B, C or D" does not hedge A.
_ALT_GAP = 2


@dataclass(slots=True)
class Cue:
    start: int
    end: int
    kind: int
    direction: int
    text: str


@dataclass(slots=True)
class Concept:
    """A matched term: token span, finding ids and term options (from vocabulary.TermSpec)."""

    start: int
    end: int
    findings: tuple[str, ...]
    neutral: bool
    stable: str | None
    max_status: str | None
    status: str | None
    defer_to_cause: bool
    text: str


@dataclass(slots=True)
class Assertion:
    """The status of one concept and the cue that decided it (None when affirmed without a cue)."""

    concept: Concept
    status: str
    rule: str
    cue: Cue | None


def _describe(kind: int, cue: Cue | None, fallback: str) -> str:
    if cue is None:
        return fallback
    return f"{KIND_NAMES.get(kind, 'cue')}: {cue.text}"


def assert_sentence(concepts: list[Concept], cues: list[Cue], sent_start: int, sent_end: int) -> list[Assertion]:
    """Statuses for the concepts of one sentence; both lists are sorted by start token."""
    terminators = [cue for cue in cues if cue.kind == TERM or cue.kind == REL]
    results: list[Assertion] = []
    for index, concept in enumerate(concepts):
        if concept.defer_to_cause and any(other.start >= concept.end for other in concepts[index + 1 :]):
            continue
        left, right, right_back = sent_start, sent_end, sent_end
        for position, term in enumerate(terminators):
            if term.end <= concept.start:
                left = term.end
            elif term.start >= concept.end:
                right = right_back = term.start
                if term.kind == REL:
                    # "X, which has resolved": a backward cue in a relative clause that names no other
                    # finding still applies to X.
                    clause_end = terminators[position + 1].start if position + 1 < len(terminators) else sent_end
                    if not any(term.end <= other.start < clause_end for other in concepts):
                        right_back = clause_end
                break
        result = _assert(concept, concepts, cues, left, right, right_back)
        if result is not None:
            results.append(result)
    return results


def _assert(
    concept: Concept, concepts: list[Concept], cues: list[Cue], left: int, right: int, right_back: int
) -> Assertion | None:
    forward_state, forward_cue = None, None
    backward_state, backward_cue = None, None
    alternative: Cue | None = None
    hedge_after: Cue | None = None
    artifact: Cue | None = None
    for cue in cues:
        kind = cue.kind
        if cue.end <= concept.start:
            if cue.start < left:
                continue
            if kind == ALT and concept.start - cue.end <= _ALT_GAP:
                alternative = cue
            if not cue.direction & FORWARD:
                continue
            if kind == NEG:
                forward_state, forward_cue = NEG, cue
            elif kind == PSEUDO:
                forward_state, forward_cue = PSEUDO, cue
            elif kind == NEW:
                if forward_state == NEG:
                    forward_state, forward_cue = NEW, cue
            elif kind == UNC_ASSERT:
                forward_state, forward_cue = UNC, cue
            elif kind == UNC:
                # A hedge verb inside a negation's scope is part of what is denied:
                # "no opacity to suggest pneumonia" denies the pneumonia.
                if forward_state not in (NEG, NEW):
                    forward_state, forward_cue = UNC, cue
        elif cue.start >= concept.end:
            if cue.end > right_back:
                break
            if kind == ALT and cue.start - concept.end <= _ALT_GAP and cue.end < right:
                alternative = alternative or cue
            elif kind in (UNC, UNC_ASSERT):
                hedge_after = hedge_after or cue
            elif kind == ARTIFACT and hedge_after is not None:
                artifact = artifact or cue
            if backward_state is None and cue.direction & BACKWARD:
                if kind in (NEG, UNC, UNC_ASSERT, PSEUDO):
                    backward_state, backward_cue = (UNC if kind == UNC_ASSERT else kind), cue
                elif kind == DESC_NEG and not concept.neutral:
                    backward_state, backward_cue = NEG, cue

    if concept.status is not None:
        return Assertion(concept, concept.status, "term", None)
    if forward_state == NEG:
        status, rule, cue = "negative", _describe(NEG, forward_cue, ""), forward_cue
    elif forward_state == NEW:
        status, rule, cue = "uncertain", _describe(NEW, forward_cue, ""), forward_cue
    elif backward_state == NEG:
        status, rule, cue = "negative", _describe(NEG, backward_cue, ""), backward_cue
    elif backward_state == PSEUDO:
        status, rule, cue = "positive", _describe(PSEUDO, backward_cue, ""), backward_cue
    elif forward_state == UNC:
        status, rule, cue = "uncertain", _describe(UNC, forward_cue, ""), forward_cue
    elif backward_state == UNC:
        status, rule, cue = "uncertain", _describe(UNC, backward_cue, ""), backward_cue
    elif artifact is not None:
        status, rule, cue = "uncertain", _describe(ARTIFACT, artifact, ""), hedge_after
    elif alternative is not None:
        status, rule, cue = "uncertain", _describe(ALT, alternative, ""), alternative
    elif forward_state == PSEUDO:
        status, rule, cue = "positive", _describe(PSEUDO, forward_cue, ""), forward_cue
    else:
        status, rule, cue = "positive", "affirmed", None

    if concept.neutral and status in ("positive",):
        described = _describe_neutral(concept, concepts, cues, left, right, forward_state == PSEUDO)
        if described is None:
            return None
        status, rule, cue = described
    if concept.max_status == "uncertain" and status == "positive":
        status, rule = "uncertain", f"{rule} (at most uncertain)"
    return Assertion(concept, status, rule, cue)


def _describe_neutral(
    concept: Concept, concepts: list[Concept], cues: list[Cue], left: int, right: int, stable: bool
) -> tuple[str, str, Cue | None] | None:
    """Status of an organ mention from the descriptor nearest to it in its clause."""
    next_concept = min((other.start for other in concepts if other.start >= concept.end), default=right)
    windows = ((concept.end, min(next_concept, right)), (concept.end, right))
    chosen: Cue | None = None
    for low, high in windows:
        chosen = _strongest(cue for cue in cues if low <= cue.start and cue.end <= high)
        if chosen is not None:
            break
    if chosen is None:
        before = [cue for cue in cues if left <= cue.start and cue.end <= concept.start]
        before = [cue for cue in before if DESC_POS <= cue.kind <= DESC_STABLE]
        chosen = before[-1] if before else None
        if chosen is not None and chosen.kind != DESC_STABLE:
            # "stable mildly enlarged heart": a size word before the organ beats "stable".
            chosen = _strongest(cue for cue in before) or chosen
    if chosen is None:
        if stable and concept.stable:
            return concept.stable, "stability without a size word", None
        return None
    hedged = any(
        cue.kind in (UNC, UNC_ASSERT) and cue.direction & FORWARD
        for cue in cues
        if min(concept.end, chosen.start) <= cue.start and cue.end <= chosen.start
    )
    if chosen.kind == DESC_POS:
        status = "uncertain" if hedged else "positive"
    elif chosen.kind == DESC_UNC:
        status = "uncertain"
    elif chosen.kind == DESC_NEG:
        status = "negative"
    else:
        if not concept.stable:
            return None
        return concept.stable, f"stability without a size word: {chosen.text}", chosen
    return status, f"descriptor: {chosen.text}", chosen


def _strongest(cues) -> Cue | None:
    best: Cue | None = None
    for cue in cues:
        if DESC_POS <= cue.kind <= DESC_STABLE and (best is None or cue.kind < best.kind):
            best = cue
    return best
