"""Where an export's files go: a folder (the CLI) or a zip archive (the job), written file by file.

Both take a text file by name (CSV, JSONL, the data card) and image bytes or a stored file by name. In a
zip only one member can be written at a time, so text files are written to temporary files on disk and
added when closed: an export may keep a CSV and its split lists open together while it streams images,
and nothing grows in memory with the dataset.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TextIO

COPY_BUFFER = 1 << 20


def _checked(name: str) -> str:
    """A member name made only by the exporters; refuse anything that could leave the export's folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"bad export member name {name!r}")
    return path.as_posix()


class Sink:
    def text(self, name: str) -> contextlib.AbstractContextManager[TextIO]:
        raise NotImplementedError

    def write_bytes(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def copy_from(self, name: str, source: BinaryIO) -> None:
        raise NotImplementedError


class DirSink(Sink):
    """Files unpacked under a folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        path = self.root / _checked(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def text(self, name: str) -> Iterator[TextIO]:
        with self._path(name).open("w", encoding="utf-8", newline="") as handle:
            yield handle

    def write_bytes(self, name: str, data: bytes) -> None:
        self._path(name).write_bytes(data)

    def copy_from(self, name: str, source: BinaryIO) -> None:
        with self._path(name).open("wb") as target:
            shutil.copyfileobj(source, target, COPY_BUFFER)


class ZipSink(Sink):
    """Members of a zip archive written to `target` (a file opened for binary writing)."""

    def __init__(self, target: BinaryIO):
        self.zip = zipfile.ZipFile(target, "w", allowZip64=True)

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> ZipSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def text(self, name: str) -> Iterator[TextIO]:
        name = _checked(name)
        with tempfile.TemporaryFile() as spool:
            handle = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=False)
            yield handle
            handle.flush()
            spool.seek(0)
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with self.zip.open(info, "w", force_zip64=True) as member:
                shutil.copyfileobj(spool, member, COPY_BUFFER)
            handle.detach()

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(_checked(name), date_time=(2020, 1, 1, 0, 0, 0))
        # Images are compressed already (PNG, DICOM transfer syntaxes): storing them costs no space and no CPU.
        info.compress_type = zipfile.ZIP_STORED
        return info

    def write_bytes(self, name: str, data: bytes) -> None:
        self.zip.writestr(self._info(name), data)

    def copy_from(self, name: str, source: BinaryIO) -> None:
        with self.zip.open(self._info(name), "w", force_zip64=True) as member:
            shutil.copyfileobj(source, member, COPY_BUFFER)
