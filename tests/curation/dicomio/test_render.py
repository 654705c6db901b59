"""Decoding and the display pipeline: modality LUT -> VOI -> MONOCHROME1 inversion last; 16-bit and PNG output."""

import hashlib
import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_voi, apply_windowing

from curation.dicomio import (
    DicomError,
    decode_pixels,
    encode_png,
    make_thumbnail,
    modality_lut,
    render_16bit,
    render_all,
    render_display,
    render_image_file,
    voi_window,
)
from curation.dicomio.render import PERCENTILE_HIGH, PERCENTILE_LOW
from tests.curation.dicomio.conftest import cr_path, ramp


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_monochrome1_and_its_monochrome2_twin_render_alike(write):
    # Given the same chest written as MONOCHROME1 and MONOCHROME2 without window tags
    pixels = ramp(bits=12)
    ds1, arr1 = decode_pixels(write("m1.dcm", pixels, photometric="MONOCHROME1"))
    ds2, arr2 = decode_pixels(write("m2.dcm", pixels, photometric="MONOCHROME2"))

    # When both are rendered for display
    display1, display2 = render_display(ds1, arr1), render_display(ds2, arr2)

    # Then the images agree within one grey level, bright = dense in both
    assert np.abs(display1.astype(int) - display2.astype(int)).max() <= 1
    assert display1[0, 0] == 0
    assert display1[-1, -1] == 255


def test_inversion_comes_after_the_window(write):
    # Given a MONOCHROME1 film whose window tags (in stored-value space) cover only the low stored values
    pixels = ramp(bits=12)
    path = write(pixels=pixels, photometric="MONOCHROME1", window=(1000, 1000))
    ds, stored = decode_pixels(path)

    # When it is rendered
    display = render_display(ds, stored)

    # Then it equals windowing the stored values (LINEAR, PS3.3) and inverting the result
    x = stored.astype(np.float64)
    windowed = np.clip((x - 999.5) / 999 + 0.5, 0, 1)
    assert np.array_equal(display, np.rint((1 - windowed) * 255).astype(np.uint8))
    # and not inverting first (stored -> 4095 - stored) and then windowing, which shows another image
    wrong = np.rint(np.clip((4095 - x - 999.5) / 999 + 0.5, 0, 1) * 255)
    assert np.abs(display.astype(float) - wrong).mean() > 100


def test_window_tags_first_value_when_multi_valued(write):
    # Given a file with two window pairs
    path = write(window=[(2048, 4096), (1000, 500)])
    ds, arr = decode_pixels(path)

    # When the VOI window is chosen
    # Then the first pair from the tags is used
    assert voi_window(ds, modality_lut(arr, ds)) == (2048.0, 4096.0, "tags")


def test_percentile_window_without_tags(write):
    # Given a file without window tags or VOI LUT
    path = write()
    ds, arr = decode_pixels(path)
    values = modality_lut(arr, ds)

    # When the VOI window is chosen
    center, width, source = voi_window(ds, values)

    # Then it spans the 0.5-99.5 percentiles of the modality values (small image: no subsampling)
    lo, hi = np.percentile(values, [PERCENTILE_LOW, PERCENTILE_HIGH])
    assert source == "percentile"
    assert center == pytest.approx((lo + hi) / 2)
    assert width == pytest.approx(hi - lo)


def test_voi_lut_sequence_is_used():
    # Given pydicom's sample with a VOI LUT Sequence and no window tags
    ds, arr = decode_pixels(cr_path("vlut_04.dcm"))

    # When it is rendered
    display = render_display(ds, arr)

    # Then the source is the LUT, and the display is the LUT output scaled to 0..255
    assert voi_window(ds, modality_lut(arr, ds))[2] == "voi_lut_sequence"
    lut = apply_voi(arr, ds).astype(np.float64)
    table = apply_voi(np.arange(ds.VOILUTSequence[0].LUTDescriptor[0]), ds).astype(np.float64)
    expected = np.rint((lut - table.min()) / (table.max() - table.min()) * 255).astype(np.uint8)
    assert np.array_equal(display, expected)


def test_modality_lut_sequence_is_applied():
    # Given pydicom's sample with a Modality LUT Sequence
    ds, arr = decode_pixels(cr_path("mlut_18.dcm"))

    # When the modality LUT is applied
    values = modality_lut(arr, ds)

    # Then it is the LUT output as float32
    assert values.dtype == np.float32
    assert np.array_equal(values, pydicom.pixels.apply_modality_lut(arr, ds).astype(np.float32))


