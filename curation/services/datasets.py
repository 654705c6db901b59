"""Dataset versions: freeze a definition into immutable rows with patient-level splits, compare two versions.

Freezing reads the project in batches of patients (never the whole project at once) in two passes over the
same batch function: the first collects each patient's positive findings for the label-stratified split,
the second writes the rows with their split, labels and the source of each label. Each label comes from the
strongest source that has an opinion on it, in the definition's order (by default adjudicated or agreed
review > single review > mined > the dataset's own label). The version is written, then its rows, then
sealed with the rows' content hash, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from .. import audit
from ..models import (
    DatasetDefinition,
    DatasetRow,
    DatasetVersion,
    Image,
    Patient,
    Project,
    RenderStatus,
    Report,
    Study,
    User,
)
from ..models.datasets import LABEL_SOURCES, Split, default_fractions
from ..permissions import Action, action

PATIENT_BATCH = 500  # patients per read: a few thousand images and their labels at a time
ROW_BATCH = 2000  # rows per bulk insert
DEFAULT_DEFINITION = "default"
NO_FINDING = ("No Finding",)
SPLITS = (Split.TRAIN.value, Split.VALID.value, Split.TEST.value)
# Exclusion reasons counted in a version's summary.
EXCLUDED_REASONS = ("view", "dataset", "qc", "burned_in", "unreadable", "excluded")


def _exportable_filter(project: Project) -> Q:
    """Images an export may use as far as burned-in text goes.

    curation.services.redaction.exportable_images (the mask review issue) knows redacted images; where it is
    not there, an image whose DICOM header said BurnedInAnnotation YES (Image.burned_in_annotation, set at
    import) is left out, since nothing could have redacted it."""
    try:
        from .redaction import exportable_images
    except ImportError:  # pragma: no cover - only before the redaction feature exists
        return ~Q(burned_in_annotation=True)
    return Q(pk__in=exportable_images(project).values("pk"))


# --- definitions ------------------------------------------------------------------------------------


def clean_definition(data: dict) -> dict:
    """A definition's fields, checked (ValidationError with one message per bad field)."""
    errors: dict[str, str] = {}
    out: dict = {}
    views = data.get("views", [])
    if not isinstance(views, list) or any(v not in ("PA", "AP", "LAT", "") for v in views):
        errors["views"] = 'Views are a list of "PA", "AP", "LAT" or "" (unknown).'
    out["views"] = views
    datasets = data.get("datasets", [])
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        errors["datasets"] = "Datasets are a list of source names."
    out["datasets"] = datasets
    precedence = data.get("label_precedence", list(LABEL_SOURCES))
    if (
        not isinstance(precedence, list)
        or len(set(precedence)) != len(precedence)
        or any(s not in LABEL_SOURCES for s in precedence)
    ):
        errors["label_precedence"] = f"Label precedence is an ordered list of {', '.join(LABEL_SOURCES)}."
    out["label_precedence"] = precedence
    decisions = data.get("qc_decisions", ["accept", "review", "none"])
    if not isinstance(decisions, list) or any(d not in ("accept", "review", "reject", "none") for d in decisions):
        errors["qc_decisions"] = 'QC decisions are a list of "accept", "review", "reject", "none".'
    out["qc_decisions"] = decisions
    agreement = data.get("min_agreement", 1)
    if type(agreement) is not int or not 1 <= agreement <= 10:
        errors["min_agreement"] = "Minimum agreement is a whole number of reads from 1 to 10."
    out["min_agreement"] = agreement
    exclusions = data.get("exclusions", {})
    if not isinstance(exclusions, dict) or any(
        k not in ("patients", "studies", "images") or not isinstance(v, list) for k, v in exclusions.items()
    ):
        errors["exclusions"] = 'Exclusions are {"patients": [...], "studies": [...], "images": [...]} of keys.'
    out["exclusions"] = exclusions
    fractions = data.get("split_fractions", default_fractions())
    if (
        not isinstance(fractions, dict)
        or set(fractions) != set(SPLITS)
        or any(not isinstance(v, int | float) or v < 0 for v in fractions.values())
        or abs(sum(fractions.values()) - 1.0) > 1e-6
    ):
        errors["split_fractions"] = "Split fractions are train, valid and test shares that add up to 1."
    out["split_fractions"] = fractions
    seed = data.get("split_seed", 13)
    if type(seed) is not int:
        errors["split_seed"] = "The split seed is a whole number."
    out["split_seed"] = seed
    if errors:
        raise ValidationError(errors)
    return out


