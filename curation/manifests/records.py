"""The values every manifest reader yields: one ImageRecord per image, RowError per problem item."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field


@dataclass(slots=True)
class ImageRecord:
    """One image of a dataset manifest, in the dataset's own keys, before pseudonymisation."""

    dataset: str
    row: int
    patient_key: str
    study_key: str
    image_key: str
    path: str | None
    file_exists: bool | None
    study_date: datetime.date | None
    view_position: str
    sex: str
    age_years: int | None
    report_text: str | None
    source_labels: dict[str, int | None] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


@dataclass(slots=True)
class RowError:
    """A problem with one item (a manifest row or a file). The rest of the manifest is still read.

    When it directly follows an ImageRecord with the same `item`, it is a warning about that
    record (missing image file, unreadable age), and the record itself is still usable.
    """

    item: str
    reason: str


class ManifestError(Exception):
    """The manifest as a whole cannot be read: missing file or columns, unreadable file, unknown layout."""
