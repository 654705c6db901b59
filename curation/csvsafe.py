"""CSV cells that spreadsheets cannot execute: every CSV the project writes goes through here.

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel and LibreOffice (OWASP "CSV injection"); such a cell gets a leading apostrophe. Cells that are a
plain number (`-1`, `-1.0`, `+3`, `1e-3`) stay as they are: label CSVs and the CheXpert format use
`-1.0` for "uncertain". Django-free, so the NLP and QC cores can use it too.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """The value, with a leading apostrophe when a spreadsheet would evaluate it as a formula."""
    if not isinstance(value, str) or not value or not value.startswith(_TRIGGERS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


class SafeWriter:
    """csv.writer with every cell neutralised; same `writerow` / `writerows` interface."""

    def __init__(self, handle, *args, **kwargs):
        self._writer = csv.writer(handle, *args, **kwargs)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class SafeDictWriter(csv.DictWriter):
    """csv.DictWriter with every cell neutralised."""

    def writerow(self, rowdict):
        return super().writerow({key: safe_cell(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts):
        for row in rowdicts:
            self.writerow(row)


_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(key: str, suffix: str = "") -> str:
    """A file name made from a key (an image key) that no consumer can read as a formula or a path:
    only letters, digits, '.', '_' and '-', never starting with a formula trigger or a dot."""
    name = _UNSAFE_NAME_CHARS.sub("_", str(key or "")).strip("_")
    while name.startswith(("-", ".", "+", "=", "@")):
        name = name[1:]
    return (name[:200] or "image") + suffix
