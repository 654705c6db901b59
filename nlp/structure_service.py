"""Longitudinal structure in a project: the `structure.extract` job, the structure review queue, reviewer rows.

The extractor and the timeline are the Django-free `nlp.structure`; this module feeds them each patient's
reports in time order (patients are independent: the job fans out over patient id ranges), writes
StructureRun / Finding / TemporalChange rows, fills the `structure` review queue (conflicts first), checks
a reader's structure answer, and turns a decision into reviewer rows beside the machine's, never over them.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from curation.models import Patient, Report, Study
from curation.services import facets

from .models import (
    ChangeOrigin,
    Finding,
    FindingSource,
    ReviewVerdict,
    StructureRun,
    TemporalChange,
)

STRUCTURE_VERSION = "structure.1"
PATIENT_BATCH = 64  # patients per extract_many call and per transaction
FILL_BATCH = 500  # studies per queue-fill step
READS_MAX = 5
ADDED_MAX = 50  # findings a reader may add to one report
PRESENCES = ("present", "absent")
CERTAINTIES = ("definite", "tentative")
_ANSWER_KEYS = ("term", "presence", "certainty", "location", "severity", "change")


# --- the extractor, once per worker process ---------------------------------------------------------


@functools.lru_cache(maxsize=1)
def extractor():
    """The structure extractor (building one loads the vocabulary: about half a second)."""
    from .structure.extract import StructureExtractor

    return StructureExtractor()


@functools.lru_cache(maxsize=1)
def structure_version() -> str:
    """The extractor version and a fingerprint of its vocabulary and lexicon: a run says what made it."""
    from .structure.vocabulary import LEXICON_PATH

    lexicon = extractor().lexicon
    digest = hashlib.sha256(LEXICON_PATH.read_bytes()).hexdigest()[:8]
    return f"{STRUCTURE_VERSION}+vocab.{lexicon.vocabulary.fingerprint}+lex.{digest}"[:64]


def vocabulary_choices() -> dict[str, tuple]:
    """What a finding row may hold: the 18 terms, locations, severities, changes of the conventions."""
    from .structure.vocabulary import CHANGES, LOCATIONS, SEVERITIES, TERMS

    return {
        "terms": TERMS,
        "presences": PRESENCES,
        "certainties": CERTAINTIES,
        "locations": LOCATIONS,
        "severities": SEVERITIES,
        "changes": CHANGES,
    }


# --- the job ----------------------------------------------------------------------------------------


def clean_structure_params(params: dict, project) -> dict:
    """Parameters of `structure.extract`: how many reads each structure item needs (1 unless asked)."""
    unknown = sorted(set(params) - {"required_reads"})
    if unknown:
        raise ValidationError({"params": f"Unknown parameters: {', '.join(unknown)}."})
    try:
        reads = int(params.get("required_reads", 1))
    except (TypeError, ValueError) as exc:
        raise ValidationError({"required_reads": "A whole number of reads."}) from exc
    if not 1 <= reads <= READS_MAX:
        raise ValidationError({"required_reads": f"Between 1 and {READS_MAX} reads per item."})
    return {"required_reads": reads}


def _patients_with_reports(project):
    reported = Report.objects.filter(study__patient=OuterRef("pk"))
    return Patient.objects.filter(project=project).filter(Exists(reported)).order_by("pk")


def plan_structure(ctx):
    """Body of the `structure.extract` job: open the run and split the patients into id ranges."""
    from django.conf import settings

    from curation.tasking import FanOut

    project = ctx.project
    run, _ = StructureRun.objects.get_or_create(
        job=ctx.job, defaults={"project": project, "version": structure_version()}
    )
    pks = list(_patients_with_reports(project).values_list("pk", flat=True))
    size = max(1, settings.JOB_CHUNK_ITEMS)
    chunks = [{"lo": pks[i], "hi": pks[min(i + size, len(pks)) - 1]} for i in range(0, len(pks), size)]
    total = Report.objects.filter(study__patient__project=project).count()
    return FanOut(chunks=chunks, total=total, state={"run": run.pk})


def run_structure_chunk(ctx, spec: dict) -> dict:
    """Extract and link the reports of the patients with ids lo..hi; one transaction per patient batch.

    A chunk that runs again skips the patients whose rows an earlier attempt already committed."""
    run = StructureRun.objects.get(pk=(ctx.job.result or {}).get("fanout", {})["run"])
    patients = list(
        _patients_with_reports(ctx.project).filter(pk__gte=spec["lo"], pk__lte=spec["hi"]).values_list("pk", flat=True)
    )
    done = set(
        Finding.objects.filter(run=run, study__patient_id__in=patients).values_list("study__patient_id", flat=True)
    )
    processed = 0
    for start in range(0, len(patients), PATIENT_BATCH):
        batch = patients[start : start + PATIENT_BATCH]
        reports = list(
            Report.objects.filter(study__patient_id__in=batch)
            .select_related("study")
            .only("pk", "text", "study__id", "study__patient_id", "study__study_date")
            .order_by("study__patient_id", "study__study_date", "study_id")
        )
        by_patient: dict[int, list[Report]] = defaultdict(list)
        for report in reports:
            by_patient[report.study.patient_id].append(report)
        skipped = [r for pk in batch if pk in done for r in by_patient.get(pk, [])]
        if skipped:
            ctx.advance(len(skipped), skipped=len(skipped))
        todo = [pk for pk in batch if pk not in done]
        texts = [r.text for pk in todo for r in by_patient[pk]]
        structures = iter(list(extractor().extract_many(texts)))
        with transaction.atomic():
            for pk in todo:
                counts = write_patient(run, by_patient[pk], [next(structures) for _ in by_patient[pk]])
                ctx.advance(len(by_patient[pk]), **counts)
        processed += len(todo)
    return {"patients": processed + len(done)}


def write_patient(run: StructureRun, reports: list[Report], structures: list) -> dict[str, int]:
    """Link one patient's reports in time order and write their Finding and TemporalChange rows.

    Reports without a date are kept apart (their rows have no change); reports on the same date keep
    their input order (study id). Nothing here ever looks at another patient."""
    from .structure.timeline import ReportInput, link_patient

    inputs = [
        ReportInput(
            str(report.study_id),
            report.study.study_date.isoformat() if report.study.study_date else None,
            None,
            index,
        )
        for index, report in enumerate(reports)
    ]
    timeline = link_patient(inputs, structures)
    conflicts = {(c.report_id, c.term, c.location): c for c in timeline.conflicts}
    counts = {"reports": len(reports), "findings": 0, "changes": 0, "conflicts": 0, "undated": len(timeline.unplaced)}
    counts["empty"] = sum(1 for report in reports if not report.text.strip())
    saved: dict[tuple[str, str, str], Finding] = {}
    previous: int | None = None
    for index in timeline.order + timeline.unplaced:
        report, structure = reports[index], structures[index]
        prior_study = reports[previous].study_id if previous is not None and index in timeline.order else None
        warnings = list(timeline.warnings.get(index, [])) + list(structure.warnings)
        if len(reports) == 1:
            warnings.append("the only report of its patient: no change values")
        rows = []
        for position, row in enumerate(structure.findings):
            prior = _prior_of(row.linked_to, saved)
            output = row.to_dict(details=True)
            output.update({"prior_study": prior_study, "report_warnings": warnings})
            rows.append(
                Finding(
                    run=run,
                    study_id=report.study_id,
                    report=report,
                    position=position,
                    term=row.term,
                    presence=row.presence,
                    certainty=row.certainty,
                    location=row.location or "",
                    severity=row.severity or "",
                    evidence=[{"text": row.evidence, "start": row.evidence_start, "end": row.evidence_end}],
                    group=prior.group if prior is not None else _earlier_group(row.term, row.location, saved),
                    prior=prior,
                    machine_output=output,
                )
            )
        Finding.objects.bulk_create(rows)
        changes = []
        for row, finding in zip(structure.findings, rows, strict=True):
            saved[(str(report.study_id), row.term, row.location or "-")] = finding
            conflict = conflicts.get((str(report.study_id), row.term, row.location))
            if row.change is None and conflict is None:
                continue
            changes.append(
                TemporalChange(
                    finding=finding,
                    change=row.change or "",
                    origin=ChangeOrigin.INFERRED if row.change_source == "inferred" else ChangeOrigin.STATED,
                    cue=(row.cue or "")[:120],
                    prior_finding=finding.prior,
                    conflict=conflict is not None,
                    conflict_kind=conflict.kind if conflict else "",
                    conflict_reason=conflict.message[:300] if conflict else "",
                )
            )
        TemporalChange.objects.bulk_create(changes)
        counts["findings"] += len(rows)
        counts["changes"] += sum(1 for c in changes if c.change)
        counts["conflicts"] += sum(1 for c in changes if c.conflict)
        if index in timeline.order:
            previous = index
    return counts


def _prior_of(linked_to: str | None, saved: dict) -> Finding | None:
    if not linked_to:
        return None
    study, term, location = linked_to.split(":", 2)
    return saved.get((study, term, location))


def _earlier_group(term: str, location: str | None, saved: dict) -> str:
    """The group of the patient's latest earlier row of the term at a compatible location (the finding may
    skip a report, so the link to the previous report alone would split it), else a new group."""
    from .structure.timeline import compatible_locations

    for finding in reversed(list(saved.values())):
        if finding.term == term and compatible_locations(finding.location or None, location):
            return finding.group
    return _group(term, location)


def _group(term: str, location: str | None) -> str:
    return f"{term} · {location}" if location else term


def finish_structure(ctx, state: dict, results: list[dict]) -> dict:
    """Close the run (its counts), then fill the structure review queue from it."""
    run = StructureRun.objects.get(pk=state["run"])
    machine = Finding.objects.filter(run=run, source=FindingSource.MACHINE)
    changes = TemporalChange.objects.filter(finding__run=run, origin__in=[ChangeOrigin.STATED, ChangeOrigin.INFERRED])
    run.patients = sum(int(r.get("patients", 0)) for r in results)
    run.reports = Report.objects.filter(study__patient__project=run.project).count()
    run.findings = machine.count()
    run.changes = changes.exclude(change="").count()
    run.conflicts = changes.filter(conflict=True).count()
    run.complete = True
    run.save(update_fields=["patients", "reports", "findings", "changes", "conflicts", "complete"])
    filled = fill_structure_queue(run.project, run, ctx.params.get("required_reads", 1), actor=ctx.job.created_by)
    return {
        "run": run.pk,
        "version": run.version,
        "findings": run.findings,
        "changes": run.changes,
        "conflicts": run.conflicts,
        "queued": filled["created"],
    }


# --- the structure review queue ---------------------------------------------------------------------


def _latest_changes(finding_ids) -> dict[int, TemporalChange]:
    latest: dict[int, TemporalChange] = {}
    for change in TemporalChange.objects.filter(finding_id__in=finding_ids).order_by("finding_id", "-id"):
        latest.setdefault(change.finding_id, change)
    return latest


def _prefill_row(finding: Finding, change: TemporalChange | None) -> dict:
    prior = finding.prior
    return {
        "id": finding.pk,
        "term": finding.term,
        "presence": finding.presence,
        "certainty": finding.certainty,
        "location": finding.location or None,
        "severity": finding.severity or None,
        "change": (change.change or None) if change else None,
        "origin": change.origin if change else "",
        "cue": change.cue if change else "",
        "conflict": change.conflict_reason if change and change.conflict else "",
        "evidence": finding.evidence[:3],
        "prior": (
            {
                "id": prior.pk,
                "study": prior.study_id,
                "presence": prior.presence,
                "location": prior.location or None,
                "severity": prior.severity or None,
            }
            if prior is not None
            else None
        ),
    }


def structure_item(project, run: StructureRun, study_id: int, findings: list[Finding], changes: dict, reads: int):
    """The review item of one study: its rows as the prefill; conflicts first, then by number of changes."""
    from labeling.models import ReviewItem, ReviewKind

    rows = [_prefill_row(finding, changes.get(finding.pk)) for finding in findings]
    conflicts = [row for row in rows if row["conflict"]]
    changed = [row for row in rows if row["change"]]
    prior_study = findings[0].machine_output.get("prior_study") if findings else None
    reasons = [f"{row['term']}: {row['conflict']}" for row in conflicts][:5]
    if changed:
        reasons.append(f"{len(changed)} change{'s' if len(changed) != 1 else ''} against the prior study")
    return ReviewItem(
        project=project,
        kind=ReviewKind.STRUCTURE,
        study_id=study_id,
        target_key=f"study:{study_id}",
        prefill={"run": run.pk, "prior_study": prior_study, "findings": rows},
        # Conflicts outrank everything; within the same number of conflicts, more changes come first.
        priority=len(conflicts) + min(len(changed), 999) / 1000,
        reasons=reasons,
        required_reads=reads,
    )


def fill_structure_queue(project, run: StructureRun, required_reads: int = 1, actor=None) -> dict:
    """One structure item per study of the run that has findings. Idempotent: a study already in the
    queue keeps its item (whatever its state); returns {"created", "studies"}."""
    from labeling.models import ReviewItem, ReviewKind
    from labeling.review import events

    before = ReviewItem.objects.filter(project=project, kind=ReviewKind.STRUCTURE).count()
    machine = Finding.objects.filter(run=run, source=FindingSource.MACHINE)
    study_ids = list(machine.values_list("study_id", flat=True).distinct().order_by("study_id"))
    for start in range(0, len(study_ids), FILL_BATCH):
        batch = study_ids[start : start + FILL_BATCH]
        findings = list(machine.filter(study_id__in=batch).select_related("prior").order_by("study_id", "position"))
        changes = _latest_changes([f.pk for f in findings])
        per_study: dict[int, list[Finding]] = defaultdict(list)
        for finding in findings:
            per_study[finding.study_id].append(finding)
        items = [structure_item(project, run, sid, rows, changes, required_reads) for sid, rows in per_study.items()]
        ReviewItem.objects.bulk_create(items, batch_size=FILL_BATCH, ignore_conflicts=True)
        facets.refresh_review_tokens(item.study_id for item in items)  # the study list's review_state filter
    created = ReviewItem.objects.filter(project=project, kind=ReviewKind.STRUCTURE).count() - before
    events.queue_filled(
        actor, project, ReviewKind.STRUCTURE, {"structure_run": run.pk, "required_reads": required_reads}, created
    )
    return {"created": created, "studies": len(study_ids)}


# --- a reader's answer ------------------------------------------------------------------------------


def _choice(entry: dict, key: str, allowed: tuple, where: str, nullable: bool) -> str | None:
    value = entry.get(key)
    if value in (None, "") and nullable:
        return None
    if value not in allowed:
        raise ValidationError({"findings": f"{where}: {key} must be one of {', '.join(allowed)}."})
    return value


def clean_structure_answer(item, answer) -> dict:
    """The structure answer as stored: every prefilled row (left-out rows are accepted as they are) with
    its verdict, then the added rows; every value checked against the vocabulary of the conventions."""
    if not isinstance(answer, dict) or not isinstance(answer.get("findings", []), list):
        raise ValidationError({"answer": 'Give the answer as {"findings": [...]}.'})
    choices = vocabulary_choices()
    prefill = {row["id"]: row for row in item.prefill.get("findings", [])}
    given: dict[int, dict] = {}
    added: list[dict] = []
    for number, entry in enumerate(answer.get("findings", []), start=1):
        where = f"row {number}"
        if not isinstance(entry, dict):
            raise ValidationError({"findings": f"{where} must be an object."})
        verdict = entry.get("verdict", ReviewVerdict.ACCEPT)
        if verdict not in ReviewVerdict.values:
            raise ValidationError({"findings": f"{where}: verdict must be one of {', '.join(ReviewVerdict.values)}."})
        row_id = entry.get("id")
        if verdict == ReviewVerdict.ADD:
            if row_id is not None:
                raise ValidationError({"findings": f"{where}: an added finding has no id."})
            base = {}
        else:
            if row_id not in prefill or isinstance(row_id, bool):
                raise ValidationError({"findings": f"{where}: not a finding of this item ({str(row_id)[:20]})."})
            if row_id in given:
                raise ValidationError({"findings": f"{where}: finding {row_id} is given twice."})
            base = prefill[row_id]
        merged = {key: entry.get(key, base.get(key)) for key in _ANSWER_KEYS}
        cleaned = {
            "term": _choice(merged, "term", choices["terms"], where, False),
            "presence": _choice(merged, "presence", choices["presences"], where, False),
            "certainty": _choice(merged, "certainty", choices["certainties"], where, False),
            "location": _choice(merged, "location", choices["locations"], where, True),
            "severity": _choice(merged, "severity", choices["severities"], where, True),
            "change": _choice(merged, "change", choices["changes"], where, True),
        }
        if verdict == ReviewVerdict.ADD:
            added.append({"id": None, "verdict": ReviewVerdict.ADD.value, **cleaned})
            if len(added) > ADDED_MAX:
                raise ValidationError({"findings": f"At most {ADDED_MAX} added findings."})
            continue
        if verdict != ReviewVerdict.REJECT:
            same = all(cleaned[key] == base.get(key) for key in _ANSWER_KEYS)
            verdict = ReviewVerdict.ACCEPT if same else ReviewVerdict.EDIT
        given[row_id] = {"id": row_id, "verdict": str(verdict), **cleaned}
    rows = [
        given.get(row_id)
        or {"id": row_id, "verdict": ReviewVerdict.ACCEPT.value, **{key: row.get(key) for key in _ANSWER_KEYS}}
        for row_id, row in prefill.items()
    ]
    return {"findings": rows + added}


@transaction.atomic
def record_structure_review(reader, item, decision) -> list[Finding]:
    """Reviewer rows for one structure decision: a complete set (accepted, edited, rejected, added rows),
    each `supersedes` the machine row it revises; a reviewer TemporalChange per row. Machine rows are
    never touched; a later decision on the same item adds a newer set, and the newest counts."""
    answer = (decision.payload.get("answer") or {}).get("findings", [])
    run_id = item.prefill.get("run")
    report = Report.objects.filter(study_id=item.study_id).only("pk").first()
    if run_id is None or report is None:
        return []
    machine = {f.pk: f for f in Finding.objects.filter(pk__in=[row["id"] for row in answer if row.get("id")])}
    latest = _latest_changes(list(machine))
    rows, pairs = [], []
    for position, entry in enumerate(answer):
        revised = machine.get(entry.get("id"))
        finding = Finding(
            run_id=run_id,
            study_id=item.study_id,
            report=report,
            source=FindingSource.REVIEWER,
            verdict=entry["verdict"],
            position=position,
            term=entry["term"],
            presence=entry["presence"],
            certainty=entry["certainty"],
            location=entry["location"] or "",
            severity=entry["severity"] or "",
            evidence=revised.evidence if revised else [],
            group=revised.group if revised else _group(entry["term"], entry["location"]),
            prior=revised.prior if revised else None,
            supersedes=revised,
            decision=decision,
            created_by=reader,
        )
        rows.append(finding)
        pairs.append((finding, entry, revised))
    Finding.objects.bulk_create(rows)
    TemporalChange.objects.bulk_create(
        [
            TemporalChange(
                finding=finding,
                change=entry["change"] or "",
                origin=ChangeOrigin.REVIEWER,
                prior_finding=revised.prior if revised else None,
                supersedes=latest.get(revised.pk) if revised else None,
                created_by=reader,
            )
            for finding, entry, revised in pairs
        ]
    )
    return rows


def structure_context(project, item) -> dict:
    """What the structure screen shows beside the item: the study date and the prior study (its date,
    report text and images), so the reader compares today's film and words with the last ones."""
    from curation.models import Image
    from labeling.review.services import _image_entry

    study = Study.objects.filter(pk=item.study_id).only("study_date").first()
    prior_id = item.prefill.get("prior_study")
    prior = Study.objects.filter(project=project, pk=prior_id).select_related("report").first() if prior_id else None
    context = {"study_date": study.study_date.isoformat() if study and study.study_date else None, "prior": None}
    if prior is not None:
        report = getattr(prior, "report", None)
        images = Image.objects.filter(study=prior).order_by("pk")[:4]
        context["prior"] = {
            "study": prior.pk,
            "study_date": prior.study_date.isoformat() if prior.study_date else None,
            "report": report.text if report else "",
            "images": [_image_entry(project, image) for image in images],
        }
    return context


