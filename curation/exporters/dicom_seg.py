"""Masks of a version's images as DICOM Segmentation objects (highdicom), one per image, beside the
de-identified DICOM images they segment.

Layout under `dicom-seg/`:
- `images/<image file name>.dcm`: the de-identified original, as stored (the `dicom` image kind);
- `seg/<image file stem>.seg.dcm`: a BINARY Segmentation of that image, one segment per organ (the newest
  version of each organ's mask), referencing the image's SOP Instance UID. Patient and study attributes are
  copied by highdicom from the de-identified source only, so the SEG holds nothing the image does not;
- `segmentations.csv`: `image`, `seg`, `sop_instance_uid` (of the source image), `segments` (organs, `|`),
  `split`, `qc_decision`.

Segments are coded with SNOMED CT from pydicom's code dictionary: category Anatomical Structure, type Lung
with a Right / Left modifier (as dcmqi codes lungs), Heart, Clavicle. UIDs of the SEG series and instance
are derived from the version and the image, so exporting the same version again gives the same UIDs.

Images left out and counted, never failing the export: without masks (`left_out_no_masks`); whose original
is not DICOM (PNG / JPEG datasets: no source instance to reference, and inventing one would make a SEG that
points at nothing exported; `left_out_not_dicom`); with a mask whose size differs from the image's Rows x
Columns (`left_out_size_mismatch`); with a mask over settings.MASK_MAX_PIXELS or that does not decode
(`masks_refused`); whose header highdicom cannot build a SEG from, e.g. without a Patient ID
(`left_out_seg_refused`). Only the source's header is parsed (no pixel decoding); one image is in memory at a
time.
"""

from __future__ import annotations

import io
import logging
import uuid

from django.conf import settings

from ..csvsafe import SafeWriter, safe_file_name
from .base import Export, Row
from .images import ImageUnavailable, image_bytes
from .masks import _with_masks

INDEX_COLUMNS = ["image", "seg", "sop_instance_uid", "segments", "split", "qc_decision"]
SERIES_NUMBER = 9901  # one SEG per series; a number no modality uses, so viewers list it after the image
MANUFACTURER = "cxr-curation"
UID_NAMESPACE = uuid.UUID("6f0c1f7e-3b8a-5c5e-9d64-1c2a7e0b9f41")  # this project's SEG UIDs, fixed forever
# Display colours (CIELab via RGB) matching the QC overlay's organ colours closely enough to tell them apart.
COLOURS = {
    "right_lung": (230, 80, 80),
    "left_lung": (80, 120, 230),
    "lungs": (200, 120, 200),
    "heart": (240, 200, 40),
    "right_clavicle": (80, 200, 120),
    "left_clavicle": (60, 180, 180),
}


def _segment_codes(organ: str):
    """(label, property type, modifier or None) for an organ."""
    from pydicom.sr.codedict import codes

    lung, clavicle, heart = codes.SCT.Lung, codes.SCT.Clavicle, codes.SCT.Heart
    return {
        "right_lung": ("Right lung", lung, codes.SCT.Right),
        "left_lung": ("Left lung", lung, codes.SCT.Left),
        "lungs": ("Lungs", lung, None),
        "heart": ("Heart", heart, None),
        "right_clavicle": ("Right clavicle", clavicle, codes.SCT.Right),
        "left_clavicle": ("Left clavicle", clavicle, codes.SCT.Left),
    }[organ]


def _description(number: int, organ: str, mask):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    label, property_type, modifier = _segment_codes(organ)
    if mask.source == "reviewer":
        algorithm_type, algorithm = hd.seg.SegmentAlgorithmTypeValues.MANUAL, None
    else:
        # Imported (e.g. CheXmask's HybridGNet) and model masks were made by an algorithm; which one is
        # what the project knows about it, not more.
        algorithm_type = hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        algorithm = hd.AlgorithmIdentificationSequence(
            name=f"{mask.source} masks",
            family=codes.cid7162.ArtificialIntelligence,
            version=str((mask.import_meta or {}).get("version", "unknown"))[:64],
        )
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=property_type,
        algorithm_type=algorithm_type,
        algorithm_identification=algorithm,
        display_color=hd.color.CIELabColor.from_rgb(*COLOURS[organ]),
    )
    if modifier is not None:
        description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
            hd.sr.CodedConcept.from_code(modifier)
        ]
    return description


