"""Each study's filter facets: the tokens the study list filters on, and the one function that recomputes them.

A study's facets say, in one indexed column (Study.facets), what the study list's equality filters ask
across five tables: its dataset, sex and whether it has a report; the view of each image; the labels its
dataset marks positive; the labels mined from its report by the project's latest complete run, with their
status; the newest QC decision of each image; the states of its review items. On PostgreSQL a GIN index
intersects the tokens a query names, so a combination of filters that matches nothing (filters correlated in
the data, which no planner can foresee) is answered from the index instead of by walking every study.

Facets are derived data: `refresh_studies()` recomputes them from the tables, and every writer calls it
for what it changed:
- rows saved one at a time (Study, Image, Report, MinedLabel, QcResult: the API, the admin, tests) and a
  labeling run becoming complete refresh through the signals at the end of this module, at once
  and in the writer's transaction;
- bulk writers call it themselves: import computes a new study's facets from the batch it writes
  (`facets_for_new_study`) and refreshes the existing studies a batch touched; each QC chunk refreshes
  the studies of the images it judged;
- review states change at every claim, so they have their own one-statement refresh
  (`refresh_review_tokens`), which a claim (an UPDATE, no signal), a saved review item and a queue fill call.
No path of the app deletes those rows one by one (they go with their study or project), so there are no
delete signals: one would also stop Django deleting a project's images in bulk.
`manage.py refresh_facets` recomputes a whole project (after hand-made SQL or deletes, say).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.db import connection, transaction

log = logging.getLogger(__name__)

BATCH = 2000


def _positive(value) -> bool:
    # The dataset's own "1" (an int or 1.0, never the JSON true, which is what {label: 1} containment means).
    return type(value) in (int, float) and value == 1


def dataset_token(value: str) -> str:
    return f"d:{value}"


def sex_token(value: str) -> str:
    return f"s:{value}"


def report_token(has_report: bool) -> str:
    return "r:1" if has_report else "r:0"


def view_token(value: str) -> str:
    return f"v:{value}"


def label_token(name: str) -> str:
    return f"l:{name}"


def mined_token(label: str, status: str) -> str:
    return f"m:{label}:{status}"


def mined_status_token(status: str) -> str:
    return f"ms:{status}"


def qc_token(decision: str) -> str:
    return f"q:{decision}"


REVIEW_PREFIX = "rv:"


def review_token(state: str) -> str:
    return f"{REVIEW_PREFIX}{state}"


def tokens(
    *,
    dataset: str,
    sex: str,
    has_report: bool,
    views: Iterable[str] = (),
    source_labels: dict | None = None,
    mined: Iterable[tuple[str, str]] = (),
    qc: Iterable[str] = (),
    review: Iterable[str] = (),
) -> list[str]:
    """A study's facets, sorted. Empty values (an unknown sex or view, a label without status) give none."""
    out = {dataset_token(dataset), report_token(has_report)}
    if sex:
        out.add(sex_token(sex))
    out.update(view_token(v) for v in views if v)
    out.update(label_token(name) for name, value in (source_labels or {}).items() if _positive(value))
    for label, status in mined:
        if status:
            out.update((mined_token(label, status), mined_status_token(status)))
    out.update(qc_token(d) for d in qc if d)
    out.update(review_token(state) for state in review if state)
    return sorted(out)


def facets_for_new_study(dataset: str, sex: str, has_report: bool, views, source_labels) -> list[str]:
    """A study created now: nothing mined or judged yet."""
    return tokens(dataset=dataset, sex=sex, has_report=has_report, views=views, source_labels=source_labels)


def latest_run_id(project_id: int) -> int | None:
    """The labeling run the study filters read (curation.services.studies.latest_successful_run)."""
    from nlp.models import LabelingRun

    return (
        LabelingRun.objects.filter(project_id=project_id, complete=True)
        .order_by("-id")
        .values_list("pk", flat=True)
        .first()
    )


