"""Pixel limits in the DICOM core: a header claiming 30000² is refused before decoding, PNG bombs are
per-file errors, and header text loses its control characters."""

import io

import numpy as np
import pydicom
import pytest

from curation.dicomio import DicomError, decode_pixels, read_header, render_all, render_image_file
from curation.dicomio.render import encode_png
from tests.bad_inputs import claim_size, huge_png

LIMIT = 100_000_000


def test_header_claiming_30000_squared_is_refused_with_the_size(write, tmp_path):
    # Given a DICOM file whose header claims 30000x30000 over a few kilobytes of pixel data
    path = claim_size(write(), tmp_path / "huge.dcm", 30000, 30000)
    # Then indexing without a limit reads it, and with the limit refuses it with the size in the reason
    assert (read_header(path).rows, read_header(path).columns) == (30000, 30000)
    with pytest.raises(DicomError) as caught:
        read_header(path, max_pixels=LIMIT)
    assert caught.value.reason == "image is 30000x30000 (900 megapixels), over the limit of 100 megapixels"
    # And decoding and rendering refuse it from the header too
    for call in (decode_pixels, render_all):
        with pytest.raises(DicomError, match="over the limit of 100 megapixels"):
            call(path, max_pixels=LIMIT)


def test_frames_count_toward_the_pixel_limit(write, tmp_path):
    # Given 4000x4000 frames: one is 16 MP, ten are 160 MP
    one = claim_size(write(), tmp_path / "one.dcm", 4000, 4000, frames=1)
    ten = claim_size(write(), tmp_path / "ten.dcm", 4000, 4000, frames=10)
    assert read_header(one, max_pixels=LIMIT).rows == 4000
    with pytest.raises(DicomError) as caught:
        read_header(ten, max_pixels=LIMIT)
    assert caught.value.reason == "image is 4000x4000x10 frames (160 megapixels), over the limit of 100 megapixels"


def test_file_within_the_limit_renders(write):
    rendering = render_all(write(), max_pixels=64 * 48)
    assert (rendering.rows, rendering.cols) == (64, 48)


def test_png_over_the_limit_is_refused_from_its_header(tmp_path):
    # Given a 20000² PNG (a couple of megabytes of zeros, 400 MB decoded; Pillow calls it a bomb)
    data = huge_png(tmp_path / "bomb.png", 20000, 20000).read_bytes()
    # Then rendering it is a per-file error naming its size
    with pytest.raises(DicomError) as caught:
        render_image_file(io.BytesIO(data), max_pixels=LIMIT)
    assert caught.value.reason == "image is 20000x20000 (400 megapixels), over the limit of 100 megapixels"
    # And without our limit Pillow's own refusal is still a per-file error, not a crash
    with pytest.raises(DicomError, match="decompression bomb"):
        render_image_file(io.BytesIO(data))


def test_png_within_the_limit_renders_and_a_smaller_limit_refuses_it():
    data = encode_png(np.full((20, 30), 90, dtype=np.uint8))
    assert render_image_file(io.BytesIO(data), max_pixels=600).rows == 20
    with pytest.raises(DicomError) as caught:
        render_image_file(io.BytesIO(data), max_pixels=599)
    assert caught.value.reason == "image is 30x20 (600 pixels), over the limit of 599 pixels"


def test_header_text_loses_control_characters(write, tmp_path):
    # Given a file whose patient id and accession carry a NUL and a bell in the middle
    ds = pydicom.dcmread(write())
    ds.PatientID = "AB\x00CD"
    ds.AccessionNumber = "ACC\x07123"
    path = tmp_path / "controls.dcm"
    ds.save_as(path, enforce_file_format=True)
    # Then the index reads them without the control characters
    header = read_header(path)
    assert (header.patient_id, header.accession_number) == ("ABCD", "ACC123")
