"""NIH ChestX-ray14: `Data_Entry_2017.csv` (or `_v2020`) plus `images/` or `images_001/images/`…`images_012/images/`.

Keys: patient_key is 'Patient ID' zero-padded to the 8 digits used in the file names ('00000001');
study_key is f"{patient_key}_{follow-up:03d}" (one study per follow-up, equal to the image's stem);
image_key is 'Image Index'. There are no dates. extra holds 'Follow-up #' (int),
'OriginalImage[Width,Height]' and 'OriginalImagePixelSpacing[x,y]' (tuples) when present.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .common import MAX_AGE, SEX, VIEWS, Table, find_file, parse_age, rel_prefix
from .records import ImageRecord, ManifestError, RowError

DATASET = "nih"
MANIFEST_NAMES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv", "Data_Entry_2017*.csv")
LABELS = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Effusion",
    "Emphysema",
    "Fibrosis",
    "Hernia",
    "Infiltration",
    "Mass",
    "No Finding",
    "Nodule",
    "Pleural_Thickening",
    "Pneumonia",
    "Pneumothorax",
)
_LABEL_SET = frozenset(LABELS)
REQUIRED = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "View Position")
IMAGE_SUFFIXES = (".png",)


def index_images(base: Path) -> dict[str, str]:
    """File name → path relative to base, over `images/` and every `images_NNN/` (with or without `images/`).

    One os.scandir per folder and no stat per file: 112,120 names in a dozen folder listings.
    """
    found: dict[str, str] = {}
    try:
        folders = sorted(
            e.name for e in os.scandir(base) if e.name.startswith("images") and e.is_dir() and not e.is_symlink()
        )
    except OSError:
        return found
    pending = [(base / folder, f"{folder}/", 0) for folder in folders]
    while pending:
        folder, rel, depth = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if entry.is_symlink():  # never followed: it could point anywhere on the server
                continue
            if name.endswith(IMAGE_SUFFIXES):
                found.setdefault(name, rel + name)
            elif depth == 0 and name == "images" and entry.is_dir():
                pending.append((Path(entry.path), f"{rel}images/", 1))
    return found


def read(root: Path, *, check_files: bool = True, mapping: dict | None = None) -> Iterator[ImageRecord | RowError]:
    manifest = find_file(root, MANIFEST_NAMES)
    if manifest is None:
        raise ManifestError(f"no Data_Entry_2017.csv in {root}")
    table = Table(manifest)
    i_sex = table.first_col("Patient Gender", "Patient Sex")
    required = REQUIRED if i_sex is not None else (*REQUIRED, "Patient Gender")
    i_img, i_lab, i_fu, i_pid, i_age, i_view = table.require(required)[:6]
    # The real header is not quoted, so 'OriginalImage[Width,Height]' arrives as two columns.
    i_w, i_h = table.col("OriginalImage[Width"), table.col("Height]")
    i_sx, i_sy = table.col("OriginalImagePixelSpacing[x"), table.col("y]")
    has_size = i_w is not None and i_h is not None
    has_spacing = i_sx is not None and i_sy is not None
    width = max(i for i in (i_img, i_lab, i_fu, i_pid, i_age, i_view, i_sex, i_w, i_h, i_sx, i_sy) if i is not None)

    prefix = rel_prefix(root, manifest.parent)
    files = index_images(manifest.parent) if check_files else None
    name = table.name
    label_template = dict.fromkeys(LABELS, 0)

    # Hot loop (10^5 rows): exact-match dict lookups first, slow paths only for unusual values.
    for n, row in table.rows():
        if isinstance(row, RowError):
            yield row
            continue
        if len(row) <= width:
            yield RowError(f"{name}:{n}", f"row has {len(row)} fields, expected at least {width + 1}")
            continue
        image = row[i_img]
        patient = row[i_pid]
        if not image or not patient:
            yield RowError(f"{name}:{n}", "empty 'Image Index' or 'Patient ID'")
            continue
        labels = label_template.copy()
        bad = None
        for label in row[i_lab].split("|"):
            if label in labels:
                labels[label] = 1
            else:
                label = label.strip()
                if label not in labels:
                    bad = label
                    break
                labels[label] = 1
        if bad is not None:
            yield RowError(f"{name}:{n}", f"unknown finding label {bad!r} in 'Finding Labels'")
            continue
        follow_text = row[i_fu]
        if not follow_text.isdigit():
            yield RowError(f"{name}:{n}", f"'Follow-up #' {follow_text!r} is not a number")
            continue
        follow_up = int(follow_text)
        if patient.isdigit():
            patient = patient.zfill(8)
        else:
            patient = patient.strip()
        warning = None
        age_text = row[i_age]
        if age_text.isdigit():
            age = int(age_text)  # the v2020 file's plain integers
        elif age_text[-1:] == "Y" and age_text[:-1].isdigit():
            age = int(age_text[:-1])  # the 2017 file's '058Y'
        else:
            age = -1
        if not 0 <= age <= MAX_AGE:
            try:
                age = parse_age(age_text)  # spaces, months, and the out-of-range ages the 2017 file has
            except ValueError as exc:
                age, warning = None, str(exc)
        extra = {"Follow-up #": follow_up}
        if has_size:
            w, h = row[i_w], row[i_h]
            extra["OriginalImage[Width,Height]"] = (int(w), int(h)) if w.isdigit() and h.isdigit() else (w, h)
        if has_spacing:
            try:
                extra["OriginalImagePixelSpacing[x,y]"] = (float(row[i_sx]), float(row[i_sy]))
            except ValueError:
                extra["OriginalImagePixelSpacing[x,y]"] = (row[i_sx], row[i_sy])
        if files is None:
            path = exists = None
        else:
            found = files.get(image)
            if found is not None:
                path, exists = prefix + found, True
            else:
                path, exists = None, False
        view = VIEWS.get(row[i_view])
        if view is None:
            view = VIEWS.get(row[i_view].strip().upper(), "")
        sex = SEX.get(row[i_sex])
        if sex is None:
            sex = SEX.get(row[i_sex].strip().casefold(), "")
        yield ImageRecord(
            DATASET,
            n,
            patient,
            f"{patient}_{follow_up:03d}",
            image,
            path,
            exists,
            None,
            view,
            sex,
            age,
            None,
            labels,
            extra,
        )
        if exists is False:
            yield RowError(f"{name}:{n}", f"missing image file {image} (not under {prefix}images*/)")
        if warning is not None:
            yield RowError(f"{name}:{n}", warning)