def test_rescale_slope_and_intercept(write):
    # Given a file with slope 0.5 and intercept -1024
    ds, arr = decode_pixels(write(rescale=(0.5, -1024.0)))

    # When the modality LUT is applied
    # Then values are stored * 0.5 - 1024
    assert np.array_equal(modality_lut(arr, ds), arr.astype(np.float32) * 0.5 - 1024)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_voi_functions_match_pydicom(write, function):
    # Given a rescaled file with a window and a VOI LUT function
    path = write(rescale=(1.0, -1024.0), window=(0, 2000))
    ds, arr = decode_pixels(path)
    ds.VOILUTFunction = function

    # When it is rendered
    display = render_display(ds, arr)

    # Then it matches pydicom's apply_windowing scaled to 0..255 within one grey level
    reference = apply_windowing(modality_lut(arr, ds).astype(np.float64), ds)
    y_min, y_max = -1024.0, 4095.0 - 1024.0
    expected = (reference - y_min) / (y_max - y_min) * 255
    assert np.abs(display.astype(float) - expected).max() <= 1.0


def test_16bit_rendering_round_trip(write):
    # Given a MONOCHROME1 file with slope 0.5, intercept -1024 and a window
    path = write(photometric="MONOCHROME1", rescale=(0.5, -1024.0), window=(-300.0, 800.0))
    ds, arr = decode_pixels(path)
    values = modality_lut(arr, ds)

    # When the 16-bit rendering is made
    packed, meta = render_16bit(ds, arr)

    # Then the browser gets the modality values back exactly, the window in packed units and the invert flag
    assert packed.dtype == np.uint16
    assert np.array_equal(packed * meta["rescale_slope"] + meta["rescale_intercept"], values)
    assert meta["rescale_slope"] == 0.5
    assert meta["rescale_intercept"] == float(values.min())
    assert meta["window_center"] * 0.5 + meta["rescale_intercept"] == -300.0
    assert meta["window_width"] * 0.5 == 800.0
    assert meta["invert"] is True
    assert meta["window_source"] == "tags"


@pytest.mark.parametrize("syntax", ["jpeg2000", "rle", "implicit"])
def test_compressed_files_decode_to_the_same_values(write, syntax):
    # Given the same pixels written uncompressed and with another transfer syntax
    pixels = ramp(bits=16)
    _, plain = decode_pixels(write("plain.dcm", pixels, bits_stored=16))

    # When the other file is decoded
    _, decoded = decode_pixels(write("other.dcm", pixels, bits_stored=16, transfer_syntax=syntax))

    # Then the stored values are identical
    assert np.array_equal(decoded, plain)


def test_real_cr_lossless_jpeg2000_equals_uncompressed():
    # Given the uncompressed and JPEG 2000 lossless encodings of the RG3 film
    # When both are decoded
    _, plain = decode_pixels(cr_path("RG3_UNCR.dcm"))
    _, j2k = decode_pixels(cr_path("RG3_J2KR.dcm"))

    # Then they are identical, 1760 x 1760
    assert plain.shape == (1760, 1760)
    assert np.array_equal(plain, j2k)


def test_jpeg_ls_and_jpeg_lossless_decode():
    # Given pydicom's JPEG-LS lossless sample and its uncompressed original
    # When both are decoded
    _, plain = decode_pixels(cr_path("emri_small.dcm"))
    _, jpeg_ls = decode_pixels(cr_path("emri_small_jpeg_ls_lossless.dcm"))
    _, jpeg_lossless = decode_pixels(cr_path("JPEG-LL.dcm"))

    # Then JPEG-LS matches and JPEG lossless decodes to its size
    assert np.array_equal(plain, jpeg_ls)
    assert jpeg_lossless.shape == (1024, 256)


def test_render_all_of_a_real_cr_film():
    # Given the RG1 chest film (MONOCHROME1, window 15000/30000)
    path = cr_path("RG1_UNCR.dcm")

    # When it is rendered with a 1024-pixel display
    rendering = render_all(path, display_max_side=1024, thumb_max_side=128)

    # Then the PNGs have the expected sizes and the window is the file's, in packed units, with inversion
    display, display16, thumb = (
        _png(rendering.display_png),
        _png(rendering.display16_png),
        _png(rendering.thumbnail_png),
    )
    assert display.shape == (1024, 964)
    assert display.dtype == np.uint8
    assert display16.shape == (1024, 964)
    assert display16.dtype == np.uint16
    assert thumb.shape == (128, 120)
    assert (rendering.rows, rendering.cols) == (1955, 1841)
    assert rendering.window["invert"] is True
    assert rendering.window["window_source"] == "tags"
    assert rendering.window["window_width"] == 30000.0
    assert rendering.window["window_center"] + rendering.window["rescale_intercept"] == 15000.0
    assert rendering.content_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_pixel_data(write):
    # Given a file whose pixel data was deleted
    path = write()
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)

    # When it is decoded, from the path or from the dataset
    # Then the reason says so
    with pytest.raises(DicomError) as caught:
        decode_pixels(path)
    assert caught.value.reason == "no pixel data"
    with pytest.raises(DicomError) as caught:
        decode_pixels(ds)
    assert caught.value.reason == "no pixel data"


