"""Split a radiology report into sections (INDICATION, FINDINGS, IMPRESSION...) and labelled segments.

Only findings-type sections are labelled; INDICATION, HISTORY, COMPARISON and TECHNIQUE are kept for
display but contribute no mention.  A report without headers is one labelled BODY section.  Numbered
impression items ("1. ... 2. ...") and lines become separate segments so that a list item never runs
into the next one.  All offsets are character offsets into the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Header spellings mapped to a canonical section name.
_HEADER_NAMES = {
    "INDICATION": "INDICATION",
    "INDICATIONS": "INDICATION",
    "REASON FOR EXAM": "INDICATION",
    "REASON FOR EXAMINATION": "INDICATION",
    "REASON FOR STUDY": "INDICATION",
    "CLINICAL INDICATION": "INDICATION",
    "CLINICAL INFORMATION": "HISTORY",
    "CLINICAL HISTORY": "HISTORY",
    "HISTORY": "HISTORY",
    "COMPARISON": "COMPARISON",
    "COMPARISONS": "COMPARISON",
    "PRIOR": "COMPARISON",
    "TECHNIQUE": "TECHNIQUE",
    "EXAMINATION": "TECHNIQUE",
    "EXAM": "TECHNIQUE",
    "PROCEDURE": "TECHNIQUE",
    "FINDINGS": "FINDINGS",
    "FINDING": "FINDINGS",
    "IMPRESSION": "IMPRESSION",
    "IMPRESSIONS": "IMPRESSION",
    "CONCLUSION": "IMPRESSION",
    "CONCLUSIONS": "IMPRESSION",
    "SUMMARY": "IMPRESSION",
    "OPINION": "IMPRESSION",
}
UNLABELLED_SECTIONS = frozenset({"INDICATION", "HISTORY", "COMPARISON", "TECHNIQUE"})

_names = sorted(_HEADER_NAMES, key=len, reverse=True)
_alternation = "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in _names)
# Upper-case headers may start anywhere after whitespace or a full stop ("... None. FINDINGS: ...");
# other casings only at the start of a line, where "Findings:" cannot be ordinary prose.
_UPPER_HEADER = re.compile(rf"(?:^|(?<=[\s.;]))(?P<name>{_alternation})[ \t]*:")
_LINE_HEADER = re.compile(rf"(?im)^[ \t]*(?P<name>{_alternation})[ \t]*:")
# "1. text", "2) text" at the start of the text, of a line or after a sentence; not "3.5 cm".
_ITEM_NUMBER = re.compile(r"(?:^|(?<=[\s.]))\d{1,2}[.)](?=\s|[A-Za-z]|$)")
_LINE_BREAK = re.compile(r"\n\s*")


@dataclass(frozen=True, slots=True)
class Section:
    """A section of a report: canonical name, character span of its body, and whether it is labelled."""

    name: str
    start: int
    end: int
    labelled: bool


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a labelled section that is tokenized on its own (a line or a numbered item)."""

    field: str
    section: str
    start: int
    end: int


def canonical_section(name: str) -> str:
    """Canonical section name for a header or a CSV column name ("impression" -> "IMPRESSION")."""
    key = " ".join(name.replace("_", " ").upper().split())
    return _HEADER_NAMES.get(key, key or "BODY")


def split_sections(text: str, default: str = "BODY") -> list[Section]:
    """Sections of `text` in order; text before the first header belongs to `default`."""
    headers = {}
    for pattern in (_UPPER_HEADER, _LINE_HEADER):
        for match in pattern.finditer(text):
            name = _HEADER_NAMES[" ".join(match.group("name").upper().split())]
            headers.setdefault(match.start("name"), (match.end(), name))
    sections: list[Section] = []
    cursor, current = 0, default
    for start in sorted(headers):
        if start < cursor:
            continue
        body_end, name = headers[start]
        if text[cursor:start].strip():
            sections.append(_section(current, cursor, start, text))
        cursor, current = body_end, name
    if text[cursor:].strip() or not sections:
        sections.append(_section(current, cursor, len(text), text))
    return sections


def _section(name: str, start: int, end: int, text: str) -> Section:
    body = text[start:end]
    lead = len(body) - len(body.lstrip())
    trail = len(body) - len(body.rstrip())
    return Section(name, start + lead, max(start + lead, end - trail), name not in UNLABELLED_SECTIONS)


def labelled_segments(text: str, field: str = "text") -> list[Segment]:
    """Segments of the labelled sections of one field's text, split at lines and numbered items."""
    default = canonical_section(field) if field != "text" else "BODY"
    segments: list[Segment] = []
    for section in split_sections(text, default=default):
        if not section.labelled or section.start >= section.end:
            continue
        cuts = {section.start, section.end}
        body = text[section.start : section.end]
        for match in _ITEM_NUMBER.finditer(body):
            cuts.add(section.start + match.start())
            cuts.add(section.start + match.end())
        for match in _LINE_BREAK.finditer(body):
            cuts.add(section.start + match.start())
        ordered = sorted(cuts)
        for start, end in zip(ordered, ordered[1:], strict=False):
            piece = text[start:end]
            stripped = piece.strip()
            if not stripped or _ITEM_NUMBER.fullmatch(stripped):
                continue
            lead = len(piece) - len(piece.lstrip())
            segments.append(Segment(field, section.name, start + lead, start + lead + len(stripped)))
    return segments
