"""Burns boxes into an image file's pixels (DICOM, PNG or JPEG): the text a scanner or a secondary capture
wrote into a radiograph (a name, an id, a date) is filled over, and a new file is returned. Django-free.

Boxes are [x0, y0, x1, y1] in image pixels, x1 and y1 exclusive. A box takes the value the image shows as
black, so it reads as a blank: for MONOCHROME2 the stored value with the lowest Modality LUT output, for
MONOCHROME1 the highest (it is inverted for display), zero for colour and 8-bit pictures, and the image's
minimum for 16-bit pictures (their percentile window puts it below black).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, pixel_array
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian

from curation.dicomio.errors import DicomError
from curation.dicomio.header import check_pixel_count
from curation.dicomio.render import _decoding_plugin, _transfer_syntax, open_image_checked

# More boxes than a film has text lines, and few enough that a request cannot ask for a million fills.
MAX_BOXES = 50
# PS3.16 CID 7050: the Clean Pixel Data Option, added to the profile's codes of a redacted file.
CODE_CLEAN_PIXEL_DATA = ("113101", "Clean Pixel Data Option")
METHOD_REDACTED = "burned-in text redacted"

Box = list[int]


class BoxError(ValueError):
    """A box list that cannot be burned in; the message says which box and why."""


def clean_boxes(raw, rows: int, cols: int, max_boxes: int = MAX_BOXES) -> list[Box]:
    """Boxes as [x0, y0, x1, y1] integers, corners put in order and clipped to the rows x cols image.

    Raises BoxError for no boxes, too many, a box that is not four integers, or one with no pixel left
    inside the image after clipping.
    """
    if not isinstance(raw, list | tuple) or not raw:
        raise BoxError("Draw at least one box over the text.")
    if len(raw) > max_boxes:
        raise BoxError(f"At most {max_boxes} boxes at a time.")
    boxes = []
    for n, box in enumerate(raw, start=1):
        # bool is an int subclass: true/false are not coordinates.
        if not isinstance(box, list | tuple) or len(box) != 4 or any(type(v) is not int for v in box):
            raise BoxError(f"Box {n}: give four whole numbers [x0, y0, x1, y1].")
        x0, x1 = sorted((box[0], box[2]))
        y0, y1 = sorted((box[1], box[3]))
        x0, x1 = (min(max(v, 0), cols) for v in (x0, x1))
        y0, y1 = (min(max(v, 0), rows) for v in (y0, y1))
        if x1 <= x0 or y1 <= y0:
            raise BoxError(f"Box {n} covers no pixel of the {cols}×{rows} image.")
        boxes.append([x0, y0, x1, y1])
    return boxes


def _fill(arr: np.ndarray, boxes: Sequence[Box], value, *, frames: bool) -> None:
    rows, cols = arr.shape[1:3] if frames else arr.shape[:2]
    for x0, y0, x1, y1 in boxes:
        x0, x1, y0, y1 = min(x0, cols), min(x1, cols), min(y0, rows), min(y1, rows)
        if frames:
            arr[:, y0:y1, x0:x1, ...] = value
        else:
            arr[y0:y1, x0:x1, ...] = value


def _black_stored_value(ds: Dataset, arr: np.ndarray):
    """The stored value the display pipeline shows as black (Modality LUT, then MONOCHROME1 inversion)."""
    candidates = np.array([arr.min(), arr.max()], dtype=arr.dtype)
    output = np.asarray(apply_modality_lut(candidates, ds), dtype=np.float64)
    inverted = str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"
    index = int(np.argmax(output)) if inverted else int(np.argmin(output))
    return candidates[index]


def redact_dicom(data: bytes, boxes: Sequence[Box], *, max_pixels: int | None = None) -> bytes:
    """The DICOM file with every box filled in every frame, written uncompressed (Explicit VR Little Endian).

    Everything else is kept, the de-identification included, and the SOPInstanceUID too (the caller keeps
    one object per UID by deleting the unredacted file). BurnedInAnnotation becomes NO and the method
    elements record the Clean Pixel Data Option. Raises DicomError for a file whose pixels cannot be read.
    """
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged file
        raise DicomError(f"unreadable DICOM file ({type(exc).__name__})") from exc
    if "PixelData" not in ds:
        raise DicomError("no pixel data")
    check_pixel_count(ds, max_pixels)
    plugin = _decoding_plugin(_transfer_syntax(ds))
    try:
        # Every frame, colour converted to RGB: the file is rewritten from this array.
        arr = np.array(pixel_array(ds, decoding_plugin=plugin, as_rgb=True))
    except MemoryError as exc:
        raise DicomError("not enough memory to decode the pixel data") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        raise DicomError(f"pixel data could not be decoded ({type(exc).__name__})") from exc
    samples = int(ds.get("SamplesPerPixel") or 1)
    frames = int(ds.get("NumberOfFrames") or 1) > 1
    if samples == 1:
        photometric = str(ds.PhotometricInterpretation).strip().upper()
        if photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise DicomError(f"cannot redact {photometric} pixel data")
        value = _black_stored_value(ds, arr)
    else:
        photometric, value = "RGB", 0
    _fill(arr, boxes, value, frames=frames)
    # Not a new SOPInstanceUID (pydicom's default): see redact_dicom's docstring.
    ds.set_pixel_data(arr, photometric, int(ds.BitsStored), generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _mark_cleaned(ds)
    out = io.BytesIO()
    ds.save_as(out, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return out.getvalue()


def _mark_cleaned(ds: Dataset) -> None:
    ds.BurnedInAnnotation = "NO"
    value = ds.get("DeidentificationMethod")
    methods = [str(m) for m in (value if isinstance(value, list | MultiValue) else [value]) if m]
    if METHOD_REDACTED not in methods:
        ds.DeidentificationMethod = [*methods, METHOD_REDACTED] if methods else METHOD_REDACTED
    codes = list(ds.get("DeidentificationMethodCodeSequence") or [])
    if not any(str(item.get("CodeValue", "")) == CODE_CLEAN_PIXEL_DATA[0] for item in codes):
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = (
            CODE_CLEAN_PIXEL_DATA[0],
            "DCM",
            CODE_CLEAN_PIXEL_DATA[1],
        )
        ds.DeidentificationMethodCodeSequence = DicomSequence([*codes, item])


def redact_picture(data: bytes, boxes: Sequence[Box], *, max_pixels: int | None = None) -> bytes:
    """A PNG or JPEG file with every box filled, in its own format and without text metadata.

    PNG stays lossless; a JPEG is encoded again at quality 95 (one more lossy generation; the boxes were
    filled before encoding, so nothing of the text reaches the new file). Raises DicomError for a file that
    is not a readable PNG or JPEG.
    """
    pil = open_image_checked(data, max_pixels)
    fmt = (pil.format or "").upper()
    if fmt not in ("PNG", "JPEG"):
        raise DicomError(f"cannot redact a {fmt or 'unknown'} image file")
    try:
        pil.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for damaged files
        raise DicomError(f"not a readable PNG or JPEG image ({type(exc).__name__})") from exc
    if pil.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
        pil = pil.convert("RGB" if pil.mode != "1" else "L")
    arr = np.array(pil)
    # 8-bit and colour pictures are shown at full range (0 is black); 16-bit ones through a percentile
    # window, where zero could shift the window but the image's own minimum cannot.
    value = arr.min() if arr.dtype != np.uint8 and arr.ndim == 2 else 0
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        _fill(arr[..., :-1], boxes, value, frames=False)  # alpha kept: the box stays opaque where the film is
    else:
        _fill(arr, boxes, value, frames=False)
    out = io.BytesIO()
    redacted = Image.fromarray(arr)
    if fmt == "PNG":
        redacted.save(out, format="PNG", compress_level=6)
    else:
        redacted.save(out, format="JPEG", quality=95)
    return out.getvalue()
