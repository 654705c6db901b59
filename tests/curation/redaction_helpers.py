"""Where the demo generator burned text into an image, and what the stored files show there.

The generator (curation.demo.generator._burn_in_text) writes the patient's name, id and study date in the
top-left corner; drawing the same lines on an empty canvas gives the exact text pixels of each image.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from curation.demo.generator import _burn_in_text
from curation.demo.phantom import MAX_VALUE
from curation.models import PseudonymMap


def text_masks(truth: dict) -> dict[str, np.ndarray]:
    """{de-identified SOPInstanceUID: boolean mask of the burned-in text} for every burned-in image imported."""
    pseudonyms = dict(PseudonymMap.objects.filter(kind="uid").values_list("original", "pseudonym"))
    masks = {}
    for study in truth["studies"].values():
        patient = truth["patients"][study["patient_key"]]
        lines = [patient["patient_name"].replace("^", " "), patient["patient_id"], study["study_date"].replace("-", "")]
        for image in study["images"]:
            if not image["burned_in_annotation"] or image["sop_instance_uid"] not in pseudonyms:
                continue
            canvas = np.zeros((image["rows"], image["cols"]), dtype=np.uint16)
            _burn_in_text(canvas, lines)
            masks[pseudonyms[image["sop_instance_uid"]]] = canvas == MAX_VALUE
    return masks


def bounding_box(mask: np.ndarray, margin: int = 1) -> list[int]:
    """[x0, y0, x1, y1] around the mask's pixels, `margin` wider, clipped to the image."""
    ys, xs = np.nonzero(mask)
    rows, cols = mask.shape
    return [
        max(int(xs.min()) - margin, 0),
        max(int(ys.min()) - margin, 0),
        min(int(xs.max()) + 1 + margin, cols),
        min(int(ys.max()) + 1 + margin, rows),
    ]


def stored_dicom(name: str) -> pydicom.Dataset:
    with default_storage.open(name, "rb") as fh:
        return pydicom.dcmread(io.BytesIO(fh.read()))


def display_sense(ds: pydicom.Dataset) -> np.ndarray:
    """Stored values turned so that bright is dense, as the display shows them (MONOCHROME1 inverted)."""
    values = ds.pixel_array.astype(np.int64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        values = values.max() + values.min() - values
    return values


def stored_png(name: str) -> np.ndarray:
    """A stored rendering's values (the 16-bit one unpacked from its R and G bytes)."""
    with default_storage.open(name, "rb") as fh:
        values = np.asarray(PILImage.open(io.BytesIO(fh.read())))
    if values.ndim == 3:
        return values[..., 0].astype(np.int64) * 256 + values[..., 1]
    return values.astype(np.int64)


def text_contrast(values: np.ndarray, mask: np.ndarray) -> float:
    """How much brighter the text pixels are than the other pixels of the text's box: 0 when nothing shows."""
    x0, y0, x1, y1 = bounding_box(mask, margin=0)
    box = np.zeros_like(mask)
    box[y0:y1, x0:x1] = True
    return float(values[mask].mean() - values[box & ~mask].mean())
