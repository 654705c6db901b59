"""What every format writer shares: the version's rows read in order, image files, counts and progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from ..models import DatasetVersion
from ..services.datasets import iter_rows
from .images import EXTENSIONS, ImageUnavailable, image_bytes
from .sinks import Sink

PROGRESS_EVERY = 1000  # rows between progress reports


class Row(NamedTuple):
    id: int
    image_id: int
    patient: str
    patient_index: int
    study_key: str
    follow_up: int
    image_key: str
    image_index: int
    dataset: str
    view_position: str
    sex: str
    age_years: int | None
    qc_decision: str
    split: str
    labels: dict
    display: str = ""
    display16: str = ""
    original: str = ""


ROW_FIELDS = Row._fields[1:15]
IMAGE_FIELDS = ("image__display", "image__display16", "image__original")


@dataclass
class Export:
    """One format of one version being written into `sink` under `folder`."""

    version: DatasetVersion
    sink: Sink
    folder: str
    images: str  # png8 / png16 / dicom / none
    on_row: Callable[[Row], None] | None = None  # the data card's accumulator
    progress: Callable[[int], None] | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def rows(self) -> Iterator[Row]:
        """Every row of the version, in order, each seen once by the data card."""
        fields = ROW_FIELDS + (IMAGE_FIELDS if self.images != "none" else ())
        done = 0
        for values in iter_rows(self.version, fields):
            row = Row._make(values) if len(values) == len(Row._fields) else Row(*values)
            if self.on_row is not None:
                self.on_row(row)
            yield row
            done += 1
            if self.progress is not None and done % PROGRESS_EVERY == 0:
                self.progress(PROGRESS_EVERY)
        if self.progress is not None and done % PROGRESS_EVERY:
            self.progress(done % PROGRESS_EVERY)

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.images, "")

    def put_image(self, row: Row, name: str) -> bool:
        """Write the row's image as `name` inside the format's folder; False (and counted) if it is missing."""
        try:
            data = image_bytes(self.images, row.display or "", row.display16 or "", row.original or "")
        except ImageUnavailable:
            self.count("images_missing")
            return False
        self.sink.write_bytes(self.path(name), data)
        self.count("images")
        return True


def positives(labels: dict) -> list[str]:
    return [label for label, (status, _source) in labels.items() if status == "positive"]
