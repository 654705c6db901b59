"""Opening a named review item (the QC page's and study page's links): claim_item follows next_item's rules,
refuses with a stable code and says why, and the mask review page and claim endpoint hand that item over."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import Http404
from django.test import Client
from django.utils import timezone

from curation.models import AuditEvent, Role
from labeling.models import Claim, ClaimOutcome, ReviewItem, ReviewState
from labeling.review import queue, services
from tests.factories import MembershipFactory, UserFactory
from tests.labeling.mask_review_helpers import mask_item
from tests.labeling.review_helpers import label_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def rad2(project):
    return MembershipFactory(project=project, user=UserFactory(username="rad2"), role=Role.RADIOLOGIST).user


def test_a_named_item_is_claimed_even_when_the_queue_would_hand_out_another(project, members):
    # Given a high-priority mask item and the lower one a QC row links to
    top = mask_item(project, priority=0.9)
    linked = mask_item(project, priority=0.2)
    # When the radiologist opens the linked one
    got = queue.claim_item(members["radiologist"], project, linked.pk, "mask")
    # Then they hold a slot of that item, it is in review, and the claim is audited
    linked.refresh_from_db()
    assert (got.item.pk, got.claim.slot, got.claim.reader_id, got.resumed) == (
        linked.pk,
        1,
        members["radiologist"].pk,
        False,
    )
    assert linked.state == ReviewState.IN_REVIEW
    assert AuditEvent.objects.filter(action="review.claimed", object_id=str(linked.pk)).count() == 1
    # And the top item is untouched, still the queue's next for someone else
    assert Claim.objects.filter(item=top).count() == 0


def test_a_named_item_the_reader_holds_is_resumed_with_a_renewed_lease(project, members, settings):
    # Given the radiologist holding the item with a lease about to run out
    settings.REVIEW_LEASE_SECONDS = 600
    item = mask_item(project)
    first = queue.next_item(members["radiologist"], project, "mask")
    Claim.objects.filter(pk=first.claim.pk).update(expires_at=timezone.now() + timedelta(seconds=5))
    # When they open it by its link
    got = queue.claim_item(members["radiologist"], project, item.pk, "mask")
    # Then it is the same claim, its lease renewed to a full one
    assert (got.claim.pk, got.resumed) == (first.claim.pk, True)
    renewed = Claim.objects.get(pk=first.claim.pk).expires_at
    assert renewed - timezone.now() > timedelta(seconds=590)
    assert Claim.objects.filter(item=item).count() == 1


def test_the_second_read_slot_goes_to_a_second_reader_and_a_third_is_refused(project, members, rad2):
    # Given a double-read item the radiologist holds
    item = mask_item(project, required_reads=2)
    queue.claim_item(members["radiologist"], project, item.pk, "mask")
    # When a second radiologist opens it, then a curator
    second = queue.claim_item(rad2, project, item.pk, "mask")
    with pytest.raises(queue.ClaimRefused) as refused:
        queue.claim_item(members["curator"], project, item.pk, "mask")
    # Then the second gets slot 2 and the curator is told every read is taken
    assert second.claim.slot == 2
    assert refused.value.code == "full"
    assert str(refused.value) == "Every read of this item is taken by other readers."
    assert Claim.objects.filter(item=item, reader=members["curator"]).count() == 0


def test_an_expired_lease_of_another_reader_is_taken_over(project, members, rad2):
    # Given a single-read item whose reader's lease ran out
    item = mask_item(project)
    first = queue.claim_item(rad2, project, item.pk, "mask")
    Claim.objects.filter(pk=first.claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # When the radiologist opens it
    got = queue.claim_item(members["radiologist"], project, item.pk, "mask")
    # Then they take the slot back and the lapsed claim is released as expired
    assert got.claim.slot == 1
    lapsed = Claim.objects.get(pk=first.claim.pk)
    assert (lapsed.outcome, lapsed.released_at is None) == (ClaimOutcome.EXPIRED, False)


def test_an_item_the_reader_already_read_is_refused(project, members):
    # Given a double-read item the radiologist has read
    item = mask_item(project, required_reads=2)
    queue.claim_item(members["radiologist"], project, item.pk, "mask")
    services.decide(members["radiologist"], project, item.pk, {"verdict": "accept"})
    # When they open it again
    with pytest.raises(queue.ClaimRefused) as refused:
        queue.claim_item(members["radiologist"], project, item.pk, "mask")
    # Then they are told they read it
    assert (refused.value.code, str(refused.value)) == ("read_by_you", "You have already read this item.")


def test_an_item_the_reader_skipped_is_refused(project, members):
    item = mask_item(project)
    queue.claim_item(members["radiologist"], project, item.pk, "mask")
    queue.skip(members["radiologist"], project, item.pk)
    with pytest.raises(queue.ClaimRefused) as refused:
        queue.claim_item(members["radiologist"], project, item.pk, "mask")
    assert refused.value.code == "skipped_by_you"


@pytest.mark.parametrize(
    "state, code",
    [(ReviewState.ADJUDICATION, "adjudication"), (ReviewState.FINAL, "final"), (ReviewState.DECIDED, "decided")],
)
def test_an_item_past_its_reads_is_refused_with_its_state(project, members, state, code):
    # Given an item whose reads are in (no claim of this reader on it)
    item = mask_item(project)
    ReviewItem.objects.filter(pk=item.pk).update(state=state)
    # When the radiologist opens it
    with pytest.raises(queue.ClaimRefused) as refused:
        queue.claim_item(members["radiologist"], project, item.pk, "mask")
    # Then the refusal names the state, and nothing is claimed
    assert refused.value.code == code
    assert Claim.objects.filter(item=item).count() == 0


def test_a_named_item_of_another_kind_or_project_is_not_found(project, members):
    label = label_item(project, 0.5)
    with pytest.raises(Http404):
        queue.claim_item(members["radiologist"], project, label.pk, "mask")
    with pytest.raises(Http404):
        queue.claim_item(members["radiologist"], project, 10**9, "mask")


def test_a_viewer_may_not_claim(project, members):
    item = mask_item(project)
    with pytest.raises(PermissionDenied):
        queue.claim_item(members["viewer"], project, item.pk, "mask")


def test_the_claim_endpoint_answers_the_blinded_item(project, members, rad2, api):
    # Given a double-read item the second radiologist has read already
    item = mask_item(project, required_reads=2)
    queue.claim_item(rad2, project, item.pk, "mask")
    services.decide(rad2, project, item.pk, {"verdict": "reject", "reason": "swapped_sides"})
    # When the radiologist opens the item by its link
    response = api(members["radiologist"]).post(f"/api/projects/chest/review/mask/items/{item.pk}/claim/")
    # Then they get it on slot 2, without the other reader's read
    body = response.json()
    assert response.status_code == 200
    assert (body["id"], body["claim"]["slot"], body["resumed"], body["mine"]) == (item.pk, 2, False, None)
    assert "reads" not in body
    assert "swapped_sides" not in str(body)


def test_the_claim_endpoint_refusal_links_curators_to_adjudication(project, members, api):
    # Given an item in adjudication
    item = mask_item(project)
    ReviewItem.objects.filter(pk=item.pk).update(state=ReviewState.ADJUDICATION)
    url = f"/api/projects/chest/review/mask/items/{item.pk}/claim/"
    # When a curator and a radiologist open it
    curator = api(members["curator"]).post(url)
    radiologist = api(members["radiologist"]).post(url)
    # Then both get a 409 with the code; only the curator gets the adjudication page
    assert curator.status_code == radiologist.status_code == 409
    assert curator.json() == {
        "detail": "This item is in adjudication: its reads are in.",
        "code": "adjudication",
        "id": item.pk,
        "state": "adjudication",
        "adjudicate": f"/p/chest/review/items/{item.pk}/adjudicate/",
    }
    assert "adjudicate" not in radiologist.json()
    assert radiologist.json()["code"] == "adjudication"


def test_the_claim_endpoint_refuses_an_unknown_queue(project, members, api):
    item = mask_item(project)
    response = api(members["radiologist"]).post(f"/api/projects/chest/review/nonsense/items/{item.pk}/claim/")
    assert response.status_code == 404


def test_the_mask_review_page_passes_the_named_item_to_the_screen(project, members):
    # Given a radiologist's browser
    client = Client()
    client.force_login(members["radiologist"])
    # When they follow a QC link to item 17, or a link with a malformed id
    named = client.get("/p/chest/review/masks/?item=17")
    malformed = client.get("/p/chest/review/masks/?item=17x")
    # Then the screen is told to open 17 first, and nothing for the malformed one
    assert named.status_code == malformed.status_code == 200
    assert 'data-open-item="17"' in named.content.decode()
    assert 'data-open-item=""' in malformed.content.decode()
    # And the page does not claim anything by itself (a GET changes nothing)
    assert Claim.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_item_locked_by_another_transaction_is_skipped_not_waited_for(project, members):
    # Given another connection holding the item's row lock (a reader's claim or decision in flight)
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (DATABASE_URL=postgres://...)")
    item = mask_item(project)
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                ReviewItem.objects.select_for_update().get(pk=item.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30)
        # When the radiologist opens it
        with pytest.raises(queue.ClaimRefused) as refused:
            queue.claim_item(members["radiologist"], project, item.pk, "mask")
    finally:
        release.set()
        holder.join()
    # Then they are told to try again, and nothing was claimed
    assert refused.value.code == "busy"
    assert Claim.objects.filter(item=item).count() == 0
