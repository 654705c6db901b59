"""Find person names in report text: context rules, an allow-list of words, and known names.

Context that makes a name whatever the word is: a title before it (Dr, Mrs, Nurse...), a post-nominal after
it (", MD"), a label (Patient:, Attending:, Dictated by:). Elsewhere a capitalised word that is neither an
English nor a clinical word is a name, and so is a listed first name or surname inside a sentence; at the
start of a sentence a listed name needs a neighbour that is a name or a verb such as "was informed".
Eponyms followed by a clinical noun (Hampton hump, Kerley B lines, Greenfield filter) are never names, and a
word found to be a name is removed wherever else it appears capitalised in the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from curation.dicomio.scrub_words import clinical, eponyms, is_name, is_word

Span = tuple[int, int]

# A capitalised word (Latin script), with inner hyphens and apostrophes; words with digits (T7, C5) are codes.
_TOKEN = re.compile(r"(?<![\w'’\-])[A-ZÀ-ÖØ-Þ\u0100-\u024f](?:[^\W\d_]|['’\-](?=[^\W\d_]))*(?![\w])")
# Possessives and contractions are not part of the word: "Oyelaran's" -> "Oyelaran", "They're" -> "They".
_POSSESSIVE = re.compile(r"['’](?:s|re|ve|ll|d|m)$|n['’]t$")
_LOWER_DOCTOR = re.compile(r"\b(?:dr|doctor)\.?[ ]+(?P<name>[a-z][a-z'\-]+)")
# After these titles any capitalised word is a name ("Dr. Young"); a title is matched case-sensitively so
# that "MS findings" or "MR CHEST" are not titles.
_STRONG_TITLES = frozenset(
    "Dr DR Doctor DOCTOR Prof PROF Professor Mr Mrs MRS Ms Miss Mx Dr. Mr. Mrs. Ms. Prof. Drs Drs. Nurse NURSE".split()
)
# Words after a title that name a role, not a person: "Nurse Practitioner Jones", "Nurse Manager".
_ROLE_WORDS = frozenset(
    """practitioner manager navigator coordinator educator supervisor specialist anesthetist midwife station
    call line staff team on in at""".split()
)
# After these a word must look like a name (listed, or not an English word): "Nurse Grace" but not
# "Nurse Manager"; "Resident Oyelaran" but not "Resident physician".
_WEAK_TITLES = frozenset(
    """RN Practitioner Assistant Attending Resident Fellow Technologist Tech Radiologist
    Physician Surgeon Provider Therapist Midwife Paramedic Sister Intern Pharmacist Coordinator Colleague
    Dictated Signed Verified Interpreted Transcribed Attested""".split()
)
_STOP = frozenset(
    """the this that these those there then no not at on in was is are and or per by via who with to from for of
    as he she they we it his her their please report exam study findings impression comparison indication
    history technique clinical result results note see""".split()
)
_LABEL = re.compile(
    r"\b(?:Patient(?:'s)?(?:[ ]+[Nn]ame)?|PATIENT(?:[ ]+NAME)?|Pt|Name|NAME|Attending(?:[ ]+(?:[Pp]hysician|"
    r"[Rr]adiologist))?|Radiologist|Referring(?:[ ]+(?:[Pp]hysician|[Pp]rovider|MD|[Dd]octor|[Cc]linician))?"
    r"|Ordering(?:[ ]+(?:[Pp]hysician|[Pp]rovider|MD|[Cc]linician))?|Requesting(?:[ ]+[Pp]hysician)?|Physician"
    r"|Provider|Clinician|Technologist|Tech|Resident|Fellow|Nurse|Dictated[ ]+[Bb]y|(?:Electronically[ ]+)?"
    r"[Ss]igned(?:[ ]+[Bb]y)?|Read[ ]+[Bb]y|Reviewed[ ]+[Bb]y|Verified[ ]+[Bb]y|Interpreted[ ]+[Bb]y"
    r"|Approved[ ]+[Bb]y|Reported[ ]+[Bb]y|Transcribed[ ]+[Bb]y|Performed[ ]+[Bb]y|Prepared[ ]+[Bb]y"
    r"|Dictating[ ]+[Pp]hysician|Reading[ ]+[Pp]hysician|[Cc][Cc]|Copy[ ]+[Tt]o|Contact|Guarantor"
    r"|Emergency[ ]+[Cc]ontact|Next[ ]+of[ ]+[Kk]in|Spouse|Mother|Father|Son|Daughter|Wife|Husband|Parent"
    r"|Guardian|Caregiver|Informant)[ \t]*:[ \t]*"
)
_POSTNOMINAL = re.compile(
    r"(?:,[ ]*|[ ])(?:MD|M\.D\.|RN|R\.N\.|NP|PA-C|PhD|Ph\.D\.|MBBS|MBChB|FRCR|FRCPC|FACR|CRNA|APRN|DNP|RRT|MSN|BSN"
    r"|PharmD|DDS|DMD|DPM)(?![\w])|,[ ]*(?:DO|D\.O\.|RT|PA)(?![\w])"
)
_NAME_VERB = re.compile(
    r"[ ]+(?:(?:was|were|is|has|had|has been|had been)[ ]+(?:informed|notified|paged|called|contacted|told|"
    r"updated|aware|made aware|present|consulted)|agreed|agrees|confirmed|acknowledged|reviewed|read back|"
    r"verbalized|verbalised|stated|requested|called|paged|notified|informed)\b"
)
# A clinical noun after a capitalised word makes it an eponym or a device, not a name.
_HEAD_NOUNS = (
    "sign|signs|line|lines|hump|hernia|hernias|tumor|tumors|tumour|tumours|focus|complex|lesion|lesions|filter"
    "|catheter|catheters|tube|tubes|valve|valves|drain|drains|port|stent|stents|clip|clips|band|bands|disease"
    "|syndrome|fracture|fractures|classification|criteria|score|view|views|position|maneuver|manoeuvre"
    "|procedure|repair|operation|shunt|pump|device|lead|leads|wire|wires|sump|balloon|cath|pouch|triangle"
    "|space|nodule|nodules|node|nodes|sarcoma|lymphoma|granuloma|cyst|cysts|fissure|angle|artery|vein|duct"
    "|ligament|pad|test|unit|units|scale|system|needle|mask|cannula|ring|rod|rods|screw|screws|plate|defect"
    "|anomaly|deformity|malformation|diverticulum|sequestration|effect|phenomenon|stripe|body|bodies|spot"
    "|spots|reflex|pattern|configuration|appearance|artifact|artefact|type|grade|stage|knob|notch|incision"
    "|flap|window|blade|tear|ulcer|bundle|zone|area|foramen|recess|fundoplication|esophagectomy|pneumonia"
    "|infection|organism|bacilli|cell|cells|coil|coils|occluder|generator|pacemaker|defibrillator|dressing"
)
_EPONYM_TAIL = re.compile(rf"(?:['’]s)?(?:[ ]+(?:[A-Z]|I{{1,3}}|IV|V|\d{{1,2}}[A-Za-z]?))?[ ]+(?:{_HEAD_NOUNS})\b")
# Titles and abbreviations are never names themselves.
_NEVER_NAMES = frozenset(
    w.rstrip(".").lower() for w in (*_STRONG_TITLES, *_WEAK_TITLES, *"St Pt Jr Sr Mt Ste No Nos Hx Dx".split())
)
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof st jr sr vs no fig ref approx e.g i.e dept ave rd mt ste etc inc corp".split()
)
_PARTS = re.compile(r"[\-'’]")
_NAME_PREFIXES = re.compile(r"^(?:Mc|Mac|O['’]|D['’]|De|Di|Da|La|Le|Van|Von|St)[A-Z]")


class _Token:
    __slots__ = ("start", "end", "text", "base", "upper", "initial", "index")

    def __init__(self, match: re.Match, text: str, index: int) -> None:
        word = match.group()
        base = _POSSESSIVE.sub("", word) if len(word) > 3 else word
        self.start, self.text, self.base, self.index = match.start(), word, base, index
        self.end = match.start() + len(base)
        self.upper = len(base) > 1 and base.isupper()
        self.initial = len(word) == 1 and word.isupper() and text[match.end() : match.end() + 1] == "."


def _starts_sentence(text: str, position: int) -> bool:
    i = position - 1
    while i >= 0 and text[i] in " \t\"'“‘([":
        i -= 1
    if i < 0:
        return True
    char = text[i]
    if char in "!?;:\n\r•*":
        return True
    if char == "-" and (i == 0 or text[i - 1] in "\n\r"):
        return True
    if char != ".":
        return False
    j = i
    while j > 0 and not text[j - 1].isspace():
        j -= 1
    before = text[j:i].lower()
    if len(before) == 1 and before.isalpha():
        return False  # an initial: "J. Whitfield"
    return before not in _ABBREVIATIONS


def _is_name_like(token: _Token, allow_upper: bool = False) -> bool:
    """A word that looks like a name wherever it stands: an initial, a listed name, or not an English word."""
    if token.initial:
        return True
    if token.upper and not allow_upper:
        return False
    if token.base.lower() in _STOP or token.base.lower() in _NEVER_NAMES:
        return False
    return is_name(token.base) or (len(token.base) > 2 and not _known(token.base))


def _known(word: str) -> bool:
    """An English, clinical or product word (each part of a hyphenated word), as opposed to a possible name."""
    if word in eponyms():
        return True
    if _NAME_PREFIXES.match(word):
        return False  # McDonald, O'Brien, DeLuca
    for part in _PARTS.split(word):
        if len(part) < 2 or (not part[1:].islower() and not part.isupper()):
            continue  # an initial, or inner capitals: PleurX, CardioMEMS, BiPAP are products
        if not is_word(part.lower()):
            return False
    return True


def find_names(
    text: str, blocked: list[Span], known_words: Iterable[str] = (), force: Iterable[Span] = ()
) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of every name in `text`, skipping tokens inside `blocked` spans (other PHI).

    `known_words` are parts of names known from the DICOM header: removed wherever they appear capitalised.
    `force` spans (from known-name patterns) are names whatever their words are.
    """
    # Only capitalised words can be names (lower-case text is handled by titles and known names); words between
    # them show up in the gaps that the context rules check.
    tokens = [_Token(m, text, 0) for m in _TOKEN.finditer(text) if m.group()[0].isupper()]
    if blocked:
        tokens = [t for t in tokens if not _inside(t, blocked)]
    for i, token in enumerate(tokens):
        token.index = i
    chosen: dict[int, _Token] = {}
    protected = _eponym_tokens(text, tokens)

    def take(token: _Token) -> None:
        chosen[token.index] = token

    _after_titles(text, tokens, take)
    _before_postnominals(text, tokens, take)
    _after_labels(text, tokens, take)
    for token in tokens:
        if token.index in chosen or token.index in protected or token.upper:
            continue
        if len(token.base) < 2 or token.initial or token.base.lower() in _NEVER_NAMES:
            continue
        if text.startswith((":", "#"), token.end):
            continue  # a field label ("Date:", "Req#"), not a name
        if len(token.base) > 2 and not _known(token.base):
            take(token)
        elif is_name(token.base) and (not _starts_sentence(text, token.start) or _name_follows(text, tokens, token)):
            take(token)
    # A name found once is a name everywhere in the report (capitalised or upper case).
    words = {t.base for t in chosen.values() if not t.initial and len(t.base) > 1}
    words |= {w for w in known_words if len(w) > 1}
    forms = {w.title() for w in words} | {w.upper() for w in words} | words
    for token in tokens:
        if token.index in chosen or token.index in protected or token.base.lower() in _NEVER_NAMES:
            continue
        if token.base in forms:
            take(token)
    for match in _LOWER_DOCTOR.finditer(text):
        # Lower-case text: "dr. oyelaran".
        if not is_word(match.group("name")) and not any(s < match.end() and match.start() < e for s, e in blocked):
            yield match.start("name"), match.end("name")
    for token in chosen.values():
        start = token.start
        # An initial right before a name goes with it: "J. Smith".
        previous = tokens[token.index - 1] if token.index else None
        if previous is not None and previous.initial and previous.index not in chosen:
            if text[previous.end : token.start].strip() == ".":
                start = previous.start
        end = token.end + (1 if token.initial else 0)
        yield start, end


