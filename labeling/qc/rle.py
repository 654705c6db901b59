"""Run-length codecs for masks: CheXmask RLE and COCO RLE (uncompressed counts and compressed strings).

Decoders validate strictly and raise `RleError` with a message a curator can act on, because masks come
from outside the project and a silently wrong mask would be scored as if it were real. The stated size is
checked against `max_pixels` before anything is allocated: a 200-byte row can claim a 200000² mask.
"""

from __future__ import annotations

import re

import numpy as np

# Input masks larger than this are refused (callers pass settings.MASK_MAX_PIXELS). 50 MP is a 7000² film,
# far above CheXmask's 1024² grid; a bool mask that size costs 50 MB and decoding it a few times that.
MASK_MAX_PIXELS = 50_000_000
# Whitespace-separated integers; longer texts than _SHORT_RLE are parsed by numpy in C, because a Python
# list of tokens costs ~60 bytes per value.
_RLE_TEXT = re.compile(r"\s*[-+]?[0-9]+(?:\s+[-+]?[0-9]+)*\s*")
_SHORT_RLE = 1 << 16


class RleError(ValueError):
    """A run-length encoding that cannot be decoded into a mask of the stated size."""


def check_mask_size(height: int, width: int, max_pixels: int | None) -> None:
    """Raise RleError when a height x width mask is over `max_pixels` (None: no limit)."""
    if max_pixels is not None and height * width > max_pixels:
        raise RleError(
            f"mask size {height}x{width} ({_megapixels(height * width)}) is over the limit of {_megapixels(max_pixels)}"
        )


def _megapixels(pixels: int) -> str:
    if pixels < 100_000:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:.1f}".rstrip("0").rstrip(".") + " megapixels"


def chexmask_rle_extent(rle: str) -> int:
    """The number of pixels a CheXmask RLE reaches (its last run's end), without decoding it; 0 when empty."""
    tokens = ("" if rle is None else str(rle)).split()[-2:]
    if len(tokens) < 2:
        return 0
    try:
        return int(tokens[0]) - 1 + int(tokens[1])
    except ValueError:
        raise RleError("RLE values are not integers") from None


def decode_chexmask_rle(rle: str, height: int, width: int, max_pixels: int | None = None) -> np.ndarray:
    """Decode CheXmask RLE (space-separated `start length` pairs, starts 1-based, row-major) to a bool mask.

    An empty string decodes to an empty mask; deciding whether an empty organ is acceptable is QC's job.
    A mask over `max_pixels` is refused before anything is allocated.
    """
    height, width = _check_size(height, width, max_pixels)
    text = "" if rle is None else str(rle).strip()
    if not text:
        return np.zeros((height, width), dtype=bool)
    values = _parse_integers(text)
    if len(values) % 2:
        raise RleError(f"RLE has an odd number of values ({len(values)}); expected start/length pairs")
    starts, lengths = values[0::2], values[1::2]
    if (starts < 1).any():
        raise RleError(f"RLE start {int(starts[starts < 1][0])} is below 1 (starts are 1-based)")
    if (lengths < 1).any():
        raise RleError(f"RLE run length {int(lengths[lengths < 1][0])} is not positive")
    if (np.diff(starts) <= 0).any():
        i = int(np.argmax(np.diff(starts) <= 0))
        raise RleError(f"RLE starts are not increasing ({int(starts[i])} then {int(starts[i + 1])})")
    ends = starts - 1 + lengths  # exclusive, 0-based
    if ends[-1] > height * width:
        raise RleError(f"RLE run at {int(starts[-1])} of length {int(lengths[-1])} overflows a {height}x{width} mask")
    if (ends[:-1] > starts[1:] - 1).any():
        i = int(np.argmax(ends[:-1] > starts[1:] - 1))
        raise RleError(f"RLE runs overlap (run at {int(starts[i])} reaches past {int(starts[i + 1])})")
    # Mark run boundaries and integrate: O(runs + pixels) without a Python loop over runs. Runs never
    # overlap (checked above), so the running sum is 0 or 1 and int8 keeps it at one byte per pixel.
    edges = np.zeros(height * width + 1, dtype=np.int8)
    np.add.at(edges, starts - 1, 1)
    np.add.at(edges, ends, -1)
    mask = np.cumsum(edges[:-1], dtype=np.int8).view(bool)
    return mask.reshape(height, width)


