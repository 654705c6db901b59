"""Reads the header of a DICOM file for indexing, without touching the pixel data.

Indexing a 10^5-10^6 image archive must stay close to the cost of a bare `dcmread(stop_before_pixels=True)`,
so this module reads up to the Pixel Data tag, notes whether it is there and whether the file holds all of it,
and converts only the attributes the index needs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag
from pydicom.uid import DeflatedExplicitVRLittleEndian

from curation.dicomio.errors import DicomError, check_size

NOT_DICOM = "not a DICOM file (no DICM preamble and no valid header)"
TRUNCATED = "truncated file"
# (7FE0,0010) Pixel Data, (7FE0,0008) Float Pixel Data, (7FE0,0009) Double Float Pixel Data.
PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)
# A header-only file without DICM preamble is accepted only if it has one of these identifying attributes;
# pydicom's force=True happily "parses" any byte string into nonsense elements.
_IDENTIFYING_TAGS = (0x00080016, 0x00080018, 0x0020000D, 0x00280010)
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# Control characters other than tab, newline and carriage return: PostgreSQL refuses NUL in text, and none
# of them belongs in an index value.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_LATERAL_VIEWS = frozenset({"LL", "RL", "LAT", "LATERAL", "LLAT", "RLAT", "L LAT", "R LAT"})
_SERIES_VIEW_HINTS = (
    (re.compile(r"\b(PA|P-A|POSTERO-?ANTERIOR|FRONTAL PA)\b"), "PA"),
    (re.compile(r"\b(AP|A-P|ANTERO-?POSTERIOR|PORTABLE|SUPINE)\b"), "AP"),
    (re.compile(r"\b(LAT|LATERAL|LL|RL|LLAT|RLAT)\b"), "LAT"),
)
# SNOMED (SRT legacy and SCT) view codes from CID 4010; the code meaning is checked as well below.
_VIEW_CODES = {
    "R-10214": "PA",
    "399348003": "PA",
    "R-10206": "AP",
    "272479001": "AP",
    "R-10232": "LAT",
    "R-10236": "LAT",
    "Y-X1770": "LAT",
}


@dataclasses.dataclass(frozen=True)
class DicomHeader:
    """The attributes of one DICOM image the index stores; strings are stripped, '' when absent."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    patient_id: str
    patient_name: str
    patient_birth_date: dt.date | None
    patient_sex: str
    patient_age_years: int | None
    study_date: dt.date | None
    study_time: str
    accession_number: str
    modality: str
    view_position: str
    body_part: str
    rows: int | None
    columns: int | None
    pixel_spacing: tuple[float, float] | None
    photometric: str
    bits_stored: int | None
    bits_allocated: int | None
    transfer_syntax_uid: str
    series_number: int | None
    instance_number: int | None
    burned_in_annotation: bool | None
    has_pixel_data: bool
    institution_name: str
    referring_physician: str


@dataclasses.dataclass
class _PixelProbe:
    """Where the reader stopped: the pixel data tag, its declared length and where its value starts."""

    fp: BinaryIO
    tag: int | None = None
    length: int = 0
    value_offset: int = 0

    def stop(self, tag: BaseTag, vr: str | None, length: int) -> bool:
        if tag in PIXEL_DATA_TAGS:
            self.tag, self.length, self.value_offset = int(tag), length, self.fp.tell()
            return True
        return False


def read_header(
    source: str | Path | BinaryIO, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> DicomHeader:
    """Read the header of one DICOM file (path or binary stream) without reading its pixel data.

    Raises DicomError for a file over `max_bytes`, an image over `max_pixels` (rows x columns x frames), a
    non-DICOM file and a file truncated in its header or in its pixel data (the pixel data's declared
    length, or its fragment items, run past the end of file).
    """
    ds, probe, size = read_dataset_header(source, max_bytes=max_bytes, max_pixels=max_pixels)
    return header_from_dataset(ds, has_pixel_data=probe.tag is not None)


def read_dataset_header(
    source: str | Path | BinaryIO, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> tuple[Dataset, _PixelProbe, int]:
    """Return the pydicom dataset up to the pixel data, the pixel-data probe and the file size."""
    with _opened(source) as (fp, start, size):
        check_size(size, max_bytes)
        if size == 0:
            raise DicomError("empty file")
        ds, probe = _read_until_pixels(fp, start)
        if probe.tag is not None:
            check_pixel_count(ds, max_pixels)
        deflated = ds.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
        # A deflated dataset is read from an inflated copy, so file offsets mean nothing there.
        if not deflated:
            _check_complete(fp, ds, probe, start + size)
    return ds, probe, size


@contextmanager
def _opened(source: str | Path | BinaryIO) -> Iterator[tuple[BinaryIO, int, int]]:
    if isinstance(source, str | os.PathLike):
        try:
            fp = open(source, "rb")  # noqa: SIM115 - closed below, the probe needs the same handle
        except FileNotFoundError as exc:
            raise DicomError("file not found") from exc
        try:
            yield fp, 0, os.fstat(fp.fileno()).st_size
        finally:
            fp.close()
        return
    start = source.tell()
    end = source.seek(0, io.SEEK_END)
    source.seek(start)
    yield source, start, end - start


def _read_until_pixels(fp: BinaryIO, start: int) -> tuple[Dataset, _PixelProbe]:
    probe = _PixelProbe(fp)
    try:
        return read_partial(fp, probe.stop, force=False), probe
    except InvalidDicomError:
        pass
    except (EOFError, OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise DicomError(TRUNCATED if _is_short(fp, start) else NOT_DICOM) from exc
    # No DICM preamble: old ACR-NEMA style files are still DICOM if the bytes parse into a real header.
    fp.seek(start)
    probe = _PixelProbe(fp)
    try:
        ds = read_partial(fp, probe.stop, force=True)
        valid = any(tag in ds for tag in _IDENTIFYING_TAGS)
        if valid and 0x00080016 in ds:
            valid = bool(_UID.match(str(ds[0x00080016].value)))
        if valid and 0x00280010 in ds:
            valid = isinstance(ds[0x00280010].value, int)
    except Exception as exc:  # noqa: BLE001 - any parse failure of forced garbage means "not DICOM"
        raise DicomError(NOT_DICOM) from exc
    if not valid:
        raise DicomError(NOT_DICOM)
    return ds, probe


def pixel_count(ds: Dataset) -> int:
    """Rows x columns x frames as the header states them (0 when rows or columns are missing)."""
    rows, columns = _raw_us(ds, 0x00280010) or 0, _raw_us(ds, 0x00280011) or 0
    frames = _int(_raw_text(ds, 0x00280008)) or 1
    return rows * columns * max(frames, 1)


def check_pixel_count(ds: Dataset, max_pixels: int | None) -> None:
    """Raise DicomError when the header's rows x columns x frames is over `max_pixels` (None: no limit).

    Checked from the header, before any pixel is decoded: a few hundred bytes can claim a 30000² image
    whose decoding would ask for gigabytes.
    """
    if max_pixels is None:
        return
    count = pixel_count(ds)
    if count > max_pixels:
        rows, columns = _raw_us(ds, 0x00280010), _raw_us(ds, 0x00280011)
        frames = _int(_raw_text(ds, 0x00280008)) or 1
        shape = f"{rows}x{columns}" + (f"x{frames} frames" if frames > 1 else "")
        raise DicomError(f"image is {shape} ({_megapixels(count)}), over the limit of {_megapixels(max_pixels)}")


def _megapixels(pixels: int) -> str:
    if pixels < 100_000:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:.1f}".rstrip("0").rstrip(".") + " megapixels"


def _is_short(fp: BinaryIO, start: int) -> bool:
    try:
        return fp.seek(0, io.SEEK_END) - start < 132
    except OSError:
        return False


def _check_complete(fp: BinaryIO, ds: Dataset, probe: _PixelProbe, end: int) -> None:
    """Raise DicomError(TRUNCATED) if the header or the pixel data runs past `end`."""
    if probe.tag is None:
        # Read to the end: the last element must end exactly at the end of file, because pydicom silently
        # accepts a short last value and drops a partial element header.
        tags = list(ds.keys())
        if not tags:
            raise DicomError(TRUNCATED)  # file meta only, or cut inside it
        if tags:
            last = ds.get_item(tags[-1])
            length = getattr(last, "length", 0)
            value_tell = getattr(last, "value_tell", None)
            if value_tell is not None and length != _UNDEFINED_LENGTH and value_tell + length != end:
                raise DicomError(TRUNCATED)
        return
    if probe.length != _UNDEFINED_LENGTH:
        if probe.value_offset + probe.length > end:
            raise DicomError(TRUNCATED)
        return
    # Encapsulated pixel data: walk the item headers (a handful of seeks) to the sequence delimiter.
    fp.seek(probe.value_offset)
    position = probe.value_offset
    while True:
        head = fp.read(8)
        if len(head) < 8:
            raise DicomError(TRUNCATED)
        group, element, length = int.from_bytes(head[0:2], "little"), int.from_bytes(head[2:4], "little"), 0
        length = int.from_bytes(head[4:8], "little")
        if (group, element) == _SEQUENCE_DELIMITER:
            return
        if (group, element) != _ITEM or length == _UNDEFINED_LENGTH:
            raise DicomError("corrupt encapsulated pixel data")
        position += 8 + length
        if position > end:
            raise DicomError(TRUNCATED)
        fp.seek(position)


def header_from_dataset(ds: Dataset, *, has_pixel_data: bool) -> DicomHeader:
    """Build a DicomHeader from an already read dataset (used by ingest after a full read too)."""
    birth_date = _date(_raw_text(ds, 0x00100030))
    study_date = _date(_raw_text(ds, 0x00080020)) or _date(_raw_text(ds, 0x00080021))
    meta = getattr(ds, "file_meta", None)
    transfer_syntax = str(meta.get("TransferSyntaxUID", "")).strip() if meta is not None else ""
    return DicomHeader(
        sop_instance_uid=_raw_text(ds, 0x00080018),
        sop_class_uid=_raw_text(ds, 0x00080016),
        study_instance_uid=_raw_text(ds, 0x0020000D),
        series_instance_uid=_raw_text(ds, 0x0020000E),
        patient_id=_raw_text(ds, 0x00100020),
        patient_name=_raw_text(ds, 0x00100010),
        patient_birth_date=birth_date,
        patient_sex=_sex(_raw_text(ds, 0x00100040)),
        patient_age_years=_age_years(_raw_text(ds, 0x00101010), birth_date, study_date),
        study_date=study_date,
        study_time=_raw_text(ds, 0x00080030),
        accession_number=_raw_text(ds, 0x00080050),
        modality=_raw_text(ds, 0x00080060).upper(),
        view_position=normalise_view(ds),
        body_part=_raw_text(ds, 0x00180015).upper(),
        rows=_raw_us(ds, 0x00280010),
        columns=_raw_us(ds, 0x00280011),
        pixel_spacing=_spacing(_raw_text(ds, 0x00280030)) or _spacing(_raw_text(ds, 0x00181164)),
        photometric=_raw_text(ds, 0x00280004).upper(),
        bits_stored=_raw_us(ds, 0x00280101),
        bits_allocated=_raw_us(ds, 0x00280100),
        transfer_syntax_uid=transfer_syntax,
        series_number=_int(_raw_text(ds, 0x00200011)),
        instance_number=_int(_raw_text(ds, 0x00200013)),
        burned_in_annotation=_yes_no(_raw_text(ds, 0x00280301)),
        has_pixel_data=has_pixel_data,
        institution_name=_raw_text(ds, 0x00080080),
        referring_physician=_raw_text(ds, 0x00080090),
    )


def _raw_text(ds: Dataset, tag: int) -> str:
    """Return an element's value as stripped text without control characters (tab, newline, CR kept).

    pydicom's per-element conversion costs more than reading the file; the index only needs strings, so ASCII
    values skip it and only non-ASCII ones (names in other character sets) go through pydicom's decoding.
    """
    text = _element_text(ds, tag)
    # isprintable() is a C scan that is true for nearly every value, so the regex runs only on the rare rest.
    return text if text.isprintable() else _CONTROL.sub("", text).strip()


def _element_text(ds: Dataset, tag: int) -> str:
    try:
        elem = ds.get_item(tag)
    except (KeyError, TypeError):
        return ""
    if elem is None:
        return ""
    value = elem.value
    if isinstance(value, bytes):
        try:
            return value.decode("ascii").strip(" \x00")
        except UnicodeDecodeError:
            try:
                value = ds[tag].value
            except Exception:  # noqa: BLE001 - one undecodable optional attribute must not fail indexing
                return ""
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _raw_us(ds: Dataset, tag: int) -> int | None:
    try:
        elem = ds.get_item(tag)
    except (KeyError, TypeError):
        return None
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        if len(value) < 2:
            return None
        return int.from_bytes(value[:2], "little" if elem.is_little_endian else "big")
    return _int(value)


def normalise_view(ds: Dataset) -> str:
    """Return 'PA', 'AP', 'LAT' or '' from ViewPosition, then ViewCodeSequence, then SeriesDescription."""
    view = _raw_text(ds, 0x00185101).upper()
    if view in ("PA", "AP"):
        return view
    if view in _LATERAL_VIEWS:
        return "LAT"
    if 0x00540220 not in ds:
        return _series_view(ds)
    try:
        codes = ds.get("ViewCodeSequence") or []
    except Exception:  # noqa: BLE001 - a malformed optional sequence must not fail indexing
        codes = []
    for item in codes:
        code = str(item.get("CodeValue", "")).strip()
        if code in _VIEW_CODES:
            return _VIEW_CODES[code]
        meaning = str(item.get("CodeMeaning", "")).lower()
        if "postero-anterior" in meaning or "posteroanterior" in meaning:
            return "PA"
        if "antero-posterior" in meaning or "anteroposterior" in meaning:
            return "AP"
        if "lateral" in meaning:
            return "LAT"
    return _series_view(ds)


def _series_view(ds: Dataset) -> str:
    description = _raw_text(ds, 0x0008103E).upper()
    for pattern, normalised in _SERIES_VIEW_HINTS:
        if pattern.search(description):
            return normalised
    return ""


def _int(value: object) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _date(value: object) -> dt.date | None:
    text = str(value or "").strip()
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _sex(value: str) -> str:
    value = value.upper()[:1]
    return value if value in ("M", "F", "O") else ""


def _age_years(age: str, birth: dt.date | None, study: dt.date | None) -> int | None:
    match = _AGE.match(age)
    if match:
        number, unit = int(match.group(1)), match.group(2).upper()
        return {"Y": number, "M": number // 12, "W": number // 52, "D": number // 365}[unit]
    if birth and study and study >= birth:
        return study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day))
    return None


def _spacing(value: str) -> tuple[float, float] | None:
    try:
        row, column = (float(v) for v in value.split("\\"))
    except (TypeError, ValueError):
        return None
    # Some CR writers put 0\0 in PixelSpacing; a zero spacing is no spacing.
    return (row, column) if row > 0 and column > 0 else None


def _yes_no(value: str) -> bool | None:
    value = value.upper()
    return True if value == "YES" else False if value == "NO" else None
