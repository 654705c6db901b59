"""CheXpert: `train.csv` / `valid.csv`, joined with CheXpert Plus reports and a demographics CSV when present.

Keys: patient_key 'patient00001', study_key 'patient00001/study1', image_key is the Path without its
download-specific first folder ('train/patient00001/study1/view1_frontal.jpg'), so the small and full
downloads and CheXpert Plus' `path_to_image` give the same key. Paths resolve whether the source root
is the `CheXpert-v1.0-small` folder itself or its parent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .common import (
    SEX,
    Table,
    assemble_report,
    find_file,
    parse_age,
    parse_label,
    rel_prefix,
    walk_files,
)
from .records import ImageRecord, ManifestError, RowError

DATASET = "chexpert"
LABELS = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
REQUIRED = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *LABELS)
SPLIT_FILES = ("train.csv", "valid.csv")
PLUS_NAMES = ("df_chexpert_plus*.csv", "df_chexpert_plus*.csv.gz")
DEMOGRAPHICS_NAMES = ("*demo*.csv",)
# CheXpert Plus report sections, in reading order, with the heading used when assembling a report.
PLUS_SECTIONS = (
    ("CLINICAL HISTORY", "section_clinical_history"),
    ("HISTORY", "section_history"),
    ("COMPARISON", "section_comparison"),
    ("TECHNIQUE", "section_technique"),
    ("PROCEDURE COMMENTS", "section_procedure_comments"),
    ("FINDINGS", "section_findings"),
    ("IMPRESSION", "section_impression"),
    ("END OF IMPRESSION", "section_end_of_impression"),
    ("SUMMARY", "section_summary"),
)
PLUS_DEMOGRAPHICS = (
    "deid_patient_id",
    "race",
    "ethnicity",
    "interpreter_needed",
    "insurance_type",
    "recent_bmi",
    "deceased",
)


def split_path(value: str) -> tuple[list[str], str, str, str] | None:
    """(download prefix folders, patient, study, key from the split folder on) or None if not the layout."""
    parts = [p for p in value.strip().replace("\\", "/").split("/") if p]
    for k, part in enumerate(parts):
        if part.startswith("patient") and part[7:].isdigit():
            if k < 1 or len(parts) != k + 3 or not parts[k + 1].startswith("study"):
                return None
            return parts[: k - 1], part, f"{part}/{parts[k + 1]}", "/".join(parts[k - 1 :])
    return None


def _view(frontal_lateral: str, ap_pa: str) -> str:
    ap_pa = ap_pa.strip().upper()
    if ap_pa in ("AP", "PA"):
        return ap_pa
    if ap_pa in ("LL", "RL", "LATERAL") or frontal_lateral.strip().casefold() == "lateral":
        return "LAT"
    return ""


def _load_plus(path: Path, errors: list[RowError]) -> dict[str, tuple[str | None, dict, dict]]:
    """study_key → (report text, sections, demographics) from the CheXpert Plus CSV (reports are per study)."""
    table = Table(path)
    (i_path,) = table.require(["path_to_image"])
    i_report = table.col("report")
    sections = [(title, col, table.col(col)) for title, col in PLUS_SECTIONS]
    sections = [(title, col, i) for title, col, i in sections if i is not None]
    demo = [(col, table.col(col)) for col in PLUS_DEMOGRAPHICS]
    demo = [(col, i) for col, i in demo if i is not None]
    studies: dict[str, tuple[str | None, dict, dict]] = {}
    for n, row in table.rows():
        if isinstance(row, RowError):
            errors.append(row)
            continue
        if len(row) != len(table.header):
            errors.append(RowError(f"{table.name}:{n}", f"row has {len(row)} fields, expected {len(table.header)}"))
            continue
        parsed = split_path(row[i_path])
        if parsed is None:
            errors.append(RowError(f"{table.name}:{n}", f"path_to_image {row[i_path]!r} is not in the CheXpert layout"))
            continue
        study = parsed[2]
        if study in studies:
            continue
        found = {col.removeprefix("section_"): row[i].strip() for _, col, i in sections if row[i].strip()}
        text = row[i_report].strip() if i_report is not None else ""
        report = text or assemble_report((title, row[i]) for title, _, i in sections)
        studies[study] = (report, found, {col: row[i].strip() for col, i in demo if row[i].strip()})
    return studies


def _load_demographics(path: Path, errors: list[RowError]) -> dict[str, dict]:
    """patient_key → the demographics row's other columns, verbatim names (PATIENT, GENDER, PRIMARY_RACE…)."""
    table = Table(path)
    i_pid = table.first_col("PATIENT", "patient_id", "deid_patient_id")
    if i_pid is None:
        table.require(["PATIENT"])
    patients: dict[str, dict] = {}
    for n, row in table.rows():
        if isinstance(row, RowError):
            errors.append(row)
            continue
        if len(row) != len(table.header):
            errors.append(RowError(f"{table.name}:{n}", f"row has {len(row)} fields, expected {len(table.header)}"))
            continue
        values = zip(table.header, row, strict=True)
        patients[row[i_pid].strip()] = {h: v.strip() for j, (h, v) in enumerate(values) if j != i_pid}
    return patients


