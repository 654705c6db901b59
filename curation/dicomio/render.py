"""Decodes DICOM (and PNG/JPEG) images and renders them for the browser, in ingest workers only.

Display pipeline, in this order: Modality LUT (rescale slope/intercept or LUT) -> VOI (window tags, VOI LUT
Sequence, else a percentile window) -> invert MONOCHROME1 last. Inverting earlier flips the meaning of the
window tags, which are defined on modality-LUT output (cornerstone3D PR #2215 shows that bug).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, get_decoder
from pydicom.pixels import pixel_array as _decode
from pydicom.uid import UID

from curation.dicomio.errors import DicomError, check_size
from curation.dicomio.header import check_pixel_count, read_dataset_header

# Percentile window when the file has none: wide enough to keep the mediastinum and lung detail, narrow
# enough to ignore collimator edges and burned-in labels.
PERCENTILE_LOW, PERCENTILE_HIGH = 0.5, 99.5
# About 256k samples give a percentile within a grey level of the full-image value at a fraction of the cost.
_PERCENTILE_SAMPLES = 1 << 18
# zlib level 1 is ~4x faster than the default 6 for X-ray images and only ~10% larger; ingest is CPU bound.
PNG_COMPRESS_LEVEL = 1
_VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
# The file's own windows and VOI LUTs offered as viewer presets: a bounded list, whatever the header holds.
MAX_FILE_PRESETS = 8
_PRESET_NAME_MAX = 40
# Window explanations are free header text the de-identification keeps (PS3.15 lists no action for them), so
# one is shown only when every word is window vocabulary; anything else (a name, an id) becomes "File window N".
_PRESET_WORDS = frozenset(
    "abdomen air auto automatic bone brain chest custom default detail dynamic edge enhanced equalized "
    "film hard harder high histogram image linear low lung lungs mediastinal mediastinum narrow normal "
    "original pe pleura preset processed sharp sigmoid smooth soft softer spine standard thorax tissue "
    "user view voi lut wide window".split()
)


@dataclasses.dataclass(frozen=True)
class Window:
    """A VOI window in modality-LUT output units, the function to apply it and where it came from."""

    center: float
    width: float
    source: str  # 'tags' | 'voi_lut_sequence' | 'percentile' | 'full_range'
    function: str = "LINEAR"


@dataclasses.dataclass(frozen=True)
class Rendering:
    """Everything ingest stores for one image: PNGs for display, 16-bit and thumbnail, and the window."""

    display_png: bytes
    display16_png: bytes
    thumbnail_png: bytes
    window: dict
    rows: int
    cols: int
    content_sha256: str


def decode_pixels(
    source: str | Path | BinaryIO | Dataset, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> tuple[Dataset, np.ndarray]:
    """Read a DICOM file (or take a dataset) and return it with its first frame's stored values.

    Compressed transfer syntaxes decode through the pylibjpeg plugins. Raises DicomError with a short reason
    for a non-DICOM or truncated file, missing pixel data, an image over `max_pixels` (rows x columns x
    frames, from the header, before decoding), an unsupported transfer syntax or a decode failure.
    """
    if isinstance(source, Dataset):
        ds = source
        if not any(tag in ds for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009)):
            raise DicomError("no pixel data")
        check_pixel_count(ds, max_pixels)
    else:
        if not isinstance(source, str | os.PathLike):
            start = source.tell()
        # The header pass gives the same per-item errors as indexing (truncation, not DICOM, too many
        # pixels) for ~0.3 ms.
        _, probe, _ = read_dataset_header(source, max_bytes=max_bytes, max_pixels=max_pixels)
        if probe.tag is None:
            raise DicomError("no pixel data")
        if not isinstance(source, str | os.PathLike):
            source.seek(start)
        try:
            ds = pydicom.dcmread(source, force=True)
        except Exception as exc:  # noqa: BLE001 - any failure past a valid header is a damaged file
            raise DicomError(f"unreadable DICOM file ({type(exc).__name__})") from exc
    syntax = _transfer_syntax(ds)
    plugin = _decoding_plugin(syntax)
    frames = int(ds.get("NumberOfFrames") or 1)
    try:
        arr = _decode(ds, index=0 if frames > 1 else None, decoding_plugin=plugin)
    except MemoryError as exc:
        raise DicomError("not enough memory to decode the pixel data") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise many types; the reason names the failure
        raise DicomError(f"pixel data could not be decoded ({_short(exc)})") from exc
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        # Colour secondary captures: pydicom returns RGB; a chest film is grey, so take luminance.
        arr = (arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).round()
        arr = arr.astype(np.uint16)
    elif arr.ndim != 2:
        raise DicomError(f"unsupported pixel array shape {arr.shape}")
    return ds, arr


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(syntax)) if syntax else UID("1.2.840.10008.1.2")


def _decoding_plugin(syntax: UID) -> str:
    """Return the plugin to decode `syntax` with ('' for native), or raise DicomError if none can."""
    name = syntax.name if syntax.name != str(syntax) else "unknown"
    try:
        decoder = get_decoder(syntax)
    except (NotImplementedError, ValueError) as exc:
        raise DicomError(f"unsupported transfer syntax {syntax} ({name})") from exc
    if not syntax.is_compressed:
        return ""
    plugins = decoder.available_plugins
    if not plugins:
        raise DicomError(f"unsupported transfer syntax {syntax} ({name}): no decoder installed")
    # pylibjpeg first: it covers JPEG, JPEG-LS, JPEG 2000 and RLE and is faster than the pure-Python RLE.
    return "pylibjpeg" if "pylibjpeg" in plugins else plugins[0]


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def modality_lut(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """Apply the Modality LUT Sequence or rescale slope/intercept; return float32 modality values."""
    if ds.get("ModalityLUTSequence"):
        return apply_modality_lut(arr, ds).astype(np.float32)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    out = arr.astype(np.float32)
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


def voi_window(ds: Dataset, arr: np.ndarray) -> tuple[float, float, str]:
    """Return the default (center, width, source) for modality values `arr`.

    Window tags first (the first pair when several), then the VOI LUT Sequence (as the linear window over the
    input range where its output rises from 1% to 99%), else the 0.5-99.5 percentile window.
    """
    window = _window(ds, arr)
    return window.center, window.width, window.source


def _window(ds: Dataset, values: np.ndarray) -> Window:
    function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    function = function if function in _VOI_FUNCTIONS else "LINEAR"
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width > 0:
        return Window(center, width, "tags", function)
    if _voi_lut_item(ds) is not None:
        center, width = _lut_linear_window(ds)
        return Window(center, width, "voi_lut_sequence", "LUT")
    return percentile_window(values)


def percentile_window(values: np.ndarray, low: float = PERCENTILE_LOW, high: float = PERCENTILE_HIGH) -> Window:
    """Return the window spanning the given percentiles of a subsample of `values`."""
    step = max(1, int(np.sqrt(values.size / _PERCENTILE_SAMPLES)))
    sample = values[::step, ::step] if values.ndim == 2 else values.ravel()[::step]
    lo, hi = np.percentile(sample, [low, high])
    width = max(float(hi - lo), 1.0)
    return Window(float(lo + hi) / 2.0, width, "percentile", "LINEAR_EXACT")


def _first(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None  # type: ignore[index, arg-type]
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _voi_lut_items(ds: Dataset) -> list[Dataset]:
    """The usable items of the VOI LUT Sequence (a descriptor and data), in file order."""
    items = ds.get("VOILUTSequence") or []
    return [item for item in items if "LUTDescriptor" in item and "LUTData" in item]


def _voi_lut_item(ds: Dataset) -> Dataset | None:
    items = ds.get("VOILUTSequence")
    if not items:
        return None
    item = items[0]
    return item if "LUTDescriptor" in item and "LUTData" in item else None


def _lut_data(ds: Dataset, item: Dataset | None = None) -> tuple[np.ndarray, int]:
    """The LUT's output for every input it covers, and its first input; the first item unless `item` is given."""
    item = item if item is not None else _voi_lut_item(ds)
    assert item is not None
    descriptor = list(item.LUTDescriptor)
    entries = descriptor[0] or 1 << 16
    identity = np.arange(entries, dtype=np.int64) + int(descriptor[1])
    probe = Dataset()
    probe.VOILUTSequence = [item]
    probe.file_meta = getattr(ds, "file_meta", Dataset())
    data = pydicom.pixels.apply_voi(identity, probe).astype(np.float64)
    return data, int(descriptor[1])


