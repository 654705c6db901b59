"""Writes batches of ingested images into Patient/Study/Series/Image/Report rows, set-based.

One transaction per batch, so a worker killed mid-import leaves whole batches or nothing; a
re-run skips what is already there (by image key and content hash) and adds the rest.
A batch costs a fixed number of queries whatever its size (no per-row round trips).
Every text value is stripped of control characters here, the one place all imported rows pass.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date

from django.db import connection, transaction
from django.db.models import F

from ..bulk import insert_rows, prepare_copy, run_copy
from ..models import Image, Patient, Project, RenderStatus, Report, Series, Study
from ..models.fields import TokenArray
from ..models.studies import Redaction
from . import facets


@dataclass(slots=True)
class IngestItem:
    """One image ready to be written: every key here is already the final (de-identified) one."""

    patient_key: str
    study_key: str
    image_key: str
    sex: str = ""
    study_date: date | None = None
    accession: str = ""
    age_years: int | None = None
    view_position: str = ""
    modality: str = ""
    rows: int | None = None
    columns: int | None = None
    pixel_spacing: tuple[float, float] | None = None
    photometric: str = ""
    bits_stored: int | None = None
    burned_in: bool | None = None
    series_uid: str = ""
    series_number: int | None = None
    content_sha256: str = ""
    original: str = ""
    source_path: str = ""
    render_status: str = RenderStatus.PENDING
    report_text: str | None = None
    scrubbed_items: int = 0
    source_labels: dict = field(default_factory=dict)


# Control characters except tab, newline and carriage return. PostgreSQL refuses NUL in text and in JSON
# (one NUL failed a whole COPY), and none of the others belongs in a key, a path or a report.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TEXT_FIELDS = (
    "patient_key",
    "study_key",
    "image_key",
    "sex",
    "accession",
    "view_position",
    "modality",
    "photometric",
    "series_uid",
    "content_sha256",
    "original",
    "source_path",
    "render_status",
    "report_text",
)


def strip_control_characters(text: str) -> str:
    """`text` without control characters other than tab, newline and carriage return."""
    return _CONTROL.sub("", text)


def _strip_controls(items: list[IngestItem]) -> None:
    """Strip control characters from every text value of the items, in place.

    The values that can come from outside are joined for the whole batch and searched once (about 1 µs per
    item, a few percent of an import row); only when the batch holds a control character is every item
    cleaned field by field. The other fields are normalised from fixed tables (sex, view), come from DICOM
    headers already cleaned by curation.dicomio (modality, photometric) or are built here from the keys
    (storage names); they are cleaned too whenever the batch is.
    """
    label_keys: set = set()
    for i in items:
        if i.source_labels:
            label_keys.update(i.source_labels)
    joined = "".join(
        [
            f"{i.patient_key}{i.study_key}{i.image_key}{i.accession}{i.series_uid}{i.source_path}{i.report_text or ''}"
            for i in items
        ]
    )
    if _CONTROL.search(joined) or _CONTROL.search("".join(map(str, label_keys))):
        for i in items:
            _strip_item(i)


def _strip_item(item: IngestItem) -> None:
    for name in _TEXT_FIELDS:
        value = getattr(item, name)
        if isinstance(value, str):
            setattr(item, name, _CONTROL.sub("", value))
    if item.source_labels:
        item.source_labels = {
            _CONTROL.sub("", str(k)): _CONTROL.sub("", v) if isinstance(v, str) else v
            for k, v in item.source_labels.items()
        }


@dataclass(slots=True)
class BatchOutcome:
    imported: int = 0
    duplicates: int = 0
    studies_created: int = 0
    patients_created: int = 0
    reports_created: int = 0


class ImportCache:
    """What the project already holds, loaded once per import (one query per table, not per batch).

    Updated only after a batch commits, so a rolled-back batch is never taken as present.
    """

    def __init__(self, project: Project, dataset: str):
        self.project = project
        self.dataset = dataset
        images = Image.objects.filter(project=project)
        self.image_keys = set(images.values_list("image_key", flat=True).iterator(chunk_size=20000))
        self.hashes = set(
            images.exclude(content_sha256="").values_list("content_sha256", flat=True).iterator(chunk_size=20000)
        )
        self.patients = dict(
            Patient.objects.filter(project=project).values_list("pseudo_id", "id").iterator(chunk_size=20000)
        )
        self.studies = dict(
            Study.objects.filter(project=project, dataset=dataset)
            .values_list("study_key", "id")
            .iterator(chunk_size=20000)
        )
        self.reported = set(
            Report.objects.filter(study__project=project, study__dataset=dataset).values_list("study_id", flat=True)
        )

    def merge(self, other: dict) -> None:
        self.image_keys |= other["image_keys"]
        self.hashes |= other["hashes"]
        self.patients.update(other["patients"])
        self.studies.update(other["studies"])
        self.reported |= other["reported"]


class DirectSink:
    """Writes at once, in the caller's transaction."""

    def insert(self, model, rows, with_ids: bool = False) -> list[int]:
        return insert_rows(model, rows, with_ids=with_ids)

    def bump_image_count(self, study_id: int, n: int) -> None:
        Study.objects.filter(pk=study_id).update(image_count=F("image_count") + n)

    def mark_has_report(self, study_ids: list[int]) -> None:
        Study.objects.filter(pk__in=study_ids, has_report=False).update(has_report=True)

    def refresh_facets(self, study_ids: list[int]) -> None:
        facets.refresh_studies(study_ids)