def read(root: Path, *, check_files: bool = True, mapping: dict | None = None) -> Iterator[ImageRecord | RowError]:
    manifests = [m for m in (find_file(root, [name]) for name in SPLIT_FILES) if m is not None]
    if not manifests:
        raise ManifestError(f"no CheXpert train.csv or valid.csv in {root}")
    side_errors: list[RowError] = []
    plus_file = find_file(root, PLUS_NAMES)
    plus = _load_plus(plus_file, side_errors) if plus_file else {}
    demo_file = find_file(root, DEMOGRAPHICS_NAMES)
    demographics = _load_demographics(demo_file, side_errors) if demo_file else {}
    yield from side_errors
    for manifest in manifests:
        yield from _read_split(root, manifest, plus, demographics, check_files)


def _read_split(
    root: Path, manifest: Path, plus: dict, demographics: dict, check_files: bool
) -> Iterator[ImageRecord | RowError]:
    table = Table(manifest)
    i_path, i_sex, i_age, i_fl, i_ap, *i_labels = table.require(REQUIRED)
    label_cols = list(zip(LABELS, i_labels, strict=True))
    width = len(table.header)
    name = table.name
    dataset_dirs: dict[tuple[str, ...], tuple[Path, str]] = {}
    file_sets: dict[Path, set[str]] = {}

    for n, row in table.rows():
        if isinstance(row, RowError):
            yield row
            continue
        if len(row) != width:
            yield RowError(f"{name}:{n}", f"row has {len(row)} fields, expected {width}")
            continue
        parsed = split_path(row[i_path])
        if parsed is None:
            yield RowError(
                f"{name}:{n}",
                f"Path {row[i_path]!r} is not in the layout <split>/patientNNNNN/studyN/<view>.jpg",
            )
            continue
        download_prefix, patient, study, key = parsed
        try:
            labels = {label: parse_label(label, row[i]) for label, i in label_cols}
        except ValueError as exc:
            yield RowError(f"{name}:{n}", str(exc))
            continue

        # Where the split folders live: next to the CSV, or in the Path's own first folder below it.
        where = dataset_dirs.get(tuple(download_prefix))
        if where is None:
            folder = manifest.parent
            candidate = folder.joinpath(*download_prefix) if download_prefix else folder
            if not (folder / key.split("/", 1)[0]).is_dir() and candidate.is_dir():
                folder = candidate
            where = dataset_dirs[tuple(download_prefix)] = (folder, rel_prefix(root, folder))
        folder, prefix = where
        path = prefix + key
        exists = None
        if check_files:
            files = file_sets.get(folder)
            if files is None:
                files = file_sets[folder] = {
                    f"{split}/{rel}" for split in ("train", "valid", "test") for rel in walk_files(folder / split)
                }
            exists = key in files

        warning = None
        try:
            age = parse_age(row[i_age])
        except ValueError as exc:
            age, warning = None, str(exc)
        sex = SEX.get(row[i_sex].strip().casefold(), "")
        extra = {"source_file": name, "Frontal/Lateral": row[i_fl].strip(), "AP/PA": row[i_ap].strip()}
        report = None
        joined = plus.get(study)
        if joined is not None:
            report, sections, plus_demo = joined
            if sections:
                extra["report_sections"] = sections
            extra.update(plus_demo)
        demo = demographics.get(patient)
        if demo is not None:
            extra.update(demo)
            if not sex:
                sex = SEX.get(demo.get("GENDER", demo.get("gender", "")).casefold(), "")
        yield ImageRecord(
            DATASET,
            n,
            patient,
            study,
            key,
            path,
            exists,
            None,
            _view(row[i_fl], row[i_ap]),
            sex,
            age,
            report,
            labels,
            extra,
        )
        if exists is False:
            yield RowError(f"{name}:{n}", f"missing image file {path}")
        if warning is not None:
            yield RowError(f"{name}:{n}", warning)
