"""CheXpert reader: train.csv / valid.csv in CheXpert-v1.0-small, CheXpert Plus reports, demographics."""

import pytest

from curation.manifests import ImageRecord, ManifestError, RowError, detect_source, read_manifest
from curation.manifests.chexpert import LABELS

from .helpers import write_csv, write_image

HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *LABELS]
PLUS_HEADER = [
    "path_to_image",
    "path_to_dcm",
    "frontal_lateral",
    "ap_pa",
    "deid_patient_id",
    "patient_report_date_order",
    "report",
    "section_narrative",
    "section_clinical_history",
    "section_history",
    "section_comparison",
    "section_technique",
    "section_procedure_comments",
    "section_findings",
    "section_impression",
    "section_end_of_impression",
    "section_summary",
    "section_accession_number",
    "age",
    "sex",
    "race",
    "ethnicity",
    "interpreter_needed",
    "insurance_type",
    "recent_bmi",
    "deceased",
    "split",
]
P = "CheXpert-v1.0-small/"


def label_row(**values):
    """The 14 label cells in CSV order; unnamed labels are blank."""
    return [values.get(name.replace(" ", "_"), "") for name in LABELS]


def chexpert(root):
    """The small download as unzipped: root/CheXpert-v1.0-small/{train.csv, valid.csv, train/, valid/}."""
    data = root / "CheXpert-v1.0-small"
    write_csv(
        data / "train.csv",
        HEADER,
        [
            [P + "train/patient00001/study1/view1_frontal.jpg", "Female", "68", "Frontal", "AP"]
            + label_row(No_Finding="1.0", Pleural_Effusion="0.0", Support_Devices="1.0"),
            [P + "train/patient00002/study2/view1_frontal.jpg", "Female", "87", "Frontal", "AP"]
            + label_row(Cardiomegaly="-1.0", Lung_Opacity="1.0", Pneumonia="-1.0", Fracture="1.0"),
            [P + "train/patient00002/study2/view2_lateral.jpg", "Female", "87", "Lateral", ""]
            + label_row(Cardiomegaly="-1.0", Lung_Opacity="1.0"),
            [P + "train/patient00003/study1/view1_frontal.jpg", "Male", "41", "Frontal", "AP"] + label_row(Edema="yes"),
            [P + "train/patient00004/view1_frontal.jpg", "Male", "20", "Frontal", "PA"] + label_row(),
        ],
    )
    write_csv(
        data / "valid.csv",
        HEADER,
        [
            [P + "valid/patient64541/study1/view1_frontal.jpg", "Male", "73", "Frontal", "PA"]
            + label_row(No_Finding="0.0", Cardiomegaly="1.0", Atelectasis="0.0"),
        ],
    )
    write_image(data / "train/patient00001/study1/view1_frontal.jpg")
    write_image(data / "train/patient00002/study2/view1_frontal.jpg")
    write_image(data / "train/patient00003/study1/view1_frontal.jpg")
    write_image(data / "valid/patient64541/study1/view1_frontal.jpg")
    return data


def expected_labels(**values):
    table = {"1.0": 1, "0.0": 0, "-1.0": -1}
    return {name: table.get(values.get(name.replace(" ", "_"), "")) for name in LABELS}


def test_reads_train_and_valid_with_labels_views_and_missing_files(tmp_path):
    # Given the small download, with the source root being the CheXpert-v1.0-small folder itself
    data = chexpert(tmp_path)

    # When it is read
    items = list(read_manifest("chexpert", data))

    # Then keys drop the download folder, views combine Frontal/Lateral with AP/PA, labels keep 1/0/-1/None
    assert items == [
        ImageRecord(
            dataset="chexpert",
            row=1,
            patient_key="patient00001",
            study_key="patient00001/study1",
            image_key="train/patient00001/study1/view1_frontal.jpg",
            path="train/patient00001/study1/view1_frontal.jpg",
            file_exists=True,
            study_date=None,
            view_position="AP",
            sex="F",
            age_years=68,
            report_text=None,
            source_labels=expected_labels(No_Finding="1.0", Pleural_Effusion="0.0", Support_Devices="1.0"),
            extra={"source_file": "train.csv", "Frontal/Lateral": "Frontal", "AP/PA": "AP"},
        ),
        ImageRecord(
            dataset="chexpert",
            row=2,
            patient_key="patient00002",
            study_key="patient00002/study2",
            image_key="train/patient00002/study2/view1_frontal.jpg",
            path="train/patient00002/study2/view1_frontal.jpg",
            file_exists=True,
            study_date=None,
            view_position="AP",
            sex="F",
            age_years=87,
            report_text=None,
            source_labels=expected_labels(Cardiomegaly="-1.0", Lung_Opacity="1.0", Pneumonia="-1.0", Fracture="1.0"),
            extra={"source_file": "train.csv", "Frontal/Lateral": "Frontal", "AP/PA": "AP"},
        ),
        ImageRecord(
            dataset="chexpert",
            row=3,
            patient_key="patient00002",
            study_key="patient00002/study2",
            image_key="train/patient00002/study2/view2_lateral.jpg",
            path="train/patient00002/study2/view2_lateral.jpg",
            file_exists=False,
            study_date=None,
            view_position="LAT",
            sex="F",
            age_years=87,
            report_text=None,
            source_labels=expected_labels(Cardiomegaly="-1.0", Lung_Opacity="1.0"),
            extra={"source_file": "train.csv", "Frontal/Lateral": "Lateral", "AP/PA": ""},
        ),
        RowError("train.csv:3", "missing image file train/patient00002/study2/view2_lateral.jpg"),
        RowError("train.csv:4", "label 'Edema' value 'yes' is not 1, 0, -1 or blank"),
        RowError(
            "train.csv:5",
            "Path 'CheXpert-v1.0-small/train/patient00004/view1_frontal.jpg' is not in the layout "
            "<split>/patientNNNNN/studyN/<view>.jpg",
        ),
        ImageRecord(
            dataset="chexpert",
            row=1,
            patient_key="patient64541",
            study_key="patient64541/study1",
            image_key="valid/patient64541/study1/view1_frontal.jpg",
            path="valid/patient64541/study1/view1_frontal.jpg",
            file_exists=True,
            study_date=None,
            view_position="PA",
            sex="M",
            age_years=73,
            report_text=None,
            source_labels=expected_labels(No_Finding="0.0", Cardiomegaly="1.0", Atelectasis="0.0"),
            extra={"source_file": "valid.csv", "Frontal/Lateral": "Frontal", "AP/PA": "PA"},
        ),
    ]


