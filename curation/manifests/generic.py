"""Any CSV manifest, with a `mapping` from our fields to its column names.

mapping: patient_key, study_key (required), image_key and/or path (one required; each defaults to the
other), study_date (+ date_format, default ISO or YYYYMMDD), view_position, sex, age_years, report_text,
labels (list of columns) or label_prefix (every column starting with it; the prefix is dropped from the
label name), extra (list of columns kept verbatim), csv (the file name when root is a folder with several).
Paths are relative to the CSV's folder; absolute paths and paths leaving that folder are refused.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from .common import LABEL_VALUES, Table, normalise_sex, normalise_view, parse_age, rel_prefix, walk_files
from .records import ImageRecord, ManifestError, RowError

DATASET = "csv"
COLUMN_FIELDS = (
    "patient_key",
    "study_key",
    "image_key",
    "path",
    "study_date",
    "view_position",
    "sex",
    "age_years",
    "report_text",
)
OTHER_KEYS = frozenset({"labels", "label_prefix", "date_format", "extra", "csv"})
LABEL_WORDS: dict[str, int | None] = {
    **LABEL_VALUES,
    "true": 1,
    "yes": 1,
    "positive": 1,
    "false": 0,
    "no": 0,
    "negative": 0,
    "uncertain": -1,
}


def _locate(root: Path, mapping: dict) -> Path:
    if root.is_file():
        return root
    if mapping.get("csv"):
        return _confined_csv(root, mapping["csv"])
    try:
        csvs = sorted(
            p
            for p in root.iterdir()
            if p.is_file() and not p.is_symlink() and p.name.lower().endswith((".csv", ".csv.gz"))
        )
    except OSError as exc:
        raise ManifestError(f"cannot list {root} ({exc})") from exc
    if len(csvs) != 1:
        found = ", ".join(p.name for p in csvs) or "none"
        raise ManifestError(f"expected one CSV in {root} (found: {found}); name it in mapping['csv']")
    return csvs[0]


def _confined_csv(root: Path, name) -> Path:
    """mapping['csv']: a plain relative name of a file inside the source, never a way out of it."""
    if not isinstance(name, str) or not is_plain_relative(name):
        raise ManifestError("mapping['csv'] must be a relative file name inside the source (no '..', no '/' first)")
    path = root / name
    try:
        inside = path.resolve(strict=True).is_relative_to(root.resolve(strict=True))
    except (OSError, RuntimeError):
        inside = False
    if not inside or path.is_symlink() or not path.is_file():
        raise ManifestError(f"mapping['csv'] {name!r} is not a file in the source")
    return path


def is_plain_relative(name: str) -> bool:
    """A relative POSIX or Windows path without '..', a drive, a leading slash or control characters."""
    if not name or len(name) > 500 or any(ord(c) < 32 for c in name) or "\\" in name or ":" in name:
        return False
    pure = PurePosixPath(name)
    return not pure.is_absolute() and ".." not in pure.parts


def _check_mapping(mapping: dict | None) -> dict:
    if not mapping:
        raise ManifestError("the generic CSV reader needs a column mapping")
    unknown = sorted(set(mapping) - set(COLUMN_FIELDS) - OTHER_KEYS)
    if unknown:
        raise ManifestError(f"unknown mapping keys {', '.join(map(repr, unknown))}")
    missing = [f for f in ("patient_key", "study_key") if not mapping.get(f)]
    if not (mapping.get("path") or mapping.get("image_key")):
        missing.append("path or image_key")
    if missing:
        raise ManifestError(f"the mapping must name columns for {', '.join(missing)}")
    if mapping.get("labels") and mapping.get("label_prefix"):
        raise ManifestError("give either mapping['labels'] or mapping['label_prefix'], not both")
    return mapping


def _parse_date(value: str, fmt: str | None) -> datetime.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        if fmt:
            return datetime.datetime.strptime(value, fmt).date()
        if len(value) == 8 and value.isdigit():
            return datetime.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        return datetime.datetime.fromisoformat(value).date()
    except ValueError:
        raise ValueError(f"date {value!r} does not match {fmt or 'YYYY-MM-DD'}") from None


def _safe_rel(value: str) -> str | None:
    """The path as a clean relative POSIX path, or None if it is absolute or climbs out of the folder."""
    text = value.strip().replace("\\", "/")
    if not text or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        return None
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def read(root: Path, *, check_files: bool = True, mapping: dict | None = None) -> Iterator[ImageRecord | RowError]:
    mapping = _check_mapping(mapping)
    manifest = _locate(root, mapping)
    base_root = root if root.is_dir() else root.parent
    table = Table(manifest)
    wanted = {f: mapping[f] for f in COLUMN_FIELDS if mapping.get(f)}
    if mapping.get("labels"):
        label_cols = list(mapping["labels"])
    elif mapping.get("label_prefix"):
        label_cols = [h for h in table.header if h.startswith(mapping["label_prefix"])]
    else:
        label_cols = []
    extra_cols = list(mapping.get("extra") or [])
    idx = dict(zip(wanted, table.require(wanted.values()), strict=True))
    i_labels = table.require(label_cols) if label_cols else []
    i_extra = table.require(extra_cols) if extra_cols else []
    prefix = mapping.get("label_prefix") or ""
    labels_named = [(c[len(prefix) :] if prefix else c, i) for c, i in zip(label_cols, i_labels, strict=True)]
    date_format = mapping.get("date_format")
    width = len(table.header)
    folder_prefix = rel_prefix(base_root, manifest.parent)
    files = set(walk_files(manifest.parent, max_depth=16)) if check_files and "path" in idx else None
    name = table.name

    def get(row: list[str], field: str) -> str:
        i = idx.get(field)
        return row[i].strip() if i is not None else ""

    for n, row in table.rows():
        if isinstance(row, RowError):
            yield row
            continue
        if len(row) != width:
            yield RowError(f"{name}:{n}", f"row has {len(row)} fields, expected {width}")
            continue
        patient, study = get(row, "patient_key"), get(row, "study_key")
        raw_path, image_key = get(row, "path"), get(row, "image_key")
        if not patient or not study or not (raw_path or image_key):
            yield RowError(f"{name}:{n}", "empty patient, study or image column")
            continue
        rel = None
        if raw_path:
            rel = _safe_rel(raw_path)
            if rel is None:
                yield RowError(f"{name}:{n}", f"path {raw_path!r} is absolute or leaves the manifest's folder")
                continue
        labels: dict[str, int | None] = {}
        bad = None
        for label, i in labels_named:
            value = row[i].strip().casefold()
            if value not in LABEL_WORDS:
                bad = f"label {label!r} value {row[i]!r} is not 1, 0, -1 or blank"
                break
            labels[label] = LABEL_WORDS[value]
        if bad:
            yield RowError(f"{name}:{n}", bad)
            continue
        warnings = []
        date = age = None
        try:
            date = _parse_date(get(row, "study_date"), date_format)
        except ValueError as exc:
            warnings.append(str(exc))
        try:
            age = parse_age(get(row, "age_years"))
        except ValueError as exc:
            warnings.append(str(exc))
        exists = None if files is None or rel is None else rel in files
        report = get(row, "report_text")
        yield ImageRecord(
            DATASET,
            n,
            patient,
            study,
            image_key or rel or "",
            folder_prefix + rel if rel else None,
            exists,
            date,
            normalise_view(get(row, "view_position")),
            normalise_sex(get(row, "sex")),
            age,
            report or None,
            labels,
            {c: row[i].strip() for c, i in zip(extra_cols, i_extra, strict=True)},
        )
        if exists is False:
            yield RowError(f"{name}:{n}", f"missing image file {folder_prefix}{rel}")
        for warning in warnings:
            yield RowError(f"{name}:{n}", warning)