def default_definition(project: Project) -> DatasetDefinition:
    """The project's default definition: all studies, label precedence as above, QC rejects left out."""
    existing = DatasetDefinition.objects.filter(project=project, name=DEFAULT_DEFINITION).order_by("-id").first()
    return existing or DatasetDefinition.objects.create(project=project, name=DEFAULT_DEFINITION)


def create_definition(user: User | None, project: Project, name: str, data: dict) -> DatasetDefinition:
    """A new definition (definitions are kept as written: a changed one is a new row)."""
    if user is not None:
        action(Action.FREEZE_DATASETS).check(user, project)
    return DatasetDefinition.objects.create(project=project, name=name, created_by=user, **clean_definition(data))


# --- labels -----------------------------------------------------------------------------------------


def label_space_of(project: Project, run) -> str:
    if run is not None:
        return run.label_space
    return project.options.get("label_space") or "chexpert"


def _newest_run(project: Project):
    from nlp.models import LabelingRun

    return LabelingRun.objects.filter(project=project, complete=True).order_by("-id").first()


@dataclass
class _Context:
    """What every batch of a freeze reads: the definition, the label space and the sources' versions."""

    project: Project
    definition: DatasetDefinition
    space: str
    run: object | None
    vocabulary: object
    exportable: Q
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXCLUDED_REASONS, 0))

    @property
    def precedence(self) -> list[str]:
        return list(self.definition.label_precedence)


def _native_labels(ctx: _Context, study_ids: list[int]) -> dict[int, dict[str, str]]:
    """The dataset's own labels (Report.source_labels), mapped into the version's label space."""
    from nlp.core.label_spaces import harmonise
    from nlp.services import NATIVE_DATASET

    out: dict[int, dict[str, str]] = {}
    maps = ctx.vocabulary.native_maps
    rows = Report.objects.filter(study_id__in=study_ids).exclude(source_labels={})
    for study_id, source, labels in rows.values_list("study_id", "source", "source_labels"):
        dataset = NATIVE_DATASET.get(source)
        table = maps.get(dataset) if dataset else None
        if not table or not isinstance(labels, dict):
            continue
        # Only the native labels the vocabulary maps (PadChest alone has ~190 names).
        known = {k: v for k, v in labels.items() if str(k).strip().lower() in table}
        if known:
            mapped = harmonise(known, dataset, ctx.space, ctx.vocabulary)
            out[study_id] = {label: status for label, status in mapped.items() if status}
    return out


def _mined_labels(ctx: _Context, study_ids: list[int]) -> dict[int, dict[str, str]]:
    from nlp.models import MinedLabel

    out: dict[int, dict[str, str]] = {}
    if ctx.run is None:
        return out
    rows = MinedLabel.objects.filter(run=ctx.run, study_id__in=study_ids).exclude(status="")
    for study_id, label, status in rows.values_list("study_id", "label", "status"):
        out.setdefault(study_id, {})[label] = status
    return out


def _review_labels(ctx: _Context, study_ids: list[int]) -> dict[int, tuple[str, dict[str, str]]]:
    """Final answers of label review items: (source, {label: status}); "not_mentioned" becomes ""."""
    from labeling.models import ReviewItem, ReviewKind, ReviewState

    out: dict[int, tuple[str, dict[str, str]]] = {}
    items = ReviewItem.objects.filter(
        project=ctx.project,
        kind=ReviewKind.LABEL,
        study_id__in=study_ids,
        state__in=[ReviewState.DECIDED, ReviewState.FINAL],
    )
    for study_id, state, reads, final in items.values_list("study_id", "state", "required_reads", "final"):
        if not isinstance(final, dict) or not isinstance(final.get("labels"), dict):
            continue
        if state == ReviewState.FINAL:
            source = "adjudicated"
        elif reads < ctx.definition.min_agreement:
            continue  # fewer agreeing reads than the definition asks for
        else:
            # A decided item's reads all agree (labeling.review.services._settle): its reads are its agreement.
            source = "agreed" if reads >= 2 else "single_review"
        labels = {k: ("" if v == "not_mentioned" else v) for k, v in final["labels"].items()}
        out[study_id] = (source, labels)
    return out


def resolve_labels(opinions: dict[str, dict[str, str]], precedence: Iterable[str]) -> dict[str, list[str]]:
    """{label: [status, source]} from each source's {label: status}: the first source in `precedence` with an
    opinion on a label wins it. Sources not in `precedence` are not used."""
    out: dict[str, list[str]] = {}
    for source in precedence:
        for label, status in opinions.get(source, {}).items():
            if label not in out:
                out[label] = [status, source]
    return dict(sorted(out.items()))


