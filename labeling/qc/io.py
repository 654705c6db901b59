"""Mask import and export as pure functions: CheXmask CSVs, label PNGs, one PNG per organ, COCO (RLE and
polygons), and mapping between CheXmask's padded 1024² grid and the image grid.

Readers of many rows yield a result or a `RowError` per row, so one bad row never stops a file. Every mask
size is checked against a pixel limit before anything is allocated (a 200-byte row can claim 200000²), and
readers decode one row or image at a time, so a file never sits in memory as decoded masks.
"""

from __future__ import annotations

import csv
import io as _io
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from curation.csvsafe import SafeWriter

from .rle import (
    MASK_MAX_PIXELS,
    RleError,
    check_mask_size,
    chexmask_rle_extent,
    decode_chexmask_rle,
    decode_coco_rle,
    encode_chexmask_rle,
    encode_coco_rle,
)

ID_COLUMNS = ("ImageID", "Path", "Image Index", "dicom_id", "image_id")
ORGAN_COLUMNS = {"Right Lung": "right_lung", "Left Lung": "left_lung", "Heart": "heart"}
CHEXMASK_GRID = 1024
# Flag written to qc.csv and kept in mask metadata when a CheXmask row had no Height/Width.
SIZE_INFERRED_FLAG = "size inferred: Height/Width blank, mask kept on CheXmask's 1024x1024 grid"
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
    # True when Height/Width were blank and the mask was read on CheXmask's preprocessed 1024² grid.
    size_inferred: bool = False


@dataclass
class ChexmaskRecord:
    """One CheXmask row as read, not yet decoded (a few kilobytes of RLE text instead of megabytes of mask)."""

    row_number: int
    image_id: str
    row: dict
    columns: dict  # CSV organ column -> organ name, for the organ columns present


@dataclass
class RowError:
    """A row that could not be read, with the reason."""

    row_number: int
    image_id: str
    message: str


def read_chexmask_csv(
    source,
    image_sizes: dict | None = None,
    organs: Iterable[str] = ("right_lung", "left_lung", "heart"),
    max_pixels: int | None = MASK_MAX_PIXELS,
) -> Iterator[ChexmaskRow | RowError]:
    """Yield a ChexmaskRow or RowError per data row of a CheXmask CSV (path or text file object).

    Columns are found by name. `image_sizes` (id -> (height, width)) maps masks stored on CheXmask's padded
    1024² grid onto the image grid; a mask whose size matches neither is a row error. Rows with blank
    Height/Width whose RLE fits 1024² are read on that grid (`size_inferred`). Masks over `max_pixels` are
    row errors, found before decoding.
    """
    for record in iter_chexmask_records(source, organs):
        if isinstance(record, RowError):
            yield record
        else:
            yield decode_chexmask_record(record, image_sizes, max_pixels)


