"""PadChest reader: the 160K labels CSV with a Python-list Labels column, images under <ImageDir>/<ImageID>."""

import datetime

import pytest

from curation.manifests import ImageRecord, RowError, detect_source, read_manifest
from curation.manifests.padchest import parse_labels

from .helpers import write_csv, write_image

HEADER = [
    "ImageID", "ImageDir", "StudyDate_DICOM", "StudyID", "PatientID", "PatientBirth", "PatientSex_DICOM",
    "ViewPosition_DICOM", "Projection", "MethodProjection", "Pediatric", "Modality_DICOM", "Manufacturer_DICOM",
    "PhotometricInterpretation_DICOM", "PixelRepresentation_DICOM", "PixelAspectRatio_DICOM",
    "SpatialResolution_DICOM", "BitsStored_DICOM", "WindowCenter_DICOM", "WindowWidth_DICOM", "Rows_DICOM",
    "Columns_DICOM", "XRayTubeCurrent_DICOM", "Exposure_DICOM", "ExposureInuAs_DICOM", "ExposureTime",
    "RelativeXRayExposure_DICOM", "ReportID", "Report", "MethodLabel", "Labels", "Localizations",
    "LabelsLocalizationsBySentence", "labelCUIS", "LocalizationsCUIS",
]  # fmt: skip
NAME = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"
STUDY = "20536686640136348236148679891455886468"
PATIENT = "839860488694292331637988235681460987"
PA = "20536686640136348236148679891455886468_k6ga29.png"
LAT = "135803415504923515076821959678074435083_fzis7b.png"


def row(image, image_dir, projection, view_dicom, labels, report="", birth="1930.0", date="20140915"):
    values = dict.fromkeys(HEADER, "")
    values.update(
        ImageID=image,
        ImageDir=image_dir,
        StudyDate_DICOM=date,
        StudyID=STUDY,
        PatientID=PATIENT,
        PatientBirth=birth,
        PatientSex_DICOM="M",
        ViewPosition_DICOM=view_dicom,
        Projection=projection,
        MethodProjection="Manual review of DICOM fields",
        Pediatric="No",
        Modality_DICOM="CR",
        Rows_DICOM="2828",
        Columns_DICOM="2320",
        ReportID="4765777",
        Report=report,
        MethodLabel="Physician",
        Labels=labels,
    )
    return [values[h] for h in HEADER]


def test_reads_labels_lists_reports_and_ages(tmp_path):
    # Given the CSV, images in their zip folders 0/ and 1/, one missing, one bad Labels cell, one odd birth year
    write_csv(
        tmp_path / NAME,
        HEADER,
        [
            row(PA, "0", "PA", "POSTEROANTERIOR", "['pleural effusion', ' cardiomegaly', '']", "cardiomegalia ."),
            row(LAT, "0", "L", "LATERAL", "['normal']"),
            row("missing_x1.png", "1", "AP_horizontal", "", "[]"),
            row("bad_labels.png", "1", "PA", "PA", "pleural effusion"),
            row("old.png", "1", "", "AP", "['normal']", birth="1750.0"),
        ],
    )
    write_image(tmp_path / "0" / PA)
    write_image(tmp_path / "0" / LAT)
    write_image(tmp_path / "1" / "old.png")

    # When it is read
    items = list(read_manifest("padchest", tmp_path))

    # Then labels come from the list, age is study year minus birth year, views are normalised
    def record(n, image, path, exists, view, labels, report=None, age=84, projection="", view_dicom=""):
        return ImageRecord(
            dataset="padchest",
            row=n,
            patient_key=PATIENT,
            study_key=STUDY,
            image_key=image,
            path=path,
            file_exists=exists,
            study_date=datetime.date(2014, 9, 15),
            view_position=view,
            sex="M",
            age_years=age,
            report_text=report,
            source_labels=labels,
            extra={
                "StudyDate_DICOM": "20140915",
                "PatientBirth": "1750.0" if age is None else "1930.0",
                "Projection": projection,
                "ViewPosition_DICOM": view_dicom,
                "MethodProjection": "Manual review of DICOM fields",
                "Pediatric": "No",
                "Modality_DICOM": "CR",
                "Manufacturer_DICOM": "",
                "Rows_DICOM": "2828",
                "Columns_DICOM": "2320",
                "ReportID": "4765777",
                "MethodLabel": "Physician",
                "Localizations": "",
            },
        )

    assert items == [
        record(
            1,
            PA,
            f"0/{PA}",
            True,
            "PA",
            {"pleural effusion": 1, "cardiomegaly": 1},
            "cardiomegalia .",
            projection="PA",
            view_dicom="POSTEROANTERIOR",
        ),
        record(2, LAT, f"0/{LAT}", True, "LAT", {"normal": 1}, projection="L", view_dicom="LATERAL"),
        record(3, "missing_x1.png", "1/missing_x1.png", False, "AP", {}, projection="AP_horizontal"),
        RowError(f"{NAME}:3", "missing image file 1/missing_x1.png"),
        RowError(f"{NAME}:4", "Labels 'pleural effusion' is not a list like ['normal']"),
        record(5, "old.png", "1/old.png", True, "AP", {"normal": 1}, age=None, view_dicom="AP"),
        RowError(f"{NAME}:5", "PatientBirth '1750.0' is not a plausible birth year"),
    ]
    assert detect_source(tmp_path) == "padchest"


def test_labels_parser_accepts_list_literals_and_blanks():
    assert parse_labels("['normal']") == ["normal"]
    assert parse_labels("") == []
    assert parse_labels("nan") == []


@pytest.mark.parametrize("text", ["__import__('os')", "[1, 2]", "['a'", "{'a': 1}", "[__import__('os')]"])
def test_labels_parser_refuses_anything_else(text):
    with pytest.raises(ValueError):
        parse_labels(text)