def _uid(version_id: int, image_id: int, what: str) -> str:
    """A UUID-derived UID (2.25, PS3.5 B.2) named by what it is for: the same on every export of a version."""
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, f'dicom-seg/{what}/{version_id}/{image_id}').int}"


def build_seg(source, masks: dict, version_id: int, image_id: int) -> tuple[bytes, list[str]] | str:
    """The SEG file of `source` (a header-only pydicom Dataset) and the organs it holds, or the count key of why
    it cannot be made."""
    import numpy as np

    from labeling.qc.rle import RleError, decode_chexmask_rle

    rows, columns = int(getattr(source, "Rows", 0) or 0), int(getattr(source, "Columns", 0) or 0)
    organs, planes = [], []
    for organ, mask in sorted(masks.items()):
        if organ not in COLOURS:
            continue
        if (mask.height, mask.width) != (rows, columns):
            return "left_out_size_mismatch"
        try:
            planes.append(decode_chexmask_rle(mask.rle, mask.height, mask.width, settings.MASK_MAX_PIXELS))
        except RleError:
            return "masks_refused"
        organs.append(organ)
    if not organs:
        return "left_out_no_masks"
    pixels = np.stack(planes, axis=-1)[np.newaxis]  # (frames=1, rows, columns, segments)
    try:
        seg = _segmentation(
            source,
            pixels,
            [_description(n, organ, masks[organ]) for n, organ in enumerate(organs, 1)],
            version_id,
            image_id,
        )
    except (AttributeError, ValueError, TypeError):
        # highdicom refuses a source missing what a SEG must copy (e.g. Patient ID): one image, not the export.
        return "left_out_seg_refused"
    out = io.BytesIO()
    seg.save_as(out, enforce_file_format=True)
    return out.getvalue(), organs


def _segmentation(source, pixels, descriptions, version_id, image_id):
    import highdicom as hd

    return hd.seg.Segmentation(
        source_images=[source],
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=_uid(version_id, image_id, "series"),
        series_number=SERIES_NUMBER,
        sop_instance_uid=_uid(version_id, image_id, "instance"),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="dataset export",
        software_versions="1",
        device_serial_number="0",
        series_description="Organ masks",
        omit_empty_frames=False,
    )


def _source(row: Row) -> tuple[bytes, object] | None:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        data = image_bytes("dicom", "", "", row.original or "")
    except ImageUnavailable:
        return None
    try:
        source = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError):
        return None
    if not all(keyword in source for keyword in ("SOPInstanceUID", "SOPClassUID", "Rows", "Columns")):
        return None  # a DICOM preamble around no image
    return data, source


def write(export: Export) -> None:
    # highdicom logs nine INFO lines per object it builds: a 10^5-image export would flood the worker's log.
    logging.getLogger("highdicom").setLevel(logging.WARNING)
    with export.sink.text(export.path("segmentations.csv")) as out:
        writer = SafeWriter(out, lineterminator="\n")
        writer.writerow(INDEX_COLUMNS)
        for row, masks in _with_masks(export):
            found = _source(row)
            if found is None:
                export.count("left_out_not_dicom")
                continue
            data, source = found
            built = build_seg(source, masks, export.version.pk, row.image_id)
            if isinstance(built, str):
                export.count(built)
                continue
            seg, organs = built
            stem = safe_file_name(row.image_key)
            image_name, seg_name = f"{stem}.dcm", f"seg/{stem}.seg.dcm"
            export.sink.write_bytes(export.path(f"images/{image_name}"), data)
            export.count("images")
            export.sink.write_bytes(export.path(seg_name), seg)
            export.count("segments", len(organs))
            writer.writerow([image_name, seg_name, source.SOPInstanceUID, "|".join(organs), row.split, row.qc_decision])
            export.count("rows")
