"""Masks of a version's images: the CheXmask RLE CSV and COCO JSON with RLE segmentations.

Rows are read in batches and each batch's newest masks (labeling.services.latest_masks) fetched together;
images without masks are left out of these formats and counted. COCO's annotations are spooled to a
temporary file while its images are written, so the JSON streams out in one piece.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from itertools import islice

from ..csvsafe import SafeWriter, safe_cell, safe_file_name
from .base import Export, Row

BATCH = 200  # rows per mask lookup; a 1024² mask's RLE is up to a few hundred kB
CHEXMASK_COLUMNS = [
    "ImageID",
    "Dice RCA (Mean)",
    "Dice RCA (Max)",
    "Right Lung",
    "Left Lung",
    "Heart",
    "Height",
    "Width",
    "Split",
    "QC Decision",
]


def _with_masks(export: Export) -> Iterator[tuple[Row, dict]]:
    """(row, {organ: Mask}) for each row whose image has masks, newest version per organ."""
    from labeling.services import latest_masks

    rows = export.rows()
    while batch := list(islice(rows, BATCH)):
        masks = latest_masks(export.version.project, [row.image_id for row in batch])
        for row in batch:
            found = masks.get(row.image_id)
            if not found:
                export.count("left_out_no_masks")
                continue
            yield row, {mask.organ: mask for mask in found}


def _image(export: Export, row: Row) -> str:
    name = safe_file_name(row.image_key, export.extension or ".png")
    if export.images != "none":
        export.put_image(row, f"images/{name}")
    return name


def write_chexmask(export: Export) -> None:
    with export.sink.text(export.path("chexmask.csv")) as out:
        writer = SafeWriter(out, lineterminator="\n")
        writer.writerow(CHEXMASK_COLUMNS)
        for row, masks in _with_masks(export):
            _image(export, row)
            first = next(iter(masks.values()))
            meta = first.import_meta or {}
            writer.writerow(
                [
                    row.image_key,
                    meta.get("dice_rca_mean", ""),
                    meta.get("dice_rca_max", ""),
                    masks["right_lung"].rle if "right_lung" in masks else "",
                    masks["left_lung"].rle if "left_lung" in masks else "",
                    masks["heart"].rle if "heart" in masks else "",
                    first.height,
                    first.width,
                    row.split,
                    row.qc_decision,
                ]
            )
            export.count("rows")


def write_coco(export: Export) -> None:
    import numpy as np

    from labeling.qc.io import COCO_CATEGORIES
    from labeling.qc.rle import decode_chexmask_rle, encode_coco_rle

    organs = list(COCO_CATEGORIES.values())
    names = {organ: name for name, organ in COCO_CATEGORIES.items()}
    categories = [{"id": i + 1, "name": names[organ]} for i, organ in enumerate(organs)]
    annotation_id = 0
    with export.sink.text(export.path("annotations.json")) as out, tempfile.TemporaryFile("w+") as spool:
        out.write('{"info":{"description":' + json.dumps(f"dataset version {export.version.name}") + "},")
        out.write('"categories":' + json.dumps(categories) + ',"images":[')
        first_image = True
        for image_id, (row, masks) in enumerate(_with_masks(export), start=1):
            any_mask = next(iter(masks.values()))
            entry = {
                "id": image_id,
                "file_name": _image(export, row),
                "height": any_mask.height,
                "width": any_mask.width,
                "image_key": safe_cell(row.image_key),
                "split": row.split,
            }
            out.write(("" if first_image else ",") + json.dumps(entry))
            first_image = False
            for organ, mask in sorted(masks.items()):
                if organ not in organs:
                    continue
                bits = decode_chexmask_rle(mask.rle, mask.height, mask.width)
                ys, xs = np.nonzero(bits)
                bbox = (
                    [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
                    if ys.size
                    else [0, 0, 0, 0]
                )
                annotation_id += 1
                annotation = {
                    "id": annotation_id,
                    "image_id": image_id,
                    "category_id": organs.index(organ) + 1,
                    "segmentation": encode_coco_rle(bits, compressed=True),
                    "area": int(bits.sum()),
                    "bbox": bbox,
                    "iscrowd": 1,
                }
                spool.write(("" if annotation_id == 1 else ",") + json.dumps(annotation))
            export.count("rows")
        out.write('],"annotations":[')
        spool.seek(0)
        shutil.copyfileobj(spool, out)
        out.write("]}")