def _study_labels(ctx: _Context, study_ids: list[int]) -> dict[int, dict[str, list[str]]]:
    native = _native_labels(ctx, study_ids)
    mined = _mined_labels(ctx, study_ids)
    reviews = _review_labels(ctx, study_ids)
    out = {}
    for study_id in study_ids:
        opinions = {"dataset": native.get(study_id, {}), "mined": mined.get(study_id, {})}
        if study_id in reviews:
            source, labels = reviews[study_id]
            opinions[source] = labels
        out[study_id] = resolve_labels(opinions, ctx.precedence)
    return out


# --- admission --------------------------------------------------------------------------------------


def _qc_decisions(image_ids: list[int]) -> dict[int, str]:
    """The newest QC decision per image (the QC page's and review queue's view)."""
    from labeling.models import QcResult

    out: dict[int, str] = {}
    rows = QcResult.objects.filter(image_id__in=image_ids).order_by("image_id", "-id")
    for image_id, decision in rows.values_list("image_id", "decision"):
        out.setdefault(image_id, decision)
    return out


def _batch(ctx: _Context, patient_ids: list[int]) -> list[tuple[Patient, list[tuple[Study, list[dict]]]]]:
    """The admitted rows of a batch of patients, grouped by patient and study (each in version order)."""
    definition = ctx.definition
    exclusions = definition.exclusions or {}
    studies = Study.objects.filter(patient_id__in=patient_ids).select_related("patient")
    if definition.datasets:
        ctx.excluded["dataset"] += (
            Image.objects.filter(study__patient_id__in=patient_ids).exclude(study__dataset__in=definition.datasets)
        ).count()
        studies = studies.filter(dataset__in=definition.datasets)
    excluded_patients = set(exclusions.get("patients", ()))
    excluded_studies = set(exclusions.get("studies", ()))
    studies = [
        s for s in studies if s.patient.pseudo_id not in excluded_patients and s.study_key not in excluded_studies
    ]
    studies.sort(key=lambda s: (s.patient_id, s.study_date or date.min, s.pk))
    study_ids = [s.pk for s in studies]
    images: dict[int, list[Image]] = {}
    candidates = list(
        Image.objects.filter(study_id__in=study_ids)
        .only("pk", "study_id", "image_key", "view_position", "render_status", "burned_in_annotation")
        .order_by("study_id", "pk")
    )
    exportable = set(Image.objects.filter(study_id__in=study_ids).filter(ctx.exportable).values_list("pk", flat=True))
    qc = _qc_decisions([i.pk for i in candidates])
    excluded_images = set(exclusions.get("images", ()))
    admitted_qc = set(definition.qc_decisions)
    for image in candidates:
        reason = None
        if image.image_key in excluded_images:
            reason = "excluded"
        elif definition.views and image.view_position not in definition.views:
            reason = "view"
        elif image.render_status in (RenderStatus.FAILED, RenderStatus.MISSING):
            reason = "unreadable"
        elif image.pk not in exportable:
            reason = "burned_in"
        elif qc.get(image.pk, "none") not in admitted_qc:
            reason = "qc"
        if reason:
            ctx.excluded[reason] += 1
            continue
        images.setdefault(image.study_id, []).append(
            {
                "image": image,
                "qc": qc.get(image.pk, ""),
            }
        )
    labels = _study_labels(ctx, [s.pk for s in studies if s.pk in images])
    grouped: list[tuple[Patient, list[tuple[Study, list[dict]]]]] = []
    for study in studies:
        if study.pk not in images:
            continue
        entries = [dict(entry, labels=labels[study.pk]) for entry in images[study.pk]]
        if not grouped or grouped[-1][0].pk != study.patient_id:
            grouped.append((study.patient, []))
        grouped[-1][1].append((study, entries))
    return grouped


