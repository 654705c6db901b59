"""Safety checks for uploaded zip archives: inspect members and extract only the safe ones, with size limits.

Uploads are untrusted. A bad member (traversal, absolute path, link, device, duplicate, encrypted, too
big, bomb-like ratio, lying size header) is a per-item RowError and the rest is extracted; an archive
that is not a zip, has too many members or expands beyond the total limit raises ArchiveError.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from curation.manifests.records import RowError

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 20 * 1024**3  # a full NIH download is ~45 GB in 12 parts; one part fits
MAX_MEMBER_BYTES = 2 * 1024**3  # the largest chest X-ray DICOMs are tens of MB
MAX_RATIO = 200
# Ratio is only meaningful for large members: a 4 KB blank text file compresses 400:1 and is harmless.
RATIO_MIN_BYTES = 1024 * 1024
CHUNK = 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then name and extra-field lengths at offset 26
_DRIVE = re.compile(r"^[A-Za-z]:")
_SPECIAL_TYPES = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class ArchiveError(Exception):
    """The whole archive is refused (not a zip, too many members, expands beyond the total limit)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _skipped(name: str) -> bool:
    # macOS Finder adds these to every zip it makes; they are noise, not errors.
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or parts[-1] == ".DS_Store" or parts[-1].startswith("._")


def safe_relpath(name: str) -> str:
    """The member name as a clean relative POSIX path; ValueError with the reason when it is unsafe."""
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise ValueError("name contains control characters")
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise ValueError("absolute path")
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("path traversal ('..')")
    if not parts:
        raise ValueError("empty name")
    return "/".join(parts)


def _member_problem(info: zipfile.ZipInfo, max_member_bytes: int, max_ratio: float) -> str | None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if mode and kind == stat.S_IFLNK:
        return "symbolic link"
    if mode and kind in _SPECIAL_TYPES and not info.is_dir():
        return f"{_SPECIAL_TYPES[kind]}, not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted member"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"compression method {info.compress_type} is not supported (only stored and deflate)"
    if info.file_size > max_member_bytes:
        return f"expands to {info.file_size} bytes, over the per-file limit of {max_member_bytes}"
    if info.file_size >= RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > max_ratio:
            return f"compression ratio {ratio:.0f}:1 is over the limit of {max_ratio:g}:1 (zip bomb)"
    return None