class DeferredSink(DirectSink):
    """Records the writes of one batch (ids allocated now) so another thread can apply them later."""

    def __init__(self):
        self.ops: list[tuple] = []

    def insert(self, model, rows, with_ids: bool = False) -> list[int]:
        rows = list(rows)
        if not rows:
            return []
        # The COPY text is built here, on the planning thread; the writer thread only sends it.
        statement, payload, ids = prepare_copy(model, rows, with_ids)
        self.ops.append(("copy", statement, payload))
        return ids

    def bump_image_count(self, study_id: int, n: int) -> None:
        self.ops.append(("bump", study_id, n))

    def mark_has_report(self, study_ids: list[int]) -> None:
        self.ops.append(("report", study_ids))

    def refresh_facets(self, study_ids: list[int]) -> None:
        self.ops.append(("facets", study_ids))

    def apply(self) -> None:
        direct = DirectSink()
        for op in self.ops:
            if op[0] == "copy":
                run_copy(op[1], op[2])
            elif op[0] == "bump":
                direct.bump_image_count(op[1], op[2])
            elif op[0] == "report":
                direct.mark_has_report(op[1])
            else:
                direct.refresh_facets(op[1])


def _fast_commit_settings() -> None:
    if connection.vendor == "postgresql":
        # Batches are redone by a re-run if lost, and PostgreSQL keeps commit order, so a crash can
        # lose the newest batches but never leave a later state (the job's success) without them.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


class PipelinedWriter:
    """Manifest batches on PostgreSQL: this thread parses and plans batch N+1 while a writer thread, on
    its own connection, commits batch N (one transaction per batch, in order). Python and the
    database then work at the same time instead of taking turns.

    A batch counts once it has committed: its `on_commit` callback runs on the submitting thread, at a
    later `submit` or at `close`, never for a batch whose transaction failed.
    """

    def __init__(self, project: Project, dataset: str, cache: ImportCache):
        import queue
        import threading

        self.project, self.dataset, self.cache = project, dataset, cache
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        # (on_commit, outcome) of committed batches, appended by the writer thread, drained by this one.
        self.committed: deque = deque()
        self.thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
        self.thread.start()

    @staticmethod
    def usable() -> bool:
        # Inside an outer transaction (tests) a second connection could not see its rows.
        return connection.vendor == "postgresql" and not connection.in_atomic_block

    def submit(self, items: list[IngestItem], on_commit=None) -> BatchOutcome:
        """Plan a batch and queue it for writing; return its planned outcome (not yet committed).

        `on_commit(outcome)` is called on this thread once the batch's transaction has committed.
        """
        self.report_committed()
        self._raise_if_failed()
        sink = DeferredSink()
        added = {"image_keys": set(), "hashes": set(), "patients": {}, "studies": {}, "reported": set()}
        outcome = _write(self.project, self.dataset, items, self.cache, added, sink)
        # Optimistic: a failed batch fails the whole job, and a re-run rebuilds the cache from the database.
        self.cache.merge(added)
        self.queue.put((sink, on_commit, outcome))
        return outcome

    def close(self) -> None:
        """Wait for the queued batches; report the committed ones, then raise if one failed."""
        self.queue.put(None)
        self.thread.join()
        self.report_committed()
        self._raise_if_failed()

    def report_committed(self) -> None:
        """Run the `on_commit` callbacks of the batches committed since the last call, in order."""
        while self.committed:
            on_commit, outcome = self.committed.popleft()
            if on_commit is not None:
                on_commit(outcome)

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"writing a batch failed: {self.error}") from self.error

    def _run(self) -> None:
        from django.db import connections

        try:
            while True:
                job = self.queue.get()
                if job is None:
                    return
                if self.error is not None:
                    continue  # keep draining so the producer never blocks
                sink, on_commit, outcome = job
                try:
                    with transaction.atomic():
                        _fast_commit_settings()
                        sink.apply()
                except BaseException as exc:  # reported to the producer on its next submit or close
                    self.error = exc
                else:
                    self.committed.append((on_commit, outcome))
        finally:
            connections.close_all()


