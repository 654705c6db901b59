"""The project dashboard's figures: what the dataset holds, and how far mining, mask QC and review have come.

Cheap on 10^6 studies. Counts come from indexes (review states, jobs) or from what a job already summed (a
labeling run's `stats`). Three figures need a pass over rows, and each is bounded:
- studies, reports and images, and the dataset's own label prevalence, change only through import jobs, so
  they are cached until the project's newest import job changes (the prevalence also reads only a sample
  of the newest `DATASET_LABEL_SAMPLE` reports);
- the QC decisions and Dice histogram read one QC job's results, bucketed in SQL, and are cached per job
  (a finished job's results never change);
- reviewed prevalence reads the final answers of decided items, which people make one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q, Value
from django.db.models.functions import Floor, Greatest, Least

from labeling.models import Decision, Mask, QcResult, ReferenceBankFile, ReviewItem, ReviewKind, ReviewState
from nlp.models import LabelingRun

from ..models import Image, Job, JobStatus, Project, Study
from ..models.jobs import ACTIVE_STATUSES

DATASET_LABEL_SAMPLE = 20_000  # reports read for the dataset's label prevalence
DICE_BINS = 20  # histogram buckets of width 0.05 over [0, 1]
CACHE_SECONDS = 3600  # an upper bound: the keys change with the data's own jobs
MINED_STATUSES = ("positive", "uncertain", "negative", "not_mentioned")
DONE_STATES = (ReviewState.DECIDED, ReviewState.FINAL)


@dataclass(frozen=True)
class Prevalence:
    """Share of reports positive for one label, by source (None: that source has nothing on it)."""

    label: str
    dataset: float | None
    mined: float | None
    reviewed: float | None


@dataclass(frozen=True)
class QueueProgress:
    kind: str
    name: str
    total: int
    states: dict[str, int]  # state label -> items
    done: int  # decided or final

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


@dataclass(frozen=True)
class DashboardFigures:
    studies: int
    reports: int
    images: int
    run: LabelingRun | None  # the newest complete labeling run
    mined_by_status: dict[str, int]
    qc_job: Job | None  # the newest succeeded QC job, whose results the QC figures show
    qc_decisions: dict[str, int]
    dice_histogram: list[tuple[float, float, int]]
    review: list[QueueProgress]
    label_space: str
    prevalence: list[Prevalence]
    dataset_reports: int  # reports with dataset labels that the dataset prevalence read
    dataset_sampled: bool  # True when that was a sample of the newest reports, not all of them
    reviewed_items: int
    has_masks: bool
    has_bank: bool
    needs_mining: bool  # reports, but no complete labeling run
    needs_qc: bool  # masks, but no QC result
    active: dict[str, Job] = field(default_factory=dict)  # queued or running mining / QC job, by kind


def dashboard_figures(project: Project) -> DashboardFigures:
    """Everything the dashboard shows about the project's data, in about a dozen indexed queries."""
    ingest = _ingest_figures(project)
    run = LabelingRun.objects.filter(project=project, complete=True).order_by("-id").first()
    qc_job = Job.objects.filter(project=project, kind="qc.run", status=JobStatus.SUCCEEDED).order_by("-id").first()
    decisions, histogram = _qc_figures(qc_job)
    review = review_progress(project)
    label_queue = next((q for q in review if q.kind == ReviewKind.LABEL), None)
    space = run.label_space if run else (project.options.get("label_space") or "chexpert")
    reviewed = reviewed_label_counts(project)
    reviewed_items = label_queue.done if label_queue else 0
    has_masks = Mask.objects.filter(project=project).exists()
    active = {
        job.kind: job
        for job in Job.objects.filter(
            project=project, kind__in=("nlp.mine_labels", "qc.run"), status__in=ACTIVE_STATUSES
        ).order_by("id")
    }
    return DashboardFigures(
        studies=ingest["studies"],
        reports=ingest["reports"],
        images=ingest["images"],
        run=run,
        mined_by_status=mined_by_status(run),
        qc_job=qc_job,
        qc_decisions=decisions,
        dice_histogram=histogram,
        review=review,
        label_space=space,
        prevalence=prevalence(
            space, ingest["dataset_labels"], ingest["dataset_reports"], run, reviewed, reviewed_items
        ),
        dataset_reports=sum(ingest["dataset_reports"].values()),
        dataset_sampled=ingest["dataset_sampled"],
        reviewed_items=reviewed_items,
        has_masks=has_masks,
        has_bank=ReferenceBankFile.objects.filter(project=project, active=True).exists(),
        needs_mining=ingest["reports"] > 0 and run is None,
        needs_qc=has_masks and not QcResult.objects.filter(project=project).exists(),
        active=active,
    )


# --- what imports made ------------------------------------------------------------------------------


