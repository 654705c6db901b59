"""BASELINE for bench/phi.py: the report scrubber as it was before issue 8 (a verbatim copy, do not use).

Scrubs residual PHI from radiology report text and makes existing de-identification traces uniform.

Rules, not a model: names after titles and labels, known patient/physician names, dates (shifted when an
offset is given), record and phone numbers, e-mail addresses. Existing traces ('XXXX', '____', '[**...**]')
all become '___', so downstream NLP sees one placeholder form. Clinical text (3 cm, T11, L1, 12 o'clock,
times of day) is left alone.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable

PLACEHOLDER = "___"
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
# Capitalised words that follow a title or label but are not part of a name.
_STOP_WORDS = frozenset(
    """the this that these no at on in was is are and or per by via who with to from for of as he she
    they we it his her mrn dob id acc accession md do phd rn np pa said called notified reviewed regarding
    report exam study please""".split()
)
_NAME_PART = r"(?:[A-Z][A-Za-z'\-]+|[A-Z]\.?)"
_TITLE_NAME = re.compile(
    r"\b(?P<title>(?:Dr|DR|Doctor|DOCTOR|Prof|PROF|Professor)\.?|(?:Mr|Mrs|Ms|Miss)\.?)"
    rf"[ \t]+(?P<name>{_NAME_PART}(?:[ \t]+{_NAME_PART}){{0,2}})"
)
_LABEL_NAME = re.compile(
    r"\b(?:Patient(?:'s)?(?: [Nn]ame)?|PATIENT(?: NAME)?|Pt|Name|NAME)[ \t]*:[ \t]*"
    r"(?P<name>[A-Z][A-Za-z'\-]+(?:(?:, ?| )[A-Z][A-Za-z'\-]+){0,3})"
)
_EMAIL = re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b")
_PHONE = re.compile(
    r"(?<![\w/.])(?:\+?1[ .\-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .\-])\d{3}[.\-]\d{4}(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?\b"
)
_RECORD_LABELLED = re.compile(
    r"\b(?P<label>MRN|MR#|MR No\.?|Med(?:ical)? Rec(?:ord)?(?: No\.?| Number| #)?|Acc(?:ession)?(?: No\.?| Number| #)?"
    r"|Record(?: No\.?| Number| #)|Patient ID|PID)[ \t]*[:#]?[ \t]*(?P<number>[A-Z]{0,3}\d[\dA-Z\-]{3,})",
    re.IGNORECASE,
)
_RECORD_HASH = re.compile(r"(?<![\w#])#[ ]?(?P<number>\d{4,})\b")
_LONG_DIGITS = re.compile(r"(?<![\w.,/:\-])\d{6,}(?![\w.,/:]\d|\s?(?:mm|cm|mg|ml|mL|units?|%)\b)")
_NUMERIC_DATE = re.compile(
    r"(?<![\w/.\-])(?P<a>\d{1,4})(?P<sep>[/\-.])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})(?![\w/]|\.\d)"
)
_MONTH_DAY_YEAR = re.compile(
    rf"\b(?P<month>{_MONTH_ALT})\.?[ ](?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?[ ](?P<year>\d{{4}})\b", re.I
)
_DAY_MONTH_YEAR = re.compile(
    rf"\b(?P<day>\d{{1,2}})(?P<sep>[ \-])(?P<month>{_MONTH_ALT})\.?(?P=sep)(?P<year>\d{{2}}|\d{{4}})\b", re.I
)
_MONTH_YEAR = re.compile(rf"\b(?P<month>{_MONTH_ALT})\.?,?[ ](?P<year>(?:19|20)\d{{2}})\b", re.I)
_TRACE = re.compile(r"\[\*\*[^\]\n]{0,80}\*\*\]|(?<![A-Za-z])[Xx]{3,}(?![A-Za-z])|_{2,}")


@dataclasses.dataclass(frozen=True)
class ScrubResult:
    """The scrubbed text and each replacement as (start, end, kind) in the ORIGINAL text."""

    text: str
    replacements: list[tuple[int, int, str]]


def scrub_report(text: str, *, date_offset_days: int | None = None, known_names: Iterable[str] = ()) -> ScrubResult:
    """Remove residual PHI from report `text` and normalise de-identification traces to '___'.

    Dates are shifted by `date_offset_days` in their own format when given (so intervals between reports
    survive), else replaced by '___'. `known_names` may be DICOM 'LAST^FIRST^MIDDLE' or plain names; each
    is matched case-insensitively as 'First Last', 'First M. Last', 'Last, First' and 'LAST^FIRST'.
    Kinds reported: name, email, phone, record_number, date, trace.
    """
    spans: list[tuple[int, int, str, str]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, kind: str, replacement: str) -> None:
        if start >= end or any(start < e and s < end for s, e in taken):
            return
        taken.append((start, end))
        spans.append((start, end, kind, replacement))

    for match in _EMAIL.finditer(text):
        add(match.start(), match.end(), "email", PLACEHOLDER)
    for pattern in _known_name_patterns(known_names):
        for match in pattern.finditer(text):
            add(match.start(), match.end(), "name", PLACEHOLDER)
    for pattern in (_TITLE_NAME, _LABEL_NAME):
        for match in pattern.finditer(text):
            start, end = _name_span(match)
            add(start, end, "name", PLACEHOLDER)
    for match in _PHONE.finditer(text):
        add(match.start(), match.end(), "phone", PLACEHOLDER)
    for match in _RECORD_LABELLED.finditer(text):
        add(match.start("number"), match.end("number"), "record_number", PLACEHOLDER)
    for match in _RECORD_HASH.finditer(text):
        add(match.start("number"), match.end("number"), "record_number", PLACEHOLDER)
    for finder in (_numeric_dates, _month_day_year, _day_month_year, _month_year):
        for start, end, replacement in finder(text, date_offset_days):
            add(start, end, "date", replacement)
    for match in _LONG_DIGITS.finditer(text):
        add(match.start(), match.end(), "record_number", PLACEHOLDER)
    for match in _TRACE.finditer(text):
        if match.group() != PLACEHOLDER:
            add(match.start(), match.end(), "trace", PLACEHOLDER)

    spans.sort()
    out, position = [], 0
    for start, end, _, replacement in spans:
        out.append(text[position:start])
        out.append(replacement)
        position = end
    out.append(text[position:])
    return ScrubResult("".join(out), [(start, end, kind) for start, end, kind, _ in spans])


def _name_span(match: re.Match) -> tuple[int, int]:
    """Return the span of the name group cut at the first stop word ('Dr. Smith The lungs' -> 'Smith')."""
    start = match.start("name")
    end = start
    for token in re.finditer(r"[^ \t,]+", match.group("name")):
        if token.group().rstrip(".").lower() in _STOP_WORDS:
            break
        end = start + token.end()
    return start, end


def _known_name_patterns(names: Iterable[str]) -> list[re.Pattern]:
    patterns: list[re.Pattern] = []
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
        patterns.append(re.compile(rf"(?<![\w^])(?:{alternation})(?![\w^])", re.IGNORECASE))
    return patterns


def _shifter(offset: int | None) -> Callable[[dt.date], dt.date | None]:
    return lambda day: None if offset is None else day + dt.timedelta(days=offset)


def _numeric_dates(text: str, offset: int | None) -> Iterable[tuple[int, int, str]]:
    for match in _NUMERIC_DATE.finditer(text):
        a, b, c, sep = match.group("a"), match.group("b"), match.group("c"), match.group("sep")
        if len(a) == 4:
            year_text, month_text, day_text, order = a, b, c, "ymd"
        elif len(a) <= 2 and len(c) in (2, 4):
            month_text, day_text, year_text, order = a, b, c, "mdy"
            if int(a) > 12 and int(b) <= 12:
                day_text, month_text, order = a, b, "dmy"
        else:
            continue
        if sep == "." and order == "mdy" and len(year_text) == 2:
            continue  # '1.5.10' style: more likely a version or list number than a date
        year = int(year_text) + (2000 if len(year_text) == 2 and int(year_text) < 50 else 0)
        year += 1900 if len(year_text) == 2 and int(year_text) >= 50 else 0
        try:
            day = dt.date(year, int(month_text), int(day_text))
        except ValueError:
            continue
        moved = _shifter(offset)(day)
        if moved is None:
            yield match.start(), match.end(), PLACEHOLDER
            continue
        parts = {
            "y": f"{moved.year:04d}" if len(year_text) == 4 else f"{moved.year % 100:02d}",
            "m": _pad(moved.month, month_text),
            "d": _pad(moved.day, day_text),
        }
        yield match.start(), match.end(), sep.join(parts[k] for k in order)


def _pad(value: int, like: str) -> str:
    return f"{value:02d}" if len(like) == 2 else str(value)


def _month_name(month: int, like: str) -> str:
    name = calendar.month_name[month] if len(like.rstrip(".")) > 3 and like.lower() != "sept" else None
    name = name or calendar.month_abbr[month]
    if like.isupper():
        return name.upper()
    if like.islower():
        return name.lower()
    return name


def _month_day_year(text: str, offset: int | None) -> Iterable[tuple[int, int, str]]:
    for match in _MONTH_DAY_YEAR.finditer(text):
        month = _MONTHS[match.group("month").lower()]
        try:
            day = dt.date(int(match.group("year")), month, int(match.group("day")))
        except ValueError:
            continue
        moved = _shifter(offset)(day)
        if moved is None:
            yield match.start(), match.end(), PLACEHOLDER
        else:
            name = _month_name(moved.month, match.group("month"))
            yield match.start(), match.end(), f"{name} {moved.day}, {moved.year}"


def _day_month_year(text: str, offset: int | None) -> Iterable[tuple[int, int, str]]:
    for match in _DAY_MONTH_YEAR.finditer(text):
        month = _MONTHS[match.group("month").lower()]
        year_text = match.group("year")
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        try:
            day = dt.date(year, month, int(match.group("day")))
        except ValueError:
            continue
        moved = _shifter(offset)(day)
        if moved is None:
            yield match.start(), match.end(), PLACEHOLDER
            continue
        sep = match.group("sep")
        year_out = f"{moved.year}" if len(year_text) == 4 else f"{moved.year % 100:02d}"
        name = _month_name(moved.month, match.group("month"))
        yield match.start(), match.end(), f"{_pad(moved.day, match.group('day'))}{sep}{name}{sep}{year_out}"


def _month_year(text: str, offset: int | None) -> Iterable[tuple[int, int, str]]:
    for match in _MONTH_YEAR.finditer(text):
        month = _MONTHS[match.group("month").lower()]
        # Without a day the shift is applied to mid-month, close enough for "March 2021"-style mentions.
        moved = _shifter(offset)(dt.date(int(match.group("year")), month, 15))
        if moved is None:
            yield match.start(), match.end(), PLACEHOLDER
        else:
            yield match.start(), match.end(), f"{_month_name(moved.month, match.group('month'))} {moved.year}"
