"""Every dataset manifest through the real import job: rows land on the same models, native labels are
kept as a label source, missing images are reported without stopping the import, re-runs add nothing."""

import csv
import io
from pathlib import Path

import pytest
from PIL import Image as PILImage

from curation.models import Image, Report, Study
from curation.services import ingest


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("L", (16, 16), 80).save(path)


def _csv(path: Path, header: list[str], rows: list[list], encoding="utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


@pytest.fixture
def dataset_dir(tmp_path):
    """The dataset folder: beside (not around) the test's media storage, which imports refuse to read."""
    folder = tmp_path / "dataset"
    folder.mkdir()
    return folder


@pytest.fixture
def run_import(db):
    def run(source, root, mapping=None):
        return ingest.import_from_cli("chest", source, str(root), mapping)

    return run


def test_nih_manifest_with_a_missing_image(dataset_dir, run_import):
    header = [
        "Image Index",
        "Finding Labels",
        "Follow-up #",
        "Patient ID",
        "Patient Age",
        "Patient Gender",
        "View Position",
        "OriginalImage[Width",
        "Height]",
        "OriginalImagePixelSpacing[x",
        "y]",
    ]
    _csv(
        dataset_dir / "Data_Entry_2017.csv",
        header,
        [
            ["00000001_000.png", "Cardiomegaly|Effusion", 0, 1, 58, "M", "PA", 2682, 2749, 0.143, 0.143],
            ["00000001_001.png", "No Finding", 1, 1, 59, "M", "AP", 2500, 2048, 0.168, 0.168],
            ["00000002_000.png", "Mass", 0, 2, 81, "F", "PA", 2500, 2048, 0.168, 0.168],
        ],
    )
    _png(dataset_dir / "images_001" / "images" / "00000001_000.png")
    _png(dataset_dir / "images_001" / "images" / "00000001_001.png")
    summary = run_import("nih", dataset_dir)
    assert (summary["status"], summary["imported"]) == ("succeeded", 3)
    assert summary["errors"] == [
        {"file": "Data_Entry_2017.csv:3", "reason": "missing image file 00000002_000.png (not under images*/)"}
    ]
    first = Image.objects.get(image_key="00000001_000.png")
    assert (first.view_position, first.study.sex, first.study.age_years) == ("PA", "M", 58)
    labels = Report.objects.get(study=first.study).source_labels
    assert (labels["Cardiomegaly"], labels["Effusion"], labels["Mass"]) == (1, 1, 0)
    assert Image.objects.get(image_key="00000002_000.png").render_status == "missing"
    assert summary["rendered"] == 2
    again = run_import("nih", dataset_dir)
    assert (again["imported"], again["duplicates"]) == (0, 3)


def test_chexpert_manifest(dataset_dir, run_import):
    labels = [
        "No Finding",
        "Enlarged Cardiomediastinum",
        "Cardiomegaly",
        "Lung Opacity",
        "Lung Lesion",
        "Edema",
        "Consolidation",
        "Pneumonia",
        "Atelectasis",
        "Pneumothorax",
        "Pleural Effusion",
        "Pleural Other",
        "Fracture",
        "Support Devices",
    ]
    header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *labels]
    values = ["", "", "1.0", "", "", "-1.0", "", "", "", "0.0", "1.0", "", "", "1.0"]
    _csv(
        dataset_dir / "CheXpert-v1.0-small" / "valid.csv",
        header,
        [
            ["CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg", "Male", 73, "Frontal", "AP", *values],
            ["CheXpert-v1.0-small/valid/patient64541/study1/view2_lateral.jpg", "Male", 73, "Lateral", "", *values],
        ],
    )
    for view in ("view1_frontal.jpg", "view2_lateral.jpg"):
        _png(dataset_dir / "CheXpert-v1.0-small" / "valid" / "patient64541" / "study1" / view)
    summary = run_import("chexpert", dataset_dir)
    assert (summary["status"], summary["imported"], summary["error_count"]) == ("succeeded", 2, 0)
    study = Study.objects.get()
    assert (study.image_count, study.sex, study.age_years) == (2, "M", 73)
    assert sorted(Image.objects.values_list("view_position", flat=True)) == ["AP", "LAT"]
    native = study.report.source_labels
    assert (native["Cardiomegaly"], native["Edema"], native["Pneumothorax"], native["Fracture"]) == (1, -1, 0, None)


def test_mimic_layout_with_reports(dataset_dir, run_import):
    study_dir = dataset_dir / "files" / "p10" / "p10000032" / "s50414267"
    _png(study_dir / "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg")
    (dataset_dir / "files" / "p10" / "p10000032" / "s50414267.txt").write_text(
        "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n\n FINDINGS:  No focal "
        "consolidation.  Small left pleural effusion.\n\n IMPRESSION:  Small left effusion.\n"
    )
    _csv(
        dataset_dir / "mimic-cxr-2.0.0-metadata.csv",
        [
            "dicom_id",
            "subject_id",
            "study_id",
            "PerformedProcedureStepDescription",
            "ViewPosition",
            "Rows",
            "Columns",
            "StudyDate",
            "StudyTime",
        ],
        [
            [
                "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014",
                10000032,
                50414267,
                "CHEST (PA AND LAT)",
                "PA",
                3056,
                2544,
                21800506,
                213014.531,
            ]
        ],
    )
    summary = run_import("mimic", dataset_dir)
    assert (summary["status"], summary["imported"]) == ("succeeded", 1)
    study = Study.objects.get()
    assert study.has_report is True
    assert "Small left pleural effusion." in study.report.text
    assert study.images.get().view_position == "PA"


