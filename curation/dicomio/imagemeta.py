"""Strip text metadata from PNG and JPEG files, losslessly, before they are stored.

Hospital exports write the patient's name and id into PNG text chunks and JPEG EXIF/XMP/IPTC/comment
segments. The pixels are kept byte for byte: PNG keeps its critical and colour chunks, JPEG drops only
APP1 (EXIF, XMP), APP13 (IPTC) and COM segments. Anything that does not parse as PNG or JPEG is returned
as it is (the renderer reports it). Django-free.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that carry pixels or how to show them; everything else (tEXt, zTXt, iTXt, eXIf, tIME...) goes.
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs"}
_JPEG_DROP = {0xE1, 0xED, 0xFE}  # APP1 (EXIF, XMP), APP13 (IPTC), COM


def strip_metadata(data: bytes) -> bytes:
    if data.startswith(PNG_SIGNATURE):
        return _strip_png(data)
    if data.startswith(b"\xff\xd8"):
        return _strip_jpeg(data)
    return data


def _strip_png(data: bytes) -> bytes:
    out = [PNG_SIGNATURE]
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return data  # truncated: leave it to the decoder to report
        if kind in _PNG_KEEP:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


def _strip_jpeg(data: bytes) -> bytes:
    out = [b"\xff\xd8"]
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return data  # not a marker where one should be: leave the file as it is
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the entropy-coded data and the rest are pixels
            out.append(data[pos:])
            return b"".join(out)
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if end > len(data):
            return data
        if marker not in _JPEG_DROP:
            out.append(data[pos:end])
        pos = end
    return data