def test_paths_stay_relative_to_a_root_above_the_download_folder(tmp_path):
    # Given the download folder inside the source root
    chexpert(tmp_path)

    # When the parent folder is read
    records = [i for i in read_manifest("chexpert", tmp_path) if isinstance(i, ImageRecord)]

    # Then paths include the download folder, keys do not
    assert [(r.image_key, r.path, r.file_exists) for r in records][:2] == [
        ("train/patient00001/study1/view1_frontal.jpg", P + "train/patient00001/study1/view1_frontal.jpg", True),
        ("train/patient00002/study2/view1_frontal.jpg", P + "train/patient00002/study2/view1_frontal.jpg", True),
    ]
    assert detect_source(tmp_path) == "chexpert"


def plus_row(path, patient, order, report="", findings="", impression="", history="", race="", bmi=""):
    values = dict.fromkeys(PLUS_HEADER, "")
    values.update(
        path_to_image=path,
        deid_patient_id=patient,
        patient_report_date_order=order,
        report=report,
        section_findings=findings,
        section_impression=impression,
        section_clinical_history=history,
        race=race,
        ethnicity="Non-Hispanic/Non-Latino" if race else "",
        recent_bmi=bmi,
        split="train",
    )
    return [values[h] for h in PLUS_HEADER]


def test_joins_chexpert_plus_reports_and_the_demographics_file(tmp_path):
    # Given CheXpert Plus rows for two studies (one with only sections) and a demographics CSV
    chexpert(tmp_path)
    write_csv(
        tmp_path / "df_chexpert_plus_240401.csv",
        PLUS_HEADER,
        [
            plus_row(
                "train/patient00001/study1/view1_frontal.jpg",
                "patient00001",
                "1",
                findings="Lines and tubes unchanged.",
                impression="No acute process.",
                history="Shortness of breath.",
                race="White",
                bmi="24.1",
            ),
            plus_row(
                "train/patient00002/study2/view1_frontal.jpg",
                "patient00002",
                "2",
                report="NARRATIVE: CHEST 1 VIEW. IMPRESSION: Cardiomegaly.",
                impression="Cardiomegaly.",
            ),
            plus_row("train/patient00002/study2/view2_lateral.jpg", "patient00002", "2", report="ignored duplicate"),
            plus_row("not/a/chexpert/path.jpg", "patient00009", "1"),
        ],
    )
    write_csv(
        tmp_path / "chexpert_demo.csv",
        ["PATIENT", "GENDER", "AGE_AT_CXR", "PRIMARY_RACE", "ETHNICITY"],
        [["patient00001", "Female", "68", "White", "Non-Hispanic/Non-Latino"]],
    )

    # When the root holding both is read
    items = list(read_manifest("chexpert", tmp_path))

    # Then the Plus row problem comes first, then records carry the study report and demographics
    assert items[0] == RowError(
        "df_chexpert_plus_240401.csv:4", "path_to_image 'not/a/chexpert/path.jpg' is not in the CheXpert layout"
    )
    first, second, third = items[1], items[2], items[3]
    assert first.report_text == (
        "CLINICAL HISTORY: Shortness of breath.\n\n"
        "FINDINGS: Lines and tubes unchanged.\n\n"
        "IMPRESSION: No acute process."
    )
    assert first.extra == {
        "source_file": "train.csv",
        "Frontal/Lateral": "Frontal",
        "AP/PA": "AP",
        "report_sections": {
            "clinical_history": "Shortness of breath.",
            "findings": "Lines and tubes unchanged.",
            "impression": "No acute process.",
        },
        "deid_patient_id": "patient00001",
        "race": "White",
        "ethnicity": "Non-Hispanic/Non-Latino",
        "recent_bmi": "24.1",
        "GENDER": "Female",
        "AGE_AT_CXR": "68",
        "PRIMARY_RACE": "White",
        "ETHNICITY": "Non-Hispanic/Non-Latino",
    }
    assert second.report_text == "NARRATIVE: CHEST 1 VIEW. IMPRESSION: Cardiomegaly."
    assert third.report_text == "NARRATIVE: CHEST 1 VIEW. IMPRESSION: Cardiomegaly."
    assert second.extra["report_sections"] == {"impression": "Cardiomegaly."}


def test_a_label_column_missing_is_a_manifest_error(tmp_path):
    # Given a train.csv without the Fracture and Support Devices columns
    write_csv(tmp_path / "train.csv", HEADER[:-2], [])

    # When it is read, then both are named
    with pytest.raises(ManifestError, match=r"^train.csv is missing required columns 'Fracture', 'Support Devices'"):
        read_manifest("chexpert", tmp_path)
