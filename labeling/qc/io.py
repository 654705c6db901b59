"""Mask import and export as pure functions: CheXmask CSVs, label PNGs, one PNG per organ, COCO (RLE and
polygons), and mapping between CheXmask's padded 1024² grid and the image grid.

Readers of many rows yield a result or a `RowError` per row, so one bad row never stops a file.
"""

from __future__ import annotations

import csv
import io as _io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .rle import RleError, decode_chexmask_rle, decode_coco_rle, encode_chexmask_rle, encode_coco_rle

ID_COLUMNS = ("ImageID", "Path", "Image Index", "dicom_id", "image_id")
ORGAN_COLUMNS = {"Right Lung": "right_lung", "Left Lung": "left_lung", "Heart": "heart"}
CHEXMASK_GRID = 1024
# Bit-mask PNGs (SCR style): a pixel may belong to several organs.
BITMASK_VALUES = {1: "right_lung", 2: "left_lung", 4: "heart", 8: "right_clavicle", 16: "left_clavicle"}
COCO_CATEGORIES = {
    "right lung": "right_lung",
    "left lung": "left_lung",
    "heart": "heart",
    "right clavicle": "right_clavicle",
    "left clavicle": "left_clavicle",
}

# RLE cells of a 1024² mask run to hundreds of kilobytes; the csv module's default limit is 128 kB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class ChexmaskRow:
    """One decoded CheXmask row: organ masks on the image grid and the RCA values as given."""

    row_number: int  # 1-based data row (header excluded)
    image_id: str
    height: int
    width: int
    masks: dict
    rca_mean: float | None = None
    rca_max: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class RowError:
    """A row that could not be read, with the reason."""

    row_number: int
    image_id: str
    message: str


def read_chexmask_csv(
    source, image_sizes: dict | None = None, organs: Iterable[str] = ("right_lung", "left_lung", "heart")
) -> Iterator[ChexmaskRow | RowError]:
    """Yield a ChexmaskRow or RowError per data row of a CheXmask CSV (path or text file object).

    Columns are found by name. `image_sizes` (id -> (height, width)) maps masks stored on CheXmask's padded
    1024² grid onto the image grid; a mask whose size matches neither is a row error.
    """
    handle = open(source, newline="", encoding="utf-8") if isinstance(source, (str, Path)) else source
    try:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        id_column = next((c for c in ID_COLUMNS if c in header), None)
        wanted = {col: name for col, name in ORGAN_COLUMNS.items() if name in set(organs)}
        present = [col for col in wanted if col in header]
        for number, row in enumerate(reader, start=1):
            image_id = (row.get(id_column) or "").strip() if id_column else ""
            if id_column is None:
                yield RowError(number, "", f"no id column (expected one of {', '.join(ID_COLUMNS)})")
                continue
            if not present:
                yield RowError(number, image_id, "CSV has no organ columns (expected Right Lung, Left Lung, Heart)")
                continue
            yield _decode_row(number, image_id, row, present, wanted, image_sizes)
    finally:
        if handle is not source:
            handle.close()


def _decode_row(number, image_id, row, present, wanted, image_sizes) -> ChexmaskRow | RowError:
    try:
        height, width = int(float(row.get("Height") or "")), int(float(row.get("Width") or ""))
    except ValueError:
        return RowError(number, image_id, f"Height/Width {row.get('Height')!r}x{row.get('Width')!r} not integers")
    masks = {}
    for col in present:
        try:
            masks[wanted[col]] = decode_chexmask_rle(row.get(col) or "", height, width)
        except RleError as exc:
            return RowError(number, image_id, f"{col}: {exc}")
    if not any(m.any() for m in masks.values()):
        return RowError(number, image_id, "all organ masks are empty")
    if image_sizes is not None and image_id in image_sizes:
        target = tuple(int(v) for v in image_sizes[image_id])
        if (height, width) != target:
            if (height, width) != (CHEXMASK_GRID, CHEXMASK_GRID):
                return RowError(
                    number,
                    image_id,
                    f"mask size {height}x{width} does not match image {target[0]}x"
                    f"{target[1]} and is not CheXmask's {CHEXMASK_GRID}² grid",
                )
            masks = {k: square_to_image(m, *target) for k, m in masks.items()}
            height, width = target
    return ChexmaskRow(
        row_number=number,
        image_id=image_id,
        height=height,
        width=width,
        masks=masks,
        rca_mean=_float_or_none(row.get("Dice RCA (Mean)")),
        rca_max=_float_or_none(row.get("Dice RCA (Max)")),
    )