# --- what counts now: the patient's timeline --------------------------------------------------------


def latest_run(project) -> StructureRun | None:
    return StructureRun.objects.filter(project=project, complete=True).first()


def current_findings(run: StructureRun, study_ids) -> dict[int, list[tuple[Finding, TemporalChange | None]]]:
    """Per study, the rows that count: those of the newest review decision if one was made, else the
    machine's; rejected rows left out; each with its newest change."""
    rows = list(Finding.objects.filter(run=run, study_id__in=study_ids).order_by("study_id", "position", "id"))
    newest_decision: dict[int, int] = {}
    for row in rows:
        if row.source == FindingSource.REVIEWER and row.decision_id:
            newest_decision[row.study_id] = max(newest_decision.get(row.study_id, 0), row.decision_id)
    chosen = [
        row
        for row in rows
        if (
            row.decision_id == newest_decision[row.study_id]
            if row.study_id in newest_decision
            else row.source == FindingSource.MACHINE
        )
        and row.verdict != ReviewVerdict.REJECT
    ]
    changes = _latest_changes([row.pk for row in chosen])
    result: dict[int, list] = defaultdict(list)
    for row in chosen:
        result[row.study_id].append((row, changes.get(row.pk)))
    return result


# The patient page's chart: geometry in pixels, drawn by the server as SVG (no script, no inline style).
CHART_LEFT = 200  # room for the finding names
CHART_TOP = 44  # room for the dates
CHART_STEP = 72  # between two studies
CHART_ROW = 26  # between two findings
CHANGE_MARKS = {"new": "+", "worsened": "▲", "stable": "=", "improved": "▼", "resolved": "✕"}


