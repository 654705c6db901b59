"""Shared plumbing for the manifest readers: tolerant CSV reading, file discovery and value normalisers."""

from __future__ import annotations

import codecs
import csv
import datetime
import fnmatch
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from .records import ManifestError, RowError

_FALLBACK_ERRORS = "cxr-cp1252-fallback"


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    # Registered as a codec error handler so UTF-8 stays the fast path and only the bytes that are not
    # valid UTF-8 (an 'é' saved by Excel on Windows) are read as cp1252; bytes cp1252 leaves undefined
    # are read as latin-1, so decoding never fails.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    chunk = exc.object[exc.start : exc.end]
    try:
        return chunk.decode("cp1252"), exc.end
    except UnicodeDecodeError:
        return chunk.decode("latin-1"), exc.end


codecs.register_error(_FALLBACK_ERRORS, _cp1252_fallback)

# Control bytes other than tab, newline and carriage return. PostgreSQL refuses NUL in text (one NUL failed
# a whole manifest), and none of them belongs in a manifest value. In UTF-8 and cp1252 these bytes only ever
# stand for themselves, so removing them from the bytes is removing them from the text.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


class _WithoutControlBytes(io.BufferedIOBase):
    """A readable binary stream minus control bytes: one C-speed translate per chunk, nothing per row."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._filtered(self._raw.read, size)

    def read1(self, size: int = -1) -> bytes:
        return self._filtered(getattr(self._raw, "read1", self._raw.read), size)

    @staticmethod
    def _filtered(read, size) -> bytes:
        while True:
            data = read(size)
            clean = data.translate(None, _CONTROL_BYTES)
            # An empty result means end of file to the reader: read on past a chunk of control bytes only.
            if clean or not data:
                return clean

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_text(path: Path) -> io.TextIOBase:
    """Open a (possibly .gz) text file as UTF-8 with BOM, falling back per byte to cp1252/latin-1.

    Control characters other than tab, newline and carriage return are dropped as the file is read."""
    try:
        raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
        head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    except (OSError, EOFError) as exc:
        raise ManifestError(f"{path.name}: cannot read the file ({exc})") from exc
    encoding = "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # what Excel's "Unicode text" export writes; its NUL bytes are half its characters
    else:
        raw = _WithoutControlBytes(raw)
    return io.TextIOWrapper(raw, encoding=encoding, errors=_FALLBACK_ERRORS, newline="")


def read_text(path: Path) -> str:
    """A whole small text file (a report) with the same encoding fallback as the CSVs, without control
    characters other than tab, newline and carriage return."""
    return path.read_bytes().translate(None, _CONTROL_BYTES).decode("utf-8-sig", errors=_FALLBACK_ERRORS)


class Table:
    """A CSV file opened for row-by-row reading, with its header and column lookup."""

    def __init__(self, path: Path, label: str | None = None):
        self.path = path
        self.name = label or path.name
        self._file = open_text(path)
        self._reader = csv.reader(self._file)
        try:
            header = next(self._reader)
        except StopIteration:
            self.close()
            raise ManifestError(f"{self.name}: the file is empty (no header row)") from None
        except (csv.Error, OSError, EOFError) as exc:
            self.close()
            raise ManifestError(f"{self.name}: cannot read the header row ({exc})") from exc
        self.header = [h.strip() for h in header]
        self._index: dict[str, int] = {}
        self._folded: dict[str, int] = {}
        for i, h in enumerate(self.header):
            self._index.setdefault(h, i)
            self._folded.setdefault(h.casefold(), i)

    def col(self, name: str) -> int | None:
        """Index of a column; exact name first, then ignoring case, else None."""
        i = self._index.get(name)
        return i if i is not None else self._folded.get(name.casefold())

    def first_col(self, *names: str) -> int | None:
        for name in names:
            i = self.col(name)
            if i is not None:
                return i
        return None

    def require(self, names: Iterable[str]) -> list[int]:
        """Indexes of required columns, or ManifestError naming every missing one and the columns found."""
        names = list(names)
        found = [self.col(n) for n in names]
        missing = [n for n, i in zip(names, found, strict=True) if i is None]
        if missing:
            self.close()
            # The header is file content: name how many columns there are, never what they say, since
            # a hostile mapping could point the reader at a file that is not a manifest at all.
            raise ManifestError(
                f"{self.name} is missing required columns {', '.join(map(repr, missing))} "
                f"(its header has {len(self.header)} column{'s' if len(self.header) != 1 else ''})"
            )
        return found  # type: ignore[return-value]

    def rows(self) -> Iterator[tuple[int, list[str] | RowError]]:
        """(data row number, fields) per row; a row the csv module cannot parse comes as a RowError."""
        reader = self._reader
        n = 0
        try:
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    n += 1
                    yield n, RowError(f"{self.name}:{n}", f"unreadable CSV row ({exc})")
                    continue
                if not row:
                    continue  # blank line: not a data row
                n += 1
                yield n, row
        except (OSError, EOFError, zlib.error) as exc:
            # A truncated .gz or a read error stops this file but is not a 500: what was read stands.
            yield n + 1, RowError(f"{self.name}:{n + 1}", f"file unreadable after row {n} ({exc})")
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()


def find_file(root: Path, patterns: Iterable[str]) -> Path | None:
    """First file matching one of the patterns (case-insensitive) in root, else in its direct subfolders."""
    patterns = [p.lower() for p in patterns]
    for folder in [root, *_subdirs(root)]:
        try:
            names = sorted(e.name for e in os.scandir(folder) if e.is_file() and not e.is_symlink())
        except OSError:
            continue
        for pattern in patterns:
            for name in names:
                if fnmatch.fnmatchcase(name.lower(), pattern):
                    return folder / name
    return None


def _subdirs(root: Path) -> list[Path]:
    try:
        return sorted(
            Path(e.path) for e in os.scandir(root) if e.is_dir() and not e.is_symlink() and not e.name.startswith(".")
        )
    except OSError:
        return []


def walk_files(base: Path, *, suffixes: tuple[str, ...] | None = None, max_depth: int = 8) -> Iterator[str]:
    """Relative POSIX paths of the files under base, one os.scandir per folder (no stat per file)."""
    stack: list[tuple[str, str, int]] = [(str(base), "", 0)]
    while stack:
        folder, rel, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                # Links are never followed: a link in a server folder could point at any file the
                # process can read (d_type answers without a stat on Linux, so this costs nothing).
                if entry.is_symlink():
                    continue
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if depth < max_depth:
                    stack.append((entry.path, f"{rel}{name}/", depth + 1))
            elif suffixes is None or name.lower().endswith(suffixes):
                yield rel + name


def rel_prefix(root: Path, folder: Path) -> str:
    """'' when folder is root, else 'sub/dir/' so record paths stay relative to the source root."""
    rel = os.path.relpath(folder, root)
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"


# --- value normalisers -------------------------------------------------------------------------

SEX = {
    # Upper-case keys too, so the common 'M'/'F' hit on the first lookup in hot loops.
    "M": "M",
    "F": "F",
    "O": "O",
    "m": "M",
    "male": "M",
    "f": "F",
    "female": "F",
    "o": "O",
    "other": "O",
}

VIEWS = {
    "PA": "PA",
    "POSTEROANTERIOR": "PA",
    "POSTERO-ANTERIOR": "PA",
    "PA ERECT": "PA",
    "AP": "AP",
    "ANTEROPOSTERIOR": "AP",
    "ANTERO-POSTERIOR": "AP",
    "AP_HORIZONTAL": "AP",
    "AP HORIZONTAL": "AP",
    "AP SUPINE": "AP",
    "AP ERECT": "AP",
    "LATERAL": "LAT",
    "LAT": "LAT",
    "L": "LAT",
    "LL": "LAT",
    "RL": "LAT",
    "LEFT LATERAL": "LAT",
    "RIGHT LATERAL": "LAT",
    "XTABLE LATERAL": "LAT",
}

LABEL_VALUES: dict[str, int | None] = {
    "": None,
    "1": 1,
    "1.0": 1,
    "0": 0,
    "0.0": 0,
    "-1": -1,
    "-1.0": -1,
}


def normalise_sex(value: str) -> str:
    return SEX.get(value.strip().casefold(), "")


def normalise_view(value: str) -> str:
    """'PA' | 'AP' | 'LAT' | '' from the many spellings; anything unknown (decubitus, oblique) is ''."""
    return VIEWS.get(value.strip().upper(), "")


_AGE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([YMWD]?)\s*$", re.IGNORECASE)
_AGE_DIVISOR = {"": 1, "Y": 1, "M": 12, "W": 52, "D": 365}
MAX_AGE = 130


def parse_age(value: str) -> int | None:
    """Whole years from '58', '58.0', '058Y' (DICOM AS, also months/weeks/days); ValueError with a reason."""
    value = value.strip()
    if not value:
        return None
    m = _AGE.match(value)
    if not m:
        raise ValueError(f"age {value!r} is not a number")
    years = int(float(m.group(1))) // _AGE_DIVISOR[m.group(2).upper()]
    if years > MAX_AGE:
        raise ValueError(f"age {value!r} is out of range (0-{MAX_AGE})")
    return years


def parse_yyyymmdd(value: str) -> datetime.date | None:
    """DICOM DA dates such as '21800506' or '20140915.0' (pandas-written); ValueError with a reason."""
    text = value.strip()
    if not text:
        return None
    if text.endswith(".0"):
        text = text[:-2]
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise ValueError(f"date {value!r} is not a YYYYMMDD date") from None


def parse_label(name: str, value: str) -> int | None:
    """1 / 0 / -1 / None from '1.0', '0', '-1.0', ''; ValueError naming the label otherwise."""
    try:
        return LABEL_VALUES[value.strip()]
    except KeyError:
        raise ValueError(f"label {name!r} value {value!r} is not 1, 0, -1 or blank") from None


def assemble_report(sections: Iterable[tuple[str, str]]) -> str | None:
    """A sectioned report ('FINDINGS: …' blocks separated by blank lines) from the non-empty sections."""
    parts = [f"{title}: {text.strip()}" for title, text in sections if text and text.strip()]
    return "\n\n".join(parts) if parts else None
