"""PadChest: `PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv(.gz)`, images under `<ImageDir>/<ImageID>`.

Keys: patient_key PatientID, study_key StudyID, image_key ImageID. Images are looked up by name anywhere
below the root (the 0…54 zip folders, or one flat resized folder); a missing one is expected at
`<ImageDir>/<ImageID>`. Age is the study year minus PatientBirth (a year), so it may be one too high.
View comes from Projection ('PA', 'L', 'AP', 'AP_horizontal'), else ViewPosition_DICOM. Labels: 1 per
entry of the 'Labels' list (stripped, lower case as published); the Spanish 'Report' when present.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .common import Table, find_file, normalise_sex, normalise_view, parse_yyyymmdd, rel_prefix, walk_files
from .records import ImageRecord, ManifestError, RowError

DATASET = "padchest"
MANIFEST_NAMES = ("PADCHEST_chest_x_ray_images_labels_160K*.csv", "PADCHEST_chest_x_ray_images_labels_160K*.csv.gz")
REQUIRED = ("ImageID", "ImageDir", "StudyID", "PatientID", "Labels")
EXTRA_COLUMNS = (
    "StudyDate_DICOM",
    "PatientBirth",
    "Projection",
    "ViewPosition_DICOM",
    "MethodProjection",
    "Pediatric",
    "Modality_DICOM",
    "Manufacturer_DICOM",
    "Rows_DICOM",
    "Columns_DICOM",
    "ReportID",
    "MethodLabel",
    "Localizations",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def parse_labels(value: str) -> list[str]:
    """ "['pleural effusion', ' cardiomegaly']" → ['pleural effusion', 'cardiomegaly']; ValueError otherwise.

    literal_eval only ever sees text that starts with '[' and ends with ']', and the result must be a
    list of strings, so nothing but a list literal is accepted.
    """
    text = value.strip()
    if not text or text.lower() == "nan":
        return []
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"Labels {value[:60]!r} is not a list like ['normal']")
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"Labels {value[:60]!r} is not a list like ['normal']") from None
    if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
        raise ValueError(f"Labels {value[:60]!r} is not a list of strings")
    out: list[str] = []
    for label in parsed:
        label = label.strip()
        if label and label not in out:
            out.append(label)
    return out


def _age(study_year: int | None, birth: str) -> int | None:
    birth = birth.strip()
    if study_year is None or not birth:
        return None
    year = int(float(birth))
    if not 1850 <= year <= study_year:
        raise ValueError(f"PatientBirth {birth!r} is not a plausible birth year")
    return study_year - year


def read(root: Path, *, check_files: bool = True, mapping: dict | None = None) -> Iterator[ImageRecord | RowError]:
    manifest = find_file(root, MANIFEST_NAMES)
    if manifest is None:
        raise ManifestError(f"no PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv(.gz) in {root}")
    table = Table(manifest)
    i_image, i_dir, i_study, i_patient, i_labels = table.require(REQUIRED)
    i_date = table.col("StudyDate_DICOM")
    i_birth = table.col("PatientBirth")
    i_sex = table.col("PatientSex_DICOM")
    i_proj = table.col("Projection")
    i_viewpos = table.col("ViewPosition_DICOM")
    i_report = table.col("Report")
    extra_cols = [(c, table.col(c)) for c in EXTRA_COLUMNS]
    extra_cols = [(c, i) for c, i in extra_cols if i is not None]
    width = len(table.header)
    base = manifest.parent
    prefix = rel_prefix(root, base)
    files: dict[str, str] | None = None
    if check_files:
        files = {}
        for rel in walk_files(base, suffixes=IMAGE_SUFFIXES, max_depth=3):
            files.setdefault(rel.rsplit("/", 1)[-1], rel)
    name = table.name
    for n, row in table.rows():
        if isinstance(row, RowError):
            yield row
            continue
        if len(row) != width:
            yield RowError(f"{name}:{n}", f"row has {len(row)} fields, expected {width}")
            continue
        image, patient, study = row[i_image].strip(), row[i_patient].strip(), row[i_study].strip()
        image_dir = row[i_dir].strip().removesuffix(".0")
        if not image or not patient or not study or "/" in image or "\\" in image:
            yield RowError(f"{name}:{n}", "ImageID, StudyID or PatientID is empty, or ImageID is not a file name")
            continue
        try:
            labels = dict.fromkeys(parse_labels(row[i_labels]), 1)
        except ValueError as exc:
            yield RowError(f"{name}:{n}", str(exc))
            continue
        warnings = []
        date = age = None
        try:
            date = parse_yyyymmdd(row[i_date]) if i_date is not None else None
        except ValueError as exc:
            warnings.append(str(exc))
        try:
            age = _age(date.year if date else None, row[i_birth]) if i_birth is not None else None
        except ValueError as exc:
            warnings.append(str(exc) if "plausible" in str(exc) else f"PatientBirth {row[i_birth]!r} is not a year")
        view = normalise_view(row[i_proj]) if i_proj is not None else ""
        if not view and i_viewpos is not None:
            view = normalise_view(row[i_viewpos])
        expected = f"{image_dir}/{image}" if image_dir else image
        if files is None:
            path, exists = prefix + expected, None
        else:
            found = files.get(image)
            path, exists = prefix + (found or expected), found is not None
        report = row[i_report].strip() if i_report is not None else ""
        yield ImageRecord(
            DATASET,
            n,
            patient,
            study,
            image,
            path,
            exists,
            date,
            view,
            normalise_sex(row[i_sex]) if i_sex is not None else "",
            age,
            report or None,
            labels,
            {c: row[i].strip() for c, i in extra_cols},
        )
        if exists is False:
            yield RowError(f"{name}:{n}", f"missing image file {path}")
        for warning in warnings:
            yield RowError(f"{name}:{n}", warning)
