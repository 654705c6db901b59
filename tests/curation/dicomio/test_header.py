"""read_header: fields of generated and real CR files, pixel-data presence, and per-item errors."""

import datetime as dt
import io

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from curation.dicomio import DicomError, DicomHeader, read_header
from curation.dicomio.errors import check_size, human_size
from tests.curation.dicomio.conftest import CR_FILES, cr_path, generated_images

NOT_DICOM = "not a DICOM file (no DICM preamble and no valid header)"


def test_header_of_a_controlled_file(write):
    # Given a DX file written with known attributes
    path = write(view="PA", photometric="MONOCHROME1", bits_stored=14, burned_in_annotation=True)

    # When its header is read
    header = read_header(path)

    # Then every field is the written value
    assert header == DicomHeader(
        sop_instance_uid="2.25.2222",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1",
        study_instance_uid="2.25.1111",
        series_instance_uid="2.25.3333",
        patient_id="12345678",
        patient_name="DOE^JANE^Q",
        patient_birth_date=dt.date(1950, 3, 10),
        patient_sex="F",
        patient_age_years=71,
        study_date=dt.date(2021, 3, 14),
        study_time="101500",
        accession_number="2103001123",
        modality="DX",
        view_position="PA",
        body_part="CHEST",
        rows=64,
        columns=48,
        pixel_spacing=(6.7188, 6.7188),
        photometric="MONOCHROME1",
        bits_stored=14,
        bits_allocated=16,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        series_number=1,
        instance_number=1,
        burned_in_annotation=True,
        has_pixel_data=True,
        institution_name="Springfield General Hospital",
        referring_physician="SMITH^JOHN^^DR",
    )


def test_header_of_every_generated_file(generated):
    # Given the generated dataset and its truth
    folder, truth = generated

    for image in generated_images(truth):
        # When each file's header is read
        header = read_header(folder / image["path"])

        # Then the identifying and image attributes match the truth
        patient = truth["patients"][image["patient_key"]]
        assert header.sop_instance_uid == image["sop_instance_uid"]
        assert header.series_instance_uid == image["series_instance_uid"]
        assert header.study_instance_uid == image["study_uid"]
        assert header.patient_id == patient["patient_id"]
        assert header.patient_name == patient["patient_name"]
        assert header.study_date == dt.date.fromisoformat(image["study_date"])
        assert (header.rows, header.columns) == (image["rows"], image["cols"])
        assert header.photometric == image["photometric"]
        assert header.bits_stored == image["bits_stored"]
        assert header.transfer_syntax_uid == image["transfer_syntax_uid"]
        assert header.view_position == {"PA": "PA", "AP": "AP", "LL": "LAT"}[image["view"]]
        assert header.burned_in_annotation is image["burned_in_annotation"]
        assert header.has_pixel_data is True


@pytest.mark.parametrize("name", sorted(CR_FILES))
def test_header_of_the_real_cr_films(name):
    # Given one of pydicom-data's computed radiographs
    sop_uid, rows, cols = CR_FILES[name]

    # When its header is read
    header = read_header(cr_path(name))

    # Then the instance, size and photometric interpretation are the file's
    assert header.sop_instance_uid == sop_uid
    assert (header.rows, header.columns) == (rows, cols)
    assert header.photometric == "MONOCHROME1"
    assert header.modality == "CR"
    assert header.has_pixel_data is True
    assert header.view_position == ("PA" if name.startswith("RG1") else "AP")


def test_real_cr_header_details():
    # Given the uncompressed chest film RG1
    # When its header is read
    header = read_header(cr_path("RG1_UNCR.dcm"))

    # Then dates, age, body part and the zero pixel spacing (treated as absent) come out normalised
    assert header.patient_birth_date == dt.date(1940, 3, 5)
    assert header.study_date == dt.date(2004, 8, 26)
    assert header.patient_age_years == 64
    assert header.patient_sex == "F"
    assert header.body_part == "CHEST"
    assert header.pixel_spacing is None
    assert header.bits_stored == 15
    assert header.study_instance_uid == "1.3.6.1.4.1.5962.1.2.9.20040826185059.5457"


def test_header_from_a_binary_stream(write):
    # Given a file opened by the caller
    path = write()
    with path.open("rb") as stream:
        # When the header is read from the stream
        header = read_header(stream)

        # Then it is read and the caller's stream stays open
        assert header.sop_instance_uid == "2.25.2222"
        assert stream.closed is False


@pytest.mark.parametrize(
    ("age", "expected"), [("067Y", 67), ("006M", 0), ("018M", 1), ("104W", 2), ("400D", 1), ("", 71)]
)
def test_age_from_patient_age_or_dates(write, age, expected):
    # Given a file whose PatientAge is in years, months, weeks, days or absent (birth 1950-03-10, study 2021-03-14)
    path = write(meta={"patient_age": age})

    # When the header is read
    # Then the age is whole years
    assert read_header(path).patient_age_years == expected