def refresh_studies(study_ids: Iterable[int], *, run_id: int | None | bool = False) -> int:
    """Recompute the facets of these studies from the tables; returns how many changed.

    `run_id` is the latest complete labeling run when the caller knows it (refresh_project); by default it is
    looked up per project.
    """
    from curation.models import Image, Report, Study
    from labeling.models import QcResult, ReviewItem
    from nlp.models import MinedLabel

    ids = sorted({int(i) for i in study_ids})
    changed = 0
    runs: dict[int, int | None] = {}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        studies = list(
            Study.objects.filter(pk__in=chunk).values_list("pk", "project_id", "dataset", "sex", "has_report", "facets")
        )
        if not studies:
            continue
        views: dict[int, set] = defaultdict(set)
        for study_id, view in (
            Image.objects.filter(study_id__in=chunk).values_list("study_id", "view_position").distinct()
        ):
            views[study_id].add(view)
        labels = dict(Report.objects.filter(study_id__in=chunk).values_list("study_id", "source_labels"))
        newest: dict[int, tuple[int, str]] = {}
        qc_rows = QcResult.objects.filter(image__study_id__in=chunk).values_list(
            "image_id", "image__study_id", "decision", "id"
        )
        for image_id, study_id, decision, pk in qc_rows:
            if image_id not in newest or pk > newest[image_id][0]:
                newest[image_id] = (pk, study_id, decision)
        qc: dict[int, set] = defaultdict(set)
        for _pk, study_id, decision in newest.values():
            qc[study_id].add(decision)
        review: dict[int, set] = defaultdict(set)
        for study_id, state in (
            ReviewItem.objects.filter(study_id__in=chunk).values_list("study_id", "state").distinct()
        ):
            review[study_id].add(state)
        mined: dict[int, list] = defaultdict(list)
        for project_id in {row[1] for row in studies}:
            if run_id is False:
                runs.setdefault(project_id, latest_run_id(project_id))
            else:
                runs[project_id] = run_id
            if runs[project_id] is not None:
                rows = MinedLabel.objects.filter(study_id__in=chunk, run_id=runs[project_id])
                for study_id, label, status in rows.values_list("study_id", "label", "status"):
                    mined[study_id].append((label, status))
        updates = []
        for pk, _project_id, dataset, sex, has_report, current in studies:
            new = tokens(
                dataset=dataset,
                sex=sex,
                has_report=has_report,
                views=views.get(pk, ()),
                source_labels=labels.get(pk),
                mined=mined.get(pk, ()),
                qc=qc.get(pk, ()),
                review=review.get(pk, ()),
            )
            if new != sorted(current or ()):
                updates.append((pk, new))
        _write(updates)
        changed += len(updates)
    return changed


def _write(updates: list[tuple[int, list[str]]]) -> None:
    if not updates:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement per batch: the ids and each study's tokens as JSON, unpacked by the server.
            cursor.execute(
                """UPDATE curation_study AS s
                   SET facets = ARRAY(SELECT jsonb_array_elements_text(u.f))
                   FROM unnest(%s::bigint[], %s::jsonb[]) AS u(id, f)
                   WHERE s.id = u.id""",
                [[pk for pk, _ in updates], [json.dumps(t) for pk, t in updates]],
            )
        else:
            cursor.executemany(
                "UPDATE curation_study SET facets = %s WHERE id = %s", [(json.dumps(t), pk) for pk, t in updates]
            )


