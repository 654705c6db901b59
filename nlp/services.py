"""Label mining in a project: the project's vocabulary, the mining job body, run comparisons.

The NLP itself is the Django-free core in nlp.core; this module feeds it reports in batches and
writes MinedLabel rows in bulk, one transaction per batch.
"""

from __future__ import annotations

import functools
from collections import Counter

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery

from curation import audit
from curation.models import Project, Report, User
from curation.permissions import Action, check

from .models import LabelingRun, MinedLabel

LABEL_SPACES = ("chexpert", "chestxray14")
MINING_BATCH = 512  # reports per nlp.pipe batch and per transaction
# Native label sources the vocabulary can map (MIMIC's label files use the CheXpert columns).
NATIVE_DATASET = {"nih": "nih", "chexpert": "chexpert", "mimic": "chexpert", "padchest": "padchest", "openi": "openi"}


@functools.lru_cache(maxsize=1)
def base_vocabulary():
    from .core.vocabulary import load_vocabulary

    return load_vocabulary()


def project_extension(project: Project) -> dict:
    return project.options.get("vocabulary") or {}


def project_vocabulary(project: Project):
    """The base vocabulary with the project's own findings and synonyms."""
    from .core.vocabulary import extend_vocabulary

    extension = project_extension(project)
    return extend_vocabulary(base_vocabulary(), extension) if extension else base_vocabulary()


@transaction.atomic
def set_vocabulary_extension(actor: User, project: Project, extension: dict) -> dict:
    """Replace the project's vocabulary extension after validating it against the base vocabulary."""
    from .core.vocabulary import VocabularyError, extend_vocabulary

    check(actor, Action.EDIT_VOCABULARY, project)
    if not isinstance(extension, dict) or set(extension) - {"findings", "synonyms"}:
        raise ValidationError({"extension": "Give an object with `findings` (a list) and/or `synonyms` (an object)."})
    try:
        extend_vocabulary(base_vocabulary(), extension)
    except VocabularyError as exc:
        raise ValidationError({"extension": list(exc.problems)}) from exc
    project = Project.objects.select_for_update().get(pk=project.pk)
    before = project_extension(project)
    project.options = {**project.options, "vocabulary": extension}
    project.save(update_fields=["options", "updated_at"])
    audit.vocabulary_changed(actor, project, before, extension)
    return extension


def add_synonyms(actor: User, project: Project, finding_id: str, terms: list[str]) -> dict:
    extension = dict(project_extension(project))
    synonyms = {k: list(v) for k, v in (extension.get("synonyms") or {}).items()}
    synonyms[finding_id] = sorted(set(synonyms.get(finding_id, [])) | {t.strip() for t in terms if t.strip()})
    extension["synonyms"] = synonyms
    return set_vocabulary_extension(actor, project, extension)


def add_finding(actor: User, project: Project, finding: dict) -> dict:
    extension = dict(project_extension(project))
    findings = [f for f in extension.get("findings") or [] if f.get("id") != finding.get("id")]
    extension["findings"] = [*findings, finding]
    return set_vocabulary_extension(actor, project, extension)


def clean_mining_params(params: dict, project: Project) -> dict:
    space = params.get("label_space") or project.options.get("label_space") or "chexpert"
    if space not in LABEL_SPACES:
        raise ValidationError({"label_space": f"Use one of {', '.join(LABEL_SPACES)}."})
    return {"label_space": space}


# --- the job ----------------------------------------------------------------------------------------
def _native(report: Report, vocabulary, space: str) -> dict[str, str | None] | None:
    from .core.label_spaces import harmonise

    dataset = NATIVE_DATASET.get(report.source)
    table = vocabulary.native_maps.get(dataset) if dataset else None
    if not table or not report.source_labels:
        return None
    # Only the native labels the vocabulary maps; PadChest alone has ~190 names.
    known = {k: v for k, v in report.source_labels.items() if str(k).strip().lower() in table}
    return harmonise(known, dataset, space, vocabulary) if known else None


def _label_findings(result, label: str, space: str, vocabulary) -> list:
    """The report's finding results that map onto `label` in the label space."""
    return [
        finding
        for finding_id, finding in result.findings.items()
        if (spec := vocabulary.findings.get(finding_id)) is not None and label in spec.labels.get(space, ())
    ]


def _evidence(result, label: str, space: str, vocabulary) -> list[dict]:
    items = [
        mention.to_dict()
        for finding in _label_findings(result, label, space, vocabulary)
        for mention in finding.mentions
    ]
    if not items and label == vocabulary.label_space(space).no_finding:
        items = [statement.to_dict() for statement in result.normal_statements]
    return items


def plan_mining(ctx):
    """Body of the `nlp.mine_labels` job: open the labeling run and split the reports into chunks."""
    from django.conf import settings

    from curation.tasking import FanOut

    project, space = ctx.project, ctx.params["label_space"]
    labeler = _labeler_for(project)
    run, _ = LabelingRun.objects.get_or_create(
        job=ctx.job,
        defaults={
            "project": project,
            "label_space": space,
            "labeler_version": labeler.version,
            "previous": LabelingRun.objects.filter(project=project, label_space=space, complete=True).first(),
        },
    )
    pks = list(_reports(project).values_list("pk", flat=True))
    size = max(1, settings.JOB_CHUNK_ITEMS)
    chunks = [{"lo": pks[i], "hi": pks[min(i + size, len(pks)) - 1]} for i in range(0, len(pks), size)]
    return FanOut(chunks=chunks, total=len(pks), state={"run": run.pk})


def _reports(project: Project):
    return Report.objects.filter(study__project=project).exclude(text="").order_by("pk")


