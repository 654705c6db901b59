"""Adjudication of structure items on the adjudication screen: the two reads side by side with their differences,
one reader's answer made final (or the table edited), bad input refused with a reason, and who may do it."""

import re
from datetime import date

import pytest
from django.test import Client

from curation.models import Report
from curation.services.jobs import start_job
from labeling.models import ReviewDecision, ReviewItem, ReviewState
from labeling.review import queue, services
from nlp.models import Finding
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db

FIRST = "FINDINGS: Small left pleural effusion. No pneumothorax."
SECOND = "FINDINGS: The left pleural effusion has increased, now moderate. Endotracheal tube in place."


@pytest.fixture
def disputed(project, members, settings, django_capture_on_commit_callbacks):
    """The structure item of a patient's second report, read twice: the radiologist calls the effusion stable,
    the curator keeps it worsened, rejects the endotracheal tube and adds a chest tube."""
    settings.JOBS_IN_PROCESS_THREAD = False
    patient = PatientFactory(project=project)
    studies = []
    for day, text in [(date(2024, 1, 1), FIRST), (date(2024, 1, 4), SECOND)]:
        study = StudyFactory(patient=patient, study_date=day, has_report=True)
        Report.objects.create(study=study, text=text, source="dicom")
        studies.append(study)
    with django_capture_on_commit_callbacks(execute=True):
        start_job(members["admin"], project, "structure.extract", {"required_reads": 2})
    ReviewItem.objects.filter(kind="structure").exclude(study=studies[1]).delete()
    item = ReviewItem.objects.get(kind="structure", study=studies[1])
    effusion, tube = item.prefill["findings"]
    assert (effusion["term"], effusion["change"], tube["term"]) == ("Pleural Effusion", "worsened", "Endotracheal Tube")
    rad, curator = members["radiologist"], members["curator"]
    assert queue.next_item(rad, project, "structure").item == item
    first = services.decide(
        rad, project, item.pk, {"answer": {"findings": [{"id": effusion["id"], "change": "stable"}]}}
    )
    assert queue.next_item(curator, project, "structure").item == item
    second = services.decide(
        curator,
        project,
        item.pk,
        {
            "answer": {
                "findings": [
                    {"id": tube["id"], "verdict": "reject"},
                    {"verdict": "add", "term": "Chest Tube", "presence": "present", "certainty": "definite"},
                ]
            },
            "comment": "the tube is a chest drain",
        },
    )
    item.refresh_from_db()
    assert item.state == ReviewState.ADJUDICATION
    return {"item": item, "effusion": effusion["id"], "tube": tube["id"], "first": first, "second": second}


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _url(item):
    return f"/p/chest/review/items/{item.pk}/adjudicate/"


def _findings_section(page: str) -> str:
    start = page.index('data-testid="structure-adjudication"')
    return page[start : page.index("</section>", start)]


def _row_html(section: str, finding: int, reader: str) -> str:
    """The <tr> of one reader in the n-th finding's group."""
    group = section.split('data-testid="structure-finding"')[finding]
    start = group.index(f'<tr class="read" data-reader="{reader}">')
    return _squash(group[start : group.index("</tr>", start)])


