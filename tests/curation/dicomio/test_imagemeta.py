"""PNG text chunks and JPEG EXIF/comment segments are stripped; pixels stay identical."""

import io

import numpy as np
from PIL import Image, PngImagePlugin

from curation.dicomio.imagemeta import strip_metadata


def test_png_text_chunks_are_dropped_and_pixels_kept():
    # Given a PNG whose text chunks hold a patient's name and id
    pixels = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    info = PngImagePlugin.PngInfo()
    info.add_text("PatientName", "KOWALCZYK^TERESA")
    info.add_itxt("PatientID", "55031877")
    info.add_text("Comment", "DOB 1951-11-03", zip=True)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", pnginfo=info)
    data = buf.getvalue()
    assert b"KOWALCZYK" in data
    # When it is stripped
    clean = strip_metadata(data)
    # Then no text is left and the image decodes to the same pixels
    assert b"KOWALCZYK" not in clean and b"55031877" not in clean and b"tEXt" not in clean and b"zTXt" not in clean
    decoded = Image.open(io.BytesIO(clean))
    assert decoded.text == {}
    assert np.array_equal(np.asarray(decoded), pixels)


def test_jpeg_exif_and_comments_are_dropped_and_pixels_kept():
    pixels = (np.arange(32 * 32) % 200).astype(np.uint8).reshape(32, 32)
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x013B] = "DOE^JANE"  # Artist
    Image.fromarray(pixels).save(buf, format="JPEG", exif=exif.tobytes(), comment=b"MRN 4839201")
    data = buf.getvalue()
    assert b"DOE^JANE" in data and b"4839201" in data
    clean = strip_metadata(data)
    assert b"DOE^JANE" not in clean and b"4839201" not in clean
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(clean))), np.asarray(Image.open(io.BytesIO(data))))


def test_other_files_pass_through_unchanged():
    assert strip_metadata(b"DICM not an image") == b"DICM not an image"
    truncated = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
    assert strip_metadata(truncated) == truncated