_LABELERS: dict[tuple[int, str], object] = {}


def _labeler_for(project: Project):
    """One Labeler per project vocabulary per worker process (building one loads the vocabulary)."""
    import json

    from .core.labeler import Labeler

    key = (project.pk, json.dumps(project_extension(project), sort_keys=True))
    if key not in _LABELERS:
        if len(_LABELERS) > 8:
            _LABELERS.clear()
        _LABELERS[key] = Labeler(project_vocabulary(project))
    return _LABELERS[key]


def run_mining_chunk(ctx, spec: dict) -> dict:
    """Label the reports of one chunk (report ids lo..hi) and write their MinedLabel rows."""
    from .core.priority import rank_for_review

    project, space = ctx.project, ctx.params["label_space"]
    labeler = _labeler_for(project)
    vocabulary = labeler.vocabulary
    run = LabelingRun.objects.get(pk=(ctx.job.result or {}).get("fanout", {})["run"])
    reports = _reports(project).filter(pk__gte=spec["lo"], pk__lte=spec["hi"])
    # A chunk that runs again skips what an earlier attempt already committed (a batch is one transaction).
    done = set(
        MinedLabel.objects.filter(run=run, study__report__pk__gte=spec["lo"], study__report__pk__lte=spec["hi"])
        .values_list("study_id", flat=True)
        .distinct()
    )
    last_pk = spec["lo"] - 1
    labelled = 0
    while True:
        batch = list(
            reports.filter(pk__gt=last_pk).only("pk", "study_id", "text", "source", "source_labels")[:MINING_BATCH]
        )
        if not batch:
            break
        last_pk = batch[-1].pk
        todo = [r for r in batch if r.study_id not in done]
        if len(todo) < len(batch):
            ctx.advance(len(batch) - len(todo), skipped=len(batch) - len(todo))
        if not todo:
            continue
        results = {
            str(r.study_id): result for r, result in zip(todo, labeler.label_many([r.text for r in todo]), strict=True)
        }
        natives = {str(r.study_id): n for r in todo if (n := _native(r, vocabulary, space))}
        errors = [(r, results[str(r.study_id)].error) for r in todo if results[str(r.study_id)].error]
        rows = [
            MinedLabel(
                run=run,
                study_id=int(item.report_id),
                label=item.label,
                status=item.status or "",
                native_status=(natives.get(item.report_id) or {}).get(item.label) or "",
                rule=_rule(results[item.report_id], item.label, space, vocabulary),
                evidence=_evidence(results[item.report_id], item.label, space, vocabulary),
                priority=round(item.score, 4),
                priority_reasons=list(item.reasons),
            )
            for item in rank_for_review(results, space, vocabulary, natives)
        ]
        with transaction.atomic():
            MinedLabel.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
        for report, error in errors:
            ctx.error(f"study {report.study_id}", error)
        labelled += len(todo)
        ctx.advance(len(todo), labelled=len(todo) - len(errors), labels=len(rows))
    return {"reports": labelled + len(done)}


def finish_mining(ctx, state: dict, results: list[dict]) -> dict:
    """Close the labeling run: its counts and what changed against the previous run."""
    run = LabelingRun.objects.get(pk=state["run"])
    run.reports = sum(int(r.get("reports", 0)) for r in results)
    run.stats = label_stats(run)
    run.changes = compare_runs(run, run.previous) if run.previous else {}
    run.complete = True
    run.save(update_fields=["reports", "stats", "changes", "complete"])
    return {"run": run.pk, "labeler_version": run.labeler_version, "changes": run.changes}


def _rule(result, label: str, space: str, vocabulary) -> str:
    findings = _label_findings(result, label, space, vocabulary)
    return (findings[0].rule if findings else ("normal_statement" if result.normal_statements else ""))[:64]


def label_stats(run: LabelingRun) -> dict:
    stats: dict[str, dict[str, int]] = {}
    rows = MinedLabel.objects.filter(run=run).values_list("label", "status").annotate(n=Count("id")).order_by()
    for label, status, n in rows:
        stats.setdefault(label, {})[status or "not_mentioned"] = n
    return stats


def compare_runs(run: LabelingRun, previous: LabelingRun) -> dict:
    """What changed between two runs, per (study, label) status."""
    old = dict(
        ((s, label), status)
        for s, label, status in MinedLabel.objects.filter(run=previous).values_list("study_id", "label", "status")
    )
    transitions: Counter = Counter()
    added = changed = 0
    seen = set()
    for study, label, status in (
        MinedLabel.objects.filter(run=run).values_list("study_id", "label", "status").iterator()
    ):
        key = (study, label)
        seen.add(key)
        before = old.get(key)
        if before is None:
            added += 1
            transitions[f"∅→{status or 'not_mentioned'}"] += 1
        elif before != status:
            changed += 1
            transitions[f"{before or 'not_mentioned'}→{status or 'not_mentioned'}"] += 1
    removed = len(set(old) - seen)
    return {
        "previous_run": previous.pk,
        "changed": changed,
        "added": added,
        "removed": removed,
        "transitions": dict(transitions.most_common()),
    }


def changed_labels(run: LabelingRun):
    """MinedLabel rows of `run` whose status differs from the previous run (or that are new there)."""
    if run.previous_id is None:
        return MinedLabel.objects.none()
    previous_status = MinedLabel.objects.filter(
        run_id=run.previous_id, study_id=OuterRef("study_id"), label=OuterRef("label")
    ).values("status")[:1]
    return (
        MinedLabel.objects.filter(run=run)
        .annotate(previous_status=Subquery(previous_status))
        .filter(Q(previous_status__isnull=True) | ~Q(previous_status=F("status")))
    )
