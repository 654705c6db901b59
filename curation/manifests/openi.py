"""Open-i (Indiana University) as published on Kaggle: `indiana_reports.csv` + `indiana_projections.csv`.

Keys: one report (uid) per study and there is no patient id, so patient_key and study_key are both the
uid; image_key is the projection's filename ('1_IM-0001-4001.dcm.png'). Images live in
`images/images_normalized/`, `images_normalized/` or `images/`. The report is assembled from
indication, comparison, findings and impression; labels are the 'Problems' terms (else the MeSH main
terms), 1 each. 'Frontal' gives 'PA' or 'AP' only when the report's 'image' title names exactly one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from .common import Table, assemble_report, find_file, rel_prefix, walk_files
from .records import ImageRecord, ManifestError, RowError

DATASET = "openi"
REPORT_COLUMNS = ("uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression")
PROJECTION_COLUMNS = ("uid", "filename", "projection")
IMAGE_DIRS = ("images/images_normalized", "images_normalized", "images")
SECTIONS = (
    ("INDICATION", "indication"),
    ("COMPARISON", "comparison"),
    ("FINDINGS", "findings"),
    ("IMPRESSION", "impression"),
)
_PA = re.compile(r"\bPA\b", re.IGNORECASE)
_AP = re.compile(r"\bAP\b", re.IGNORECASE)


def terms(value: str) -> list[str]:
    """'Cardiomegaly/borderline;Pulmonary Artery/enlarged' → ['Cardiomegaly', 'Pulmonary Artery'] (main terms)."""
    out: list[str] = []
    for part in value.split(";"):
        term = part.split("/", 1)[0].strip()
        if term and term not in out:
            out.append(term)
    return out


def _frontal_view(title: str) -> str:
    pa, ap = bool(_PA.search(title)), bool(_AP.search(title))
    return "PA" if pa and not ap else "AP" if ap and not pa else ""


def _load_reports(path: Path, errors: list[RowError]) -> dict[str, dict]:
    table = Table(path)
    idx = dict(zip(REPORT_COLUMNS, table.require(REPORT_COLUMNS), strict=True))
    width = len(table.header)
    reports: dict[str, dict] = {}
    for n, row in table.rows():
        if isinstance(row, RowError):
            errors.append(row)
            continue
        if len(row) != width:
            errors.append(RowError(f"{table.name}:{n}", f"row has {len(row)} fields, expected {width}"))
            continue
        reports[row[idx["uid"]].strip()] = {col: row[i].strip() for col, i in idx.items()}
    return reports


def read(root: Path, *, check_files: bool = True, mapping: dict | None = None) -> Iterator[ImageRecord | RowError]:
    projections = find_file(root, ["indiana_projections.csv"])
    reports_file = find_file(root, ["indiana_reports.csv"])
    if projections is None or reports_file is None:
        pairs = (("indiana_projections.csv", projections), ("indiana_reports.csv", reports_file))
        missing = [n for n, p in pairs if p is None]
        raise ManifestError(f"no {' or '.join(missing)} in {root}")
    side_errors: list[RowError] = []
    reports = _load_reports(reports_file, side_errors)
    yield from side_errors

    base = projections.parent
    image_dir = next((d for d in IMAGE_DIRS if (base / d).is_dir()), IMAGE_DIRS[0])
    image_prefix = rel_prefix(root, base) + image_dir + "/"
    files = set(walk_files(base / image_dir, max_depth=0)) if check_files else None

    table = Table(projections)
    i_uid, i_file, i_proj = table.require(PROJECTION_COLUMNS)
    width = len(table.header)
    name = table.name
    for n, row in table.rows():
        if isinstance(row, RowError):
            yield row
            continue
        if len(row) != width:
            yield RowError(f"{name}:{n}", f"row has {len(row)} fields, expected {width}")
            continue
        uid, filename, projection = row[i_uid].strip(), row[i_file].strip(), row[i_proj].strip()
        if not uid or not filename or "/" in filename or "\\" in filename:
            yield RowError(f"{name}:{n}", f"uid {uid!r} or filename {filename!r} is empty or not a plain file name")
            continue
        report = reports.get(uid)
        projection_key = projection.casefold()
        if projection_key == "lateral":
            view = "LAT"
        elif projection_key == "frontal":
            view = _frontal_view(report["image"]) if report else ""
        else:
            view = ""
        extra: dict = {"projection": projection}
        labels: dict[str, int | None] = {}
        text = None
        if report is not None:
            extra["MeSH"] = report["MeSH"]
            extra["Problems"] = report["Problems"]
            extra["image"] = report["image"]
            sections = {col: report[col] for _, col in SECTIONS if report[col]}
            if sections:
                extra["report_sections"] = sections
            text = assemble_report((title, report[col]) for title, col in SECTIONS)
            labels = dict.fromkeys(terms(report["Problems"]) or terms(report["MeSH"]), 1)
        exists = None if files is None else filename in files
        yield ImageRecord(
            DATASET, n, uid, uid, filename, image_prefix + filename, exists, None, view, "", None, text, labels, extra
        )
        if report is None:
            yield RowError(f"{name}:{n}", f"uid {uid!r} has no row in {reports_file.name}")
        if exists is False:
            yield RowError(f"{name}:{n}", f"missing image file {image_prefix}{filename}")
