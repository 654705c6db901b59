"""Fixtures for the DICOM core: a small generated dataset, controlled single files and pydicom-data's CR films."""

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from curation.demo import generate_dataset
from curation.demo.dicom import write_dicom

# The eight real computed radiographs shipped in the pydicom-data package (two films, four encodings each).
CR_FILES = {
    "RG1_UNCR.dcm": ("1.3.6.1.4.1.5962.1.1.9.1.1.20040826185059.5457", 1955, 1841),
    "RG1_UNCI.dcm": ("1.3.6.1.4.1.5962.1.1.9.1.3.20040826185059.5457", 1955, 1841),
    "RG1_J2KR.dcm": ("1.3.6.1.4.1.5962.1.1.9.1.2.20040826185059.5457", 1955, 1841),
    "RG1_J2KI.dcm": ("1.3.6.1.4.1.5962.1.1.9.1.3.20040826185059.5457", 1955, 1841),
    "RG3_UNCR.dcm": ("1.3.6.1.4.1.5962.1.1.11.1.1.20040826185059.5457", 1760, 1760),
    "RG3_UNCI.dcm": ("1.3.6.1.4.1.5962.1.1.11.1.3.20040826185059.5457", 1760, 1760),
    "RG3_J2KR.dcm": ("1.3.6.1.4.1.5962.1.1.11.1.2.20040826185059.5457", 1760, 1760),
    "RG3_J2KI.dcm": ("1.3.6.1.4.1.5962.1.1.11.1.3.20040826185059.5457", 1760, 1760),
}

META = {
    "patient_name": "DOE^JANE^Q",
    "patient_id": "12345678",
    "patient_birth_date": "19500310",
    "patient_sex": "F",
    "patient_age": "071Y",
    "other_patient_ids": "A1234567",
    "patient_address": "12 Maple Street, Springfield, IL 62701",
    "institution_name": "Springfield General Hospital",
    "referring_physician_name": "SMITH^JOHN^^DR",
    "accession_number": "2103001123",
    "study_instance_uid": "2.25.1111",
    "study_date": "20210314",
    "study_time": "101500",
    "study_id": "1",
    "operators_name": "ROE^MARY",
    "station_name": "XR01",
}


def cr_path(name: str) -> Path:
    return Path(get_testdata_file(name))


def ramp(rows: int = 64, cols: int = 48, bits: int = 12) -> np.ndarray:
    """Display-sense pixels covering the whole range of `bits`, with structure in both directions."""
    y, x = np.mgrid[0:rows, 0:cols]
    values = (y * cols + x) * ((1 << bits) - 1) // (rows * cols - 1)
    return values.astype(np.uint16)


@pytest.fixture
def write(tmp_path):
    """Write one controlled DICOM file: write(name, pixels=None, **write_dicom keyword arguments) -> Path."""

    def _write(name: str = "image.dcm", pixels: np.ndarray | None = None, **kwargs) -> Path:
        kwargs.setdefault("sop_instance_uid", "2.25.2222")
        kwargs.setdefault("series_instance_uid", "2.25.3333")
        meta = {**META, **kwargs.pop("meta", {})}
        return write_dicom(tmp_path / name, ramp() if pixels is None else pixels, meta=meta, **kwargs)

    return _write


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A small generated dataset with known truth: (folder, truth)."""
    out_dir = tmp_path_factory.mktemp("dicomio-demo")
    generate_dataset(out_dir, n_patients=6, seed=11, image_size=96)
    return out_dir, json.loads((out_dir / "truth.json").read_text(encoding="utf-8"))


def generated_images(truth: dict) -> list[dict]:
    return [
        {**image, "study_uid": uid, "patient_key": study["patient_key"], "study_date": study["study_date"]}
        for uid, study in truth["studies"].items()
        for image in study["images"]
    ]