def write_batch(
    project: Project, dataset: str, items: list[IngestItem], before_commit=None, cache=None
) -> BatchOutcome:
    """Insert the batch's new images with their patients, studies, series and reports (one transaction)."""
    cache = cache or ImportCache(project, dataset)
    added = {"image_keys": set(), "hashes": set(), "patients": {}, "studies": {}, "reported": set()}
    with transaction.atomic():
        _fast_commit_settings()
        outcome = _write(project, dataset, items, cache, added, DirectSink())
        if before_commit:
            before_commit()
    cache.merge(added)
    return outcome


def _write(project, dataset, items, cache: ImportCache, added: dict, sink: DirectSink) -> BatchOutcome:
    outcome = BatchOutcome()
    _strip_controls(items)  # before the duplicate check, so a key with a stray NUL matches its clean twin
    fresh: list[IngestItem] = []
    for item in items:
        digest = item.content_sha256
        if (
            item.image_key in cache.image_keys
            or item.image_key in added["image_keys"]
            or (digest and (digest in cache.hashes or digest in added["hashes"]))
        ):
            outcome.duplicates += 1
            continue
        added["image_keys"].add(item.image_key)
        if digest:
            added["hashes"].add(digest)
        fresh.append(item)
    if not fresh:
        return outcome

    patient_ids, outcome.patients_created = _patients(project, fresh, cache, added, sink)
    study_ids, outcome.studies_created = _studies(project, dataset, fresh, patient_ids, cache, added, sink)
    series_ids = _series(fresh, study_ids)
    sink.insert(
        Image,
        (
            {
                "project_id": project.pk,
                "study_id": study_ids[i.study_key],
                "series_id": series_ids.get((i.study_key, i.series_uid)),
                "image_key": i.image_key,
                "view_position": i.view_position,
                "modality": i.modality,
                "rows": i.rows,
                "columns": i.columns,
                "pixel_spacing_row": i.pixel_spacing[0] if i.pixel_spacing else None,
                "pixel_spacing_col": i.pixel_spacing[1] if i.pixel_spacing else None,
                "photometric": i.photometric,
                "bits_stored": i.bits_stored,
                "burned_in_annotation": i.burned_in,
                # Text in the pixels must be burned out before the image may be exported (services.redaction).
                "redaction": (Redaction.NEEDED if i.burned_in else Redaction.NONE).value,
                "content_sha256": i.content_sha256,
                "original": i.original,
                "source_path": i.source_path[:500],
                "render_status": i.render_status,
            }
            for i in fresh
        ),
    )
    outcome.reports_created = _reports(dataset, fresh, study_ids, cache, added, sink)
    # New studies got their facets with their row; a study from an earlier batch may have gained a view or
    # a report here, so its facets are recomputed after this batch's rows.
    existing = sorted({pk for key, pk in study_ids.items() if key not in added["studies"]})
    if existing:
        sink.refresh_facets(existing)
    outcome.imported = len(fresh)
    return outcome


