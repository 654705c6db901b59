"""Generic CSV reader with a column mapping, and the encoding fallback every reader shares."""

import datetime

import pytest

from curation.manifests import ImageRecord, ManifestError, RowError, read_manifest

from .helpers import write_image

MAPPING = {
    "patient_key": "pid",
    "study_key": "acc",
    "path": "file",
    "study_date": "date",
    "view_position": "view",
    "sex": "sex",
    "age_years": "age",
    "report_text": "report",
    "label_prefix": "label_",
    "date_format": "%d/%m/%Y",
    "extra": ["site"],
}


def test_reads_a_cp1252_csv_with_a_mapping(tmp_path):
    # Given a CSV saved by Excel on Windows (cp1252, 'é'), comma-separated, with a label prefix
    rows = (
        "pid,acc,file,date,view,sex,age,report,label_Effusion,label_Cardiomegaly,site\n"
        "P1,A1,img/p1.png,05/03/2021,PA,F,71,Épanchement pleural droit.,1,0,Hôpital Nord\n"
        "P2,A2,img/p2.png,31/02/2021,AP,male,abc,,uncertain,,Hôpital Nord\n"
        "P3,A3,../outside.png,05/03/2021,PA,F,50,,0,0,Hôpital Nord\n"
        "P4,A4,img/p4.png,05/03/2021,PA,F,50,,maybe,0,Hôpital Nord\n"
    )
    (tmp_path / "manifest.csv").write_bytes(rows.encode("cp1252"))
    write_image(tmp_path / "img" / "p1.png")

    # When it is read
    items = list(read_manifest("csv", tmp_path, mapping={**MAPPING}))

    # Then the text is decoded, bad optional values are warnings, bad paths and labels reject the row
    assert items == [
        ImageRecord(
            dataset="csv",
            row=1,
            patient_key="P1",
            study_key="A1",
            image_key="img/p1.png",
            path="img/p1.png",
            file_exists=True,
            study_date=datetime.date(2021, 3, 5),
            view_position="PA",
            sex="F",
            age_years=71,
            report_text="Épanchement pleural droit.",
            source_labels={"Effusion": 1, "Cardiomegaly": 0},
            extra={"site": "Hôpital Nord"},
        ),
        ImageRecord(
            dataset="csv",
            row=2,
            patient_key="P2",
            study_key="A2",
            image_key="img/p2.png",
            path="img/p2.png",
            file_exists=False,
            study_date=None,
            view_position="AP",
            sex="M",
            age_years=None,
            report_text=None,
            source_labels={"Effusion": -1, "Cardiomegaly": None},
            extra={"site": "Hôpital Nord"},
        ),
        RowError("manifest.csv:2", "missing image file img/p2.png"),
        RowError("manifest.csv:2", "date '31/02/2021' does not match %d/%m/%Y"),
        RowError("manifest.csv:2", "age 'abc' is not a number"),
        RowError("manifest.csv:3", "path '../outside.png' is absolute or leaves the manifest's folder"),
        RowError("manifest.csv:4", "label 'Effusion' value 'maybe' is not 1, 0, -1 or blank"),
    ]


def test_utf8_with_bom_and_utf16_headers_are_found(tmp_path):
    # Given the same CSV as UTF-8 with BOM and as Excel's UTF-16 "Unicode text"
    text = "pid,acc,file\nP1,A1,p1.png\n"
    for encoding in ("utf-8-sig", "utf-16"):
        (tmp_path / "m.csv").write_bytes(text.encode(encoding))

        # When it is read
        items = list(
            read_manifest(
                "csv", tmp_path, check_files=False, mapping={"patient_key": "pid", "study_key": "acc", "path": "file"}
            )
        )

        # Then the first column is 'pid', not '\ufeffpid'
        assert [(i.patient_key, i.study_key, i.path, i.file_exists) for i in items] == [("P1", "A1", "p1.png", None)]


def test_a_mapped_column_missing_is_a_manifest_error(tmp_path):
    (tmp_path / "m.csv").write_text("pid,file\nP1,p1.png\n")

    with pytest.raises(ManifestError) as error:
        read_manifest("csv", tmp_path, mapping={"patient_key": "pid", "study_key": "accession", "path": "file"})
    assert str(error.value) == "m.csv is missing required columns 'accession' (its header has 2 columns)"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (None, "the generic CSV reader needs a column mapping"),
        ({"patient_key": "pid"}, "the mapping must name columns for study_key, path or image_key"),
        ({"patient_key": "pid", "study_key": "a", "path": "f", "colour": "c"}, "unknown mapping keys 'colour'"),
    ],
)
def test_an_incomplete_mapping_is_a_manifest_error(tmp_path, mapping, message):
    (tmp_path / "m.csv").write_text("pid,file\nP1,p1.png\n")

    with pytest.raises(ManifestError) as error:
        read_manifest("csv", tmp_path, mapping=mapping)
    assert str(error.value) == message


@pytest.fixture
def default_csv_field_limit():
    """csv.field_size_limit is process-wide and other modules raise it; pin csv's default here."""
    import csv

    previous = csv.field_size_limit(131072)
    yield
    csv.field_size_limit(previous)


def test_a_broken_quote_is_a_row_error_and_later_rows_are_read(tmp_path, default_csv_field_limit):
    # Given a row whose quoted field runs past the csv module's field limit
    huge = "x" * 200_000
    (tmp_path / "m.csv").write_text(f'pid,acc,file\nP1,A1,"{huge}\nP2,A2,p2.png\n')

    # When it is read
    items = list(
        read_manifest(
            "csv", tmp_path, check_files=False, mapping={"patient_key": "pid", "study_key": "acc", "path": "file"}
        )
    )

    # Then the bad row is an error and reading goes on
    assert items[0] == RowError("m.csv:1", "unreadable CSV row (field larger than field limit (131072))")
    assert [(i.row, i.patient_key, i.path) for i in items[1:]] == [(2, "P2", "p2.png")]