def _lut_linear_window(ds: Dataset, item: Dataset | None = None) -> tuple[float, float]:
    data, first = _lut_data(ds, item)
    lo, hi = float(data.min()), float(data.max())
    if hi <= lo:
        return first + len(data) / 2.0, float(len(data))
    normalised = (data - lo) / (hi - lo)
    start = first + int(np.argmax(normalised >= 0.01))
    stop = first + int(np.argmax(normalised >= 0.99))
    width = max(float(stop - start), 1.0)
    return start + width / 2.0, width


def preset_name(explanation: object, fallback: str) -> str:
    """A header explanation fit to show as a preset name: control characters dropped, whitespace collapsed,
    truncated, and only when every word is window vocabulary (numbers allowed); else `fallback`."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(explanation or "")).split())
    text = text[:_PRESET_NAME_MAX].strip()
    words = re.findall(r"[^\W\d_]+", text)
    if not words or any(word.lower() not in _PRESET_WORDS for word in words):
        return fallback
    return text


def _values(value: object) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return list(value)  # type: ignore[arg-type]
    return [value]


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def file_presets(ds: Dataset) -> list[dict]:
    """The file's own windows and VOI LUTs, at most MAX_FILE_PRESETS, in modality-LUT output units.

    Every WindowCenter/WindowWidth pair (multi-valued; a width must be positive) named by its
    WindowCenterWidthExplanation, then every VOI LUT Sequence item as its linear window (where its output
    rises from 1% to 99%) named by its LUTExplanation. Names pass preset_name: "File window N", "File VOI LUT N"
    when the header text is not plain window vocabulary.
    """
    function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    function = function if function in _VOI_FUNCTIONS else "LINEAR"
    centers, widths = _values(ds.get("WindowCenter")), _values(ds.get("WindowWidth"))
    explanations = _values(ds.get("WindowCenterWidthExplanation"))
    presets: list[dict] = []
    for index, (raw_center, raw_width) in enumerate(zip(centers, widths, strict=False)):
        center, width = _number(raw_center), _number(raw_width)
        if center is None or width is None or width <= 0:
            continue
        explanation = explanations[index] if index < len(explanations) else ""
        name = preset_name(explanation, f"File window {len(presets) + 1}")
        presets.append({"name": name, "center": center, "width": width, "function": function, "source": "tags"})
        if len(presets) == MAX_FILE_PRESETS:
            return presets
    for index, item in enumerate(_voi_lut_items(ds)[: MAX_FILE_PRESETS - len(presets)], start=1):
        try:
            center, width = _lut_linear_window(ds, item)
        except Exception:  # noqa: BLE001, S112 - a malformed LUT item is left out, the others are still offered
            continue
        name = preset_name(item.get("LUTExplanation", ""), f"File VOI LUT {index}")
        presets.append(
            {"name": name, "center": center, "width": width, "function": "LUT", "source": "voi_lut_sequence"}
        )
    return presets


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Map modality values through a linear/sigmoid window to float32 in [0, 1], as PS3.3 C.11.2.1.2 says."""
    center, width = np.float32(window.center), np.float32(window.width)
    if window.function == "SIGMOID":
        return (1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))).astype(np.float32)
    if window.function == "LINEAR":
        # LINEAR is defined on discrete input: centre - 0.5 and width - 1 (PS3.3 C.11.2.1.2.1).
        center, width = center - np.float32(0.5), max(width - np.float32(1.0), np.float32(1.0))
    out = (values - center) / width + np.float32(0.5)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _apply_lut(values: np.ndarray, ds: Dataset) -> np.ndarray:
    data, first = _lut_data(ds)
    lo, hi = float(data.min()), float(data.max())
    index = np.clip(np.rint(values).astype(np.int64) - first, 0, len(data) - 1)
    return ((data[index] - lo) / max(hi - lo, 1.0)).astype(np.float32)


