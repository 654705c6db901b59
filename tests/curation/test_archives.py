"""Zip upload safety: each attack is a per-member error while the good members are extracted."""

import os
import stat
import struct
import warnings
import zipfile

import pytest

from curation.archives import ArchiveError, extract_zip_safely, inspect_zip
from curation.manifests import RowError

GOOD = {"manifest.csv": b"pid,acc,file\nP1,A1,images/a.png\n", "images/a.png": b"\x89PNG tiny"}


def info(name, mode=None):
    zinfo = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    zinfo.compress_type = zipfile.ZIP_DEFLATED
    if mode is not None:
        zinfo.create_system = 3
        zinfo.external_attr = mode << 16
    return zinfo


def hostile_zip(path):
    """Two good members, macOS noise, and one member per attack, in this order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we add on purpose
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in GOOD.items():
                zf.writestr(info(name), data)
            zf.writestr(info("__MACOSX/images/._a.png"), b"resource fork")
            zf.writestr(info("images/.DS_Store"), b"finder")
            zf.writestr(info("../evil"), b"x")
            zf.writestr(info("/etc/passwd"), b"x")
            zf.writestr(info("C:\\x"), b"x")
            zf.writestr(info("\\\\server\\share\\x"), b"x")
            zf.writestr(info("link", stat.S_IFLNK | 0o777), b"/etc/passwd")
            zf.writestr(info("dev", stat.S_IFCHR | 0o644), b"")
            zf.writestr(info("Images/A.png"), b"again")
            zf.writestr(info("secret.dcm"), b"x")
            zf.writestr(info("bomb.bin"), bytes(4 * 1024 * 1024))
            secret = zf.getinfo("secret.dcm")
    # zipfile cannot write encrypted members, so set the 'encrypted' flag bit in both headers by hand.
    data = bytearray(path.read_bytes())
    data[secret.header_offset + 6] |= 0x1
    data[data.rindex(b"secret.dcm") - 46 + 8] |= 0x1
    path.write_bytes(bytes(data))
    return path


def test_attacks_are_rejected_with_reasons_and_good_members_extracted(tmp_path):
    # Given an archive mixing good members, macOS noise and every kind of attack
    archive = hostile_zip(tmp_path / "upload.zip")
    dest = tmp_path / "out"

    # When it is extracted
    extracted, errors = extract_zip_safely(archive, dest)

    # Then only the good members are on disk, and each attack has its reason
    assert extracted == [dest.resolve() / "manifest.csv", dest.resolve() / "images" / "a.png"]
    assert (dest / "images" / "a.png").read_bytes() == GOOD["images/a.png"]
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == ["images", "images/a.png", "manifest.csv"]
    assert errors[:-1] == [
        RowError("../evil", "path traversal ('..')"),
        RowError("/etc/passwd", "absolute path"),
        RowError("C:\\x", "absolute path"),
        RowError("\\\\server\\share\\x", "absolute path"),
        RowError("link", "symbolic link"),
        RowError("dev", "a character device, not a regular file"),
        RowError("Images/A.png", "duplicate name"),
        RowError("secret.dcm", "encrypted member"),
    ]
    assert errors[-1].item == "bomb.bin"
    assert errors[-1].reason.startswith("compression ratio ")
    assert errors[-1].reason.endswith(":1 is over the limit of 200:1 (zip bomb)")


def test_inspect_lists_safe_members_without_extracting(tmp_path):
    archive = hostile_zip(tmp_path / "upload.zip")

    safe, rejected = inspect_zip(archive)

    assert [i.filename for i in safe] == ["manifest.csv", "images/a.png"]
    assert len(rejected) == 9
    assert not (tmp_path / "evil").exists()


def lying_zip(path, declared):
    """A member whose headers declare `declared` bytes while its data inflates to 64 KiB."""
    payload = os.urandom(32 * 1024) * 2
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info("good.txt"), b"fine")
        zf.writestr(info("liar.bin"), payload)
        liar = zf.getinfo("liar.bin")
    data = bytearray(path.read_bytes())
    # Uncompressed size sits at offset 22 of the local header and 24 of the central directory entry.
    struct.pack_into("<I", data, liar.header_offset + 22, declared)
    central = data.rindex(b"liar.bin") - 46  # the name follows the 46-byte central directory header
    assert data[central : central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))
    return path


def test_a_lying_size_header_is_caught_while_streaming(tmp_path):
    # Given a member that declares 1,000 bytes and streams 64 KiB
    archive = lying_zip(tmp_path / "liar.zip", 1000)
    dest = tmp_path / "out"

    # When it is extracted
    extracted, errors = extract_zip_safely(archive, dest)

    # Then the liar is stopped and removed, the honest member stays
    assert extracted == [dest.resolve() / "good.txt"]
    assert errors == [
        RowError("liar.bin", "streamed more than its declared 1000 bytes (stopped at 65536): lying size header")
    ]
    assert not (dest / "liar.bin").exists()


def test_an_archive_over_the_total_limit_is_refused_whole(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info("a.bin"), os.urandom(3000))
        zf.writestr(info("b.bin"), os.urandom(3000))

    with pytest.raises(ArchiveError) as error:
        extract_zip_safely(archive, tmp_path / "out", max_total_bytes=5000)

    assert error.value.reason == "archive expands to 6000 bytes, over the limit of 5000"
    assert not (tmp_path / "out").exists()


def test_a_member_over_the_per_file_limit_is_a_row_error(tmp_path):
    archive = tmp_path / "files.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info("small.bin"), os.urandom(100))
        zf.writestr(info("large.bin"), os.urandom(3000))

    extracted, errors = extract_zip_safely(archive, tmp_path / "out", max_member_bytes=1000)

    assert [p.name for p in extracted] == ["small.bin"]
    assert errors == [RowError("large.bin", "expands to 3000 bytes, over the per-file limit of 1000")]


def test_too_many_members_is_refused_whole(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(4):
            zf.writestr(info(f"{n}.txt"), b"x")

    with pytest.raises(ArchiveError, match="^archive has 4 members, over the limit of 3$"):
        inspect_zip(archive, max_members=3)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    not_zip = tmp_path / "upload.zip"
    not_zip.write_bytes(b"Image Index,Finding Labels\n")

    with pytest.raises(ArchiveError) as error:
        extract_zip_safely(not_zip, tmp_path / "out")

    assert error.value.reason == "not a readable zip file (File is not a zip file)"


def test_a_symlinked_folder_in_the_destination_is_not_followed(tmp_path):
    # Given a destination where images/ already points outside it
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "images").symlink_to(outside)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info("images/a.png"), b"x")

    # When extracted
    extracted, errors = extract_zip_safely(archive, dest)

    # Then nothing is written through the link
    assert extracted == []
    assert errors == [RowError("images/a.png", "path escapes the destination folder")]
    assert list(outside.iterdir()) == []
