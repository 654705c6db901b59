"""The `structure.extract` job: rows per report linked within each patient in date order, the structure
queue (conflicts first), idempotent re-runs, bad input; reviewer rows beside the machine's; the patient chart."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from curation.models import Report
from curation.services.jobs import start_job
from labeling.models import ReviewDecision, ReviewItem
from labeling.review import queue, services
from nlp.models import Finding, StructureRun, TemporalChange
from nlp.structure_service import current_findings, run_structure_chunk
from tests.factories import ImageFactory, PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db

DAY = date(2024, 1, 1)
FIRST = "FINDINGS: Small left pleural effusion. No pneumothorax."
SECOND = "FINDINGS: The left pleural effusion has increased, now moderate. Endotracheal tube in place."
THIRD = "FINDINGS: Unchanged right pneumothorax. No pleural effusion."


@pytest.fixture
def run_job(settings, django_capture_on_commit_callbacks):
    settings.JOBS_IN_PROCESS_THREAD = False

    def run(user, project, params=None):
        with django_capture_on_commit_callbacks(execute=True):
            job = start_job(user, project, "structure.extract", params or {})
        job.refresh_from_db()
        assert job.status == "succeeded", (job.message, job.errors)
        return job

    return run


def _patient(project, reports):
    """A patient with one study per (study date or None, report text); returns the studies in that order."""
    patient = PatientFactory(project=project)
    studies = []
    for day, text in reports:
        study = StudyFactory(patient=patient, study_date=day, has_report=True)
        Report.objects.create(study=study, text=text, source="dicom")
        studies.append(study)
    return studies


def _rows(run, study):
    return [
        (f.term, f.presence, f.location, f.severity, _change(f))
        for f in Finding.objects.filter(run=run, study=study, source="machine").order_by("position")
    ]


def _change(finding):
    change = finding.temporal_changes.order_by("-id").first()
    return (change.change, change.origin) if change else None


def test_the_job_links_a_patients_reports_in_date_order_and_records_stated_and_inferred_changes(
    project, members, run_job
):
    # Given a patient whose studies were imported out of date order
    third, first, second = _patient(
        project, [(DAY + timedelta(days=20), THIRD), (DAY, FIRST), (DAY + timedelta(days=10), SECOND)]
    )
    # When a curator runs the structure job
    job = run_job(members["curator"], project)
    run = StructureRun.objects.get(job=job)
    # Then the run is complete with its counts
    assert (run.complete, run.patients, run.reports, run.findings, run.changes, run.conflicts) == (
        True,
        1,
        3,
        6,
        3,
        1,
    )
    assert run.version.startswith("structure.1+vocab.")
    # And the first study has no change values (C1), the second states "worsened" against the first
    assert _rows(run, first) == [
        ("Pleural Effusion", "present", "left", "small", None),
        ("Pneumothorax", "absent", "", "", None),
    ]
    assert _rows(run, second) == [
        ("Pleural Effusion", "present", "left", "moderate", ("worsened", "stated")),
        ("Endotracheal Tube", "present", "", "", None),
    ]
    # And the third infers "resolved" for the effusion (C3) and flags "unchanged" pneumothorax absent before
    assert _rows(run, third) == [
        ("Pneumothorax", "present", "right", "", ("stable", "stated")),
        ("Pleural Effusion", "absent", "", "", ("resolved", "inferred")),
    ]
    conflict = TemporalChange.objects.get(conflict=True)
    assert (conflict.finding.study_id, conflict.conflict_kind) == (third.pk, "change_without_prior")
    # And each effusion row links to the one before it, and all three share one group
    effusions = {f.study_id: f for f in Finding.objects.filter(run=run, term="Pleural Effusion")}
    assert effusions[second.pk].prior == effusions[first.pk]
    assert effusions[third.pk].prior == effusions[second.pk]
    assert {f.group for f in effusions.values()} == {"Pleural Effusion · left"}
    assert effusions[third.pk].machine_output["prior_study"] == second.pk
    # And the evidence offsets point at the report's words
    row = effusions[second.pk]
    span = row.evidence[0]
    assert SECOND[span["start"] : span["end"]] == span["text"]


def test_the_queue_gets_one_item_per_study_with_findings_conflicts_first_then_by_changes(project, members, run_job):
    # Given the three-study patient and a patient whose only report mentions nothing of the 18 terms
    third, first, second = _patient(
        project, [(DAY + timedelta(days=20), THIRD), (DAY, FIRST), (DAY + timedelta(days=10), SECOND)]
    )
    _patient(project, [(DAY, "FINDINGS: Lungs are clear.")])
    # When the job runs
    run = StructureRun.objects.get(job=run_job(members["admin"], project))
    # Then the structure queue holds the three studies with findings, the one with a conflict first
    items = list(ReviewItem.objects.filter(project=project, kind="structure").order_by("-priority", "id"))
    assert [item.study_id for item in items] == [third.pk, second.pk, first.pk]
    assert [item.priority for item in items] == [1.002, 0.001, 0.0]
    top = items[0]
    assert top.reasons == [
        f"Pneumothorax: the text says stable but {second.pk} does not mention this finding",
        "2 changes against the prior study",
    ]
    assert top.prefill["run"] == run.pk
    assert top.prefill["prior_study"] == second.pk
    assert [(r["term"], r["change"], r["origin"], bool(r["conflict"])) for r in top.prefill["findings"]] == [
        ("Pneumothorax", "stable", "stated", True),
        ("Pleural Effusion", "resolved", "inferred", False),
    ]
    assert top.prefill["findings"][1]["prior"]["presence"] == "present"


def test_a_rerun_makes_a_new_run_and_a_repeated_chunk_adds_nothing(project, members, run_job):
    _patient(project, [(DAY, FIRST), (DAY + timedelta(days=3), SECOND)])
    first_job = run_job(members["admin"], project)
    first = StructureRun.objects.get(job=first_job)
    rows = Finding.objects.filter(run=first).count()
    # When a chunk of the run is delivered again (while the job runs, its result names the run)
    first_job.result = {"fanout": {"run": first.pk}}

    class Ctx:
        job, project = first_job, first_job.project

        def advance(self, n=1, **counters):
            pass

    chunk = first_job.chunks.first()
    assert run_structure_chunk(Ctx(), chunk.spec) == {"patients": 1}
    # Then nothing is written twice
    assert Finding.objects.filter(run=first).count() == rows == 4
    # When the job runs again: a new run with the same rows, and the queue keeps one item per study
    second = StructureRun.objects.get(job=run_job(members["admin"], project))
    assert second.pk != first.pk
    assert Finding.objects.filter(run=second).count() == rows
    assert ReviewItem.objects.filter(project=project, kind="structure").count() == 2


def test_reports_without_dates_are_kept_apart_and_get_no_change(project, members, run_job):
    dated, undated = _patient(project, [(DAY, FIRST), (None, SECOND)])
    run = StructureRun.objects.get(job=run_job(members["admin"], project))
    # The undated report still has its findings, but no change and no link
    assert _rows(run, undated) == [
        ("Pleural Effusion", "present", "left", "moderate", None),
        ("Endotracheal Tube", "present", "", "", None),
    ]
    assert Finding.objects.filter(run=run, study=undated, prior__isnull=False).count() == 0
    warning = Finding.objects.filter(run=run, study=undated).first().machine_output["report_warnings"][0]
    assert warning.startswith("study_date is missing")
    assert run.job.counters["undated"] == 1


def test_reports_on_the_same_date_keep_their_import_order(project, members, run_job):
    first, second = _patient(project, [(DAY, FIRST), (DAY, SECOND)])
    run = StructureRun.objects.get(job=run_job(members["admin"], project))
    assert _rows(run, second)[0] == ("Pleural Effusion", "present", "left", "moderate", ("worsened", "stated"))
    assert Finding.objects.get(run=run, study=second, term="Pleural Effusion").prior.study_id == first.pk
    warnings = Finding.objects.filter(run=run, study=second).first().machine_output["report_warnings"]
    assert warnings == [
        f"shares its study date with '{first.pk}' and no study time tells them apart: ordered as in the input"
    ]


def test_a_single_report_has_findings_but_no_change(project, members, run_job):
    (only,) = _patient(project, [(DAY, SECOND)])
    run = StructureRun.objects.get(job=run_job(members["admin"], project))
    assert [row[4] for row in _rows(run, only)] == [None, None]
    row = Finding.objects.filter(run=run, study=only).first()
    assert row.machine_output["report_warnings"] == ["the only report of its patient: no change values"]


def test_an_empty_report_gives_no_rows_and_the_next_report_is_linked_to_the_one_before_it(project, members, run_job):
    first, empty, third = _patient(
        project, [(DAY, FIRST), (DAY + timedelta(days=1), ""), (DAY + timedelta(days=2), SECOND)]
    )
    job = run_job(members["admin"], project)
    run = StructureRun.objects.get(job=job)
    assert Finding.objects.filter(run=run, study=empty).count() == 0
    # "increased" reads against the empty report (the previous one), which has no effusion: a conflict
    assert _rows(run, third)[0] == ("Pleural Effusion", "present", "left", "moderate", ("worsened", "stated"))
    assert TemporalChange.objects.get(finding__study=third, finding__term="Pleural Effusion").conflict_kind == (
        "change_without_prior"
    )
    assert job.counters["empty"] == 1


def test_two_hundred_reports_of_one_patient_are_linked_in_order(project, members, run_job):
    texts = [FIRST, SECOND, "FINDINGS: Unchanged moderate left pleural effusion."]
    studies = _patient(project, [(DAY + timedelta(days=i), texts[min(i, 2)]) for i in range(200)])
    run = StructureRun.objects.get(job=run_job(members["admin"], project))
    effusions = list(
        Finding.objects.filter(run=run, term="Pleural Effusion").order_by("study__study_date").select_related("prior")
    )
    assert len(effusions) == 200
    assert [f.prior.study_id if f.prior else None for f in effusions] == [None] + [s.pk for s in studies[:-1]]
    assert TemporalChange.objects.filter(finding__run=run, change="stable").count() == 198
    assert run.conflicts == 0


def test_nothing_is_linked_across_patients(project, members, run_job):
    # Given two patients on the same dates: one had an effusion first, the other only says "increased"
    (a_first,) = _patient(project, [(DAY, FIRST)])
    (b_second,) = _patient(project, [(DAY + timedelta(days=5), SECOND)])
    run = StructureRun.objects.get(job=run_job(members["admin"], project))
    # Then the second patient's report is their first: no link, no change
    row = Finding.objects.get(run=run, study=b_second, term="Pleural Effusion")
    assert (row.prior, _change(row)) == (None, None)
    assert (
        Finding.objects.filter(run=run, prior__study__patient=a_first.patient)
        .exclude(study__patient=a_first.patient)
        .count()
        == 0
    )


def test_params_are_checked(project, members):
    with pytest.raises(ValidationError):
        start_job(members["admin"], project, "structure.extract", {"required_reads": 9})
    with pytest.raises(ValidationError):
        start_job(members["admin"], project, "structure.extract", {"label_space": "x"})


# --- review ------------------------------------------------------------------------------------------


def _machine_snapshot(run):
    rows = Finding.objects.filter(run=run, source="machine").order_by("pk")
    changes = TemporalChange.objects.filter(finding__run=run, origin__in=["stated", "inferred"]).order_by("pk")
    return (
        list(rows.values_list("pk", "term", "presence", "certainty", "location", "severity", "supersedes")),
        list(changes.values_list("pk", "finding", "change", "origin", "conflict")),
    )


def _held_structure_item(project, reader):
    got = queue.next_item(reader, project, "structure")
    assert got is not None
    return got.item


def test_a_decision_adds_reviewer_rows_beside_the_machine_rows_and_never_changes_them(project, members, run_job):
    third, first, second = _patient(
        project, [(DAY + timedelta(days=20), THIRD), (DAY, FIRST), (DAY + timedelta(days=10), SECOND)]
    )
    run = StructureRun.objects.get(job=run_job(members["admin"], project))
    before = _machine_snapshot(run)
    reader = members["radiologist"]
    item = _held_structure_item(project, reader)
    assert item.study_id == third.pk
    pneumothorax, effusion = item.prefill["findings"]
    # When the radiologist sets the pneumothorax to "new", rejects nothing else, and adds a chest tube
    payload = {
        "answer": {
            "findings": [
                {"id": pneumothorax["id"], "change": "new"},
                {"verdict": "add", "term": "Chest Tube", "presence": "present", "certainty": "definite"},
            ]
        }
    }
    decision = services.decide(reader, project, item.pk, payload, seconds=12)
    # Then the decision is complete: the edit, the untouched row accepted, the added row
    assert [(r["id"], r["verdict"], r["change"]) for r in decision.payload["answer"]["findings"]] == [
        (pneumothorax["id"], "edit", "new"),
        (effusion["id"], "accept", "resolved"),
        (None, "add", None),
    ]
    # And reviewer rows stand beside the machine rows, which have not changed
    reviewer = list(Finding.objects.filter(decision=decision).order_by("position"))
    assert [(f.source, f.verdict, f.term, f.supersedes_id, f.created_by) for f in reviewer] == [
        ("reviewer", "edit", "Pneumothorax", pneumothorax["id"], reader),
        ("reviewer", "accept", "Pleural Effusion", effusion["id"], reader),
        ("reviewer", "add", "Chest Tube", None, reader),
    ]
    edited = reviewer[0].temporal_changes.get()
    machine_change = TemporalChange.objects.get(finding_id=pneumothorax["id"])
    assert (edited.change, edited.origin, edited.supersedes, edited.created_by) == (
        "new",
        "reviewer",
        machine_change,
        reader,
    )
    assert _machine_snapshot(run) == before
    # And the rows that count now are the reviewer's
    counted = current_findings(run, [third.pk])[third.pk]
    assert [(f.term, c.change or None, c.origin) for f, c in counted] == [
        ("Pneumothorax", "new", "reviewer"),
        ("Pleural Effusion", "resolved", "reviewer"),
        ("Chest Tube", None, "reviewer"),
    ]
    # When they amend: reject the pneumothorax row; the newest decision counts, the first set stays
    amended = services.decide(
        reader, project, item.pk, {"answer": {"findings": [{"id": pneumothorax["id"], "verdict": "reject"}]}}
    )
    assert amended.supersedes == decision
    assert Finding.objects.filter(decision=decision).count() == 3
    counted = current_findings(run, [third.pk])[third.pk]
    assert [f.term for f, _ in counted] == ["Pleural Effusion"]
    assert _machine_snapshot(run) == before
    assert ReviewDecision.objects.filter(item=item).count() == 2


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"id": 999999}, "not a finding of this item"),
        ({"verdict": "add", "term": "Bronchiectasis", "presence": "present", "certainty": "definite"}, "term must"),
        (
            {"verdict": "add", "term": "Edema", "presence": "present", "certainty": "definite", "change": "bigger"},
            "change must",
        ),
        ({"verdict": "add", "term": "Edema", "presence": "maybe", "certainty": "definite"}, "presence must"),
        (
            {"verdict": "add", "term": "Edema", "presence": "present", "certainty": "definite", "location": "elbow"},
            "location must",
        ),
        ({"verdict": "maybe"}, "verdict must"),
    ],
)
def test_a_structure_answer_is_checked_against_the_vocabulary(project, members, run_job, entry, message):
    _patient(project, [(DAY, FIRST), (DAY + timedelta(days=3), SECOND)])
    run_job(members["admin"], project)
    reader = members["radiologist"]
    item = _held_structure_item(project, reader)
    with pytest.raises(ValidationError, match=message):
        services.decide(reader, project, item.pk, {"answer": {"findings": [entry]}})
    assert Finding.objects.filter(source="reviewer").count() == 0


def test_the_item_view_shows_the_prior_study_beside_the_current_one(project, members, run_job):
    first, second = _patient(project, [(DAY, FIRST), (DAY + timedelta(days=3), SECOND)])
    image = ImageFactory(study=first, display="renders/p.png", view_position="AP")
    run_job(members["admin"], project)
    reader = members["radiologist"]
    item = ReviewItem.objects.get(kind="structure", study=second)
    view = services.item_view(reader, project, item)
    assert view["study_date"] == "2024-01-04"
    assert view["prior"]["study"] == first.pk
    assert view["prior"]["study_date"] == "2024-01-01"
    assert view["prior"]["report"] == FIRST
    assert [(i["id"], i["view_position"]) for i in view["prior"]["images"]] == [(image.pk, "AP")]


# --- the patient page --------------------------------------------------------------------------------


def test_the_patient_page_draws_the_timeline_and_links_points_and_thumbnails_to_their_studies(
    project, members, run_job, client
):
    third, first, second = _patient(
        project, [(DAY + timedelta(days=20), THIRD), (DAY, FIRST), (DAY + timedelta(days=10), SECOND)]
    )
    ImageFactory(study=first, thumbnail="renders/t.png", view_position="PA")
    run_job(members["admin"], project)
    client.force_login(members["viewer"])
    response = client.get(f"/p/chest/patients/{first.patient.pseudo_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    chart = response.context["chart"]
    # One row per finding group, one column per dated study in date order, every point linked to its study
    assert [row["name"] for row in chart["rows"]] == ["Pleural Effusion · left", "Pneumothorax", "Endotracheal Tube"]
    assert [c["study"] for c in chart["columns"]] == [first.pk, second.pk, third.pk]
    assert len(chart["points"]) == 6
    effusion = [p for p in chart["points"] if p["y"] == chart["rows"][0]["y"]]
    assert [(p["presence"], p["change"], p["mark"]) for p in effusion] == [
        ("present", "", ""),
        ("present", "worsened", "▲"),
        ("absent", "resolved", "✕"),
    ]
    assert [p["url"] for p in effusion] == [f"/p/chest/studies/{s.pk}/" for s in (first, second, third)]
    assert [p["conflict"] for p in chart["points"]].count(True) == 1
    assert 'data-testid="structure-timeline"' in html
    assert html.count('class="tl-point') == 6
    # And the thumbnail opens its study and names its view
    assert f'<a href="/p/chest/studies/{first.pk}/" class="thumb-link"' in html
    assert "<figcaption>PA</figcaption>" in html
