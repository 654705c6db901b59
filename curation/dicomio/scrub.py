"""Scrubs residual PHI from radiology report text and makes existing de-identification traces uniform.

Rules and word lists, not a model (the approach of Philter, Norgeot et al. 2020): regular expressions for
structured PHI (scrub_patterns: e-mails, URLs, SSNs, phones, record numbers, dates, ages over 89, addresses,
institutions) and an allow-list for names (scrub_names, scrub_words: a capitalised word that is not an
English or clinical word is a name; titles, labels and post-nominals mark names whatever the word). Dates are
shifted in their own format when an offset is given, else replaced. Existing traces ('XXXX', '____',
'[**...**]') all become '___', so downstream NLP sees one placeholder form. Text outside the PHI spans is
never changed, so clinical words (Kerley B lines, T7, 3.2 cm, 67-year-old) stay byte-identical.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from curation.dicomio.scrub_names import find_names
from curation.dicomio.scrub_patterns import (
    PLACEHOLDER,
    Scan,
    find_ages,
    find_contacts,
    find_dates,
    find_ids,
    find_long_numbers,
    find_places,
    find_traces,
)

__all__ = ["PLACEHOLDER", "ScrubResult", "scrub_report"]

# Names next to each other ("John A. Smith", "BROWN, MICHAEL") become one placeholder.
_NAME_JOIN = re.compile(r"[ ]?,?[ ]?")
_KIND_NAMES = {"id": "record_number"}


@dataclasses.dataclass(frozen=True)
class ScrubResult:
    """The scrubbed text and each replacement as (start, end, kind) in the ORIGINAL text.

    Kinds: name, email, url, phone, ssn, record_number, date, age, address, institution, trace.
    """

    text: str
    replacements: list[tuple[int, int, str]]


def scrub_report(text: str, *, date_offset_days: int | None = None, known_names: Iterable[str] = ()) -> ScrubResult:
    """Remove residual PHI from report `text` and normalise de-identification traces to '___'.

    Dates are shifted by `date_offset_days` in their own format when given (so intervals between reports
    survive), else replaced by '___'. `known_names` may be DICOM 'LAST^FIRST^MIDDLE' or plain names; each
    is matched case-insensitively as 'First Last', 'First M. Last', 'Last, First' and 'LAST^FIRST', and each
    of its words is removed wherever it appears capitalised.
    """
    text = text or ""
    spans: list[tuple[int, int, str, str]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, kind: str, replacement: str) -> None:
        if start >= end or any(start < e and s < end for s, e in taken):
            return
        taken.append((start, end))
        spans.append((start, end, kind, replacement))

    scan = Scan(text)
    for found in find_traces(scan):
        add(*found)
    for found in find_contacts(scan):
        add(*found)
    name_words: set[str] = set()
    for pattern, words in _known_name_patterns(known_names):
        name_words |= words
        for match in pattern.finditer(text):
            add(match.start(), match.end(), "name", PLACEHOLDER)
    for found in find_ids(scan):
        add(*found)
    for found in find_dates(scan, date_offset_days):
        add(*found)
    for found in find_places(scan):
        add(*found)
    for found in find_ages(scan):
        add(*found)
    for found in find_long_numbers(scan):
        add(*found)
    names = sorted(find_names(text, list(taken), known_words=name_words))
    for start, end in _join_names(text, names):
        add(start, end, "name", PLACEHOLDER)

    spans.sort()
    out, position = [], 0
    for start, end, _, replacement in spans:
        out.append(text[position:start])
        out.append(replacement)
        position = end
    out.append(text[position:])
    return ScrubResult("".join(out), [(start, end, _KIND_NAMES.get(kind, kind)) for start, end, kind, _ in spans])


def _join_names(text: str, names: list[tuple[int, int]]) -> list[tuple[int, int]]:
    joined: list[tuple[int, int]] = []
    for start, end in names:
        if joined and _NAME_JOIN.fullmatch(text, joined[-1][1], start) and "\n" not in text[joined[-1][1] : start]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        elif not joined or start >= joined[-1][1]:
            joined.append((start, end))
    return joined


def _known_name_patterns(names: Iterable[str]) -> list[tuple[re.Pattern, set[str]]]:
    """One pattern per known name, matching its usual written forms, and the name's words."""
    patterns: list[tuple[re.Pattern, set[str]]] = []
    for raw in names:
        raw = (raw or "").strip()
        if not raw:
            continue
        if "^" in raw:
            parts = [p.strip() for p in raw.split("^")]
            last, first, middle = (parts + ["", "", ""])[:3]
        elif "," in raw:
            last, _, rest = raw.partition(",")
            words = rest.split()
            first, middle = (words[0] if words else ""), " ".join(words[1:])
        else:
            words = raw.split()
            first, last, middle = words[0], words[-1], " ".join(words[1:-1])
            if len(words) == 1:
                first = ""
        last, first, middle = last.strip(), first.strip(), middle.strip()
        if len(last) < 2:
            continue
        forms = {re.escape(raw)}
        if first:
            forms.add(rf"{re.escape(first)}\s+{re.escape(last)}")
            forms.add(rf"{re.escape(last)},?\s+{re.escape(first)}")
            forms.add(rf"{re.escape(last)}\^{re.escape(first)}(?:\^[A-Za-z.'\-]*)*")
            if middle:
                initial = re.escape(middle[0])
                forms.add(rf"{re.escape(first)}\s+(?:{re.escape(middle)}|{initial}\.?)\s+{re.escape(last)}")
                forms.add(rf"{re.escape(last)},?\s+{re.escape(first)}\s+(?:{re.escape(middle)}|{initial}\.?)")
        # Longest forms first so 'Last, First M.' wins over 'Last, First'.
        alternation = "|".join(sorted(forms, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w^])(?:{alternation})(?![\w^])", re.IGNORECASE)
        words = {w for w in re.findall(r"[^\W\d_][\w'\-]*", f"{last} {first} {middle}") if len(w) > 1}
        patterns.append((pattern, words))
    return patterns
