"""Writes batches of ingested images into Patient/Study/Series/Image/Report rows, set-based.

One transaction per batch, so a worker killed mid-import leaves whole batches or nothing; a
re-run skips what is already there (by image key and content hash) and adds the rest.
A batch costs a fixed number of queries whatever its size (no per-row round trips).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.db.models import F

from ..models import Image, Patient, Project, RenderStatus, Report, Series, Study


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


@dataclass(slots=True)
class BatchOutcome:
    imported: int = 0
    duplicates: int = 0
    studies_created: int = 0
    patients_created: int = 0
    reports_created: int = 0


def existing_image_keys(project: Project, keys: list[str]) -> set[str]:
    return set(Image.objects.filter(project=project, image_key__in=keys).values_list("image_key", flat=True))


def existing_hashes(project: Project, hashes: list[str]) -> set[str]:
    hashes = [h for h in hashes if h]
    if not hashes:
        return set()
    return set(
        Image.objects.filter(project=project, content_sha256__in=hashes).values_list("content_sha256", flat=True)
    )


@transaction.atomic
def write_batch(project: Project, dataset: str, items: list[IngestItem], before_commit=None) -> BatchOutcome:
    """Insert the batch's new images with their patients, studies, series and reports."""
    outcome = BatchOutcome()
    known_keys = existing_image_keys(project, [i.image_key for i in items])
    known_hashes = existing_hashes(project, [i.content_sha256 for i in items])
    fresh: list[IngestItem] = []
    seen_keys: set[str] = set()
    seen_hashes: set[str] = set()
    for item in items:
        dup_hash = item.content_sha256 and (item.content_sha256 in known_hashes or item.content_sha256 in seen_hashes)
        if item.image_key in known_keys or item.image_key in seen_keys or dup_hash:
            outcome.duplicates += 1
            continue
        seen_keys.add(item.image_key)
        if item.content_sha256:
            seen_hashes.add(item.content_sha256)
        fresh.append(item)
    if not fresh:
        if before_commit:
            before_commit()
        return outcome

    patient_ids, outcome.patients_created = _patients(project, fresh)
    study_ids, outcome.studies_created = _studies(project, dataset, fresh, patient_ids)
    series_ids = _series(fresh, study_ids)
    Image.objects.bulk_create(
        [
            Image(
                project=project,
                study_id=study_ids[i.study_key],
                series_id=series_ids.get((i.study_key, i.series_uid)),
                image_key=i.image_key,
                view_position=i.view_position,
                modality=i.modality,
                rows=i.rows,
                columns=i.columns,
                pixel_spacing_row=i.pixel_spacing[0] if i.pixel_spacing else None,
                pixel_spacing_col=i.pixel_spacing[1] if i.pixel_spacing else None,
                photometric=i.photometric,
                bits_stored=i.bits_stored,
                burned_in_annotation=i.burned_in,
                content_sha256=i.content_sha256,
                original=i.original,
                source_path=i.source_path[:500],
                render_status=i.render_status,
            )
            for i in fresh
        ],
        batch_size=2000,
    )
    outcome.reports_created = _reports(dataset, fresh, study_ids)
    outcome.imported = len(fresh)
    if before_commit:
        before_commit()
    return outcome


def _patients(project: Project, items: list[IngestItem]) -> tuple[dict[str, int], int]:
    sex_by_key = {}
    for item in items:
        sex_by_key.setdefault(item.patient_key, item.sex)
    ids = dict(Patient.objects.filter(project=project, pseudo_id__in=list(sex_by_key)).values_list("pseudo_id", "id"))
    new = [Patient(project=project, pseudo_id=k, sex=s) for k, s in sex_by_key.items() if k not in ids]
    if new:
        for patient in Patient.objects.bulk_create(new, batch_size=2000):
            ids[patient.pseudo_id] = patient.pk
    return ids, len(new)


def _studies(project, dataset, items, patient_ids) -> tuple[dict[str, int], int]:
    counts = Counter(i.study_key for i in items)
    first: dict[str, IngestItem] = {}
    for item in items:
        first.setdefault(item.study_key, item)
    ids = dict(
        Study.objects.filter(project=project, dataset=dataset, study_key__in=list(first)).values_list("study_key", "id")
    )
    new = [
        Study(
            project=project,
            patient_id=patient_ids[i.patient_key],
            dataset=dataset,
            study_key=key,
            study_date=i.study_date,
            accession=i.accession,
            age_years=i.age_years,
            sex=i.sex,
            has_report=bool(i.report_text),
            image_count=counts[key],
        )
        for key, i in first.items()
        if key not in ids
    ]
    # Studies that already existed (a second image of a study, in a later batch) get their count bumped.
    for key, study_id in ids.items():
        Study.objects.filter(pk=study_id).update(image_count=F("image_count") + counts[key])
    if new:
        for study in Study.objects.bulk_create(new, batch_size=2000):
            ids[study.study_key] = study.pk
    return ids, len(new)


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


def _reports(dataset, items, study_ids) -> int:
    first: dict[str, IngestItem] = {}
    for item in items:
        if item.report_text or item.source_labels:
            first.setdefault(item.study_key, item)
    if not first:
        return 0
    have = set(Report.objects.filter(study_id__in=[study_ids[k] for k in first]).values_list("study_id", flat=True))
    new = [
        Report(
            study_id=study_ids[key],
            text=i.report_text or "",
            source=dataset,
            source_labels=i.source_labels,
            scrubbed_items=i.scrubbed_items,
        )
        for key, i in first.items()
        if study_ids[key] not in have
    ]
    Report.objects.bulk_create(new, batch_size=2000)
    with_text = [r.study_id for r in new if r.text]
    if with_text:
        Study.objects.filter(pk__in=with_text, has_report=False).update(has_report=True)
    return len(new)