def _ingest_figures(project: Project) -> dict:
    """Counts and dataset labels, cached until the project's newest import job changes (its progress too,
    so a running import shows its rows as they come). The project's creation time is in the key because
    ids are reused when a database is recreated."""
    newest = (
        Job.objects.filter(project=project, kind="ingest.import")
        .order_by("-id")
        .values_list("id", "updated_at")
        .first()
    )
    version = f"{newest[0]}-{newest[1].timestamp()}" if newest else "none"
    key = f"dashboard:ingest:{project.pk}:{project.created_at.timestamp()}:{version}"
    figures = cache.get(key)
    if figures is None:
        # Study has no index on has_report: this is one pass over the project's studies, hence the cache.
        studies = Study.objects.filter(project=project).aggregate(
            studies=Count("id"), reports=Count("id", filter=Q(has_report=True))
        )
        labels, reports, sampled = dataset_label_counts(project)
        figures = {
            **studies,
            "images": Image.objects.filter(project=project).count(),
            "dataset_labels": labels,
            "dataset_reports": reports,
            "dataset_sampled": sampled,
        }
        cache.set(key, figures, CACHE_SECONDS)
    return figures


# Over the newest reports with dataset labels (one walk down the study index (project, -id), one report probe
# each): a row per (source, label) with its positive and uncertain counts, then a row per source with a NULL
# label and its number of reports. The sample is read once (a CTE referenced twice is materialised).
_DATASET_LABELS_PG = """
    WITH s AS (
        SELECT r.source, r.source_labels FROM curation_report r JOIN curation_study st ON st.id = r.study_id
        WHERE st.project_id = %s AND jsonb_typeof(r.source_labels) = 'object' AND r.source_labels <> '{}'::jsonb
        ORDER BY st.id DESC LIMIT %s
    )
    SELECT s.source, e.key, COUNT(*) FILTER (WHERE e.value = '1'::jsonb), COUNT(*) FILTER (WHERE e.value = '-1'::jsonb)
    FROM s CROSS JOIN LATERAL jsonb_each(s.source_labels) e GROUP BY s.source, e.key
    UNION ALL
    SELECT s.source, NULL, COUNT(*), 0 FROM s GROUP BY s.source
"""
_DATASET_LABELS_SQLITE = """
    WITH s AS (
        SELECT r.source AS source, r.source_labels AS source_labels FROM curation_report r
        JOIN curation_study st ON st.id = r.study_id
        WHERE st.project_id = %s AND r.source_labels <> '{}' ORDER BY st.id DESC LIMIT %s
    )
    SELECT s.source, e.key, SUM(CASE WHEN e.value = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN e.value = -1 THEN 1 ELSE 0 END)
    FROM s, json_each(s.source_labels) e GROUP BY s.source, e.key
    UNION ALL
    SELECT s.source, NULL, COUNT(*), 0 FROM s GROUP BY s.source
"""


def dataset_label_counts(project: Project, limit: int = DATASET_LABEL_SAMPLE):
    """The dataset's own labels (Report.source_labels) over the newest `limit` reports that have any:
    ({(source, native label): (positive, uncertain)}, {source: reports read}, whether the cap was hit).

    Aggregated in SQL (jsonb_each / json_each), so only one row per label leaves the database."""
    sql = _DATASET_LABELS_PG if connection.vendor == "postgresql" else _DATASET_LABELS_SQLITE
    labels: dict[tuple[str, str], tuple[int, int]] = {}
    reports: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, limit])
        for source, key, positive, uncertain in cursor.fetchall():
            if key is None:
                reports[source] = int(positive)
            else:
                labels[(source, key)] = (int(positive or 0), int(uncertain or 0))
    return labels, reports, sum(reports.values()) >= limit


# --- mining, QC, review -----------------------------------------------------------------------------


def mined_by_status(run: LabelingRun | None) -> dict[str, int]:
    """Mined labels by status, summed from the run's stats (written once when the run completed)."""
    totals = dict.fromkeys(MINED_STATUSES, 0)
    for statuses in ((run.stats or {}) if run else {}).values():
        for status, n in statuses.items():
            totals[status] = totals.get(status, 0) + int(n)
    return totals


def _qc_figures(job: Job | None) -> tuple[dict[str, int], list[tuple[float, float, int]]]:
    """Decisions and the estimated-Dice histogram of one QC job's results, cached per job."""
    decisions = {d.value: 0 for d in Decision}
    counts = [0] * DICE_BINS
    if job is not None:
        key = f"dashboard:qc:{job.pk}:{job.finished_at.timestamp() if job.finished_at else ''}"
        cached = cache.get(key)
        if cached is None:
            # Bucketed in the database: one grouped row per (bucket, decision) leaves it, whatever the count.
            bucket = Least(Greatest(Floor(F("estimated_dice") * DICE_BINS), Value(0.0)), Value(DICE_BINS - 1.0))
            rows = (
                QcResult.objects.filter(job=job)
                .annotate(bucket=bucket)
                .values_list("bucket", "decision")
                .annotate(n=Count("id"))
                .order_by()
            )
            cached = [(int(b), decision, n) for b, decision, n in rows]
            cache.set(key, cached, CACHE_SECONDS)
        for b, decision, n in cached:
            counts[b] += n
            decisions[decision] = decisions.get(decision, 0) + n
    bins = [(round(i / DICE_BINS, 4), round((i + 1) / DICE_BINS, 4), counts[i]) for i in range(DICE_BINS)]
    return decisions, bins


