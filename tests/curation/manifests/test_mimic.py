"""MIMIC-CXR reader: files/p10/p10000032/s50414267/<dicom_id>.jpg, gzipped metadata/label/split CSVs, reports."""

import datetime

import pytest

from curation.manifests import ImageRecord, ManifestError, RowError, detect_source, read_manifest
from curation.manifests.mimic import LABELS

from .helpers import write_csv, write_image

METADATA_HEADER = [
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
]
PA_ID = "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"
LAT_ID = "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962"
OTHER_ID = "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab"
REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 FINDINGS:
 There is no focal consolidation, pleural effusion or pneumothorax.

 IMPRESSION:
 No acute cardiopulmonary process.
"""


def mimic(root):
    study = root / "files" / "p10" / "p10000032" / "s50414267"
    write_image(study / f"{PA_ID}.jpg")
    write_image(root / "files" / "p10" / "p10000764" / "s57375967" / f"{OTHER_ID}.jpg")
    (root / "files" / "p10" / "p10000032" / "s50414267.txt").write_text(REPORT)
    write_csv(
        root / "mimic-cxr-2.0.0-metadata.csv.gz",
        METADATA_HEADER,
        [
            [PA_ID, "10000032", "50414267", "CHEST (PA AND LAT)", "PA", "3056", "2544", "21800506", "213014.531"]
            + ["CHEST (PA AND LAT)", "postero-anterior", "Erect"],
            [LAT_ID, "10000032", "50414267", "CHEST (PA AND LAT)", "LATERAL", "3056", "2544", "21800506", "213014.531"]
            + ["CHEST (PA AND LAT)", "lateral", "Erect"],
            ["", "x", "", "", "", "", "", "", "", "", "", ""],
            [OTHER_ID, "10000764", "57375967", "CHEST (PORTABLE AP)", "AP", "2544", "3056", "2132013", "163040"]
            + ["CHEST (PORTABLE AP)", "antero-posterior", "Erect"],
        ],
    )
    labels = dict.fromkeys(LABELS, "")
    labels.update({"No Finding": "1.0", "Support Devices": "-1.0", "Pleural Effusion": "0.0"})
    write_csv(
        root / "mimic-cxr-2.0.0-chexpert.csv.gz",
        ["subject_id", "study_id", *LABELS],
        [["10000032", "50414267", *labels.values()]],
    )
    write_csv(
        root / "mimic-cxr-2.0.0-split.csv.gz",
        ["dicom_id", "study_id", "subject_id", "split"],
        [[PA_ID, "50414267", "10000032", "train"], [LAT_ID, "50414267", "10000032", "train"]],
    )


def test_reads_metadata_reports_labels_and_split_from_gzipped_csvs(tmp_path):
    # Given the JPG layout with one missing lateral image, a bad row and a bad date
    mimic(tmp_path)

    # When it is read
    items = list(read_manifest("mimic", tmp_path))

    # Then records carry the folder-derived path, the study report, labels and metadata
    labels = dict.fromkeys(LABELS)
    labels.update({"No Finding": 1, "Support Devices": -1, "Pleural Effusion": 0})
    common_extra = {
        "PerformedProcedureStepDescription": "CHEST (PA AND LAT)",
        "Rows": 3056,
        "Columns": 2544,
        "StudyDate": "21800506",
        "StudyTime": "213014.531",
        "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
        "PatientOrientationCodeSequence_CodeMeaning": "Erect",
        "split": "train",
        "label_file": "mimic-cxr-2.0.0-chexpert",
    }
    assert items == [
        ImageRecord(
            dataset="mimic",
            row=1,
            patient_key="10000032",
            study_key="s50414267",
            image_key=PA_ID,
            path=f"files/p10/p10000032/s50414267/{PA_ID}.jpg",
            file_exists=True,
            study_date=datetime.date(2180, 5, 6),
            view_position="PA",
            sex="",
            age_years=None,
            report_text=REPORT.strip(),
            source_labels=labels,
            extra={**common_extra, "ViewPosition": "PA", "ViewCodeSequence_CodeMeaning": "postero-anterior"},
        ),
        ImageRecord(
            dataset="mimic",
            row=2,
            patient_key="10000032",
            study_key="s50414267",
            image_key=LAT_ID,
            path=None,
            file_exists=False,
            study_date=datetime.date(2180, 5, 6),
            view_position="LAT",
            sex="",
            age_years=None,
            report_text=REPORT.strip(),
            source_labels=labels,
            extra={**common_extra, "ViewPosition": "LATERAL", "ViewCodeSequence_CodeMeaning": "lateral"},
        ),
        RowError(
            "mimic-cxr-2.0.0-metadata.csv.gz:2",
            f"missing image file files/p10/p10000032/s50414267/{LAT_ID}.dcm (or .jpg)",
        ),
        RowError("mimic-cxr-2.0.0-metadata.csv.gz:3", "dicom_id, subject_id or study_id is empty or not a number"),
        ImageRecord(
            dataset="mimic",
            row=4,
            patient_key="10000764",
            study_key="s57375967",
            image_key=OTHER_ID,
            path=f"files/p10/p10000764/s57375967/{OTHER_ID}.jpg",
            file_exists=True,
            study_date=None,
            view_position="AP",
            sex="",
            age_years=None,
            report_text=None,
            source_labels={},
            extra={
                "PerformedProcedureStepDescription": "CHEST (PORTABLE AP)",
                "ViewPosition": "AP",
                "Rows": 2544,
                "Columns": 3056,
                "StudyDate": "2132013",
                "StudyTime": "163040",
                "ProcedureCodeSequence_CodeMeaning": "CHEST (PORTABLE AP)",
                "ViewCodeSequence_CodeMeaning": "antero-posterior",
                "PatientOrientationCodeSequence_CodeMeaning": "Erect",
                "label_file": "mimic-cxr-2.0.0-chexpert",
            },
        ),
        RowError("mimic-cxr-2.0.0-metadata.csv.gz:4", "date '2132013' is not a YYYYMMDD date"),
    ]
    assert detect_source(tmp_path) == "mimic"


def test_without_metadata_the_folder_layout_is_walked(tmp_path):
    # Given only DICOM files in the layout, plus a stray file
    write_image(tmp_path / "files" / "p10" / "p10000032" / "s50414267" / f"{PA_ID}.png").rename(
        tmp_path / "files" / "p10" / "p10000032" / "s50414267" / f"{PA_ID}.dcm"
    )
    (tmp_path / "files" / "p10" / "stray.dcm").write_bytes(b"")

    # When it is read
    items = list(read_manifest("mimic", tmp_path))

    # Then keys come from the folders and the stray file is reported by its path
    assert items == [
        ImageRecord(
            dataset="mimic",
            row=1,
            patient_key="10000032",
            study_key="s50414267",
            image_key=PA_ID,
            path=f"files/p10/p10000032/s50414267/{PA_ID}.dcm",
            file_exists=True,
            study_date=None,
            view_position="",
            sex="",
            age_years=None,
            report_text=None,
            source_labels={},
            extra={},
        ),
        RowError("files/p10/stray.dcm", "not in the layout p1X/p<subject_id>/s<study_id>/<dicom_id>.dcm|.jpg"),
    ]
    assert detect_source(tmp_path) == "mimic"


def test_a_truncated_gzip_stops_that_file_with_a_row_error(tmp_path):
    # Given a metadata file cut short in the middle of the gzip stream
    mimic(tmp_path)
    path = tmp_path / "mimic-cxr-2.0.0-metadata.csv.gz"
    path.write_bytes(path.read_bytes()[:-30])

    # When it is read
    items = list(read_manifest("mimic", tmp_path, check_files=False))

    # Then the last item says where reading stopped, and nothing raised
    assert isinstance(items[-1], RowError)
    assert items[-1].reason.startswith("file unreadable after row")


def test_metadata_without_study_id_is_a_manifest_error(tmp_path):
    write_csv(tmp_path / "mimic-cxr-2.0.0-metadata.csv", ["dicom_id", "subject_id"], [])

    with pytest.raises(ManifestError, match=r"missing required columns 'study_id' \(its header has \d+ columns?\)"):
        read_manifest("mimic", tmp_path)