def _inside(token: _Token, spans: list[Span]) -> bool:
    return any(token.start < e and s < token.end for s, e in spans)


def _eponym_tokens(text: str, tokens: list[_Token]) -> set[int]:
    protected: set[int] = set()
    for token in tokens:
        if token.upper:
            continue
        if _EPONYM_TAIL.match(text, token.end):
            protected.add(token.index)
            # "Swan Ganz catheter", "Mallory Weiss tear": the capitalised words before it belong to it.
            i = token.index - 1
            while i >= 0 and text[tokens[i].end : tokens[i + 1].start] in (" ", "-"):
                protected.add(i)
                i -= 1
    return protected


def _name_follows(text: str, tokens: list[_Token], token: _Token) -> bool:
    """At a sentence start a listed name that is also a word ('Grace') needs a name or a verb after it."""
    if _NAME_VERB.match(text, token.end) or text.startswith(("'s", "’s"), token.end):
        return True
    nxt = tokens[token.index + 1] if token.index + 1 < len(tokens) else None
    if nxt is None or text[token.end : nxt.start] not in (" ", ", "):
        return False
    return _is_name_like(nxt) and not nxt.initial


def _run(tokens: list[_Token], text: str, first: int, step: int, strong_first: bool, allow_upper: bool):
    """Name tokens from index `first` going forward (step 1) or backward (step -1), at most four words."""
    out = []
    i = first
    comma_used = False
    while 0 <= i < len(tokens) and len(out) < 4:
        token = tokens[i]
        if out:
            a, b = (out[-1], token) if step == 1 else (token, out[-1])
            gap = text[a.end + (1 if a.initial else 0) : b.start]
            if gap == "," or gap == ", ":
                if comma_used or step == -1 or _POSTNOMINAL.match(text, a.end):
                    break
                comma_used = True  # "Last, First"
            elif gap != " ":
                break
        if strong_first and not out:
            lower = token.base.lower()
            ok = lower not in _STOP and lower not in _NEVER_NAMES and (allow_upper or not token.upper)
            ok = ok and lower not in _ROLE_WORDS
        elif out and step == 1:
            # After a name in a title or label context, a capitalised word next to it is the rest of the name
            # ("Patient: Summer Bright") unless it is a clinical word or a field label.
            lower = token.base.lower()
            ok = _is_name_like(token, allow_upper=allow_upper) or (
                (allow_upper or not token.upper)
                and lower not in _STOP
                and lower not in _NEVER_NAMES
                and lower not in clinical()
                and not text.startswith((":", "#"), token.end)
            )
        else:
            ok = _is_name_like(token, allow_upper=allow_upper)
        if not ok:
            break
        out.append(token)
        i += step
    return out


