"""CheXpert layout, as torchxrayvision.datasets.CheX_Dataset reads it.

`train.csv` and `valid.csv` (Path, Sex, Age, Frontal/Lateral, AP/PA, No Finding and the 13 other labels as
1.0 / 0.0 / -1.0 / blank), `Path` being `<split>/patient<N>/study<n>/view<n>_frontal.png` (or `_lateral`)
relative to the CSVs' folder, with the 8-bit PNGs there. CheXpert has no test split of its own: ours goes to
`test.csv` with `test/...` paths (CheX_Dataset reads only files whose path says train or valid, as it does
for CheXpert's own hidden test set).
"""

from __future__ import annotations

from ..csvsafe import SafeWriter
from .base import Export, Row

LABELS = [
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
]
COLUMNS = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *LABELS]
VALUES = {"positive": "1.0", "negative": "0.0", "uncertain": "-1.0", "": ""}
RANK = {"": 0, "negative": 1, "uncertain": 2, "positive": 3}
SEX = {"M": "Male", "F": "Female"}
FILES = {"train": "train.csv", "valid": "valid.csv", "test": "test.csv"}


def chexpert_names(space: str) -> dict[str, str]:
    """Label-space name -> CheXpert column, for a version in another space (ChestX-ray14: the vocabulary's
    NIH map, e.g. Effusion -> Pleural Effusion, Mass and Nodule -> Lung Lesion)."""
    if space == "chexpert":
        return {label: label for label in LABELS}
    from nlp.services import base_vocabulary

    table = base_vocabulary().native_maps.get("nih", {})
    names = {}
    for spaces in table.values():
        if spaces.get(space) and spaces.get("chexpert"):
            names[spaces[space]] = spaces["chexpert"]
    names.update({label: label for label in LABELS if label not in names})
    return names


def relative_path(row: Row) -> str:
    side = "frontal" if row.view_position in ("PA", "AP") else "lateral"
    return f"{row.split}/patient{row.patient_index:05d}/study{row.follow_up + 1}/view{row.image_index + 1}_{side}.png"


def label_cells(labels: dict, names: dict[str, str]) -> list[str]:
    statuses: dict[str, str] = {}
    for label, (status, _source) in labels.items():
        column = names.get(label)
        if column is not None and RANK[status] > RANK[statuses.get(column, "")]:
            statuses[column] = status
    return [VALUES[statuses.get(column, "")] for column in LABELS]


def write(export: Export) -> None:
    sink = export.sink
    names = chexpert_names(export.version.label_space)
    with (
        sink.text(export.path(FILES["train"])) as train,
        sink.text(export.path(FILES["valid"])) as valid,
        sink.text(export.path(FILES["test"])) as test,
    ):
        writers = {
            split: SafeWriter(handle, lineterminator="\n")
            for split, handle in zip(FILES, (train, valid, test), strict=True)
        }
        for writer in writers.values():
            writer.writerow(COLUMNS)
        for row in export.rows():
            path = relative_path(row)
            if export.images != "none" and not export.put_image(row, path):
                continue
            frontal = row.view_position in ("PA", "AP")
            writers[row.split].writerow(
                [
                    path,
                    SEX.get(row.sex, "Unknown"),
                    "" if row.age_years is None else row.age_years,
                    "Frontal" if frontal else "Lateral",
                    row.view_position if frontal else "",
                    *label_cells(row.labels, names),
                ]
            )
            export.count("rows")
