"""Browser walk-through of the structure queue in real Chromium: a radiologist opens it, changes a finding's
change by keyboard, accepts, and the database holds a reviewer row beside the machine's."""

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from curation.dispatch import run_in_process
from curation.models import Report
from curation.services.jobs import start_job
from labeling.models import ReviewDecision, ReviewItem
from nlp.models import Finding, TemporalChange
from tests.factories import PASSWORD, ImageFactory, PatientFactory, StudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAY = date(2024, 3, 1)
REPORTS = [
    "FINDINGS: Small left pleural effusion. No pneumothorax.",
    "FINDINGS: The left pleural effusion has increased, now moderate. Endotracheal tube in place.",
    "FINDINGS: Unchanged right pneumothorax. No pleural effusion.",
]


@pytest.fixture
def queue(project, members):
    """One patient with three reports, the structure job run, the structure queue filled."""
    patient = PatientFactory(project=project)
    for index, text in enumerate(REPORTS):
        study = StudyFactory(patient=patient, study_date=DAY + timedelta(days=7 * index), has_report=True)
        Report.objects.create(study=study, text=text, source="dicom")
        ImageFactory(study=study)
    with run_in_process():
        start_job(members["curator"], project, "structure.extract", {})
    assert ReviewItem.objects.filter(project=project, kind="structure").count() == 3


def _log_in(page, base, username):
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_a_radiologist_edits_a_change_by_keyboard_and_a_reviewer_row_stands_beside_the_machine_row(
    page, live_server, members, queue
):
    base = live_server.url
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    top = ReviewItem.objects.filter(kind="structure").order_by("-priority", "id").first()
    # Given a radiologist who opens the structure queue
    _log_in(page, base, "radiologist")
    page.goto(f"{base}/p/chest/review/structure/")
    expect(page.get_by_role("heading", name="Structure review")).to_be_visible()
    root = page.locator("[data-review]")
    expect(root).to_have_attribute("data-item", re.compile(r"^\d+$"))
    # Then the item with a conflict comes first, beside the prior study's report, the conflict highlighted
    assert int(root.get_attribute("data-item")) == top.pk
    expect(page.get_by_test_id("prior-report")).to_have_text(REPORTS[1])
    expect(page.get_by_test_id("report-text")).to_have_text(REPORTS[2])
    rows = page.get_by_test_id("finding")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_class(re.compile(r"\bconflict\b"))
    expect(rows.nth(0)).to_have_attribute("data-change", "stable")
    # When they set the first finding's change to "new" with 1 and accept with Enter
    page.keyboard.press("1")
    expect(rows.nth(0)).to_have_attribute("data-change", "new")
    page.keyboard.press("Enter")
    expect(root).not_to_have_attribute("data-item", str(top.pk))
    # Then the decision is stored, and a reviewer row with its change stands beside the unchanged machine row
    decision = ReviewDecision.objects.get(item=top, reader__username="radiologist")
    machine_id = top.prefill["findings"][0]["id"]
    assert decision.payload["answer"]["findings"][0] == {
        "id": machine_id,
        "verdict": "edit",
        "term": "Pneumothorax",
        "presence": "present",
        "certainty": "definite",
        "location": "right",
        "severity": None,
        "change": "new",
    }
    reviewer = Finding.objects.get(decision=decision, supersedes_id=machine_id)
    assert (reviewer.source, reviewer.verdict, reviewer.created_by.username) == ("reviewer", "edit", "radiologist")
    assert TemporalChange.objects.get(finding=reviewer).change == "new"
    machine = Finding.objects.get(pk=machine_id)
    assert (machine.source, TemporalChange.objects.get(finding=machine).change) == ("machine", "stable")
    assert errors == []