def refresh_review_tokens(study_ids: Iterable[int]) -> None:
    """Recompute only the review-state tokens of these studies: what a claim, a decision or a queue fill
    changes. One statement, so a reader's claim pays one query for it."""

    ids = sorted({int(i) for i in study_ids if i})
    if not ids:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """UPDATE curation_study AS s SET facets = ARRAY(
                       SELECT t FROM unnest(s.facets) AS t WHERE left(t, 3) <> %s
                       UNION SELECT %s || i.state FROM labeling_reviewitem AS i WHERE i.study_id = s.id
                       ORDER BY 1)
                   WHERE s.id = ANY(%s)""",
                [REVIEW_PREFIX, REVIEW_PREFIX, ids],
            )
        else:  # SQLite: the same, on the JSON list (the subquery's order is the list's order)
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(
                f"""UPDATE curation_study SET facets = (
                        SELECT json_group_array(t) FROM (
                            SELECT value AS t FROM json_each(curation_study.facets) WHERE substr(value, 1, 3) <> %s
                            UNION SELECT %s || i.state FROM labeling_reviewitem AS i
                                  WHERE i.study_id = curation_study.id
                            ORDER BY 1))
                    WHERE id IN ({marks})""",  # noqa: S608 -- placeholders only; the ids are parameters
                [REVIEW_PREFIX, REVIEW_PREFIX, *ids],
            )


def refresh_project(project_id: int, *, batch: int = 10 * BATCH) -> int:
    """Recompute every study of a project, walking ids in order; returns how many changed."""
    from curation.models import Study

    run_id = latest_run_id(project_id)
    last, changed = 0, 0
    while True:
        ids = list(
            Study.objects.filter(project_id=project_id, pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return changed
        changed += refresh_studies(ids, run_id=run_id)
        last = ids[-1]


# --- Rows written one at a time ----------------------------------------------------------------------------


# Which saved fields can change a facet, per model (a save naming only other fields refreshes nothing: a
# rendering or a redaction saves its image without touching the view).
_RELEVANT = {
    "Study": {"dataset", "sex", "has_report"},
    "Image": {"view_position", "study"},
    "Report": {"source_labels", "text", "study"},
    "MinedLabel": {"label", "status", "run", "study"},
    "QcResult": {"decision", "image"},
}


def _touches_facets(sender, update_fields) -> bool:
    return update_fields is None or bool(_RELEVANT[sender.__name__] & set(update_fields))


def _refresh_now(study_ids) -> None:
    # At once, in the writer's transaction: it sees its own rows, and a rollback undoes the refresh with them.
    ids = [i for i in study_ids if i]
    if ids:
        refresh_studies(ids)


def _study_saved(sender, instance, raw=False, update_fields=None, **kwargs):
    if not raw and _touches_facets(sender, update_fields):
        _refresh_now([instance.pk])


def _child_saved(sender, instance, raw=False, update_fields=None, **kwargs):
    if not raw and _touches_facets(sender, update_fields):
        _refresh_now([instance.study_id])


def _qc_saved(sender, instance, raw=False, update_fields=None, **kwargs):
    if not raw and _touches_facets(sender, update_fields):
        from curation.models import Image

        _refresh_now(Image.objects.filter(pk=instance.image_id).values_list("study_id", flat=True))


def _review_item_saved(sender, instance, raw=False, update_fields=None, **kwargs):
    if not raw and (update_fields is None or "state" in update_fields):
        refresh_review_tokens([instance.study_id])


def _run_saved(sender, instance, raw=False, update_fields=None, **kwargs):
    # A run that completes changes which labels every study of the project is filtered by.
    if not raw and instance.complete and (update_fields is None or "complete" in update_fields):
        refresh_project(instance.project_id)


def connect_signals() -> None:
    """Called from CurationConfig.ready()."""
    from django.db.models.signals import post_save

    from curation.models import Image, Report, Study
    from labeling.models import QcResult, ReviewItem
    from nlp.models import LabelingRun, MinedLabel

    post_save.connect(_study_saved, sender=Study, dispatch_uid="facets.study")
    for model in (Image, Report, MinedLabel):
        post_save.connect(_child_saved, sender=model, dispatch_uid=f"facets.save.{model.__name__}")
    post_save.connect(_qc_saved, sender=QcResult, dispatch_uid="facets.save.qc")
    post_save.connect(_review_item_saved, sender=ReviewItem, dispatch_uid="facets.save.review")
    post_save.connect(_run_saved, sender=LabelingRun, dispatch_uid="facets.run.save")