def _patient_batches(project: Project) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(
            Patient.objects.filter(project=project, pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:PATIENT_BATCH]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


# --- splits -----------------------------------------------------------------------------------------


def assign_splits(patients: dict[str, frozenset[str]], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Train / valid / test per patient: label-stratified, seeded, every patient in exactly one split.

    Patients are grouped by their rarest positive finding (patients with none form one group), each group is
    shuffled with the seed, and the groups are dealt out one after the other, each patient to the split
    furthest below its share so far: every group is spread over the splits in proportion, and the totals
    match the fractions to within one patient."""
    frequency: dict[str, int] = {}
    for positives in patients.values():
        for label in positives:
            frequency[label] = frequency.get(label, 0) + 1

    def stratum(positives: frozenset[str]) -> str:
        return min(positives, key=lambda label: (frequency[label], label)) if positives else ""

    groups: dict[str, list[str]] = {}
    for key in sorted(patients):
        groups.setdefault(stratum(patients[key]), []).append(key)
    rng = random.Random(seed)
    assigned: dict[str, str] = {}
    counts = dict.fromkeys(SPLITS, 0)
    total = 0
    for name in sorted(groups, key=lambda g: (len(groups[g]), g)):  # rarest strata first
        members = groups[name]
        rng.shuffle(members)
        for key in members:
            total += 1
            split = max(SPLITS, key=lambda s: (fractions.get(s, 0.0) * total - counts[s], -SPLITS.index(s)))
            counts[split] += 1
            assigned[key] = split
    return assigned


def _positives(labels: dict[str, list[str]]) -> set[str]:
    return {label for label, (status, _source) in labels.items() if status == "positive" and label not in NO_FINDING}


# --- freezing ---------------------------------------------------------------------------------------


def row_digest_line(row: DatasetRow) -> bytes:
    """The canonical serialisation of one row that the content hash is taken over."""
    record = [row.study_key, row.image_key, row.patient, row.split, row.labels]
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


def _qc_version(project: Project) -> str:
    from labeling.models import QcResult

    newest = QcResult.objects.filter(project=project).order_by("-id").values("method", "version", "job_id").first()
    return f"{newest['method']} {newest['version']} (job {newest['job_id']})" if newest else ""


def _review_version(project: Project) -> str:
    from labeling.models import ReviewDecision

    newest = ReviewDecision.objects.filter(item__project=project).aggregate(newest=Max("id"))["newest"]
    return f"decisions up to {newest}" if newest else ""


def freeze_version(
    user: User | None, project: Project, name: str, definition: DatasetDefinition | None = None
) -> DatasetVersion:
    """Freeze `definition` (the project's default one if None) into a new immutable version named `name`.

    `user` None is the system (the CLI, the demo); a user must be allowed FREEZE_DATASETS."""
    if user is not None:
        action(Action.FREEZE_DATASETS).check(user, project)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "Give the version a name of 1 to 100 characters."})
    if DatasetVersion.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"The project already has a version named {name!r}."})
    definition = definition or default_definition(project)
    run = _newest_run(project)
    from nlp.services import project_vocabulary

    ctx = _Context(
        project=project,
        definition=definition,
        space=label_space_of(project, run),
        run=run,
        vocabulary=project_vocabulary(project),
        exportable=_exportable_filter(project),
    )
    # Pass 1: each patient's positive findings, for the stratified split.
    positives: dict[str, frozenset[str]] = {}
    interned: dict[frozenset[str], frozenset[str]] = {}
    for patient_ids in _patient_batches(project):
        for patient, studies in _batch(ctx, patient_ids):
            found: set[str] = set()
            for _study, entries in studies:
                for entry in entries:
                    found |= _positives(entry["labels"])
            key = frozenset(found)
            positives[patient.pseudo_id] = interned.setdefault(key, key)
    splits = assign_splits(positives, definition.split_fractions, definition.split_seed)
    excluded = dict(ctx.excluded)
    ctx.excluded = dict.fromkeys(EXCLUDED_REASONS, 0)
    del positives, interned

    with transaction.atomic():
        version = DatasetVersion.objects.create(
            project=project,
            definition=definition,
            name=name,
            label_space=ctx.space,
            content_hash="",
            labeler_version=f"{run.labeler_version} (run {run.pk})" if run else "",
            qc_version=_qc_version(project),
            review_version=_review_version(project),
            frozen_by=user,
            frozen_at=timezone.now(),
        )
        digest = hashlib.sha256()
        summary = {s: {"rows": 0, "studies": 0, "patients": 0} for s in SPLITS}
        pending: list[DatasetRow] = []
        patient_index = 0
        rows = 0
        # Pass 2: the same batches, written with their split and numbering.
        for patient_ids in _patient_batches(project):
            for patient, studies in _batch(ctx, patient_ids):
                patient_index += 1
                split = splits[patient.pseudo_id]
                summary[split]["patients"] += 1
                for follow_up, (study, entries) in enumerate(studies):
                    summary[split]["studies"] += 1
                    for image_index, entry in enumerate(entries):
                        image = entry["image"]
                        row = DatasetRow(
                            version=version,
                            study_id=study.pk,
                            image_id=image.pk,
                            patient=patient.pseudo_id,
                            patient_index=patient_index,
                            study_key=study.study_key,
                            follow_up=follow_up,
                            image_key=image.image_key,
                            image_index=image_index,
                            dataset=study.dataset,
                            view_position=image.view_position,
                            sex=study.sex or patient.sex,
                            age_years=study.age_years,
                            qc_decision=entry["qc"],
                            split=split,
                            labels=entry["labels"],
                        )
                        digest.update(row_digest_line(row))
                        pending.append(row)
                        summary[split]["rows"] += 1
                        rows += 1
                if len(pending) >= ROW_BATCH:
                    DatasetRow.objects.bulk_create(pending)
                    pending = []
        if pending:
            DatasetRow.objects.bulk_create(pending)
        # Sealing: the one UPDATE a version ever gets (the PostgreSQL trigger allows it while the hash is empty).
        sealed = {"splits": summary, "excluded": excluded, "patients": patient_index}
        DatasetVersion.objects.filter(pk=version.pk, content_hash="").update(
            content_hash=digest.hexdigest(), row_count=rows, summary=sealed
        )
        version = DatasetVersion.objects.get(pk=version.pk)
        audit.dataset_version_frozen(user, version)
    return version


# --- reading ----------------------------------------------------------------------------------------


def iter_rows(version: DatasetVersion, fields: Iterable[str], batch: int = 5000) -> Iterator[tuple]:
    """The version's rows in order, as tuples of `fields` (the first is always the row id), read in keyset
    batches so that an export of 10^6 rows holds one batch at a time."""
    names = ["id", *fields]
    last = 0
    while True:
        chunk = list(DatasetRow.objects.filter(version=version, id__gt=last).order_by("id").values_list(*names)[:batch])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1][0]


def versions_of(user: User, project: Project):
    action(Action.VIEW_DATASETS).check(user, project)
    return DatasetVersion.objects.filter(project=project).select_related("definition", "frozen_by")


def get_version(user: User | None, project: Project, version_id: int, what: Action = Action.VIEW_DATASETS):
    from django.http import Http404

    if user is not None:
        action(what).check(user, project)
    version = DatasetVersion.objects.filter(project=project, pk=version_id).first()
    if version is None:
        raise Http404("No such dataset version.")
    return version


# --- comparing --------------------------------------------------------------------------------------

SAMPLE = 50  # example keys listed per kind of change


def compare_versions(old: DatasetVersion, new: DatasetVersion) -> dict:
    """Rows (by image key) added, removed and changed (split or labels) from `old` to `new`, and per label
    how many rows gained it, lost it or changed its status or source. A merge over both versions in image
    key order (keyset batches), so two versions of 10^6 rows compare in bounded memory."""
    counts = {"added": 0, "removed": 0, "changed": 0, "unchanged": 0, "split_changed": 0}
    samples: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
    per_label: dict[str, dict[str, int]] = {}

    def bump(label: str, what: str) -> None:
        per_label.setdefault(label, {"added": 0, "removed": 0, "status_changed": 0, "source_changed": 0})
        per_label[label][what] += 1

    def note(kind: str, key: str) -> None:
        counts[kind] += 1
        if len(samples[kind]) < SAMPLE:
            samples[kind].append(key)

    left = _by_key(old)
    right = _by_key(new)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            note("removed", a[0])
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            note("added", b[0])
            b = next(right, None)
        else:
            key, split_a, labels_a = a
            _key, split_b, labels_b = b
            if split_a != split_b:
                counts["split_changed"] += 1
            if labels_a != labels_b:
                for label in set(labels_a) | set(labels_b):
                    if label not in labels_a:
                        bump(label, "added")
                    elif label not in labels_b:
                        bump(label, "removed")
                    elif labels_a[label][0] != labels_b[label][0]:
                        bump(label, "status_changed")
                    elif labels_a[label][1] != labels_b[label][1]:
                        bump(label, "source_changed")
            if split_a != split_b or labels_a != labels_b:
                note("changed", key)
            else:
                counts["unchanged"] += 1
            a, b = next(left, None), next(right, None)
    return {
        "old": {"id": old.pk, "name": old.name, "content_hash": old.content_hash, "rows": old.row_count},
        "new": {"id": new.pk, "name": new.name, "content_hash": new.content_hash, "rows": new.row_count},
        "rows": counts,
        "labels": dict(sorted(per_label.items())),
        "examples": samples,
    }


def _by_key(version: DatasetVersion, batch: int = 5000) -> Iterator[tuple[str, str, dict]]:
    """Rows by image key in code-point order (the merge compares keys in Python): byte order collations."""
    from django.db import connection
    from django.db.models.functions import Collate

    key = Collate("image_key", "C" if connection.vendor == "postgresql" else "BINARY")
    last = None
    while True:
        qs = DatasetRow.objects.filter(version=version).annotate(key=key)
        if last is not None:
            qs = qs.filter(key__gt=last)
        chunk = list(qs.order_by("key").values_list("image_key", "split", "labels")[:batch])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1][0]