def iter_chexmask_records(
    source, organs: Iterable[str] = ("right_lung", "left_lung", "heart")
) -> Iterator[ChexmaskRecord | RowError]:
    """Yield each data row of a CheXmask CSV undecoded (or a RowError), for callers that decode later."""
    handle = (
        open(source, newline="", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
        if isinstance(source, (str, Path))
        else source
    )
    try:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except csv.Error as exc:
            yield RowError(1, "", f"unreadable CSV header ({exc})")
            return
        id_column = next((c for c in ID_COLUMNS if c in header), None)
        wanted = {col: name for col, name in ORGAN_COLUMNS.items() if name in set(organs)}
        columns = {col: name for col, name in wanted.items() if col in header}
        number = 0
        while True:
            number += 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. an unterminated quote: this row is lost, the next ones are read
                yield RowError(number, "", f"unreadable CSV row ({exc})")
                continue
            image_id = (row.get(id_column) or "").strip() if id_column else ""
            if id_column is None:
                yield RowError(number, "", f"no id column (expected one of {', '.join(ID_COLUMNS)})")
            elif not columns:
                yield RowError(number, image_id, "CSV has no organ columns (expected Right Lung, Left Lung, Heart)")
            else:
                yield ChexmaskRecord(number, image_id, row, columns)
    finally:
        if handle is not source:
            handle.close()


def decode_chexmask_record(
    record: ChexmaskRecord, image_sizes: dict | None = None, max_pixels: int | None = MASK_MAX_PIXELS
) -> ChexmaskRow | RowError:
    """Decode one CheXmask row into organ masks (see read_chexmask_csv), or say why it cannot be."""
    try:
        return _decode_row(
            record.row_number,
            record.image_id,
            record.row,
            list(record.columns),
            record.columns,
            image_sizes,
            max_pixels,
        )
    except MemoryError:
        return RowError(record.row_number, record.image_id, "not enough memory to decode this row's masks")


def _row_size(row: dict, present: list[str]) -> tuple[int, int, bool]:
    """(height, width, inferred) of a CheXmask row; RleError when it has none that can be used."""
    height_text, width_text = (row.get("Height") or "").strip(), (row.get("Width") or "").strip()
    if not height_text and not width_text:
        # CheXmask publishes rows without a size (30 of the 50 PadChest rows of its physician-checked
        # subset): their masks are on its preprocessed 1024² grid, which the RLE must then fit.
        extent = max(chexmask_rle_extent(row.get(col) or "") for col in present)
        if extent > CHEXMASK_GRID * CHEXMASK_GRID:
            raise RleError(
                f"Height/Width are blank and the RLE reaches pixel {extent}, past CheXmask's "
                f"{CHEXMASK_GRID}x{CHEXMASK_GRID} grid"
            )
        return CHEXMASK_GRID, CHEXMASK_GRID, True
    try:
        height, width = float(height_text), float(width_text)
        if not (height.is_integer() and width.is_integer()):
            raise ValueError
    except (ValueError, OverflowError):
        raise RleError(f"Height/Width {row.get('Height')!r}x{row.get('Width')!r} not integers") from None
    return int(height), int(width), False


def _decode_row(number, image_id, row, present, wanted, image_sizes, max_pixels) -> ChexmaskRow | RowError:
    try:
        height, width, inferred = _row_size(row, present)
        check_mask_size(height, width, max_pixels)
    except RleError as exc:
        return RowError(number, image_id, str(exc))
    masks = {}
    for col in present:
        try:
            masks[wanted[col]] = decode_chexmask_rle(row.get(col) or "", height, width, max_pixels)
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
        size_inferred=inferred,
    )


def write_chexmask_csv(rows: Iterable[ChexmaskRow], target, id_column: str = "ImageID") -> None:
    """Write rows as a CheXmask CSV (RCA values kept as given, empty when unknown)."""
    handle = open(target, "w", newline="", encoding="utf-8") if isinstance(target, (str, Path)) else target
    try:
        writer = SafeWriter(handle)
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
    top, left = (side - height) // 2, (side - width) // 2
    # The same pixels as a nearest-neighbour resize of the grid to side² cropped to the image, but only the
    # image's own height x width is allocated, never the square (a 100000x1000 film would need 10 GB).
    grid = np.asarray(mask, dtype=bool)
    rows = _nearest_indices(grid.shape[0], side)[top : top + height]
    cols = _nearest_indices(grid.shape[1], side)[left : left + width]
    return grid[np.ix_(rows, cols)]


def _nearest_indices(source: int, target: int) -> np.ndarray:
    """Source index of each of `target` output pixels, as Pillow's NEAREST resize picks them: it starts at half
    a step and adds the step per pixel, and a running float64 sum rounds the same way here (cumsum is sequential)."""
    step = source / target
    steps = np.full(target, step, dtype=np.float64)
    steps[0] = step * 0.5
    return np.minimum(np.cumsum(steps).astype(np.int64), source - 1)


def image_to_square(mask: np.ndarray, size: int = CHEXMASK_GRID) -> np.ndarray:
    """Map a mask on the image grid onto CheXmask's padded square grid of `size`²."""
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = mask * 255
    return np.asarray(Image.fromarray(square).resize((size, size), Image.NEAREST)) > 127


def png_header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first 24 bytes of a PNG (its IHDR chunk), None when it is not a PNG."""
    if len(head) >= 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


def open_mask_image(source, max_pixels: int | None = MASK_MAX_PIXELS) -> Image.Image:
    """Open a mask image (path or binary file) with its size checked before any pixel is decoded.

    A PNG's size comes from its header; other formats from Pillow's header parse. Over `max_pixels`, or a
    Pillow decompression bomb, raises RleError (a ValueError) instead of decoding.
    """
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            head = fh.read(24)
    else:
        position = source.tell()
        head = source.read(24)
        source.seek(position)
    size = png_header_size(head)
    if size is not None:
        check_mask_size(size[1], size[0], max_pixels)
    try:
        image = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RleError(f"image refused as a decompression bomb ({exc})") from None
    check_mask_size(image.height, image.width, max_pixels)
    return image


def read_label_png(
    source, value_map: dict | None = None, bitwise: bool = False, max_pixels: int | None = MASK_MAX_PIXELS
) -> dict:
    """Organ masks from a label PNG. `value_map` maps pixel values to organ names; with `bitwise` each key is
    a bit (default: 1 right lung, 2 left lung, 4 heart, 8/16 clavicles). Over `max_pixels` raises RleError."""
    labels = np.asarray(open_mask_image(source, max_pixels))
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


def read_organ_pngs(paths: dict, max_pixels: int | None = MASK_MAX_PIXELS) -> dict:
    """Organ masks from one binary PNG per organ ({organ: path}); any non-zero pixel is inside.

    Each file's size is checked before it is decoded (RleError over `max_pixels`)."""
    return {organ: np.asarray(open_mask_image(p, max_pixels).convert("L")) > 0 for organ, p in paths.items()}


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


