"""Writes synthetic CR/DX chest radiographs as DICOM Part 10 files with realistic (fake) PHI.

The files deliberately carry the identifiers a de-identification step must remove: names, IDs, dates,
addresses, a private vendor block and, on request, a BurnedInAnnotation flag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

CR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1")
DX_IMAGE_STORAGE_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
TRANSFER_SYNTAXES = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg2000": JPEG2000Lossless,
}
COMPRESSED = frozenset({"rle", "jpeg2000"})
PRIVATE_CREATOR = "ACME_IMAGING 1.0"
# Detector width of a typical chest plate in mm, used to derive a plausible pixel spacing.
DETECTOR_MM = 430.0


@dataclasses.dataclass(frozen=True)
class StudyMeta:
    """Patient- and study-level attributes shared by every image of one study."""

    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    patient_age: str
    other_patient_ids: str
    patient_address: str
    institution_name: str
    referring_physician_name: str
    accession_number: str
    study_instance_uid: str
    study_date: str
    study_time: str
    study_id: str
    study_description: str = "XR CHEST"
    issuer_of_patient_id: str = "SGH"
    operators_name: str = ""
    station_name: str = ""


def stored_values(pixels: np.ndarray, photometric: str, bits_stored: int) -> np.ndarray:
    """Return the values stored in the file for display-sense `pixels` (bright = dense).

    MONOCHROME1 files store the inverse, so a pipeline that inverts last shows the same chest.
    """
    max_value = (1 << bits_stored) - 1
    if pixels.min() < 0 or pixels.max() > max_value:
        raise ValueError(f"pixels do not fit in {bits_stored} bits")
    if photometric == "MONOCHROME1":
        return (max_value - pixels.astype(np.int64)).astype(np.uint16)
    if photometric == "MONOCHROME2":
        return pixels.astype(np.uint16)
    raise ValueError(f"unsupported photometric interpretation {photometric!r}")


def percentile_window(values: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """Return a (center, width) window spanning the given percentiles of modality-LUT output values."""
    lo, hi = np.percentile(values, [low, high])
    width = max(float(hi - lo), 1.0)
    return round(float(lo + hi) / 2.0, 1), round(width, 1)


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    meta: StudyMeta | dict,
    sop_instance_uid: str,
    series_instance_uid: str,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
    rescale: tuple[float, float] | None = None,
    transfer_syntax: str = "explicit",
    modality: str = "DX",
    view: str = "PA",
    bits_stored: int = 12,
    series_number: int = 1,
    instance_number: int = 1,
    acquisition_time: str | None = None,
    burned_in_annotation: bool = False,
    manufacturer: str = "ACME Medical",
    with_pixel_spacing: bool = True,
) -> Path:
    """Write one chest radiograph as a DICOM Part 10 file and return its path.

    `pixels` are display-sense values (bright = dense) that fit in `bits_stored`; for MONOCHROME1 the
    stored values are inverted here. `window` is one or several (center, width) pairs in the file's own
    modality-LUT output units (stored value * slope + intercept), as a reader of the file sees them.
    `transfer_syntax` is 'explicit', 'implicit', 'rle' (RLE Lossless) or 'jpeg2000' (JPEG 2000 Lossless).
    """
    if isinstance(meta, dict):
        meta = StudyMeta(**meta)
    if modality not in ("CR", "DX"):
        raise ValueError(f"unsupported modality {modality!r}")
    if bits_stored not in (12, 14, 16):
        raise ValueError(f"unsupported BitsStored {bits_stored}")
    if transfer_syntax not in TRANSFER_SYNTAXES:
        raise ValueError(f"unsupported transfer syntax {transfer_syntax!r}")
    rows, cols = pixels.shape
    sop_class = CR_IMAGE_STORAGE if modality == "CR" else DX_IMAGE_STORAGE_FOR_PRESENTATION

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance_uid
    ds.StudyDate = meta.study_date
    ds.SeriesDate = meta.study_date
    ds.AcquisitionDate = meta.study_date
    ds.ContentDate = meta.study_date
    ds.StudyTime = meta.study_time
    ds.SeriesTime = acquisition_time or meta.study_time
    ds.AcquisitionTime = acquisition_time or meta.study_time
    ds.ContentTime = acquisition_time or meta.study_time
    ds.AccessionNumber = meta.accession_number
    ds.Modality = modality
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = manufacturer
    ds.InstitutionName = meta.institution_name
    ds.InstitutionAddress = "1 Hospital Drive, Springfield"
    ds.ReferringPhysicianName = meta.referring_physician_name
    ds.StationName = meta.station_name
    ds.StudyDescription = meta.study_description
    ds.SeriesDescription = f"CHEST {view}"
    ds.OperatorsName = meta.operators_name
    ds.ManufacturerModelName = "DemoRad 3000" if modality == "DX" else "DemoCR 500"
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"

    ds.PatientName = meta.patient_name
    ds.PatientID = meta.patient_id
    ds.IssuerOfPatientID = meta.issuer_of_patient_id
    ds.PatientBirthDate = meta.patient_birth_date
    ds.PatientSex = meta.patient_sex
    ds.OtherPatientIDs = meta.other_patient_ids
    ds.PatientAge = meta.patient_age
    ds.PatientAddress = meta.patient_address

    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    # Frontal films are displayed as if facing the patient (patient's left on the image right).
    ds.PatientOrientation = ["P", "F"] if view == "LL" else ["L", "F"]
    spacing = round(DETECTOR_MM / max(rows, cols), 4)
    ds.ImagerPixelSpacing = [spacing, spacing]
    if with_pixel_spacing:
        ds.PixelSpacing = [spacing, spacing]
    ds.DistanceSourceToDetector = 1800 if view == "PA" else 1000
    ds.KVP = 120 if view != "AP" else 90

    ds.StudyInstanceUID = meta.study_instance_uid
    ds.SeriesInstanceUID = series_instance_uid
    ds.StudyID = meta.study_id
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number

    stored = stored_values(pixels, photometric, bits_stored)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if modality == "DX":
        # Sign -1: higher stored values mean less beam intensity (denser), true for MONOCHROME2 here.
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = -1 if photometric == "MONOCHROME2" else 1
    if rescale is not None:
        slope, intercept = rescale
        ds.RescaleIntercept = _decimal_string(intercept)
        ds.RescaleSlope = _decimal_string(slope)
        ds.RescaleType = "US"
    if window is not None:
        pairs = [window] if isinstance(window[0], int | float) else list(window)
        centers = [_decimal_string(c) for c, _ in pairs]
        widths = [_decimal_string(w) for _, w in pairs]
        ds.WindowCenter = centers[0] if len(centers) == 1 else centers
        ds.WindowWidth = widths[0] if len(widths) == 1 else widths
        explanations = ["STANDARD", "SOFT", "BONE"][: len(pairs)]
        ds.WindowCenterWidthExplanation = explanations[0] if len(pairs) == 1 else explanations
    ds.LossyImageCompression = "00"
    ds.PixelData = stored.tobytes()

    _add_private_block(ds, meta)

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = "CURATION_DEMO"
    if transfer_syntax in COMPRESSED:
        # Lossless compression leaves the image identical, so the SOP Instance UID must stay the same.
        ds.compress(TRANSFER_SYNTAXES[transfer_syntax], stored, generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = TRANSFER_SYNTAXES[transfer_syntax]

    path.parent.mkdir(parents=True, exist_ok=True)
    implicit = transfer_syntax == "implicit"
    ds.save_as(path, enforce_file_format=True, implicit_vr=implicit, little_endian=True)
    return path


def _add_private_block(ds: Dataset, meta: StudyMeta) -> None:
    # Vendors stash copies of identifiers in private tags; de-identification must drop or clean them.
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", meta.patient_name.replace("^", " "))
    block.add_new(0x11, "LO", meta.patient_id)
    block.add_new(0x12, "DA", meta.study_date)
    block.add_new(0x13, "SH", "ROOM 3")
    block.add_new(0x20, "DS", "2.5")


def _decimal_string(value: float) -> str:
    # DS is limited to 16 characters; integers are written without a trailing ".0".
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"