@pytest.mark.parametrize(
    ("uid", "reason"),
    [
        ("1.2.3.4", "unsupported transfer syntax 1.2.3.4 (unknown)"),
        (
            "1.2.840.10008.1.2.4.100",
            "unsupported transfer syntax 1.2.840.10008.1.2.4.100 (MPEG2 Main Profile / Main Level)",
        ),
    ],
)
def test_unsupported_transfer_syntax(write, uid, reason):
    # Given a file whose transfer syntax no installed decoder handles
    path = write()
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = uid
    if uid != "1.2.3.4":  # MPEG2 is encapsulated; the made-up syntax is read as explicit VR
        ds.PixelData = encapsulate([ds.PixelData])
        ds["PixelData"].VR = "OB"
    ds.save_as(path, implicit_vr=False, little_endian=True)

    # When it is decoded
    with pytest.raises(DicomError) as caught:
        decode_pixels(path)

    # Then the reason names the syntax
    assert caught.value.reason == reason


def test_truncated_file_in_the_worker(write):
    # Given a file cut inside its pixel data
    path = write()
    path.write_bytes(path.read_bytes()[:-100])

    # When it is rendered
    with pytest.raises(DicomError) as caught:
        render_all(path)

    # Then the reason is a truncated file
    assert caught.value.reason == "truncated file"


def test_corrupt_jpeg2000_codestream(write):
    # Given a JPEG 2000 file whose codestream bytes were overwritten (same length)
    path = write(transfer_syntax="jpeg2000")
    ds = pydicom.dcmread(path)
    data = bytearray(ds.PixelData)
    data[40:200] = b"\x00" * 160
    ds.PixelData = bytes(data)
    ds.save_as(path)

    # When it is decoded
    with pytest.raises(DicomError) as caught:
        decode_pixels(path)

    # Then the reason is a decode failure
    assert caught.value.reason.startswith("pixel data could not be decoded (")


def test_render_all_size_limit(write):
    # Given a file over the limit
    path = write()

    # When it is rendered with a 1 KB limit
    with pytest.raises(DicomError) as caught:
        render_all(path, max_bytes=1024)

    # Then it is refused before decoding
    assert caught.value.reason.endswith("over the 1 KB limit")


def test_thumbnail_keeps_aspect_ratio():
    # Given a 512 x 384 display image
    image = np.zeros((512, 384), dtype=np.uint8)

    # When a 256 thumbnail is made
    # Then the long side is 256
    assert make_thumbnail(image, 256).shape == (256, 192)
    assert make_thumbnail(image[:100, :80], 256).shape == (100, 80)


def test_encode_png_8_and_16_bit():
    # Given an 8-bit and a 16-bit array
    eight = np.arange(256, dtype=np.uint8).reshape(16, 16)
    sixteen = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)

    # When they are encoded
    # Then they decode back unchanged, as L and I;16
    assert Image.open(io.BytesIO(encode_png(eight))).mode == "L"
    assert np.array_equal(_png(encode_png(eight)), eight)
    assert Image.open(io.BytesIO(encode_png(sixteen))).mode == "I;16"
    assert np.array_equal(_png(encode_png(sixteen)), sixteen)


def test_render_png_and_jpeg_image_files(tmp_path):
    # Given an 8-bit PNG, a 16-bit PNG and an RGB JPEG
    gray = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    Image.fromarray(gray).save(tmp_path / "a.png")
    Image.fromarray(np.tile(np.arange(256, dtype=np.uint16), (64, 1)) * 200).save(tmp_path / "b.png")
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "c.jpg", quality=95)

    # When they are rendered
    a, b, c = (render_image_file(tmp_path / name) for name in ("a.png", "b.png", "c.jpg"))

    # Then the 8-bit PNG shows as is, the 16-bit one gets a percentile window, the JPEG becomes grey
    assert np.array_equal(_png(a.display_png), gray)
    assert a.window["window_source"] == "full_range"
    assert b.window["window_source"] == "percentile"
    assert _png(b.display_png).shape == (64, 256)
    assert _png(c.display_png).ndim == 2
    assert np.abs(_png(c.display_png).astype(int) - gray).max() <= 3
    assert (c.rows, c.cols) == (64, 256)


def test_image_file_that_is_not_an_image(tmp_path):
    # Given a text file named .png
    path = tmp_path / "x.png"
    path.write_text("nope")

    # When it is rendered
    with pytest.raises(DicomError) as caught:
        render_image_file(path)

    # Then the reason says so
    assert caught.value.reason == "not a readable PNG or JPEG image (UnidentifiedImageError)"