def inspect_zip(
    path: Path,
    *,
    max_members: int = MAX_MEMBERS,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_ratio: float = MAX_RATIO,
) -> tuple[list[zipfile.ZipInfo], list[RowError]]:
    """(safe members, rejected members) from the central directory, without extracting anything.

    Directory entries and macOS metadata are left out of both lists. Raises ArchiveError when the file is
    not a zip, has more than max_members entries, or its safe members declare more than max_total_bytes.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise ArchiveError(f"not a readable zip file ({exc})") from exc
    if len(infos) > max_members:
        raise ArchiveError(f"archive has {len(infos)} members, over the limit of {max_members}")

    safe: list[zipfile.ZipInfo] = []
    rejected: list[RowError] = []
    seen: set[str] = set()
    # Members whose data overlaps another's are how non-recursive zip bombs reuse one compressed block.
    # The extent is a lower bound (the local extra field is not counted), so honest archives never trip it.
    spans = sorted((i.header_offset, i.header_offset + 30 + len(i.orig_filename) + i.compress_size) for i in infos)
    overlapping: set[int] = set()
    for (start, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        if next_start < end:
            overlapping.update((start, next_start))
    total = 0
    for info in infos:
        name = info.filename
        if _skipped(name):
            continue
        try:
            rel = safe_relpath(name)
        except ValueError as exc:
            rejected.append(RowError(name, str(exc)))
            continue
        problem = _member_problem(info, max_member_bytes, max_ratio)
        if problem is None and info.is_dir():
            continue
        if problem is None and info.header_offset in overlapping:
            problem = "member data overlaps another member (zip bomb)"
        # casefold: names differing only in case collide on Windows and macOS file systems.
        key = rel.casefold()
        if problem is None and key in seen:
            problem = "duplicate name"
        if problem is not None:
            rejected.append(RowError(name, problem))
            continue
        seen.add(key)
        total += info.file_size
        safe.append(info)
    if total > max_total_bytes:
        raise ArchiveError(f"archive expands to {total} bytes, over the limit of {max_total_bytes}")
    return safe, rejected


class _MemberTooBig(Exception):
    pass


def _stream_member(fp, info: zipfile.ZipInfo, out, limit: int) -> int:
    """Decompress one member from the raw archive into out, counting bytes; never trust the header sizes.

    zipfile would silently stop at the declared size; reading the raw data ourselves lets a member that
    streams more than it declared be named for what it is, and caps memory and disk at `limit`.
    """
    fp.seek(info.header_offset)
    signature, name_len, extra_len = _LOCAL_HEADER.unpack(fp.read(_LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local file header")
    fp.seek(info.header_offset + 30 + name_len + extra_len)
    left = info.compress_size
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    written = 0
    crc = 0
    while left > 0 or (inflater is not None and inflater.unconsumed_tail):
        if inflater is not None and inflater.unconsumed_tail:
            data = inflater.decompress(inflater.unconsumed_tail, CHUNK)
        else:
            raw = fp.read(min(CHUNK, left))
            if not raw:
                raise zipfile.BadZipFile("member data is truncated")
            left -= len(raw)
            data = inflater.decompress(raw, CHUNK) if inflater is not None else raw
        written += len(data)
        if written > limit:
            raise _MemberTooBig(written)
        crc = zlib.crc32(data, crc)
        out.write(data)
    if inflater is not None:
        data = inflater.flush()
        written += len(data)
        if written > limit:
            raise _MemberTooBig(written)
        crc = zlib.crc32(data, crc)
        out.write(data)
    if written != info.file_size or crc != info.CRC:
        raise zipfile.BadZipFile("size or CRC does not match the header (corrupt member)")
    return written


def extract_zip_safely(path: Path, dest: Path, **limits) -> tuple[list[Path], list[RowError]]:
    """Extract the safe members under dest; (extracted files, per-member errors).

    Raises ArchiveError like inspect_zip, and also when the bytes actually streamed go over the total
    limit (the files extracted by this call are then removed).
    """
    safe, errors = inspect_zip(path, **limits)
    max_total = limits.get("max_total_bytes", MAX_TOTAL_BYTES)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dest_real = dest.resolve()
    extracted: list[Path] = []
    total = 0
    with open(path, "rb") as fp:
        for info in safe:
            rel = safe_relpath(info.filename)
            target = dest_real / rel
            parent = target.parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
                # A folder already under dest may be a symlink out of it; resolve catches that.
                if not parent.resolve().is_relative_to(dest_real):
                    errors.append(RowError(info.filename, "path escapes the destination folder"))
                    continue
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
                fd = os.open(target, flags, 0o644)
            except OSError as exc:
                errors.append(RowError(info.filename, f"cannot write the file ({exc.strerror or exc})"))
                continue
            # The declared size already passed the limits, so streaming past it means the header lies.
            limit = min(info.file_size, limits.get("max_member_bytes", MAX_MEMBER_BYTES))
            try:
                with os.fdopen(fd, "wb") as out:
                    total += _stream_member(fp, info, out, limit)
            except _MemberTooBig as exc:
                target.unlink(missing_ok=True)
                errors.append(
                    RowError(
                        info.filename,
                        f"streamed more than its declared {info.file_size} bytes "
                        f"(stopped at {exc.args[0]}): lying size header",
                    )
                )
                total += exc.args[0]
            except (zipfile.BadZipFile, zlib.error, OSError) as exc:
                target.unlink(missing_ok=True)
                errors.append(RowError(info.filename, f"corrupt member ({exc})"))
                continue
            else:
                extracted.append(target)
            if total > max_total:
                for done in extracted:
                    done.unlink(missing_ok=True)
                raise ArchiveError(f"archive streamed more than {max_total} bytes, over the total limit")
    return extracted, errors
