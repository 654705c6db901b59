"""File names fit to show: the parts of a path that look like identifiers are replaced before an error
item or a stored path reaches a page, the API, a log or the database.

Hospital exports name folders after patients ('DOE^JANE_88619809_DOB19460629'); a job error must say
which file failed without repeating that. Dataset ids (NIH '00000001_000.png') are not identifiers and
stay readable. Django-free.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

REDACTED = "[redacted]"
_MARKERS = re.compile(r"\^|(?<![a-z])(?:dob|mrn|ssn|birth|name)(?![a-z])", re.IGNORECASE)
_EIGHT_DIGITS = re.compile(r"(?<!\d)(19|20)(\d{2})(\d{2})(\d{2})(?!\d)")
_SEPARATORS = re.compile(r"[_^.\-]+")
_PHI_KINDS = frozenset({"name", "date", "age", "ssn", "phone", "email", "url", "address", "institution"})


def _looks_like_date(text: str) -> bool:
    for match in _EIGHT_DIGITS.finditer(text):
        try:
            dt.date(int(match.group(1) + match.group(2)), int(match.group(3)), int(match.group(4)))
            return True
        except ValueError:
            continue
    return False


@functools.lru_cache(maxsize=65536)  # folder names repeat on every row of a manifest
def _is_identifying(component: str) -> bool:
    if _MARKERS.search(component) or _looks_like_date(component):
        return True
    from .dicomio.scrub import scrub_report

    words = _SEPARATORS.sub(" ", component).strip()
    if not words:
        return False
    return any(kind in _PHI_KINDS for _, _, kind in scrub_report(words).replacements)


def redact_path(item: str) -> str:
    """The item with every identifying path component replaced (a file keeps its extension)."""
    item = str(item)
    suffix = ""
    row = re.search(r":\d+$", item)  # 'reports.csv:12' names a row: keep the number
    if row:
        item, suffix = item[: row.start()], row.group()
    parts = item.replace("\\", "/").split("/")
    out = []
    for i, part in enumerate(parts):
        stem, dot, ext = part.rpartition(".") if i == len(parts) - 1 and "." in part[1:] else (part, "", "")
        if stem and _is_identifying(stem):
            out.append(REDACTED + (dot + ext if dot else ""))
        else:
            out.append(part)
    return "/".join(out) + suffix


_PATH_LIKE = re.compile(r"[^\s'\"(),;]*[/^][^\s'\"(),;]*")


def redact_paths_in(text: str) -> str:
    """A message with every path-like word (anything with a '/' or '^') redacted as `redact_path` does."""
    return _PATH_LIKE.sub(lambda m: redact_path(m.group()) if m.group() else m.group(), str(text))
