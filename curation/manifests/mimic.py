"""MIMIC-CXR / MIMIC-CXR-JPG: `files/p10/p10000032/s50414267/<dicom_id>.dcm|.jpg`, the metadata CSV, reports.

Keys: patient_key is subject_id ('10000032'), study_key is 's' + study_id ('s50414267'), image_key is
dicom_id. Reports come from `files/p10/p10000032/s50414267.txt` (or `mimic-cxr-reports/files/…`).
Labels come from `mimic-cxr-2.0.0-chexpert.csv(.gz)`, else `-negbio`, per study (extra['label_file']).
Without the metadata CSV the folder layout is walked (no view, date or row numbers from a manifest).
extra keeps the metadata columns verbatim (StudyDate, StudyTime, PerformedProcedureStepDescription,
ViewPosition, Rows, Columns as ints, …) and 'split' from `mimic-cxr-2.0.0-split.csv(.gz)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from .common import Table, find_file, normalise_view, parse_label, parse_yyyymmdd, read_text, walk_files
from .records import ImageRecord, ManifestError, RowError

DATASET = "mimic"
METADATA_NAMES = ("mimic-cxr-2.0.0-metadata.csv", "mimic-cxr-2.0.0-metadata.csv.gz")
LABEL_FILES = (
    ("mimic-cxr-2.0.0-chexpert.csv", "mimic-cxr-2.0.0-chexpert.csv.gz"),
    ("mimic-cxr-2.0.0-negbio.csv", "mimic-cxr-2.0.0-negbio.csv.gz"),
)
SPLIT_NAMES = ("mimic-cxr-2.0.0-split.csv", "mimic-cxr-2.0.0-split.csv.gz")
LABELS = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)
REQUIRED = ("dicom_id", "subject_id", "study_id")
IMAGE_SUFFIXES = (".dcm", ".jpg")
INT_COLUMNS = frozenset({"Rows", "Columns"})
_STUDY_DIR = re.compile(r"^p1\d/p(\d+)/s(\d+)/([^/]+)\.(dcm|jpg)$", re.IGNORECASE)
_REPORT_CACHE_SIZE = 512  # metadata rows come grouped by study; a small cache reads each report once


def _find_files_dir(root: Path) -> Path | None:
    for candidate in (root / "files", *(p / "files" for p in sorted(root.iterdir()) if p.is_dir())):
        if candidate.is_dir():
            return candidate
    return None


def study_folder(subject_id: str, study_id: str) -> str:
    """'p10/p10000032/s50414267' — the two-digit group folder is the subject id's first two digits."""
    return f"p{subject_id[:2]}/p{subject_id}/s{study_id}"


def _load_labels(root: Path, errors: list[RowError]) -> tuple[dict[tuple[str, str], tuple], str | None]:
    for names in LABEL_FILES:
        path = find_file(root, names)
        if path is None:
            continue
        table = Table(path)
        i_subject, i_study, *i_labels = table.require(["subject_id", "study_id", *LABELS])
        labels: dict[tuple[str, str], tuple] = {}
        for n, row in table.rows():
            if isinstance(row, RowError):
                errors.append(row)
                continue
            try:
                # Tuples, not dicts: 227k studies × 14 labels must stay small in memory.
                labels[(row[i_subject].strip(), row[i_study].strip())] = tuple(
                    parse_label(label, row[i]) for label, i in zip(LABELS, i_labels, strict=True)
                )
            except (ValueError, IndexError) as exc:
                errors.append(RowError(f"{table.name}:{n}", str(exc) if isinstance(exc, ValueError) else "short row"))
        return labels, table.name.split(".csv")[0]
    return {}, None


def _load_split(root: Path, errors: list[RowError]) -> dict[str, str]:
    path = find_file(root, SPLIT_NAMES)
    if path is None:
        return {}
    table = Table(path)
    i_dicom, i_split = table.require(["dicom_id", "split"])
    splits: dict[str, str] = {}
    for _, row in table.rows():
        if isinstance(row, RowError):
            errors.append(row)
        elif len(row) > max(i_dicom, i_split):
            splits[row[i_dicom].strip()] = row[i_split].strip()
    return splits


class _Reports:
    """Report text per study, from whichever reports folder has it; None when the .txt is absent."""

    def __init__(self, root: Path, files_dir: Path | None):
        self.dirs = [d for d in (files_dir, root / "mimic-cxr-reports" / "files") if d is not None and d.is_dir()]
        self.cache: dict[str, str | None] = {}

    def get(self, folder: str) -> str | None:
        if folder in self.cache:
            return self.cache[folder]
        if len(self.cache) >= _REPORT_CACHE_SIZE:
            self.cache.clear()
        text = None
        for d in self.dirs:
            try:
                text = read_text(d / f"{folder}.txt").strip()
                break
            except OSError:
                continue
        self.cache[folder] = text
        return text