def _to_display(values: np.ndarray, ds: Dataset | None, window: Window, invert: bool) -> np.ndarray:
    """VOI then (last) MONOCHROME1 inversion, to uint8."""
    unit = _apply_lut(values, ds) if window.source == "voi_lut_sequence" and ds is not None else None
    if unit is None:
        unit = apply_window(values, window)
    if invert:
        unit = np.float32(1.0) - unit
    return np.rint(unit * np.float32(255.0)).astype(np.uint8)


def render_display(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    """Render stored values `arr` of `ds` to a uint8 display image: modality LUT, VOI, MONOCHROME1 inverted last."""
    values = modality_lut(arr, ds)
    return _to_display(values, ds, _window(ds, values), _is_monochrome1(ds))


def _is_monochrome1(ds: Dataset) -> bool:
    return str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"


def render_16bit(ds: Dataset, arr: np.ndarray) -> tuple[np.ndarray, dict]:
    """Return modality values packed into uint16 for the browser's own window/level, and how to read them.

    modality value = uint16 * rescale_slope + rescale_intercept; the default window is given in uint16 units
    and `invert` says whether the browser must invert after windowing (MONOCHROME1).
    """
    values = modality_lut(arr, ds)
    return _pack_16bit(values, _window(ds, values), _is_monochrome1(ds), step=_grid_step(ds), presets=file_presets(ds))


def _grid_step(ds: Dataset) -> float:
    """Spacing of the modality values: |RescaleSlope| for rescaled data, 1 for raw or LUT output."""
    if ds.get("ModalityLUTSequence"):
        return 1.0
    return abs(float(ds.get("RescaleSlope", 1.0) or 1.0)) or 1.0


def _pack_16bit(
    values: np.ndarray, window: Window, invert: bool, *, step: float, presets: list[dict] | None = None
) -> tuple[np.ndarray, dict]:
    """Pack modality values into uint16 and describe them; the default window and the file's `presets`
    (file_presets, modality units) are given in uint16 units, as the browser windows the packed values."""
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo
    # Values on the file's own grid that fit in 16 bits pack losslessly (slope = the grid step); wider ranges
    # are spread over the full 0..65535.
    slope = step if span / step <= 65535 else max(span / 65535.0, 1e-6)
    packed = np.rint((values - np.float32(lo)) / np.float32(slope))
    packed = np.clip(packed, 0, 65535).astype(np.uint16)
    meta = {
        "window_center": (window.center - lo) / slope,
        "window_width": window.width / slope,
        "invert": invert,
        "rescale_slope": slope,
        "rescale_intercept": lo,
        "window_source": window.source,
        "voi_lut_function": window.function,
        "presets": [
            {**preset, "center": (preset["center"] - lo) / slope, "width": preset["width"] / slope}
            for preset in presets or []
        ],
        # The 8-bit display PNG applies the first VOI LUT exactly when the file has no window tags.
        "voi_lut_rendered": window.source == "voi_lut_sequence",
    }
    return packed, meta


def make_thumbnail(image: np.ndarray, max_side: int = 256) -> np.ndarray:
    """Downscale a uint8 image so its longer side is at most `max_side`, keeping the aspect ratio."""
    return _resize(image, max_side)


def _resize(image: np.ndarray, max_side: int) -> np.ndarray:
    rows, cols = image.shape
    scale = max_side / max(rows, cols)
    if scale >= 1.0:
        return image
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    pil = Image.fromarray(image)  # uint8 -> L, float32 -> F; both resample with every filter
    # reducing_gap does a cheap box reduction first; the result is indistinguishable from plain LANCZOS.
    return np.asarray(pil.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0))