def _parse_integers(text: str) -> np.ndarray:
    if len(text) < _SHORT_RLE:
        tokens = text.split()
        try:
            return np.array([int(t) for t in tokens], dtype=np.int64)
        except ValueError:
            bad = next(t for t in tokens if not _is_int(t))
            raise RleError(f"RLE value {bad!r} is not an integer") from None
        except OverflowError:
            raise RleError("RLE value out of range") from None
    if _RLE_TEXT.fullmatch(text) is None:
        bad = next(t for t in text.split() if not _is_int(t))
        raise RleError(f"RLE value {bad!r} is not an integer")
    # The pattern above guarantees numpy's text parser reads the whole string.
    return np.fromstring(text, dtype=np.int64, sep=" ")


def encode_chexmask_rle(mask: np.ndarray) -> str:
    """Encode a 2-D mask as CheXmask RLE (1-based starts, row-major)."""
    flat = np.asarray(mask, dtype=bool).ravel()
    padded = np.concatenate([[False], flat, [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = changes[0::2], changes[1::2]
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(starts.tolist(), ends.tolist(), strict=False))


def decode_coco_rle(rle: dict, max_pixels: int | None = None) -> np.ndarray:
    """Decode a COCO RLE object ({"size": [h, w], "counts": list or compressed str}) to a bool mask.

    A size over `max_pixels` is refused before the counts are read.
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise RleError("COCO RLE must be an object with 'size' and 'counts'")
    size = rle["size"]
    if not isinstance(size, list | tuple) or len(size) != 2:
        raise RleError("COCO RLE size must be [height, width]")
    height, width = _check_size(*size, max_pixels)
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        counts = _coco_string_to_counts(counts)
    try:
        counts = np.array([int(c) for c in counts], dtype=np.int64)
    except (TypeError, ValueError):
        raise RleError("COCO RLE counts must be integers") from None
    if (counts < 0).any():
        raise RleError(f"COCO RLE count {int(counts[counts < 0][0])} is negative")
    if counts.sum() != height * width:
        raise RleError(f"COCO RLE counts sum to {int(counts.sum())}, expected {height}x{width}={height * width}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True  # COCO runs alternate background, foreground, starting with background
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T  # COCO runs are column-major


def encode_coco_rle(mask: np.ndarray, compressed: bool = True) -> dict:
    """Encode a 2-D mask as COCO RLE; `compressed` gives the pycocotools string form."""
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    flat = mask.T.ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    out_counts: str | list[int] = _counts_to_coco_string(counts) if compressed else counts
    return {"size": [height, width], "counts": out_counts}


def _counts_to_coco_string(counts: list[int]) -> str:
    # pycocotools' LEB128-like scheme: 5 bits per char, offset 48, deltas against counts[i-2] after i > 2.
    chars = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return "".join(chars)


def _coco_string_to_counts(text: str) -> list[int]:
    counts: list[int] = []
    pos = 0
    while pos < len(text):
        x, k, more = 0, 0, True
        while more:
            if pos >= len(text):
                raise RleError("COCO compressed RLE string ends inside a value")
            c = ord(text[pos]) - 48
            if c < 0 or c > 63:
                raise RleError(f"COCO compressed RLE has an invalid character {text[pos]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            pos += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _check_size(height, width, max_pixels: int | None = None) -> tuple[int, int]:
    try:
        h, w = int(height), int(width)
    except (TypeError, ValueError, OverflowError):
        raise RleError(f"mask size {height!r}x{width!r} is not a pair of integers") from None
    if h <= 0 or w <= 0 or h != float(height) or w != float(width):
        raise RleError(f"mask size {height!r}x{width!r} must be positive integers")
    check_mask_size(h, w, max_pixels)
    return h, w


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True
