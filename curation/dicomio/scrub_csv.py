"""Scrub the text columns of a reports CSV: the logic of `manage.py scrub_reports`, Django-free.

The output has the input's columns in the same order under the same header, with every named text column
passed through `scrub_report`; other columns are copied (through csvsafe, like every CSV the project
writes). The input is read as UTF-8 (a BOM is dropped) or, when it is not UTF-8, as Windows-1252. The output
is written to a temporary file and renamed only when the whole input was read, so a bad input never leaves a
half-scrubbed file behind.
"""

from __future__ import annotations

import codecs
import csv
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from curation.csvsafe import SafeWriter
from curation.dicomio.scrub import scrub_report

# A report is a few kB; a field is allowed up to 64 MB (the csv module's default is 128 kB) and the previous
# process-wide limit is restored afterwards.
FIELD_LIMIT = 64 * 1024 * 1024
_ENCODINGS = ("utf-8-sig", "cp1252")
_CHUNK = 1 << 20


class ScrubCsvError(ValueError):
    """The CSV cannot be scrubbed: unreadable encoding, no header, missing columns, or a malformed line."""


@dataclass
class ScrubCsvSummary:
    rows: int = 0
    cells: int = 0
    replacements: Counter = field(default_factory=Counter)
    encoding: str = ""
    seconds: float = 0.0


def scrub_csv(
    input_path: str | Path,
    output_path: str | Path,
    id_column: str,
    text_columns: Sequence[str],
    date_offset_days: int | None = None,
) -> ScrubCsvSummary:
    """Write `output_path`: `input_path` with every column in `text_columns` scrubbed of PHI.

    Raises ScrubCsvError when the file is neither UTF-8 nor Windows-1252, has no header, lacks a named column,
    or has a line the csv module cannot read (for example a field over FIELD_LIMIT characters).
    """
    started = time.perf_counter()
    columns = [column.strip() for column in text_columns if column.strip()]
    if not columns:
        raise ScrubCsvError("name at least one text column")
    encoding = detect_encoding(input_path)
    summary = ScrubCsvSummary(encoding=encoding)
    output_path = Path(output_path)
    previous_limit = csv.field_size_limit()
    handle, temporary = tempfile.mkstemp(prefix=".scrub-", suffix=".csv", dir=output_path.parent or ".")
    os.close(handle)
    try:
        csv.field_size_limit(_field_limit())
        with (
            open(input_path, encoding=encoding, newline="") as source,
            open(temporary, "w", encoding="utf-8", newline="") as target,
        ):
            reader = csv.reader(source)
            header = _header(reader, input_path)
            missing = [c for c in [id_column, *columns] if c not in header]
            if missing:
                raise ScrubCsvError(
                    f"{input_path}: missing column(s) {', '.join(missing)}; the header has {', '.join(header)}"
                )
            indices = [header.index(c) for c in dict.fromkeys(columns)]
            id_index = header.index(id_column)
            writer = SafeWriter(target)
            writer.writerow(header)
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    raise ScrubCsvError(f"{input_path}: line {reader.line_num} cannot be read: {error}") from None
                for index in indices:
                    if index < len(row) and row[index]:
                        result = scrub_report(row[index], date_offset_days=date_offset_days)
                        row[index] = result.text
                        summary.cells += 1
                        summary.replacements.update(kind for _, _, kind in result.replacements)
                summary.rows += 1
                if len(row) <= id_index:
                    raise ScrubCsvError(f"{input_path}: line {reader.line_num} has no {id_column!r} value")
                writer.writerow(row)
        os.replace(temporary, output_path)
    finally:
        csv.field_size_limit(previous_limit)
        if os.path.exists(temporary):
            os.unlink(temporary)
    summary.seconds = time.perf_counter() - started
    return summary


def detect_encoding(path: str | Path) -> str:
    """'utf-8-sig' when the whole file decodes as UTF-8, else 'cp1252' when it decodes as that; else an error."""
    for encoding in _ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ScrubCsvError(f"{path}: the file is neither UTF-8 nor Windows-1252 text; convert it to UTF-8")


def _field_limit() -> int:
    limit = FIELD_LIMIT
    while True:
        try:
            csv.field_size_limit(limit)
            return limit
        except OverflowError:  # pragma: no cover - platforms with a 32-bit C long
            limit //= 2


def _header(reader, path) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise ScrubCsvError(f"{path}: the file is empty or has no header row") from None
    except csv.Error as error:
        raise ScrubCsvError(f"{path}: the header cannot be read: {error}") from None
    if not any(cell.strip() for cell in header):
        raise ScrubCsvError(f"{path}: the file is empty or has no header row")
    return header
