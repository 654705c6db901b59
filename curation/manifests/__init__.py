"""Django-free readers for chest X-ray dataset manifests (NIH, CheXpert, MIMIC-CXR, Open-i, PadChest, any CSV).

`read_manifest` yields one ImageRecord per image and a RowError per problem item, so one bad row never
stops a batch; whole-file problems raise ManifestError. See each reader module for how keys are formed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

from . import chexpert, generic, mimic, nih, openi, padchest
from .common import find_file
from .records import ImageRecord, ManifestError, RowError

__all__ = ["SOURCES", "ImageRecord", "ManifestError", "RowError", "detect_source", "read_manifest"]

Reader = Callable[..., Iterator[ImageRecord | RowError]]
READERS: dict[str, Reader] = {
    "nih": nih.read,
    "chexpert": chexpert.read,
    "mimic": mimic.read,
    "openi": openi.read,
    "padchest": padchest.read,
    "csv": generic.read,
}
SOURCES = tuple(READERS)

# Most specific first: a CheXpert folder can hold a demographics CSV, a MIMIC folder has no train.csv.
_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nih", nih.MANIFEST_NAMES),
    ("mimic", mimic.METADATA_NAMES),
    ("openi", ("indiana_projections.csv", "indiana_reports.csv")),
    ("padchest", padchest.MANIFEST_NAMES),
    ("chexpert", (*chexpert.SPLIT_FILES, *chexpert.PLUS_NAMES)),
)


def detect_source(root: Path) -> str | None:
    """Guess the dataset from the files in root (or its direct subfolders); None when nothing matches."""
    root = Path(root)
    if not root.is_dir():
        return None
    for source, names in _SIGNATURES:
        if find_file(root, names) is not None:
            return source
    files = root / "files"
    if files.is_dir() and any(p.name.startswith("p1") and p.is_dir() for p in files.iterdir()):
        return "mimic"
    return None


def read_manifest(
    source: str, root: Path, *, check_files: bool = True, mapping: dict | None = None
) -> Iterator[ImageRecord | RowError]:
    """Records and row errors of one dataset under root, in manifest order.

    Whole-file problems (no manifest, missing columns, unreadable header, bad mapping) raise
    ManifestError here, at call time: the first item is read before the iterator is returned.
    """
    reader = READERS.get(source)
    if reader is None:
        raise ManifestError(f"unknown source {source!r}; known sources: {', '.join(SOURCES)}")
    root = Path(root)
    if not root.exists():
        raise ManifestError(f"source folder {root} does not exist")
    items = reader(root, check_files=check_files, mapping=mapping)
    try:
        first = next(items)
    except StopIteration:
        return iter(())
    return itertools.chain([first], items)