@pytest.mark.parametrize(
    ("view", "series", "expected"),
    [
        ("LL", None, "LAT"),
        ("RL", None, "LAT"),
        ("LATERAL", None, "LAT"),
        ("AP", None, "AP"),
        ("", "CHEST PA", "PA"),
        ("", "PORTABLE CHEST", "AP"),
        ("", "CHEST LATERAL", "LAT"),
        ("", "CHEST", ""),
    ],
)
def test_view_position_normalised(write, tmp_path, view, series, expected):
    # Given a file with a ViewPosition and a series description
    path = write()
    ds = pydicom.dcmread(path)
    ds.ViewPosition = view
    ds.SeriesDescription = series or ""
    ds.save_as(path)

    # When the header is read
    # Then the view is one of PA / AP / LAT / ''
    assert read_header(path).view_position == expected


def test_view_from_view_code_sequence(write):
    # Given a file with an empty ViewPosition but a ViewCodeSequence saying left lateral
    path = write()
    ds = pydicom.dcmread(path)
    ds.ViewPosition = ""
    ds.SeriesDescription = ""
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "R-10236", "SRT", "left lateral"
    ds.ViewCodeSequence = Sequence([code])
    ds.save_as(path)

    # When the header is read
    # Then the view comes from the code
    assert read_header(path).view_position == "LAT"


def test_pixel_spacing_falls_back_to_imager_pixel_spacing(write):
    # Given a file with ImagerPixelSpacing only
    path = write(with_pixel_spacing=False)

    # When the header is read
    # Then the imager spacing is used
    assert read_header(path).pixel_spacing == (6.7188, 6.7188)


def test_file_without_pixel_data_is_indexed_with_the_flag_off(write):
    # Given a file whose pixel data was deleted
    path = write()
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)

    # When its header is read
    header = read_header(path)

    # Then it is indexed, with has_pixel_data False
    assert header.sop_instance_uid == "2.25.2222"
    assert header.has_pixel_data is False


def test_non_dicom_file(tmp_path):
    # Given a text file
    path = tmp_path / "notes.dcm"
    path.write_text("Patient seen in clinic. Chest film attached.\n" * 20)

    # When its header is read
    with pytest.raises(DicomError) as caught:
        read_header(path)

    # Then the reason says it is not DICOM
    assert caught.value.reason == NOT_DICOM


def test_png_is_not_dicom(tmp_path):
    # Given a PNG file named .dcm
    from PIL import Image

    path = tmp_path / "image.dcm"
    Image.new("L", (32, 32)).save(path, format="PNG")

    # When its header is read
    with pytest.raises(DicomError) as caught:
        read_header(path)

    # Then it is refused as not DICOM
    assert caught.value.reason == NOT_DICOM


def test_dicom_without_preamble_is_still_read():
    # Given an ACR-NEMA style file without the DICM preamble (pydicom's OT-PAL-8-face)
    # When its header is read
    header = read_header(cr_path("OT-PAL-8-face.dcm"))

    # Then its attributes are there
    assert header.sop_instance_uid == "1.2.999999.9.1.6.2"
    assert (header.rows, header.columns) == (480, 640)


@pytest.mark.parametrize("keep", [100, 400, 2000, -7])
def test_truncated_uncompressed_file(write, keep):
    # Given a file cut inside the file meta, inside the header or inside the pixel data
    data = write().read_bytes()

    # When the header of the cut bytes is read
    with pytest.raises(DicomError) as caught:
        read_header(io.BytesIO(data[:keep]))

    # Then the reason is a truncated file (100 bytes: no DICM marker left, so not DICOM)
    assert caught.value.reason == (NOT_DICOM if keep == 100 else "truncated file")


def test_truncated_jpeg2000_file(write):
    # Given a JPEG 2000 file missing its last 50 bytes (encapsulated pixel data, undefined length)
    data = write(transfer_syntax="jpeg2000").read_bytes()

    # When its header is read
    with pytest.raises(DicomError) as caught:
        read_header(io.BytesIO(data[:-50]))

    # Then the fragment walk finds the truncation
    assert caught.value.reason == "truncated file"


def test_pydicom_truncated_jpeg2000_sample():
    # Given pydicom's deliberately short JPEG 2000 file
    # When its header is read
    with pytest.raises(DicomError) as caught:
        read_header(cr_path("emri_small_jpeg_2k_lossless_too_short.dcm"))

    # Then it is reported as truncated
    assert caught.value.reason == "truncated file"


def test_empty_and_missing_files(tmp_path):
    # Given an empty file and a path with no file
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")

    # When their headers are read
    # Then each gets its own reason
    with pytest.raises(DicomError) as caught:
        read_header(empty)
    assert caught.value.reason == "empty file"
    with pytest.raises(DicomError) as caught:
        read_header(tmp_path / "missing.dcm")
    assert caught.value.reason == "file not found"


def test_size_limit(write):
    # Given a file larger than the limit
    path = write()
    size = path.stat().st_size

    # When its header is read with max_bytes
    with pytest.raises(DicomError) as caught:
        read_header(path, max_bytes=1024)

    # Then the reason gives both sizes
    assert caught.value.reason == f"file is {human_size(size)}, over the 1 KB limit"
    assert read_header(path, max_bytes=size).sop_instance_uid == "2.25.2222"


def test_size_reason_wording():
    # Given a 600 MB file and a 512 MB limit
    # When the size is checked
    with pytest.raises(DicomError) as caught:
        check_size(600 * 2**20, 512 * 2**20)

    # Then the reason reads as curators expect
    assert caught.value.reason == "file is 600 MB, over the 512 MB limit"
    assert human_size(1536) == "1.5 KB"
    assert human_size(12) == "12 bytes"
