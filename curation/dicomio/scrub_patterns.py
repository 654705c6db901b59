"""Regular expressions for the structured PHI of report text: contacts, numbers, ages, dates, places, traces.

Each finder yields (start, end, kind, replacement) in the text. Dates are shifted in their own format when an
offset is given (so intervals between reports survive), else replaced. Clinical look-alikes (3.2 cm, T7,
C5-C6, 12 o'clock, 14:20, ages up to 89, versions such as 1.2.10) match none of them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator

PLACEHOLDER = "___"
Found = tuple[int, int, str, str]

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
# A date without its year needs capitalised month names: "may 3" is more likely a verb than a date.
_MONTH_CAP_ALT = "|".join(
    sorted({form for name in _MONTHS for form in (name.title(), name.upper())}, key=len, reverse=True)
)
_UNITS = r"(?:mm|cm|m|mg|mcg|g|kg|ml|mL|cc|l|L|units?|%|mmHg|French|Fr|hours?|days?|weeks?|h|min|bpm|cGy|Gy)\b"
_DIGITS = re.compile(r"\d+")
_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_TLDS = r"(?:com|org|net|edu|gov|mil|int|info|biz|health|io|us|uk|ca|au|de|fr|nl|ch|eu)"
_TLD = re.compile(rf"\.{_TLDS}\b")
_URL = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'()\[\]{}]+"
    rf"|\b(?:[a-z0-9][a-z0-9\-]*\.)+{_TLDS}\b(?::\d+)?(?:/[^\s<>\"'()\[\]{{}}]*)?",
    re.I,
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
_SSN = re.compile(r"(?<![\w\-])\d{3}-\d{2}-\d{4}(?![\w\-])")
_SSN_LABEL_BEFORE = re.compile(r"\b(?:SSN|SS#|Social Security(?: number| no\.?| #)?)[ \t]*[:#]?[ \t]*\Z", re.I)
_SSN_VALUE = re.compile(r"\d{3}[ .\-]?\d{2}[ .\-]?\d{4}(?!\d)")
_PHONE = re.compile(
    r"(?<![\w+/.\-])(?:\+?1[ .\-]?)?(?:\(\d{3}\)[ ]?\d{3}[ .\-]?|\d{3}[ .\-]\d{3}[ .\-])\d{4}(?!\d)"
    r"(?:[ ]?(?:x|ext\.?|extension)[ ]?\d{1,6})?"
    r"|(?<![\w+])\+\d{1,3}(?:[ .\-]?\(?\d{1,4}\)?){2,5}(?!\d)"
)
# A local number without its area code: "555-0199" (exchange codes start with 2-9, so "100-1200" is a range).
_PHONE_LOCAL = re.compile(r"(?<![\w\-/.])[2-9]\d{2}-\d{4}(?![\w\-]|[ ]?" + _UNITS + ")")
_PHONE_LABEL_BEFORE = re.compile(
    r"\b(?:phone|tel|telephone|fax|facsimile|pager|pgr|beeper|bleep|cell|mobile|ext|extension|callback"
    r"|call(?: back)?(?: at)?|page|paged? at|reach(?:ed)? at|contact(?: number)?)\.?[ \t]*(?:no\.?|number|#)?"
    r"[ \t]*[:#]?[ \t]*\Z",
    re.I,
)
_PHONE_VALUE = re.compile(r"\+?\(?\d[\d().\- ]{2,16}\d(?![\d:]|[ ]?" + _UNITS + ")")
_EXTENSION_BEFORE = re.compile(r"(?<![\w])(?:x|ext\.?)[ ]?\Z", re.I)
_ID_LABEL = (
    r"MRN|MR ?#|MR No\.?|Med(?:ical)? ?Rec(?:ord)?(?: ?(?:No\.?|Number|Num|#))?"
    r"|Acc(?:ession)?(?: ?(?:No\.?|Number|Num|#))?|Order(?: ?(?:No\.?|Number|Num|ID|#))?"
    r"|Req(?:uisition)?(?: ?(?:No\.?|Number|ID|#))?|Encounter(?: ?(?:No\.?|Number|ID|#))?"
    r"|Visit ?(?:No\.?|Number|ID|#)|Acc(?:oun)?t(?: ?(?:No\.?|Number|#))?|Patient ?ID|Pt\.? ?ID|PID"
    r"|Study ?ID|Exam ?(?:No\.?|Number|ID|#)|Case ?(?:No\.?|Number|ID|#)|CSN|FIN|Specimen ?(?:No\.?|ID|#)?"
    r"|Record(?: ?(?:No\.?|Number|#))?|Ref(?:erence)?(?: ?(?:No\.?|Number|#))?|NHS ?(?:No\.?|Number)"
    r"|Health ?(?:card|plan) ?(?:No\.?|Number|#)|Member ?ID|Policy ?(?:No\.?|Number|#)|Insurance ?(?:ID|No\.?|#)"
    r"|Serial ?(?:No\.?|Number|#)|Licen[cs]e ?(?:No\.?|Number|#)|ID|Identifier|Number"
)
_ID_LABEL_BEFORE = re.compile(rf"\b(?:{_ID_LABEL})[ \t]*(?:[:#=]|is|number)?[ \t]*#?[ \t]*\Z", re.I)
_ID_VALUE = re.compile(r"(?=[A-Za-z\-/]*\d)[A-Za-z0-9](?:[A-Za-z0-9]|[\-/](?=[A-Za-z0-9])){2,29}(?![\w\-])")
_ID_CODED = re.compile(r"(?<![\w\-])(?:[A-Z]{1,5}-?\d{5,}[A-Z]{0,2}|\d{5,}[A-Z]{1,3})(?![\w\-])")
_ID_HASH = re.compile(r"[A-Z]{0,4}\d{4,}[A-Z0-9\-]*\b")
_LONG_DIGITS = re.compile(r"(?<![\w.,/:\-])\d{6,}(?![\w.,/:]\d|[ ]?" + _UNITS + ")")
_AGE_AFTER = re.compile(
    r"(?:[ \-]?(?:years?|yrs?|y\.?o\.?|y/o|yo)\b|[ \-]?year-old|[ \-]?yr-old|-?[MF]\b"
    r"|[ \-](?:male|female|man|woman|gentleman|lady)\b)",
    re.I,
)
_AGE_BEFORE = re.compile(r"\b(?:aged?|age:)[ \t]*\Z", re.I)
_AGE_NOT_AFTER = re.compile(r"\w|\.\d|[ ]?" + _UNITS)
_AGE_DECADE_BEFORE = re.compile(r"\bin (?:his|her|their) \Z", re.I)
_AGE_DECADE_AFTER = re.compile(r"'?s\b")
_AGE_WRITTEN = re.compile(
    r"\b(?P<value>(?:ninety|one[ \-]hundred(?:[ \-]and)?)(?:[ \-](?:one|two|three|four|five|six|seven|eight|nine))?)"
    r"(?=[ \-]?(?:years?|year-old)\b)",
    re.I,
)
_NUMERIC_DATE = re.compile(
    r"(?<![\w/.\-])(?P<a>\d{1,4})(?P<sep>[/\-.])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})(?![\w/\-]|\.\d)"
    r"|(?<![\w/.\-])(?P<a2>\d{4})-(?P<b2>\d{2})-(?P<c2>\d{2})(?=T\d)"
)
_COMPACT_DATE = re.compile(r"(?<![\w.\-])(?P<y>(?:19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])(?!\w)")
_NUMERIC_MONTH_YEAR = re.compile(r"(?<![\w/.\-])(?P<m>0?[1-9]|1[0-2])/(?P<y>(?:19|20)\d{2})(?![\w/]|\.\d)")
_MD_CONTEXT_BEFORE = re.compile(r"\b(?:on|dated|since|until|date:|Date:|Comparison:|comparison:)[ ]\Z")
_NUMERIC_MONTH_DAY = re.compile(r"(?P<m>0?[1-9]|1[0-2])/(?P<d>0?[1-9]|[12]\d|3[01])(?![\w/]|\.\d)")
_ORDINAL = r"(?:st|nd|rd|th)?"
_MONTH_BEFORE = re.compile(rf"\b(?:{_MONTH_ALT})\.?(?:,?[ ]+|-)\Z", re.I)
_MONTH_AFTER = re.compile(rf"{_ORDINAL}(?:[ \-]|[ ]of[ ])?(?:{_MONTH_ALT})(?![a-z])", re.I)
_MONTH_DAY_YEAR = re.compile(
    rf"\b(?P<month>{_MONTH_ALT})\.?[ ]+(?P<day>\d{{1,2}}){_ORDINAL},?[ ]+(?P<year>\d{{4}})\b"
    rf"|\b(?P<month2>{_MONTH_ALT})\.?[ ]+(?P<day2>\d{{1,2}}){_ORDINAL},[ ]?(?P<year2>'\d{{2}})\b(?!\.\d)",
    re.I,
)
_DAY_MONTH_YEAR = re.compile(
    rf"\b(?P<day>\d{{1,2}}){_ORDINAL}(?P<sep>[ \-]|[ ]of[ ])(?P<month>{_MONTH_ALT})\.?(?:,?[ ]|-)"
    r"(?P<year>\d{4}|\d{2})\b",
    re.I,
)
_DAY_MONTH_COMPACT = re.compile(rf"\b(?P<day>\d{{1,2}})(?P<month>{_MONTH_ALT})(?P<year>\d{{4}}|\d{{2}})\b", re.I)
_MONTH_DAY = re.compile(
    rf"\b(?P<month>{_MONTH_CAP_ALT})\.?[ ]+(?P<day>\d{{1,2}}){_ORDINAL}(?![\d:]|\.\d|[ ]?" + _UNITS + ")"
    rf"|\b(?P<day2>\d{{1,2}}){_ORDINAL}(?:[ ]of)?[ ]+(?P<month2>{_MONTH_CAP_ALT})\b\.?"
)
_MONTH_YEAR = re.compile(rf"\b(?P<month>{_MONTH_ALT})\.?(?:,?[ ]|-)(?P<year>(?:19|20)\d{{2}})\b", re.I)
_TRACE = re.compile(r"\[\*\*[^\]\n]{0,80}\*\*\]|(?<![A-Za-z])[Xx]{3,}(?![A-Za-z])|_{2,}")

_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH "
    "OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR"
).split()
_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho"
    "|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota"
    "|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York"
    "|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota"
    "|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming"
)
_STATE = rf"(?:{'|'.join(_STATES)}|{_STATE_NAMES})"
_CAP = r"[A-Z][A-Za-z'’\-]*\.?"
_STREET_TYPE = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Drive|Dr|Lane|Ln|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Circle|Cir|Terrace"
    r"|Ter|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Row|Crescent|Close|Plaza|Alley|Loop|Path|Pike|Walk"
    r"|Route|Rte)"
)
_CITY_STATE_ZIP = (
    rf"{_CAP}(?:[ ]{_CAP}){{0,2}},?[ ]+{_STATE}(?:,?[ ]+\d{{5}}(?:-\d{{4}})?)?(?![\w])"
    rf"|{_CAP}(?:[ ]{_CAP}){{0,2}}(?![\w])"
)
_STREET = re.compile(
    rf"(?<![\w.\-])\d{{1,6}}[A-Z]?[ ]+(?:[NSEW]\.?[ ]+)?(?:{_CAP}[ ]+){{1,3}}{_STREET_TYPE}\b\.?"
    rf"(?:,?[ ]*(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|#)\.?[ ]*#?[\w\-]+)?"
    rf"(?:,[ ]*(?:{_CITY_STATE_ZIP}))?"
)
_PO_BOX = re.compile(rf"(?<![\w])(?:P\.?[ ]?O\.?[ ]+Box|PO Box)[ ]+\d+(?:,[ ]*(?:{_CITY_STATE_ZIP}))?", re.I)
_CITY_STATE_BEFORE = re.compile(rf"(?<![\w\-]){_CAP}(?:[ ]{_CAP}){{0,2}},?[ ]+{_STATE},?[ ]+\Z")
_ZIP = re.compile(r"\d{5}(?:-\d{4})?")
_INSTITUTION_WORD = (
    r"(?:Hospitals?|Medical[ ]Cent(?:er|re)|Health[ ](?:Cent(?:er|re)|System|Services|Network|Partners)|Healthcare"
    r"|Health[ ]Care|Clinics?|Infirmary|Imaging(?:[ ]Cent(?:er|re)|[ ]Associates|[ ]Services)?"
    r"|Radiology[ ](?:Associates|Group|Partners|Cent(?:er|re)|Services)|Diagnostics?(?:[ ]Cent(?:er|re))?"
    r"|Institute|University|College|Medical[ ](?:Group|Associates|Clinic|Practice)|Family[ ]Practice|Practice"
    r"|Hospice|Sanatorium|Nursing[ ]Home|Rehabilitation(?:[ ]Cent(?:er|re)|[ ]Hospital)?|Urgent[ ]Care"
    r"|(?:Surgery|Surgical|Cancer|Heart|Care|Wellness|Outpatient|Ambulatory|Dialysis|Trauma)[ ]Cent(?:er|re)"
    r"|Physicians|Polyclinic|Dispensary|HOSPITAL|MEDICAL[ ]CENTER|CLINIC)"
)
_INSTITUTION_PART = r"(?:St\.|Ste\.|Mt\.|[A-Z][A-Za-z'’\-]*|[A-Z]{2,})"
_INSTITUTION_HINT = re.compile(
    r"Hospital|Cent(?:er|re)|Clinic|Infirmary|Imaging|Radiology|Diagnostic|Institute|University|College|Health"
    r"|Practice|Hospice|Sanatorium|Nursing|Rehabilitation|Urgent|Physicians|Polyclinic|Dispensary|HOSPITAL"
    r"|CLINIC|MEDICAL"
)
_INSTITUTION = re.compile(
    rf"(?<![\w\-])(?:{_INSTITUTION_PART}[ ]+(?:(?:of|the|for|and|&|de|del|la)[ ]+)?){{1,5}}{_INSTITUTION_WORD}\b"
    rf"(?:[ ]+(?:of|for|at)[ ]+(?:the[ ]+)?{_INSTITUTION_PART}(?:[ ]+{_INSTITUTION_PART}){{0,3}})?"
    rf"|(?<![\w\-])(?:The[ ]+)?{_INSTITUTION_WORD}[ ]+(?:of|for|at)[ ]+(?:the[ ]+)?"
    rf"{_INSTITUTION_PART}(?:[ ]+{_INSTITUTION_PART}){{0,3}}"
)
# Words of the sentence around an institution's name, trimmed from the front of a candidate ("Again seen at
# St. Mary's Hospital", "Performed Mercy Hospital"), and words that name no particular place: a candidate made
# only of those and institution words is no identifier ("Outside Hospital", "Interventional Radiology").
_INSTITUTION_LEADING = frozenset(
    """a an the this that these our your his her their outside same other another local referring prior previous
    again performed at from in on to per see seen comparison comparisons exam study images image findings
    impression note noted transferred admitted referred discharged patient call contact results report
    dictated reviewed""".split()
)
_INSTITUTION_GENERIC = _INSTITUTION_LEADING | frozenset(
    """emergency department interventional diagnostic general regional community memorial university medical
    health county city state children's women's veterans teaching academic hospital hospitals clinic clinics
    center centre imaging radiology of for and & de del la st. saint""".split()
)


def _shift(offset: int | None, day: dt.date) -> dt.date | None:
    return None if offset is None else day + dt.timedelta(days=offset)


def _pad(value: int, like: str) -> str:
    return f"{value:0{len(like)}d}" if len(like) >= 2 else str(value)


def _month_name(month: int, like: str, dashed: bool = False) -> str:
    # "May" is its own abbreviation: read it as the full name so that it becomes "June", not "Jun".
    full = (len(like.rstrip(".")) > 3 and like.lower() != "sept") or (like.lower() == "may" and not dashed)
    name = calendar.month_name[month] if full else None
    name = name or calendar.month_abbr[month]
    if like.isupper():
        return name.upper()
    if like.islower():
        return name.lower()
    return name


def _day_like(day: int, like: str, by_length: bool = True) -> str:
    """The day written like `like`, with an ordinal suffix when it had one ("3rd" -> "2nd").

    Zero-padded when `like` has two digits (`by_length`, as in 14-Mar-2021 -> 04-Mar-2021) or else only when
    it starts with a zero (March 14 -> March 4, March 04 -> March 09)."""
    digits = like.rstrip("stndrhSTNDRH")
    out = _pad(day, digits) if by_length or digits.startswith("0") else str(day)
    if len(digits) == len(like):
        return out
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return out + (suffix.upper() if like[len(digits) :].isupper() else suffix)


_DAY_TEXT = re.compile(r"\d{1,2}(?:st|nd|rd|th)?", re.I)


def _year(text: str) -> int:
    year = int(text.lstrip("'"))
    if len(text.lstrip("'")) == 2:
        year += 2000 if year < 50 else 1900
    return year


def _year_like(year: int, like: str) -> str:
    digits = like.lstrip("'")
    return like[: len(like) - len(digits)] + (f"{year:04d}" if len(digits) == 4 else f"{year % 100:02d}")


class Scan:
    """One report text with what every finder needs computed once: its lower case and its digit runs.

    Numeric PHI is looked for only where digits are, by anchored matches at each run and short look-backs for
    labels, instead of scanning the whole text once per pattern: this keeps the scrubber at thousands of
    reports per second.
    """

    __slots__ = ("text", "lower", "runs")

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()
        self.runs = [(m.start(), m.end()) for m in _DIGITS.finditer(text)]


def _token_start(text: str, position: int) -> int:
    while position > 0 and (text[position - 1].isalnum() or text[position - 1] in "-/"):
        position -= 1
    return position


def find_contacts(scan: Scan) -> Iterator[Found]:
    text = scan.text
    if "@" in text:
        for match in _EMAIL.finditer(text):
            yield match.start(), match.end(), "email", PLACEHOLDER
    if "://" in text or "www." in scan.lower or _TLD.search(scan.lower):
        for match in _URL.finditer(text):
            end = match.end()
            while end > match.start() and text[end - 1] in ".,;:!?":
                end -= 1
            yield match.start(), end, "url", PLACEHOLDER
    for start, end in scan.runs:
        if text.startswith(".", end):
            match = _IPV4.match(text, start)
            if match and all(int(part) <= 255 for part in match.group().split(".")):
                yield match.start(), match.end(), "url", PLACEHOLDER
        match = _SSN.match(text, start)
        if match:
            yield match.start(), match.end(), "ssn", PLACEHOLDER
        elif end - start >= 3 and _SSN_LABEL_BEFORE.search(text, max(0, start - 30), start):
            match = _SSN_VALUE.match(text, start)
            if match:
                yield match.start(), match.end(), "ssn", PLACEHOLDER
        for at in (start - 1, start) if start and text[start - 1] in "(+" else (start,):
            match = _PHONE.match(text, at)
            if match and (sum(c.isdigit() for c in match.group()) >= 10 or match.group().startswith("+")):
                yield match.start(), match.end(), "phone", PLACEHOLDER
                break
        if end - start == 3 and text.startswith("-", end):
            match = _PHONE_LOCAL.match(text, start)
            if match:
                yield match.start(), match.end(), "phone", PLACEHOLDER
        at = start - 1 if start and text[start - 1] in "(+" else start
        if _PHONE_LABEL_BEFORE.search(text, max(0, at - 40), at):
            match = _PHONE_VALUE.match(text, at)
            if match:
                value = match.group().rstrip(" -.(")
                if 4 <= sum(c.isdigit() for c in value) <= 15:
                    yield at, at + len(value), "phone", PLACEHOLDER
        if end - start >= 3 and _EXTENSION_BEFORE.search(text, max(0, start - 6), start):
            yield start, end, "phone", PLACEHOLDER


def find_ids(scan: Scan) -> Iterator[Found]:
    text, last = scan.text, -1
    for start, _end in scan.runs:
        if start < last:
            continue  # a later digit group of an identifier already found
        token = _token_start(text, start)
        match = _ID_VALUE.match(text, token)
        if match and _ID_LABEL_BEFORE.search(text, max(0, token - 45), token):
            last = match.end()
            yield token, match.end(), "id", PLACEHOLDER
            continue
        match = _ID_HASH.match(text, token)
        if match and (text[token - 1 : token] == "#" or text[token - 2 : token] == "# "):
            last = match.end()
            yield token, match.end(), "id", PLACEHOLDER
            continue
        match = _ID_CODED.match(text, token)
        if match:
            last = match.end()
            yield match.start(), match.end(), "id", PLACEHOLDER


def find_long_numbers(scan: Scan) -> Iterator[Found]:
    for start, end in scan.runs:
        if end - start >= 6:
            match = _LONG_DIGITS.match(scan.text, start)
            if match:
                yield match.start(), match.end(), "id", PLACEHOLDER


def find_ages(scan: Scan) -> Iterator[Found]:
    """Ages over 89 (HIPAA Safe Harbor): '92-year-old', '92 yo', '92F', 'aged 92', 'in her 90s'."""
    text = scan.text
    for start, end in scan.runs:
        if not (2 <= end - start <= 3 and 90 <= int(text[start:end]) <= 149):
            continue
        if start and (text[start - 1].isalnum() or text[start - 1] == "."):
            continue
        if (
            _AGE_AFTER.match(text, end)
            or (_AGE_BEFORE.search(text, max(0, start - 12), start) and not _AGE_NOT_AFTER.match(text, end))
            or (_AGE_DECADE_BEFORE.search(text, max(0, start - 12), start) and _AGE_DECADE_AFTER.match(text, end))
        ):
            yield start, end, "age", PLACEHOLDER
    if "ninety" in scan.lower or "hundred" in scan.lower:
        for match in _AGE_WRITTEN.finditer(text):
            yield match.start("value"), match.end("value"), "age", PLACEHOLDER


def find_places(scan: Scan) -> Iterator[Found]:
    text = scan.text
    if "box" in scan.lower:
        for match in _PO_BOX.finditer(text):
            yield match.start(), _trim(text, match.end()), "address", PLACEHOLDER
    for start, end in scan.runs:
        match = _STREET.match(text, start) if end - start <= 6 else None
        if match:
            yield start, _trim(text, match.end()), "address", PLACEHOLDER
        elif end - start == 5:
            before = _CITY_STATE_BEFORE.search(text, max(0, start - 70), start)
            if before:
                zip_end = _ZIP.match(text, start).end()
                yield before.start(), zip_end, "address", PLACEHOLDER
    if _INSTITUTION_HINT.search(text):
        for match in _INSTITUTION.finditer(text):
            span = _institution_span(text, match.start(), match.end())
            if span:
                yield span[0], span[1], "institution", PLACEHOLDER


def _trim(text: str, end: int) -> int:
    while text[end - 1] in ". ,":
        end -= 1
    return end


def _institution_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    words = list(re.finditer(r"[^ ]+", text[start:end]))
    while words and words[0].group().lower() in _INSTITUTION_LEADING:
        words.pop(0)
    if not words or not any(w.group().lower().strip("'’") not in _INSTITUTION_GENERIC for w in words):
        return None
    return start + words[0].start(), end


def find_dates(scan: Scan, offset: int | None) -> Iterator[Found]:
    text = scan.text
    for start, end in scan.runs:
        candidates: list[tuple[int, int, str]] = []
        if not start or not text[start - 1].isdigit():
            candidates += _numeric_dates(text, start, offset)
            if end - start == 8:
                candidates += _compact_dates(text, start, offset)
            if end - start <= 2:
                candidates += _numeric_month_year(text, start, offset)
                if _MD_CONTEXT_BEFORE.search(text, max(0, start - 12), start):
                    candidates += _numeric_month_day(text, start, offset)
        before = _MONTH_BEFORE.search(text, max(0, start - 12), start)
        if before:
            candidates += _month_first(text, before.start(), offset)
        if end - start <= 2 and _MONTH_AFTER.match(text, end):
            candidates += _day_first(text, start, offset)
        for candidate in candidates:
            yield candidate[0], candidate[1], "date", candidate[2]


def find_traces(scan: Scan) -> Iterator[Found]:
    if "[**" in scan.text or "__" in scan.text or "xxx" in scan.lower:
        for match in _TRACE.finditer(scan.text):
            if match.group() != PLACEHOLDER:
                yield match.start(), match.end(), "trace", PLACEHOLDER


Dated = tuple[int, int, str]


def _numeric_dates(text: str, position: int, offset: int | None) -> list[Dated]:
    match = _NUMERIC_DATE.match(text, position)
    if not match:
        return []
    if match.group("a2"):
        a, b, c, sep = match.group("a2"), match.group("b2"), match.group("c2"), "-"
    else:
        a, b, c, sep = match.group("a"), match.group("b"), match.group("c"), match.group("sep")
    if len(a) == 4:
        if len(c) > 2:
            return []
        year_text, month_text, day_text, order = a, b, c, "ymd"
    elif len(a) <= 2 and len(c) in (2, 4):
        month_text, day_text, year_text, order = a, b, c, "mdy"
        if int(a) > 12 and int(b) <= 12:
            day_text, month_text, order = a, b, "dmy"
    else:
        return []
    if sep == "." and order == "mdy" and len(year_text) == 2:
        return []  # '1.5.10' style: more likely a version or list number than a date
    try:
        day = dt.date(_year(year_text), int(month_text), int(day_text))
    except ValueError:
        return []
    moved = _shift(offset, day)
    if moved is None:
        return [(match.start(), match.end(), PLACEHOLDER)]
    parts = {"y": _year_like(moved.year, year_text), "m": _pad(moved.month, month_text), "d": _pad(moved.day, day_text)}
    return [(match.start(), match.end(), sep.join(parts[k] for k in order))]


def _compact_dates(text: str, position: int, offset: int | None) -> list[Dated]:
    match = _COMPACT_DATE.match(text, position)
    if not match:
        return []
    try:
        day = dt.date(int(match.group("y")), int(match.group("m")), int(match.group("d")))
    except ValueError:
        return []
    moved = _shift(offset, day)
    return [(match.start(), match.end(), PLACEHOLDER if moved is None else moved.strftime("%Y%m%d"))]


def _numeric_month_year(text: str, position: int, offset: int | None) -> list[Dated]:
    match = _NUMERIC_MONTH_YEAR.match(text, position)
    if not match:
        return []
    moved = _shift(offset, dt.date(int(match.group("y")), int(match.group("m")), 15))
    if moved is None:
        return [(match.start(), match.end(), PLACEHOLDER)]
    return [(match.start(), match.end(), f"{_pad(moved.month, match.group('m'))}/{moved.year}")]


def _numeric_month_day(text: str, position: int, offset: int | None) -> list[Dated]:
    # A date without a year is shifted within a leap year so that February 29 stays valid.
    match = _NUMERIC_MONTH_DAY.match(text, position)
    if not match:
        return []
    try:
        day = dt.date(2000, int(match.group("m")), int(match.group("d")))
    except ValueError:
        return []
    moved = _shift(offset, day)
    if moved is None:
        return [(match.start(), match.end(), PLACEHOLDER)]
    return [(match.start(), match.end(), f"{_pad(moved.month, match.group('m'))}/{_pad(moved.day, match.group('d'))}")]


def _month_first(text: str, position: int, offset: int | None) -> list[Dated]:
    """'March 14, 2021', 'Mar. 14th, '21', 'March 2021', 'March 14' starting at `position`."""
    match = _MONTH_DAY_YEAR.match(text, position)
    if match:
        second = match.group("month2") is not None
        month_text = match.group("month2" if second else "month")
        day_text = match.group("day2" if second else "day")
        year_text = match.group("year2" if second else "year")
        try:
            day = dt.date(_year(year_text), _MONTHS[month_text.lower()], int(day_text))
        except ValueError:
            return []
        moved = _shift(offset, day)
        if moved is None:
            return [(match.start(), match.end(), PLACEHOLDER)]
        # Keep the original's punctuation between the parts: only the numbers and the month name change.
        rest = match.group()[len(month_text) :]
        rest = _DAY_TEXT.sub(lambda m: _day_like(moved.day, m.group(), by_length=False), rest, count=1)
        rest = rest[: len(rest) - len(year_text)] + _year_like(moved.year, year_text)
        return [(match.start(), match.end(), _month_name(moved.month, month_text) + rest)]
    match = _MONTH_YEAR.match(text, position)
    if match:
        month_text = match.group("month")
        # Without a day the shift is applied to mid-month, close enough for "March 2021"-style mentions.
        moved = _shift(offset, dt.date(int(match.group("year")), _MONTHS[month_text.lower()], 15))
        if moved is None:
            return [(match.start(), match.end(), PLACEHOLDER)]
        between = match.group()[len(month_text) : match.start("year") - match.start()]
        return [(match.start(), match.end(), f"{_month_name(moved.month, month_text)}{between}{moved.year}")]
    match = _MONTH_DAY.match(text, position)
    if match and match.group("month"):
        return _month_day(match, offset, second=False)
    return []