def review_progress(project: Project) -> list[QueueProgress]:
    """Items per state for each queue that has any (an index-only count on reviewitem_next)."""
    by_kind: dict[str, dict[str, int]] = {}
    rows = ReviewItem.objects.filter(project=project).values_list("kind", "state").annotate(n=Count("id")).order_by()
    for kind, state, n in rows:
        by_kind.setdefault(kind, {})[state] = n
    queues = []
    for kind in ReviewKind:
        states = by_kind.get(kind.value)
        if not states:
            continue
        queues.append(
            QueueProgress(
                kind=kind.value,
                name=kind.label,
                total=sum(states.values()),
                states={s.label: states.get(s.value, 0) for s in ReviewState},
                done=sum(states.get(s, 0) for s in DONE_STATES),
            )
        )
    return queues


_REVIEWED_PG = """
    SELECT e.key, COUNT(*) FROM labeling_reviewitem i CROSS JOIN LATERAL jsonb_each_text(i.final -> 'labels') e
    WHERE i.project_id = %s AND i.kind = 'label' AND i.state IN ('decided', 'final') AND e.value = 'positive'
    GROUP BY e.key
"""
_REVIEWED_SQLITE = """
    SELECT e.key, COUNT(*) FROM labeling_reviewitem i, json_each(i.final, '$.labels') e
    WHERE i.project_id = %s AND i.kind = 'label' AND i.state IN ('decided', 'final') AND e.value = 'positive'
    GROUP BY e.key
"""


def reviewed_label_counts(project: Project) -> dict[str, int]:
    """Positive answers per label in the final answers of decided label items (aggregated in SQL; items
    reach these states one human read at a time, so there are as many as people have read)."""
    with connection.cursor() as cursor:
        cursor.execute(_REVIEWED_PG if connection.vendor == "postgresql" else _REVIEWED_SQLITE, [project.pk])
        return {key: int(n) for key, n in cursor.fetchall()}


# --- prevalence -------------------------------------------------------------------------------------


def _native_targets(space: str) -> dict[tuple[str, str], str]:
    """(report source, native label lower-cased) -> the label it is in `space` (the vocabulary's native maps)."""
    from nlp.services import NATIVE_DATASET, base_vocabulary

    maps = base_vocabulary().native_maps
    targets = {}
    for source, dataset in NATIVE_DATASET.items():
        for name, spaces in maps.get(dataset, {}).items():
            if spaces.get(space):
                targets[(source, name)] = spaces[space]
    return targets


def _space_labels(space: str) -> list[str]:
    from nlp.core.vocabulary import VocabularyError
    from nlp.services import base_vocabulary

    try:
        return list(base_vocabulary().label_space(space).labels)
    except VocabularyError:  # an unknown space in the project's options: show the labels the data has
        return []


def prevalence(
    space: str,
    dataset_labels: dict[tuple[str, str], tuple[int, int]],
    dataset_reports: dict[str, int],
    run: LabelingRun | None,
    reviewed: dict[str, int],
    reviewed_items: int,
) -> list[Prevalence]:
    """Share of reports positive per label of `space`: in the dataset's own labels (mapped into the space),
    in the mined labels of `run`, and in the final review answers.

    A dataset with several native names for one label (PadChest, Open-i) has their positives summed, which
    counts a report twice where it carries two of them; the share is capped at 1."""
    targets = _native_targets(space)
    dataset_positive: dict[str, int] = {}
    for (source, key), (positive, _uncertain) in dataset_labels.items():
        label = targets.get((source, str(key).strip().lower()))
        if label is not None:
            dataset_positive[label] = dataset_positive.get(label, 0) + positive
    # Only the reports of sources whose labels map into the space are the denominator.
    mapped_sources = {source for source, _ in targets}
    mapped_reports = sum(n for source, n in dataset_reports.items() if source in mapped_sources)
    mined = (run.stats or {}) if run else {}
    labels = _space_labels(space)
    labels += sorted((set(mined) | set(reviewed)) - set(labels))
    rows = []
    for label in labels:
        rows.append(
            Prevalence(
                label=label,
                dataset=min(1.0, dataset_positive.get(label, 0) / mapped_reports) if mapped_reports else None,
                mined=(mined.get(label, {}).get("positive", 0) / run.reports) if run and run.reports else None,
                reviewed=(reviewed.get(label, 0) / reviewed_items) if reviewed_items else None,
            )
        )
    return rows
