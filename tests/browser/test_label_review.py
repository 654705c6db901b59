"""Browser walk-through of double reading in real Chromium: two radiologists label with the keyboard only and
disagree, the item goes to adjudication, and a curator makes the answer final."""

import re

import pytest
from playwright.sync_api import expect

from curation.demo import generate_dataset
from curation.dispatch import run_in_process
from curation.models import Role
from curation.services import ingest
from curation.services.jobs import start_job
from labeling.models import ReviewDecision, ReviewItem, ReviewState
from nlp.models import LabelingRun
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(project, members, tmp_path):
    """An imported synthetic dataset, its labels mined, and the label queue filled for double reading."""
    generate_dataset(tmp_path / "data", n_patients=3, seed=21, image_size=128)
    ingest.import_from_cli("chest", "dicom", str(tmp_path / "data"))
    MembershipFactory(project=project, user=UserFactory(username="rad2"), role=Role.RADIOLOGIST)
    with run_in_process():
        start_job(members["admin"], project, "nlp.mine_labels", {})
    with run_in_process():
        start_job(members["curator"], project, "review.fill", {"queue": "label", "required_reads": 2})
    assert LabelingRun.objects.filter(project=project, complete=True).exists()
    assert ReviewItem.objects.filter(project=project).count() >= 2


def _log_in(page, base, username):
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/p/chest/")


def _log_out(page):
    page.get_by_role("button", name="Log out").click()


def _current_item(page) -> int:
    root = page.locator("[data-review]")
    expect(root).to_have_attribute("data-item", re.compile(r"^\d+$"))
    return int(root.get_attribute("data-item"))


def test_two_radiologists_disagree_by_keyboard_and_a_curator_adjudicates(page, live_server, members, queue):
    base = live_server.url
    errors = []
    # Script errors and Content-Security-Policy refusals (a missing favicon is neither).
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    top = ReviewItem.objects.order_by("-priority", "id").first()
    # Given a radiologist who opens the label queue with the keyboard
    _log_in(page, base, "radiologist")
    page.keyboard.press("g")
    page.keyboard.press("r")
    expect(page.get_by_role("heading", name="Label review")).to_be_visible()
    # Then the most doubtful item is shown with its report, its reasons in words, and its findings prefilled
    first = _current_item(page)
    assert first == top.pk
    expect(page.get_by_test_id("finding")).to_have_count(len(top.prefill["labels"]))
    if top.reasons:
        expect(page.get_by_test_id("review-reasons")).to_contain_text(top.reasons[0])
    # When they move down two findings, mark it positive with "1" and accept with Enter
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    row = page.locator("[data-findings] tr.current")
    label = row.get_attribute("data-label")
    page.keyboard.press("1")
    expect(row).to_have_attribute("data-chosen", "positive")
    page.keyboard.press("Enter")
    # Then the next item loads, and the database holds the decision
    expect(page.locator("[data-review]")).not_to_have_attribute("data-item", str(first))
    decision = ReviewDecision.objects.get(item_id=first, reader__username="radiologist")
    assert decision.payload["labels"][label] == "positive"
    assert decision.seconds > 0
    _log_out(page)

    # Given a second radiologist, who is handed the same item for the second read, blinded
    _log_in(page, base, "rad2")
    page.goto(f"{base}/p/chest/review/labels/")
    assert _current_item(page) == first
    row = page.locator(f"[data-findings] tr[data-label='{label}']")
    expect(row).not_to_have_attribute("data-chosen", "positive")
    # When they mark the same finding negative and accept
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("2")
    expect(row).to_have_attribute("data-chosen", "negative")
    page.keyboard.press("Enter")
    expect(page.locator("[data-review]")).not_to_have_attribute("data-item", str(first))
    # Then the two reads disagree and the item waits for adjudication
    assert ReviewItem.objects.get(pk=first).state == ReviewState.ADJUDICATION
    _log_out(page)

    # When a curator opens the adjudication list and the item, and makes "uncertain" final
    _log_in(page, base, "curator")
    page.goto(f"{base}/p/chest/review/adjudication/")
    page.get_by_test_id("adjudication-row").first.get_by_role("link").click()
    reads = page.get_by_test_id("reads")
    expect(reads).to_contain_text("radiologist")
    expect(reads).to_contain_text("rad2")
    page.get_by_role("group", name=f"Final answer for {label}").get_by_label("uncertain").check()
    page.get_by_test_id("adjudicate").click()
    # Then the answer is final
    expect(page.get_by_text(f"Item {first} adjudicated")).to_be_visible()
    item = ReviewItem.objects.get(pk=first)
    assert (item.state, item.final["labels"][label]) == (ReviewState.FINAL, "uncertain")
    # And no script failed and nothing was refused by the Content-Security-Policy on the way
    assert errors == []