def test_openi_reports_and_projections(dataset_dir, run_import):
    _csv(
        dataset_dir / "indiana_reports.csv",
        ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"],
        [
            [
                1,
                "normal",
                "normal",
                "Xray Chest PA and Lateral",
                "Positive TB test",
                "None.",
                "The cardiac silhouette and mediastinum size are within normal limits. There is no pulmonary edema.",
                "Normal chest x-XXXX.",
            ]
        ],
    )
    _csv(
        dataset_dir / "indiana_projections.csv",
        ["uid", "filename", "projection"],
        [[1, "1_IM-0001-4001.dcm.png", "Frontal"], [1, "1_IM-0001-3001.dcm.png", "Lateral"]],
    )
    for name in ("1_IM-0001-4001.dcm.png", "1_IM-0001-3001.dcm.png"):
        _png(dataset_dir / "images" / "images_normalized" / name)
    summary = run_import("openi", dataset_dir)
    assert (summary["status"], summary["imported"], summary["error_count"]) == ("succeeded", 2, 0)
    study = Study.objects.get()
    assert study.has_report is True
    assert "within normal limits" in study.report.text
    # The de-identification trace stays one uniform form
    assert "XXXX" not in study.report.text


def test_padchest_label_list_and_cp1252_encoding(dataset_dir, run_import):
    header = [
        "ImageID",
        "ImageDir",
        "StudyDate_DICOM",
        "StudyID",
        "PatientID",
        "PatientBirth",
        "PatientSex_DICOM",
        "ViewPosition_DICOM",
        "Projection",
        "Labels",
        "Report",
    ]
    _csv(
        dataset_dir / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv",
        header,
        [
            [
                "img1.png",
                0,
                20140905,
                "st1",
                "pt1",
                1939,
                "F",
                "POSTEROANTERIOR",
                "PA",
                "['pleural effusion', 'cardiomegaly']",
                "derrame pleural izquierdo. cardiomegalia.",
            ],
            ["img2.png", 0, 20150101, "st2", "pt1", 1939, "F", "LATERAL", "L", "['normal']", "sin hallazgos. opérée"],
        ],
        encoding="cp1252",
    )
    _png(dataset_dir / "0" / "img1.png")
    _png(dataset_dir / "0" / "img2.png")
    summary = run_import("padchest", dataset_dir)
    assert (summary["status"], summary["imported"], summary["error_count"]) == ("succeeded", 2, 0)
    effusion = Report.objects.get(study__study_key="st1").source_labels
    assert effusion["pleural effusion"] == 1 and effusion["cardiomegaly"] == 1
    assert "opérée" in Report.objects.get(study__study_key="st2").text


def test_generic_csv_with_mapping_and_a_bad_row(dataset_dir, run_import):
    _csv(
        dataset_dir / "manifest.csv",
        ["pid", "acc", "file", "date", "view", "sex", "age", "report", "label_Effusion"],
        [
            ["MRN001", "A1", "a.png", "2020-01-02", "PA", "F", "50", "Small effusion.", "1"],
            ["MRN001", "A2", "b.png", "2020-06-02", "PA", "F", "50", "Resolved.", "0"],
            ["MRN002", "A3", "c.png", "not-a-date", "AP", "M", "40", "", "0"],
        ],
    )
    for name in ("a.png", "b.png", "c.png"):
        _png(dataset_dir / name)
    mapping = {
        "patient_key": "pid",
        "study_key": "acc",
        "image_key": "file",
        "path": "file",
        "study_date": "date",
        "view_position": "view",
        "sex": "sex",
        "age_years": "age",
        "report_text": "report",
        "label_prefix": "label_",
        "date_format": "%Y-%m-%d",
    }
    summary = run_import("csv", dataset_dir, mapping)
    # The row with a bad date is imported without its date, and the problem is reported
    assert (summary["status"], summary["imported"]) == ("succeeded", 3)
    assert summary["errors"] == [{"file": "manifest.csv:3", "reason": "date 'not-a-date' does not match %Y-%m-%d"}]
    # Hospital CSVs are pseudonymised: no MRN or accession appears as a key; dates are shifted per patient
    assert not Study.objects.filter(patient__pseudo_id__startswith="MRN").exists()
    assert not Study.objects.filter(study_key__in=["A1", "A2", "A3"]).exists()
    dates = sorted(d for d in Study.objects.values_list("study_date", flat=True) if d)
    assert len(dates) == 2 and (dates[1] - dates[0]).days == 152 and str(dates[0]) != "2020-01-02"


def test_manifest_without_its_required_columns_fails_clearly(dataset_dir, run_import):
    _csv(dataset_dir / "Data_Entry_2017.csv", ["Image Index", "Patient ID"], [["x.png", 1]])
    summary = run_import("nih", dataset_dir)
    assert summary["status"] == "failed"
    assert "Finding Labels" in summary["message"], summary["message"]
    assert Study.objects.count() == 0