@dataclass
class CocoImage:
    """One COCO image with its organ annotations, not yet decoded; `error` when its entry is unusable."""

    image_id: object
    file_name: str
    height: int
    width: int
    annotations: list = field(default_factory=list)  # (organ, annotation) pairs
    error: str = ""


def iter_coco_images(data: dict, category_map: dict | None = None) -> Iterator[CocoImage]:
    """The images of a COCO dict with their organ annotations, in file order, without decoding any mask."""
    if not isinstance(data, dict):
        raise ValueError("a COCO file is a JSON object with images, annotations and categories")
    category_map = category_map or COCO_CATEGORIES
    categories = {}
    for c in data.get("categories") or []:
        if isinstance(c, dict) and "id" in c:
            categories[c["id"]] = category_map.get(str(c.get("name", "")).lower().replace("_", " "))
    by_image: dict = {}
    for ann in data.get("annotations") or []:
        if not isinstance(ann, dict):
            continue
        organ = categories.get(ann.get("category_id"))
        if organ is not None:
            by_image.setdefault(_hashable(ann.get("image_id")), []).append((organ, ann))
    for img in data.get("images") or []:
        if not isinstance(img, dict) or "id" not in img:
            continue
        image = CocoImage(_hashable(img["id"]), str(img.get("file_name", "")), 0, 0)
        try:
            image.height, image.width = int(img["height"]), int(img["width"])
        except (KeyError, TypeError, ValueError, OverflowError):
            image.error = f"image height/width {img.get('height')!r}x{img.get('width')!r} are not integers"
        image.annotations = by_image.get(image.image_id, [])
        yield image


def decode_coco_image(image: CocoImage, max_pixels: int | None = MASK_MAX_PIXELS) -> tuple[dict, list[str]]:
    """({organ: mask}, errors) for one COCO image; its size is checked against `max_pixels` first."""
    if image.error:
        return {}, [image.error]
    try:
        check_mask_size(image.height, image.width, max_pixels)
        if image.height <= 0 or image.width <= 0:
            raise RleError(f"image size {image.height}x{image.width} must be positive")
    except RleError as exc:
        return {}, [str(exc)]
    masks: dict = {}
    errors = []
    for organ, ann in image.annotations:
        try:
            mask = _coco_segmentation(ann.get("segmentation"), image.height, image.width, max_pixels)
        except (RleError, ValueError, TypeError) as exc:
            errors.append(f"annotation {ann.get('id')}: {exc}")
            continue
        except MemoryError:
            errors.append(f"annotation {ann.get('id')}: not enough memory to decode it")
            continue
        masks[organ] = masks[organ] | mask if organ in masks else mask
    return masks, errors


def read_coco(data: dict, category_map: dict | None = None, max_pixels: int | None = MASK_MAX_PIXELS) -> dict:
    """Organ masks per COCO image id from a COCO dict (RLE or polygon segmentations).

    Returns {image_id: {"file_name", "height", "width", "masks": {organ: mask}, "errors": [...]}}. This holds
    every image's masks at once; importers use iter_coco_images and decode_coco_image one image at a time.
    """
    images = {}
    for image in iter_coco_images(data, category_map):
        masks, errors = decode_coco_image(image, max_pixels)
        images[image.image_id] = {
            "file_name": image.file_name,
            "height": image.height,
            "width": image.width,
            "masks": masks,
            "errors": errors,
        }
    return images


def _hashable(value):
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


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


def _coco_segmentation(seg, height: int, width: int, max_pixels: int | None = MASK_MAX_PIXELS) -> np.ndarray:
    if isinstance(seg, dict):
        mask = decode_coco_rle(seg, max_pixels)
        if mask.shape != (height, width):
            raise ValueError(f"RLE size {mask.shape[0]}x{mask.shape[1]} does not match image {height}x{width}")
        return mask
    if isinstance(seg, list):
        check_mask_size(height, width, max_pixels)
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