def read(root: Path, *, check_files: bool = True, mapping: dict | None = None) -> Iterator[ImageRecord | RowError]:
    files_dir = _find_files_dir(root)
    metadata = find_file(root, METADATA_NAMES)
    if metadata is None and files_dir is None:
        raise ManifestError(f"no mimic-cxr-2.0.0-metadata.csv(.gz) and no files/ folder in {root}")
    side_errors: list[RowError] = []
    labels, label_file = _load_labels(root, side_errors)
    splits = _load_split(root, side_errors)
    yield from side_errors
    reports = _Reports(root, files_dir)
    files_rel = files_dir.relative_to(root).as_posix() + "/" if files_dir is not None else "files/"
    if metadata is None:
        yield from _walk_layout(files_dir, files_rel, labels, label_file, splits, reports)
        return

    table = Table(metadata)
    i_dicom, i_subject, i_study = table.require(REQUIRED)
    i_view = table.col("ViewPosition")
    i_date = table.col("StudyDate")
    extra_cols = [(h, i) for i, h in enumerate(table.header) if i not in (i_dicom, i_subject, i_study) and h]
    width = len(table.header)
    images: set[str] | None = None
    if check_files:
        images = set(walk_files(files_dir, suffixes=IMAGE_SUFFIXES)) if files_dir is not None else set()
    name = table.name
    for n, row in table.rows():
        if isinstance(row, RowError):
            yield row
            continue
        if len(row) != width:
            yield RowError(f"{name}:{n}", f"row has {len(row)} fields, expected {width}")
            continue
        dicom_id, subject, study = row[i_dicom].strip(), row[i_subject].strip(), row[i_study].strip()
        if not (dicom_id and subject.isdigit() and study.isdigit()):
            yield RowError(f"{name}:{n}", "dicom_id, subject_id or study_id is empty or not a number")
            continue
        folder = study_folder(subject, study)
        rel = f"{folder}/{dicom_id}"
        exists = None
        if images is None:
            path = None
        elif f"{rel}.dcm" in images:
            path, exists = f"{files_rel}{rel}.dcm", True
        elif f"{rel}.jpg" in images:
            path, exists = f"{files_rel}{rel}.jpg", True
        else:
            path, exists = None, False
        warning = None
        try:
            date = parse_yyyymmdd(row[i_date]) if i_date is not None else None
        except ValueError as exc:
            date, warning = None, str(exc)
        extra = {h: _typed(h, row[i]) for h, i in extra_cols}
        if dicom_id in splits:
            extra["split"] = splits[dicom_id]
        study_labels = labels.get((subject, study))
        if label_file is not None:
            extra["label_file"] = label_file
        yield ImageRecord(
            DATASET,
            n,
            subject,
            f"s{study}",
            dicom_id,
            path,
            exists,
            date,
            normalise_view(row[i_view]) if i_view is not None else "",
            "",
            None,
            reports.get(folder),
            dict(zip(LABELS, study_labels, strict=True)) if study_labels else {},
            extra,
        )
        if exists is False:
            yield RowError(f"{name}:{n}", f"missing image file {files_rel}{rel}.dcm (or .jpg)")
        if warning is not None:
            yield RowError(f"{name}:{n}", warning)


def _typed(column: str, value: str) -> str | int:
    value = value.strip()
    if column in INT_COLUMNS and value.isdigit():
        return int(value)
    return value


def _walk_layout(
    files_dir: Path, files_rel: str, labels: dict, label_file: str | None, splits: dict, reports: _Reports
) -> Iterator[ImageRecord | RowError]:
    """Records from the folder layout alone: only keys, path, labels and report are known."""
    n = 0
    for rel in sorted(walk_files(files_dir, suffixes=IMAGE_SUFFIXES)):
        n += 1
        m = _STUDY_DIR.match(rel)
        if m is None:
            yield RowError(f"{files_rel}{rel}", "not in the layout p1X/p<subject_id>/s<study_id>/<dicom_id>.dcm|.jpg")
            continue
        subject, study, dicom_id = m.group(1), m.group(2), m.group(3)
        study_labels = labels.get((subject, study))
        extra: dict = {}
        if dicom_id in splits:
            extra["split"] = splits[dicom_id]
        if label_file is not None:
            extra["label_file"] = label_file
        yield ImageRecord(
            DATASET,
            n,
            subject,
            f"s{study}",
            dicom_id,
            f"{files_rel}{rel}",
            True,
            None,
            "",
            "",
            None,
            reports.get(study_folder(subject, study)),
            dict(zip(LABELS, study_labels, strict=True)) if study_labels else {},
            extra,
        )