def _patients(project: Project, items, cache: ImportCache, added: dict, sink) -> tuple[dict[str, int], int]:
    sex_by_key = {}
    for item in items:
        sex_by_key.setdefault(item.patient_key, item.sex)
    ids = {k: cache.patients[k] for k in sex_by_key if k in cache.patients}
    new = [{"project_id": project.pk, "pseudo_id": k, "sex": s} for k, s in sex_by_key.items() if k not in ids]
    if new:
        for row, pk in zip(new, sink.insert(Patient, new, with_ids=True), strict=True):
            ids[row["pseudo_id"]] = pk
            added["patients"][row["pseudo_id"]] = pk
    return ids, len(new)


def _studies(project, dataset, items, patient_ids, cache: ImportCache, added: dict, sink) -> tuple[dict[str, int], int]:
    counts = Counter(i.study_key for i in items)
    first: dict[str, IngestItem] = {}
    by_key: dict[str, list[IngestItem]] = {}
    for item in items:
        first.setdefault(item.study_key, item)
        by_key.setdefault(item.study_key, []).append(item)
    ids = {k: cache.studies[k] for k in first if k in cache.studies}
    # Studies that already existed (a second image of a study, in a later batch) get their count bumped.
    for key, study_id in ids.items():
        sink.bump_image_count(study_id, counts[key])
    new = [
        {
            "project_id": project.pk,
            "patient_id": patient_ids[i.patient_key],
            "dataset": dataset,
            "study_key": key,
            "study_date": i.study_date,
            "accession": i.accession,
            "age_years": i.age_years,
            "sex": i.sex,
            "has_report": bool(i.report_text),
            "image_count": counts[key],
            "facets": _new_study_facets(dataset, by_key[key]),
        }
        for key, i in first.items()
        if key not in ids
    ]
    if new:
        for row, pk in zip(new, sink.insert(Study, new, with_ids=True), strict=True):
            ids[row["study_key"]] = pk
            added["studies"][row["study_key"]] = pk
    return ids, len(new)


def _new_study_facets(dataset: str, items: list[IngestItem]) -> TokenArray:
    """A new study's facets from its items in this batch, by the rules the rows follow: the study row's
    has_report comes from its first item, and _reports keeps the first item with a report or labels (and
    marks the study reported when that one has text)."""
    report = next((i for i in items if i.report_text or i.source_labels), None)
    has_report = bool(items[0].report_text) or bool(report and report.report_text)
    views = {i.view_position for i in items}
    labels = report.source_labels if report else None
    return TokenArray(facets.facets_for_new_study(dataset, items[0].sex, has_report, views, labels))


def _series(items, study_ids) -> dict[tuple[str, str], int]:
    wanted = {(i.study_key, i.series_uid): i for i in items if i.series_uid}
    if not wanted:
        return {}
    study_pks = {study_ids[s] for s, _ in wanted}
    by_study = {v: k for k, v in study_ids.items()}
    ids = {
        (by_study[study_id], uid): pk
        for pk, study_id, uid in Series.objects.filter(
            study_id__in=study_pks, series_uid__in=[u for _, u in wanted]
        ).values_list("id", "study_id", "series_uid")
    }
    new = [
        Series(study_id=study_ids[s], series_uid=u, modality=i.modality, series_number=i.series_number)
        for (s, u), i in wanted.items()
        if (s, u) not in ids
    ]
    for series in Series.objects.bulk_create(new):
        ids[(by_study[series.study_id], series.series_uid)] = series.pk
    return ids


def _reports(dataset, items, study_ids, cache: ImportCache, added: dict, sink) -> int:
    first: dict[str, IngestItem] = {}
    for item in items:
        if item.report_text or item.source_labels:
            first.setdefault(item.study_key, item)
    if not first:
        return 0
    new = [
        {
            "study_id": study_ids[key],
            "text": i.report_text or "",
            "source": dataset,
            "source_labels": i.source_labels,
            "scrubbed_items": i.scrubbed_items,
        }
        for key, i in first.items()
        if study_ids[key] not in cache.reported and study_ids[key] not in added["reported"]
    ]
    sink.insert(Report, new)
    added["reported"].update(r["study_id"] for r in new)
    with_text = [r["study_id"] for r in new if r["text"]]
    if with_text:
        sink.mark_has_report(with_text)
    return len(new)