def encode_png(image: np.ndarray, *, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """Encode a uint8 (mode L) or uint16 (mode I;16) greyscale array as PNG bytes."""
    if image.dtype == np.uint8:
        pil = Image.fromarray(image)
    elif image.dtype == np.uint16:
        pil = Image.fromarray(image.astype("<u2", copy=False))
    else:
        raise ValueError(f"encode_png takes uint8 or uint16, not {image.dtype}")
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def render_all(
    source: str | Path | BinaryIO,
    *,
    display_max_side: int = 2048,
    thumb_max_side: int = 256,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> Rendering:
    """Decode one DICOM file and return its display, 16-bit and thumbnail PNGs with the default window.

    `content_sha256` is the hash of the original file bytes (for dedupe); the file is read once. An image
    over `max_pixels` is refused from its header; running out of memory is a DicomError for this file.
    """
    data = _read_bytes(source, max_bytes)
    ds, arr = decode_pixels(io.BytesIO(data), max_pixels=max_pixels)
    try:
        return _render_decoded(ds, arr, data, display_max_side, thumb_max_side)
    except MemoryError as exc:
        raise DicomError("not enough memory to render the image") from exc


def _render_decoded(ds: Dataset, arr: np.ndarray, data: bytes, display_max_side: int, thumb_max_side: int):
    values = modality_lut(arr, ds)
    window = _window(ds, values)
    # Windowing the downscaled modality values equals downscaling the windowed image to within interpolation,
    # and costs a fraction on 3000-pixel films.
    small = _resize(values, display_max_side)
    invert = _is_monochrome1(ds)
    display = _to_display(small, ds, window, invert)
    packed, meta = _pack_16bit(small, window, invert, step=_grid_step(ds), presets=file_presets(ds))
    return Rendering(
        display_png=encode_png(display),
        display16_png=encode_png(packed),
        thumbnail_png=encode_png(make_thumbnail(display, thumb_max_side)),
        window=meta,
        rows=int(arr.shape[0]),
        cols=int(arr.shape[1]),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )


def _read_bytes(source: str | Path | BinaryIO, max_bytes: int | None) -> bytes:
    if isinstance(source, str | os.PathLike):
        try:
            size = os.stat(source).st_size
        except FileNotFoundError as exc:
            raise DicomError("file not found") from exc
        check_size(size, max_bytes)
        return Path(source).read_bytes()
    data = source.read() if max_bytes is None else source.read(max_bytes + 1)
    check_size(len(data), max_bytes)
    return data


def png_header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk (its first 24 bytes); None when `data` is not a PNG."""
    if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _check_image_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise DicomError(
            f"image is {width}x{height} ({_megapixels(width * height)}), over the limit of {_megapixels(max_pixels)}"
        )


def _megapixels(pixels: int) -> str:
    if pixels < 100_000:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:.1f}".rstrip("0").rstrip(".") + " megapixels"


def open_image_checked(data: bytes, max_pixels: int | None = None) -> Image.Image:
    """Open PNG/JPEG bytes with the size checked before decoding: from the PNG header, then from Pillow's.

    Over `max_pixels`, and Pillow's own decompression-bomb refusal, raise DicomError for this file only.
    """
    size = png_header_size(data)
    if size is not None:
        _check_image_pixels(*size, max_pixels)
    try:
        pil = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DicomError(f"image refused as a decompression bomb ({_short(exc)})") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for damaged or foreign files
        raise DicomError(f"not a readable PNG or JPEG image ({type(exc).__name__})") from exc
    _check_image_pixels(pil.width, pil.height, max_pixels)
    return pil


def render_image_file(
    source: str | Path | BinaryIO,
    *,
    display_max_side: int = 2048,
    thumb_max_side: int = 256,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> Rendering:
    """Render a PNG or JPEG chest film (ChestX-ray14, CheXpert) like a DICOM file.

    8-bit images are shown as they are (full-range window); 16-bit ones get the percentile window; colour
    images are converted to greyscale (L). An image over `max_pixels` is refused before it is decoded.
    """
    data = _read_bytes(source, max_bytes)
    pil = open_image_checked(data, max_pixels)
    try:
        pil.load()
    except MemoryError as exc:
        raise DicomError("not enough memory to decode the image") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for damaged or foreign files
        raise DicomError(f"not a readable PNG or JPEG image ({type(exc).__name__})") from exc
    try:
        return _render_picture(pil, data, display_max_side, thumb_max_side)
    except MemoryError as exc:
        raise DicomError("not enough memory to render the image") from exc


def _render_picture(pil: Image.Image, data: bytes, display_max_side: int, thumb_max_side: int) -> Rendering:
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(pil, dtype=np.float32)
        window = percentile_window(values)
    else:
        values = np.asarray(pil.convert("L"), dtype=np.float32)
        window = Window(127.5, 255.0, "full_range", "LINEAR_EXACT")
    if values.ndim != 2:
        raise DicomError(f"unsupported image shape {values.shape}")
    small = _resize(values, display_max_side)
    display = _to_display(small, None, window, invert=False)
    packed, meta = _pack_16bit(small, window, False, step=1.0)
    return Rendering(
        display_png=encode_png(display),
        display16_png=encode_png(packed),
        thumbnail_png=encode_png(make_thumbnail(display, thumb_max_side)),
        window=meta,
        rows=int(values.shape[0]),
        cols=int(values.shape[1]),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )
