"""Looks for seeded PHI values everywhere the platform keeps data: every file in storage (zip and gzip members
opened, DICOM elements walked, image text chunks read) and every text column of the apps' tables.

Values are matched case-insensitively, and a value never matches inside a longer word or number
('Mary' is not found in 'summary', '4839201' not in '14839201'). Raw bytes of binary files are searched
only for values of six characters or more: a shorter value turns up by chance in compressed pixels.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import re
import zipfile
from pathlib import Path

import pydicom
from PIL import Image as PILImage

APPS = ("curation", "labeling", "nlp")
BINARY_MIN_LENGTH = 6
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
GZIP_MAGIC = b"\x1f\x8b"
PIXEL_DATA = 0x7FE00010


@dataclasses.dataclass(frozen=True)
class Finding:
    """One seeded value found in one place (a file, a zip member, a DICOM element, a table column)."""

    where: str
    value: str
    kind: str

    def __str__(self) -> str:
        return f"{self.where}: {self.value!r} ({self.kind})"


@dataclasses.dataclass(frozen=True)
class Phi:
    """One seeded value, its kind (name, mrn, phone...), and its compiled text and byte patterns."""

    value: str
    kind: str
    text: re.Pattern
    raw: re.Pattern

    @classmethod
    def of(cls, value: str, kind: str) -> Phi:
        before = r"(?<!\d)" if value[0].isdigit() else r"(?<![a-z])" if value[0].isalpha() else ""
        after = r"(?!\d)" if value[-1].isdigit() else r"(?![a-z])" if value[-1].isalpha() else ""
        pattern = before + re.escape(value) + after
        return cls(value, kind, re.compile(pattern, re.IGNORECASE), re.compile(pattern.encode(), re.IGNORECASE))


def compile_values(values: dict[str, str]) -> list[Phi]:
    """{value: kind} → patterns; values shorter than four characters are refused (they would match anything)."""
    short = [v for v in values if len(v) < 4]
    assert not short, f"PHI values too short to search for: {short}"
    return [Phi.of(value, kind) for value, kind in sorted(values.items())]


# --- storage ------------------------------------------------------------------------------------------
def scan_storage(root: Path, phi: list[Phi]) -> list[Finding]:
    """Every seeded value in the files under `root` (a zip member is named 'file.zip!member')."""
    findings: list[Finding] = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        findings += _scan_name(rel, phi)
        findings += _scan_blob(rel, path.read_bytes(), phi)
    return findings


def _scan_name(where: str, phi: list[Phi]) -> list[Finding]:
    return [Finding(f"{where} (file name)", p.value, p.kind) for p in phi if p.text.search(where)]


def _scan_text(where: str, text: str, phi: list[Phi]) -> list[Finding]:
    return [Finding(where, p.value, p.kind) for p in phi if p.text.search(text)]


def _scan_blob(where: str, data: bytes, phi: list[Phi]) -> list[Finding]:
    if data.startswith(ZIP_MAGIC):
        return _scan_zip(where, data, phi)
    if data.startswith(GZIP_MAGIC):
        return _scan_blob(f"{where}!gunzip", gzip.decompress(data), phi)
    try:
        return _scan_text(where, data.decode("utf-8"), phi)
    except UnicodeDecodeError:
        pass
    findings = [
        Finding(f"{where} (bytes)", p.value, p.kind)
        for p in phi
        if len(p.value) >= BINARY_MIN_LENGTH and p.raw.search(data)
    ]
    findings += _scan_dicom(where, data, phi)
    findings += _scan_image_text(where, data, phi)
    return findings


def _scan_zip(where: str, data: bytes, phi: list[Phi]) -> list[Finding]:
    findings: list[Finding] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            inner = f"{where}!{info.filename}"
            findings += _scan_name(inner, phi)
            if not info.is_dir():
                findings += _scan_blob(inner, archive.read(info), phi)
    return findings


def _scan_dicom(where: str, data: bytes, phi: list[Phi]) -> list[Finding]:
    """Every element's value, in sequences too, private tags included (their bytes read as Latin-1)."""
    if data[128:132] != b"DICM":
        return []
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    findings: list[Finding] = []
    for dataset in (ds.file_meta, ds):
        for element in dataset.iterall():
            if element.tag == PIXEL_DATA or element.VR == "SQ":
                continue
            value = element.value
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            findings += _scan_text(f"{where} (DICOM {element.tag} {element.keyword or 'private'})", text, phi)
    return findings


def _scan_image_text(where: str, data: bytes, phi: list[Phi]) -> list[Finding]:
    """PNG tEXt/zTXt/iTXt chunks, JPEG comments and EXIF, as Pillow reads them (compressed ones included)."""
    try:
        image = PILImage.open(io.BytesIO(data))
    except (OSError, ValueError, SyntaxError):
        return []
    with image:
        info = dict(image.info)
        info.update(getattr(image, "text", None) or {})
    text = "\n".join(
        f"{key}={value.decode('latin-1') if isinstance(value, bytes) else value}" for key, value in info.items()
    )
    return _scan_text(f"{where} (image metadata)", text, phi)


# --- database -----------------------------------------------------------------------------------------
def scan_database(phi: list[Phi], exclude: tuple = ()) -> list[Finding]:
    """Every finding in the CharField/TextField/JSONField columns of every concrete model of APPS."""
    from django.apps import apps
    from django.db import models

    findings: list[Finding] = []
    for app in APPS:
        for model in apps.get_app_config(app).get_models():
            if model in exclude or model._meta.proxy:
                continue
            fields = [
                f
                for f in model._meta.concrete_fields
                if isinstance(f, (models.CharField, models.TextField, models.JSONField)) and not f.is_relation
            ]
            if not fields:
                continue
            names = [f.attname for f in fields]
            for pk, *values in model._base_manager.values_list("pk", *names).iterator():
                for field, value in zip(fields, values, strict=True):
                    if value in (None, ""):
                        continue
                    text = "\n".join(_json_strings(value)) if isinstance(field, models.JSONField) else value
                    findings += _scan_text(f"{model._meta.label}.{field.name} pk={pk}", str(text), phi)
    return findings


def _json_strings(value) -> list[str]:
    """Every key and leaf of a JSON value as text (not json.dumps: its escapes would hide a name after '\\n')."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_json_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return [str(value)]


def assert_no_phi(media_root: Path, values: dict[str, str], exclude_models: tuple = ()) -> int:
    """Fail with every place that holds a seeded value; return how many files were read (to show the
    scan saw something)."""
    phi = compile_values(values)
    findings = scan_storage(Path(media_root), phi) + scan_database(phi, exclude_models)
    assert not findings, "Seeded PHI found outside the pseudonym map:\n  " + "\n  ".join(map(str, findings))
    return sum(1 for p in Path(media_root).rglob("*") if p.is_file())