def write_chexmask_csv(rows: Iterable[ChexmaskRow], target, id_column: str = "ImageID") -> None:
    """Write rows as a CheXmask CSV (RCA values kept as given, empty when unknown)."""
    handle = open(target, "w", newline="", encoding="utf-8") if isinstance(target, (str, Path)) else target
    try:
        writer = csv.writer(handle)
        writer.writerow(
            [
                id_column,
                "Dice RCA (Mean)",
                "Dice RCA (Max)",
                "Left Lung",
                "Right Lung",
                "Heart",
                "Height",
                "Width",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r.image_id,
                    "" if r.rca_mean is None else r.rca_mean,
                    "" if r.rca_max is None else r.rca_max,
                    *(
                        encode_chexmask_rle(r.masks[o]) if o in r.masks else ""
                        for o in ("left_lung", "right_lung", "heart")
                    ),
                    r.height,
                    r.width,
                ]
            )
    finally:
        if handle is not target:
            handle.close()


def square_to_image(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Map a mask on CheXmask's grid (image padded to a centred square, resized) onto the image grid."""
    side = max(height, width)
    square = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize((side, side), Image.NEAREST)
    top, left = (side - height) // 2, (side - width) // 2
    return np.asarray(square)[top : top + height, left : left + width] > 127


def image_to_square(mask: np.ndarray, size: int = CHEXMASK_GRID) -> np.ndarray:
    """Map a mask on the image grid onto CheXmask's padded square grid of `size`²."""
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = mask * 255
    return np.asarray(Image.fromarray(square).resize((size, size), Image.NEAREST)) > 127


def read_label_png(source, value_map: dict | None = None, bitwise: bool = False) -> dict:
    """Organ masks from a label PNG. `value_map` maps pixel values to organ names; with `bitwise` each key is
    a bit (default: 1 right lung, 2 left lung, 4 heart, 8/16 clavicles)."""
    labels = np.asarray(Image.open(source))
    if labels.ndim != 2:
        raise ValueError(f"label PNG must be single-channel, got shape {labels.shape}")
    if value_map is None:
        value_map, bitwise = BITMASK_VALUES, True
    masks: dict = {}
    for value, organ in value_map.items():
        hit = (labels & int(value)) > 0 if bitwise else labels == int(value)
        masks[organ] = masks[organ] | hit if organ in masks else hit
    return masks


def write_label_png(masks: dict, target, value_map: dict | None = None, bitwise: bool = False) -> None:
    """Write organ masks as one label PNG (later organs win unless `bitwise`)."""
    if value_map is None:
        value_map, bitwise = BITMASK_VALUES, True
    shape = next(iter(masks.values())).shape
    labels = np.zeros(shape, dtype=np.uint8)
    for value, organ in value_map.items():
        if organ in masks:
            m = np.asarray(masks[organ], dtype=bool)
            labels = labels | np.uint8(value) * m if bitwise else np.where(m, np.uint8(value), labels)
    Image.fromarray(labels.astype(np.uint8)).save(target, format="PNG")


def read_organ_pngs(paths: dict) -> dict:
    """Organ masks from one binary PNG per organ ({organ: path}); any non-zero pixel is inside."""
    return {organ: np.asarray(Image.open(p).convert("L")) > 0 for organ, p in paths.items()}


def write_organ_pngs(masks: dict, directory, stem: str) -> dict:
    """Write one binary PNG (0/255) per organ as `<stem>_<organ>.png`; return {organ: path}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for organ, m in masks.items():
        path = directory / f"{stem}_{organ}.png"
        Image.fromarray(np.asarray(m, dtype=np.uint8) * 255).save(path, format="PNG")
        paths[organ] = path
    return paths


def read_coco(data: dict, category_map: dict | None = None) -> dict:
    """Organ masks per COCO image id from a COCO dict (RLE or polygon segmentations).

    Returns {image_id: {"file_name", "height", "width", "masks": {organ: mask}, "errors": [...]}}.
    """
    category_map = category_map or COCO_CATEGORIES
    categories = {
        c["id"]: category_map.get(str(c["name"]).lower().replace("_", " ")) for c in data.get("categories", [])
    }
    images = {}
    for img in data.get("images", []):
        images[img["id"]] = {
            "file_name": img.get("file_name", ""),
            "height": int(img["height"]),
            "width": int(img["width"]),
            "masks": {},
            "errors": [],
        }
    for ann in data.get("annotations", []):
        entry = images.get(ann.get("image_id"))
        organ = categories.get(ann.get("category_id"))
        if entry is None or organ is None:
            continue
        try:
            mask = _coco_segmentation(ann.get("segmentation"), entry["height"], entry["width"])
        except (RleError, ValueError, TypeError) as exc:
            entry["errors"].append(f"annotation {ann.get('id')}: {exc}")
            continue
        entry["masks"][organ] = entry["masks"][organ] | mask if organ in entry["masks"] else mask
    return images


def write_coco(items: Iterable[tuple], compressed: bool = True) -> dict:
    """A COCO dict from (image_id, file_name, masks) items, one RLE annotation per organ."""
    organs = list(COCO_CATEGORIES.values())
    names = {v: k for k, v in COCO_CATEGORIES.items()}
    data = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": names[o]} for i, o in enumerate(organs)],
    }
    for image_id, file_name, masks in items:
        shape = next(iter(masks.values())).shape
        data["images"].append({"id": image_id, "file_name": file_name, "height": shape[0], "width": shape[1]})
        for organ, m in masks.items():
            m = np.asarray(m, dtype=bool)
            ys, xs = np.nonzero(m)
            bbox = (
                [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
                if ys.size
                else [0, 0, 0, 0]
            )
            data["annotations"].append(
                {
                    "id": len(data["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": organs.index(organ) + 1,
                    "segmentation": encode_coco_rle(m, compressed=compressed),
                    "area": int(m.sum()),
                    "bbox": bbox,
                    "iscrowd": 1,
                }
            )
    return data


def _coco_segmentation(seg, height: int, width: int) -> np.ndarray:
    if isinstance(seg, dict):
        mask = decode_coco_rle(seg)
        if mask.shape != (height, width):
            raise ValueError(f"RLE size {mask.shape[0]}x{mask.shape[1]} does not match image {height}x{width}")
        return mask
    if isinstance(seg, list):
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        for poly in seg:
            if len(poly) < 6 or len(poly) % 2:
                raise ValueError("polygon needs an even number of coordinates, at least 3 points")
            draw.polygon([(float(poly[i]), float(poly[i + 1])) for i in range(0, len(poly), 2)], fill=255)
        return np.asarray(canvas) > 0
    raise ValueError("segmentation is neither RLE nor polygons")


def iter_bitmask_folder(directory) -> Iterator[tuple[str, dict]]:
    """(stem, masks) for every PNG in a folder of bit-mask label PNGs (1 right lung, 2 left lung, 4 heart)."""
    for path in sorted(Path(directory).glob("*.png")):
        yield path.stem, read_label_png(path)


def _float_or_none(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def text_io(text: str) -> _io.StringIO:
    """A file object over CSV text (for callers holding the CSV in memory)."""
    return _io.StringIO(text, newline="")