def timeline_chart(project, studies) -> dict | None:
    """The patient's findings by study date from the newest complete structure run: one row per finding
    group, a point per study (filled present, hollow absent, dashed tentative), the change as a mark,
    lines joining a finding to its earlier self; every point and date links to its study. None without a run."""
    from django.urls import reverse

    run = latest_run(project)
    dated = [study for study in studies if study.study_date is not None]
    if run is None or not dated:
        return None
    current = current_findings(run, [study.pk for study in dated])
    groups: list[str] = []
    for study in dated:
        for finding, _change in current.get(study.pk, []):
            if finding.group not in groups:
                groups.append(finding.group)
    columns, points, lines = [], [], []
    last_point: dict[str, dict] = {}
    for index, study in enumerate(dated):
        x = CHART_LEFT + index * CHART_STEP + CHART_STEP // 2
        url = reverse("frontend:study-detail", args=[project.slug, study.pk])
        columns.append({"x": x, "date": study.study_date.isoformat(), "url": url, "study": study.pk})
        seen: set[str] = set()
        for finding, change in current.get(study.pk, []):
            if finding.group in seen:  # two rows of one group in a report (e.g. both sides): one point
                continue
            seen.add(finding.group)
            y = CHART_TOP + groups.index(finding.group) * CHART_ROW + CHART_ROW // 2
            value = change.change if change else ""
            conflict = bool(change and change.conflict)
            title = f"{study.study_date.isoformat()}: {finding.term} {finding.presence}"
            title += f", {finding.certainty}" if finding.certainty == "tentative" else ""
            title += f", {finding.location}" if finding.location else ""
            title += f", {finding.severity}" if finding.severity else ""
            title += f", {value}" if value else ""
            title += f" (conflict: {change.conflict_reason})" if conflict else ""
            if finding.source == FindingSource.REVIEWER:
                title += " · reviewed"
            point = {
                "x": x,
                "y": y,
                "url": url,
                "presence": finding.presence,
                "certainty": finding.certainty,
                "change": value,
                "mark": CHANGE_MARKS.get(value, ""),
                "conflict": conflict,
                "title": title,
            }
            if finding.group in last_point:
                before = last_point[finding.group]
                lines.append({"x1": before["x"], "y1": before["y"], "x2": x, "y2": y})
            last_point[finding.group] = point
            points.append(point)
    rows = [{"name": name, "y": CHART_TOP + i * CHART_ROW + CHART_ROW // 2} for i, name in enumerate(groups)]
    return {
        "run": run,
        "width": CHART_LEFT + len(dated) * CHART_STEP + 20,
        "height": CHART_TOP + max(1, len(groups)) * CHART_ROW + 10,
        "columns": columns,
        "rows": rows,
        "points": points,
        "lines": lines,
        "undated": [study for study in studies if study.study_date is None],
        "marks": CHANGE_MARKS,
    }
