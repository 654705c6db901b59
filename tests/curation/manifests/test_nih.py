"""NIH ChestX-ray14 reader: Data_Entry_2017.csv with images_NNN/images/ folders."""

import pytest

from curation.manifests import ImageRecord, ManifestError, RowError, detect_source, read_manifest
from curation.manifests.nih import LABELS

from .helpers import write_image

# The real 2017 header is unquoted, so the bracketed names split into two columns, and every row ends in ','.
HEADER_2017 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n"
)


def labels(*positive):
    return {name: int(name in positive) for name in LABELS}


def nih_2017(root):
    (root / "Data_Entry_2017.csv").write_text(
        HEADER_2017
        + "00000001_000.png,Cardiomegaly,0,1,058Y,M,PA,2682,2749,0.143,0.143,\n"
        + "00000001_001.png,Cardiomegaly|Emphysema,1,1,058Y,M,PA,2894,2729,0.143,0.143,\n"
        + "00000002_000.png,No Finding,0,2,081Y,F,AP,2500,2048,0.171,0.171,\n"
        + "00000003_000.png,Hernia|Bogus,0,3,081Y,F,PA,2582,2991,0.143,0.143,\n"
        + "00000004_000.png,Effusion,0,4,abcY,F,PA,2500,2048,0.168,0.168,\n"
        + "00000005_000.png,Mass\n",
        encoding="utf-8",
    )
    write_image(root / "images_001" / "images" / "00000001_000.png")
    write_image(root / "images_001" / "images" / "00000001_001.png")
    write_image(root / "images_002" / "images" / "00000004_000.png")
    write_image(root / "images_002" / "images" / "00000003_000.png")


def test_reads_the_2017_manifest_with_image_folders_missing_files_and_bad_rows(tmp_path):
    # Given the 2017 manifest, two image folders, a missing image, an unknown label, a bad age, a short row
    nih_2017(tmp_path)

    # When it is read
    items = list(read_manifest("nih", tmp_path))

    # Then every good row is a record, the missing image and bad age are warnings after their record
    def record(row, patient, follow_up, image, path, exists, view, sex, age, positive, size, spacing):
        return ImageRecord(
            dataset="nih",
            row=row,
            patient_key=patient,
            study_key=f"{patient}_{follow_up:03d}",
            image_key=image,
            path=path,
            file_exists=exists,
            study_date=None,
            view_position=view,
            sex=sex,
            age_years=age,
            report_text=None,
            source_labels=labels(*positive),
            extra={
                "Follow-up #": follow_up,
                "OriginalImage[Width,Height]": size,
                "OriginalImagePixelSpacing[x,y]": spacing,
            },
        )

    assert items == [
        record(
            1,
            "00000001",
            0,
            "00000001_000.png",
            "images_001/images/00000001_000.png",
            True,
            "PA",
            "M",
            58,
            ["Cardiomegaly"],
            (2682, 2749),
            (0.143, 0.143),
        ),
        record(
            2,
            "00000001",
            1,
            "00000001_001.png",
            "images_001/images/00000001_001.png",
            True,
            "PA",
            "M",
            58,
            ["Cardiomegaly", "Emphysema"],
            (2894, 2729),
            (0.143, 0.143),
        ),
        record(
            3,
            "00000002",
            0,
            "00000002_000.png",
            None,
            False,
            "AP",
            "F",
            81,
            ["No Finding"],
            (2500, 2048),
            (0.171, 0.171),
        ),
        RowError("Data_Entry_2017.csv:3", "missing image file 00000002_000.png (not under images*/)"),
        RowError("Data_Entry_2017.csv:4", "unknown finding label 'Bogus' in 'Finding Labels'"),
        record(
            5,
            "00000004",
            0,
            "00000004_000.png",
            "images_002/images/00000004_000.png",
            True,
            "PA",
            "F",
            None,
            ["Effusion"],
            (2500, 2048),
            (0.168, 0.168),
        ),
        RowError("Data_Entry_2017.csv:5", "age 'abcY' is not a number"),
        RowError("Data_Entry_2017.csv:6", "row has 2 fields, expected at least 11"),
    ]


def test_reads_the_v2020_manifest_with_integer_ages_and_a_flat_images_folder(tmp_path):
    # Given the 2020 file: no trailing comma, integer ages, all images in images/
    (tmp_path / "Data_Entry_2017_v2020.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
        "00000013_005.png,Emphysema|Infiltration|Pleural_Thickening|Pneumothorax,5,13,60,M,AP,3056,2544,0.139,0.139\n"
        "00000013_006.png,Effusion,6,13,413,M,AP,3056,2544,0.139,0.139\n",
        encoding="utf-8",
    )
    write_image(tmp_path / "images" / "00000013_005.png")
    write_image(tmp_path / "images" / "00000013_006.png")

    # When it is read
    items = list(read_manifest("nih", tmp_path))

    # Then ages are read as integers, and an impossible age is a warning with the age left empty
    first, second, warning = items
    assert (first.study_key, first.path, first.age_years) == ("00000013_005", "images/00000013_005.png", 60)
    assert first.source_labels == labels("Emphysema", "Infiltration", "Pleural_Thickening", "Pneumothorax")
    assert (second.study_key, second.age_years, second.file_exists) == ("00000013_006", None, True)
    assert warning == RowError("Data_Entry_2017_v2020.csv:2", "age '413' is out of range (0-130)")


def test_without_file_checks_there_is_no_path(tmp_path):
    # Given the manifest
    nih_2017(tmp_path)

    # When read without checking files
    records = [i for i in read_manifest("nih", tmp_path, check_files=False) if isinstance(i, ImageRecord)]

    # Then the manifest has no folder, so path and file_exists are unknown
    assert [(r.image_key, r.path, r.file_exists) for r in records] == [
        ("00000001_000.png", None, None),
        ("00000001_001.png", None, None),
        ("00000002_000.png", None, None),
        ("00000004_000.png", None, None),
    ]


def test_missing_columns_raise_a_manifest_error_naming_them(tmp_path):
    # Given a manifest without Patient ID and View Position
    (tmp_path / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient Age,Patient Gender\n00000001_000.png,Mass,0,58,M\n"
    )

    # When it is read, then the error names the missing columns and counts those found (the header is file
    # content, which job messages never quote)
    with pytest.raises(ManifestError) as error:
        read_manifest("nih", tmp_path)
    assert str(error.value) == (
        "Data_Entry_2017.csv is missing required columns 'Patient ID', 'View Position' (its header has 5 columns)"
    )


def test_detects_nih_and_reports_an_absent_manifest(tmp_path):
    # Given an empty folder and then an NIH folder
    with pytest.raises(ManifestError, match="no Data_Entry_2017.csv in"):
        read_manifest("nih", tmp_path)
    assert detect_source(tmp_path) is None

    nih_2017(tmp_path)

    assert detect_source(tmp_path) == "nih"


def test_an_empty_file_and_an_unknown_source_are_manifest_errors(tmp_path):
    (tmp_path / "Data_Entry_2017.csv").write_bytes(b"")

    with pytest.raises(ManifestError, match=r"^Data_Entry_2017.csv: the file is empty \(no header row\)$"):
        read_manifest("nih", tmp_path)
    with pytest.raises(ManifestError, match="^unknown source 'vindr'; known sources: nih, chexpert, mimic, openi"):
        read_manifest("vindr", tmp_path)
