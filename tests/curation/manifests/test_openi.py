"""Open-i reader: indiana_reports.csv + indiana_projections.csv, images in images/images_normalized/."""

from curation.manifests import ImageRecord, RowError, detect_source, read_manifest

from .helpers import write_csv, write_image

REPORT_HEADER = ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"]


def openi(root):
    write_csv(
        root / "indiana_reports.csv",
        REPORT_HEADER,
        [
            ["1", "normal", "normal", "Xray Chest PA and Lateral", "Positive TB test", "None.",
             "The cardiac silhouette and mediastinum size are within normal limits.", "Normal chest x-XXXX."],
            ["2", "Cardiomegaly/borderline;Pulmonary Artery/enlarged", "Cardiomegaly;Pulmonary Artery",
             "Chest, 2 views, frontal and lateral", "Preop bariatric surgery.", "None.",
             "Borderline cardiomegaly.", "No acute pulmonary findings."],
        ],
    )  # fmt: skip
    write_csv(
        root / "indiana_projections.csv",
        ["uid", "filename", "projection"],
        [
            ["1", "1_IM-0001-4001.dcm.png", "Frontal"],
            ["1", "1_IM-0001-3001.dcm.png", "Lateral"],
            ["2", "2_IM-0652-1001.dcm.png", "Frontal"],
            ["3", "3_IM-1384-1001.dcm.png", "Frontal"],
            ["4", "../4_IM-2000-1001.dcm.png", "Frontal"],
        ],
    )
    for name in ("1_IM-0001-4001.dcm.png", "1_IM-0001-3001.dcm.png", "3_IM-1384-1001.dcm.png"):
        write_image(root / "images" / "images_normalized" / name)


def test_reads_projections_with_assembled_reports_and_problem_terms(tmp_path):
    # Given the Kaggle layout with a missing image, a uid without report and a path-like filename
    openi(tmp_path)

    # When it is read
    items = list(read_manifest("openi", tmp_path))

    # Then reports are sectioned, Problems are the labels, and 'PA' is taken from the report's title
    report_1 = (
        "INDICATION: Positive TB test\n\nCOMPARISON: None.\n\n"
        "FINDINGS: The cardiac silhouette and mediastinum size are within normal limits.\n\n"
        "IMPRESSION: Normal chest x-XXXX."
    )
    extra_1 = {
        "projection": "Frontal",
        "MeSH": "normal",
        "Problems": "normal",
        "image": "Xray Chest PA and Lateral",
        "report_sections": {
            "indication": "Positive TB test",
            "comparison": "None.",
            "findings": "The cardiac silhouette and mediastinum size are within normal limits.",
            "impression": "Normal chest x-XXXX.",
        },
    }

    def record(row, uid, filename, exists, view, report, labels, extra):
        return ImageRecord(
            dataset="openi",
            row=row,
            patient_key=uid,
            study_key=uid,
            image_key=filename,
            path=f"images/images_normalized/{filename}",
            file_exists=exists,
            study_date=None,
            view_position=view,
            sex="",
            age_years=None,
            report_text=report,
            source_labels=labels,
            extra=extra,
        )

    assert items == [
        record(1, "1", "1_IM-0001-4001.dcm.png", True, "PA", report_1, {"normal": 1}, extra_1),
        record(
            2, "1", "1_IM-0001-3001.dcm.png", True, "LAT", report_1, {"normal": 1}, {**extra_1, "projection": "Lateral"}
        ),
        record(
            3,
            "2",
            "2_IM-0652-1001.dcm.png",
            False,
            "",
            "INDICATION: Preop bariatric surgery.\n\nCOMPARISON: None.\n\nFINDINGS: Borderline cardiomegaly.\n\n"
            "IMPRESSION: No acute pulmonary findings.",
            {"Cardiomegaly": 1, "Pulmonary Artery": 1},
            {
                "projection": "Frontal",
                "MeSH": "Cardiomegaly/borderline;Pulmonary Artery/enlarged",
                "Problems": "Cardiomegaly;Pulmonary Artery",
                "image": "Chest, 2 views, frontal and lateral",
                "report_sections": {
                    "indication": "Preop bariatric surgery.",
                    "comparison": "None.",
                    "findings": "Borderline cardiomegaly.",
                    "impression": "No acute pulmonary findings.",
                },
            },
        ),
        RowError("indiana_projections.csv:3", "missing image file images/images_normalized/2_IM-0652-1001.dcm.png"),
        record(4, "3", "3_IM-1384-1001.dcm.png", True, "", None, {}, {"projection": "Frontal"}),
        RowError("indiana_projections.csv:4", "uid '3' has no row in indiana_reports.csv"),
        RowError(
            "indiana_projections.csv:5",
            "uid '4' or filename '../4_IM-2000-1001.dcm.png' is empty or not a plain file name",
        ),
    ]
    assert detect_source(tmp_path) == "openi"
