"""Boxes burned into DICOM pixel data (every transfer syntax the demo writes, both photometric senses, a
negative rescale slope, a real JPEG 2000 film) and the box checks."""

import io

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage

from curation.dicomio import DicomError, render_all
from curation.dicomio.redact_pixels import BoxError, clean_boxes, redact_dicom
from tests.curation.dicomio.conftest import cr_path, ramp

BOX = [4, 6, 30, 20]  # x0, y0, x1, y1


def _decode(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


@pytest.mark.parametrize("syntax", ["explicit", "implicit", "rle", "jpeg2000"])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_the_box_takes_the_value_shown_as_black_and_the_rest_is_kept(syntax, photometric, write):
    # Given a ramp image in a given encoding and photometric sense
    path = write(transfer_syntax=syntax, photometric=photometric)
    before = pydicom.dcmread(path).pixel_array
    # When a box is burned in
    out = redact_dicom(path.read_bytes(), [BOX])
    # Then the box holds the stored value the display shows black, and every other pixel is unchanged
    ds = _decode(out)
    after = ds.pixel_array
    black = before.max() if photometric == "MONOCHROME1" else before.min()
    assert np.unique(after[6:20, 4:30]).tolist() == [black]
    outside = np.ones(before.shape, dtype=bool)
    outside[6:20, 4:30] = False
    assert np.array_equal(after[outside], before[outside])
    # And the file is uncompressed Explicit VR Little Endian with its UID and photometric sense kept
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.SOPInstanceUID, ds.PhotometricInterpretation, ds.BurnedInAnnotation) == ("2.25.2222", photometric, "NO")
    # And the display rendering is black in the box
    display = np.asarray(PILImage.open(io.BytesIO(render_all(io.BytesIO(out)).display_png)))
    assert np.unique(display[6:20, 4:30]).tolist() == [0]


def test_a_negative_rescale_slope_turns_black_into_the_highest_stored_value(write):
    path = write(rescale=(-1.0, 4095.0))
    before = pydicom.dcmread(path).pixel_array
    ds = _decode(redact_dicom(path.read_bytes(), [BOX]))
    assert np.unique(ds.pixel_array[6:20, 4:30]).tolist() == [before.max()]


def test_a_real_jpeg2000_film_is_redacted_and_written_uncompressed():
    data = cr_path("RG1_J2KR.dcm").read_bytes()
    before = pydicom.dcmread(io.BytesIO(data)).pixel_array
    ds = _decode(redact_dicom(data, [[0, 0, 300, 100]]))
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert len(np.unique(ds.pixel_array[0:100, 0:300])) == 1
    assert np.array_equal(ds.pixel_array[100:], before[100:])


def test_the_clean_pixel_data_option_is_recorded_once(write):
    path = write()
    twice = redact_dicom(redact_dicom(path.read_bytes(), [BOX]), [BOX])
    ds = _decode(twice)
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes.count("113101") == 1
    assert ds.DeidentificationMethod == "burned-in text redacted"


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(write):
    path = write(pixels=ramp(64, 48))
    with pytest.raises(DicomError, match="over the limit"):
        redact_dicom(path.read_bytes(), [BOX], max_pixels=1000)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([[1, 2, 3, 4]], [[1, 2, 3, 4]]),
        ([[30, 20, 4, 6]], [[4, 6, 30, 20]]),
        ([[-5, -5, 500, 10]], [[0, 0, 48, 10]]),
        (((0, 0, 1, 1),), [[0, 0, 1, 1]]),
    ],
)
def test_boxes_are_ordered_and_clipped(raw, expected):
    assert clean_boxes(raw, rows=64, cols=48) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "at least one box"),
        (None, "at least one box"),
        ([[0, 0, 1]], "four whole numbers"),
        ([[0, 0, 1.0, 1]], "four whole numbers"),
        ([[False, 0, 1, 1]], "four whole numbers"),
        ([[0, 0, 0, 9]], "covers no pixel"),
        ([[48, 0, 60, 9]], "covers no pixel"),
        ([[0, 0, 1, 1]] * 51, "At most 50"),
    ],
)
def test_bad_boxes_are_refused(raw, message):
    with pytest.raises(BoxError, match=message):
        clean_boxes(raw, rows=64, cols=48)
