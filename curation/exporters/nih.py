"""NIH ChestX-ray14 layout, as torchxrayvision.datasets.NIH_Dataset reads it.

`Data_Entry_2017.csv` (Image Index, Finding Labels, Follow-up #, Patient ID, Patient Age, Patient Gender,
View Position), a flat `images/` folder of 8-bit PNGs, and `train_val_list.txt` / `test_list.txt` for the
split. NIH is frontal only (View Position PA or AP): lateral images and images of unknown view are left out
and counted. Its labels are positive-only: a finding is listed when its status is positive.
"""

from __future__ import annotations

from ..csvsafe import SafeWriter
from .base import Export, Row, positives

COLUMNS = [
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
]
# Label-space names that NIH spells differently (CheXpert "Pleural Effusion" is NIH "Effusion").
NIH_NAMES = {"Pleural Effusion": "Effusion", "Pleural Thickening": "Pleural_Thickening"}
NO_FINDING = "No Finding"


def image_name(row: Row) -> str:
    """NIH's patient_follow-up naming; a study's second and later images get a suffix to stay unique."""
    base = f"{row.patient_index:08d}_{row.follow_up:03d}"
    return f"{base}.png" if row.image_index == 0 else f"{base}_{row.image_index}.png"


def finding_labels(labels: dict) -> str:
    found = sorted({NIH_NAMES.get(label, label) for label in positives(labels) if label != NO_FINDING})
    return "|".join(found) if found else NO_FINDING


def write(export: Export) -> None:
    sink = export.sink
    with (
        sink.text(export.path("Data_Entry_2017.csv")) as table,
        sink.text(export.path("train_val_list.txt")) as train_val,
        sink.text(export.path("test_list.txt")) as test,
    ):
        writer = SafeWriter(table, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in export.rows():
            if row.view_position not in ("PA", "AP"):
                export.count("left_out_not_frontal")
                continue
            name = image_name(row)
            if export.images != "none" and not export.put_image(row, f"images/{name}"):
                continue
            writer.writerow(
                [
                    name,
                    finding_labels(row.labels),
                    row.follow_up,
                    row.patient_index,
                    "" if row.age_years is None else row.age_years,
                    row.sex if row.sex in ("M", "F") else "",
                    row.view_position,
                ]
            )
            (test if row.split == "test" else train_val).write(name + "\n")
            export.count("rows")