def _day_first(text: str, position: int, offset: int | None) -> list[Dated]:
    """'14 March 2021', '14-Mar-2021', '14th of March, 2021', '14MAR2021', '14 March' starting at `position`."""
    for finder in (_DAY_MONTH_YEAR, _DAY_MONTH_COMPACT):
        match = finder.match(text, position)
        if not match:
            continue
        month_text, day_text, year_text = match.group("month"), match.group("day"), match.group("year")
        try:
            day = dt.date(_year(year_text), _MONTHS[month_text.lower()], int(day_text))
        except ValueError:
            continue
        moved = _shift(offset, day)
        if moved is None:
            return [(match.start(), match.end(), PLACEHOLDER)]
        original = match.group()
        month_at = match.start("month") - match.start()
        head = _DAY_TEXT.sub(lambda m, day=moved.day: _day_like(day, m.group()), original[:month_at], count=1)
        middle = original[month_at + len(month_text) : len(original) - len(year_text)]
        name = _month_name(moved.month, month_text, dashed="-" in original or finder is _DAY_MONTH_COMPACT)
        return [(match.start(), match.end(), head + name + middle + _year_like(moved.year, year_text))]
    match = _MONTH_DAY.match(text, position)
    if match and match.group("month2"):
        return _month_day(match, offset, second=True)
    return []


def _month_day(match: re.Match, offset: int | None, second: bool) -> list[Dated]:
    # A date without a year is shifted within a leap year so that February 29 stays valid.
    month_text = match.group("month2" if second else "month")
    day_text = match.group("day2" if second else "day")
    try:
        day = dt.date(2000, _MONTHS[month_text.lower()], int(day_text))
    except ValueError:
        return []
    moved = _shift(offset, day)
    if moved is None:
        return [(match.start(), match.end(), PLACEHOLDER)]
    original = match.group()
    name = _month_name(moved.month, month_text)
    if second:
        rest = original[len(day_text) :].replace(month_text, name, 1)
        return [
            (
                match.start(),
                match.end(),
                _DAY_TEXT.sub(lambda m: _day_like(moved.day, m.group()), day_text + rest, count=1),
            )
        ]
    rest = original[len(month_text) :]
    day_out = _DAY_TEXT.sub(lambda m: _day_like(moved.day, m.group(), by_length=False), rest, count=1)
    return [(match.start(), match.end(), name + day_out)]