def _after_titles(text: str, tokens: list[_Token], take) -> None:
    for token in tokens:
        word = token.text
        nxt = token.index + 1
        if nxt >= len(tokens):
            continue
        gap = text[token.end : tokens[nxt].start]
        if gap.strip() not in ("", "."):
            continue
        if word in _STRONG_TITLES and (gap.startswith(".") or gap.startswith(" ")):
            run = _run(tokens, text, nxt, 1, strong_first=True, allow_upper=word.isupper())
        elif word in _WEAK_TITLES and gap.strip() == "":
            run = _run(tokens, text, nxt, 1, strong_first=False, allow_upper=word.isupper())
        else:
            continue
        for name in run:
            take(name)


def _before_postnominals(text: str, tokens: list[_Token], take) -> None:
    ends = {t.end: t for t in tokens}
    for match in _POSTNOMINAL.finditer(text):
        token = ends.get(match.start())
        if token is None:
            continue
        for name in _run(tokens, text, token.index, -1, strong_first=True, allow_upper=True):
            take(name)


def _after_labels(text: str, tokens: list[_Token], take) -> None:
    starts = {t.start: t for t in tokens}
    for match in _LABEL.finditer(text):
        token = starts.get(match.end())
        if token is None:
            continue
        for name in _run(tokens, text, token.index, 1, strong_first=False, allow_upper=True):
            take(name)