def _squash(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


def test_the_screen_shows_both_reads_with_their_differences_and_the_machine_rows(project, members, disputed):
    # When the admin opens the disputed structure item
    response = _client(members["admin"]).get(_url(disputed["item"]))
    # Then it shows the findings table, not the label questions
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="reads"' not in page
    section = _findings_section(page)
    assert "The readers differ on 3 findings (highlighted)." in section
    # And the effusion row: the machine's values for reference, the change the readers differ on highlighted
    effusion = section.split('data-testid="structure-finding"')[1]
    machine = _squash(effusion[effusion.index('<tr class="machine">') : effusion.index("</tr>")])
    assert (
        "<td>Machine</td><td>Found</td><td>Pleural Effusion</td><td>present</td><td>definite</td><td>left</td>"
        '<td>moderate</td><td>worsened</td><td class="evidence">The left pleural effusion has increased, now '
        "moderate</td>"
    ) in machine
    assert _row_html(section, 1, "radiologist") == (
        '<tr class="read" data-reader="radiologist"><td>radiologist</td><td class="">Edited</td>'
        '<td class="">Pleural Effusion</td><td class="">present</td><td class="">definite</td><td class="">left</td>'
        '<td class="">moderate</td><td class="disagree">stable<span class="visually-hidden"> (readers differ)</span>'
        "</td><td></td>"
    )
    assert '<td class="disagree">worsened<span class="visually-hidden">' in _row_html(section, 1, "curator")
    # And the tube: kept by one, rejected by the other
    assert '<td class="disagree">Accepted</td>' in _row_html(section, 2, "radiologist")
    assert '<td class="disagree">Rejected</td>' in _row_html(section, 2, "curator")
    # And the chest tube only the curator added
    assert "Not found by the machine: added by a reader." in section.split('data-testid="structure-finding"')[3]
    assert '<td class="disagree">Not added</td>' in _row_html(section, 3, "radiologist")
    assert '<td class="disagree">Added</td><td class="disagree">Chest Tube' in _row_html(section, 3, "curator")
    # And the final answer starts from the first reader's read, with a button to adopt each answer
    assert "The final answer starts from radiologist's read" in section
    assert f'<select name="f:{disputed["effusion"]}:change" aria-label=' in section
    assert '<option value="stable" selected>stable</option>' in section
    assert '<button type="submit" name="adopt" value="curator" data-testid="adopt">' in section
    assert "<strong>curator:</strong> the tube is a chest drain" in section
    # And the prior study's report stands beside it
    assert f'<pre class="report" data-testid="prior-report">{FIRST}</pre>' in page


def test_adopting_reader_as_answer_makes_it_final_and_adds_reviewer_rows(project, members, disputed):
    item, admin = disputed["item"], members["admin"]
    # When the admin makes the radiologist's answer final
    response = _client(admin).post(_url(item), {"adopt": "radiologist", "comment": "stable on review"})
    # Then the item is final with exactly that answer
    assert (response.status_code, response["Location"]) == (302, "/p/chest/review/adjudication/")
    item.refresh_from_db()
    assert item.state == ReviewState.FINAL
    assert item.final == {"answer": disputed["first"].payload["answer"]}
    decision = ReviewDecision.objects.get(item=item, adjudication=True)
    assert (decision.reader, decision.payload["comment"]) == (admin, "stable on review")
    # And reviewer rows stand for the adjudication beside the readers' and the machine's
    rows = Finding.objects.filter(decision=decision).order_by("position")
    assert [
        (f.source, f.verdict, f.term, f.severity, f.supersedes_id, f.created_by, f.temporal_changes.get().change)
        for f in rows
    ] == [
        ("reviewer", "edit", "Pleural Effusion", "moderate", disputed["effusion"], admin, "stable"),
        ("reviewer", "accept", "Endotracheal Tube", "", disputed["tube"], admin, ""),
    ]
    assert Finding.objects.filter(source="machine", study=item.study).count() == 2


def test_an_edited_table_becomes_the_final_answer(project, members, disputed):
    item, effusion, tube = disputed["item"], disputed["effusion"], disputed["tube"]
    # When the curator keeps the effusion as improved and large, rejects the tube, adds the reader's chest tube
    # (row a:0) and a right pneumothorax nobody added (row a:1)
    form = {
        f"f:{effusion}:verdict": "keep",
        f"f:{effusion}:term": "Pleural Effusion",
        f"f:{effusion}:presence": "present",
        f"f:{effusion}:certainty": "definite",
        f"f:{effusion}:location": "left",
        f"f:{effusion}:severity": "large",
        f"f:{effusion}:change": "improved",
        f"f:{tube}:verdict": "reject",
        "a:0:verdict": "add",
        "a:0:term": "Chest Tube",
        "a:0:presence": "present",
        "a:0:certainty": "definite",
        "a:0:location": "",
        "a:1:verdict": "add",
        "a:1:term": "Pneumothorax",
        "a:1:presence": "present",
        "a:1:certainty": "tentative",
        "a:1:location": "right",
        "a:1:change": "new",
    }
    response = _client(members["curator"]).post(_url(item), form)
    # Then that is the final answer
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.state == ReviewState.FINAL
    assert [
        (r["id"], r["verdict"], r["term"], r["presence"], r["certainty"], r["location"], r["severity"], r["change"])
        for r in item.final["answer"]["findings"]
    ] == [
        (effusion, "edit", "Pleural Effusion", "present", "definite", "left", "large", "improved"),
        (tube, "reject", "Endotracheal Tube", "present", "definite", None, None, None),
        (None, "add", "Chest Tube", "present", "definite", None, None, None),
        (None, "add", "Pneumothorax", "present", "tentative", "right", None, "new"),
    ]


@pytest.mark.parametrize(
    "form, message",
    [
        ({"adopt": "nobody"}, "There is no read by nobody to adopt."),
        ({"a:0:verdict": "add", "a:0:presence": "present"}, "Choose which finding to add."),
        ({"a:0:verdict": "maybe"}, "An added finding is either added or left out."),
        ({"f:{effusion}:verdict": "perhaps"}, "Row Pleural Effusion: choose keep or reject."),
        ({"f:{effusion}:change": "bigger"}, "row 1: change must be one of new, worsened, stable, improved, resolved."),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_changes_nothing(project, members, disputed, form, message):
    item = disputed["item"]
    form = {key.format(effusion=disputed["effusion"]): value for key, value in form.items()}
    response = _client(members["admin"]).post(_url(item), form)
    assert response.status_code == 400
    assert f'<div class="msg error">{message}</div>' in response.content.decode()
    item.refresh_from_db()
    assert (item.state, item.final) == (ReviewState.ADJUDICATION, None)
    assert ReviewDecision.objects.filter(item=item, adjudication=True).count() == 0


def test_a_final_item_cannot_be_adjudicated_again(project, members, disputed):
    item, client = disputed["item"], _client(members["admin"])
    assert client.post(_url(item), {"adopt": "curator"}).status_code == 302
    response = client.post(_url(item), {"adopt": "radiologist"})
    assert response.status_code == 409
    assert "Only items in adjudication can be adjudicated; this one is final." in response.content.decode()
    item.refresh_from_db()
    assert item.final == {"answer": disputed["second"].payload["answer"]}


@pytest.mark.parametrize("role", ["viewer", "radiologist"])
def test_viewers_and_radiologists_cannot_adjudicate(project, members, disputed, role):
    item, client = disputed["item"], _client(members[role])
    assert client.get(_url(item)).status_code == 403
    assert client.post(_url(item), {"adopt": "radiologist"}).status_code == 403
    item.refresh_from_db()
    assert (item.state, item.final) == (ReviewState.ADJUDICATION, None)
    assert ReviewDecision.objects.filter(item=item, adjudication=True).count() == 0
