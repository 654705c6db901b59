"""Review queue services: states, blinding, one read per reader, leases, amendments, send-back, adjudication."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from curation.errors import Conflict
from curation.models import AuditEvent, Role
from labeling.models import Claim, ClaimOutcome, ReviewDecision, ReviewState
from labeling.review import queue, services
from tests.factories import MembershipFactory, UserFactory
from tests.labeling.review_helpers import label_item, positive

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(project, members):
    """The project's radiologist plus a second one."""
    second = MembershipFactory(project=project, user=UserFactory(username="rad2"), role=Role.RADIOLOGIST).user
    return members["radiologist"], second


def test_next_item_hands_out_the_highest_priority_first_and_marks_it_in_review(project, readers):
    # Given three pending items of different priority
    low, high, mid = label_item(project, 0.1), label_item(project, 0.9), label_item(project, 0.5)
    # When a radiologist asks for work
    got = queue.next_item(readers[0], project, "label")
    # Then they get the most doubtful one, on slot 1, and it is in review
    high.refresh_from_db()
    assert (got.item.pk, got.claim.slot, got.resumed) == (high.pk, 1, False)
    assert high.state == ReviewState.IN_REVIEW
    assert {low.state, mid.state} == {ReviewState.PENDING}


def test_asking_again_resumes_the_held_item_with_a_renewed_lease(project, readers, settings):
    # Given a radiologist holding an item
    settings.REVIEW_LEASE_SECONDS = 600
    label_item(project, 0.9)
    label_item(project, 0.5)
    first = queue.next_item(readers[0], project, "label")
    # When they ask for work again
    again = queue.next_item(readers[0], project, "label")
    # Then they get the same claim back, not a second item
    assert (again.item.pk, again.claim.pk, again.resumed) == (first.item.pk, first.claim.pk, True)
    assert Claim.objects.filter(reader=readers[0]).count() == 1


def test_a_single_read_item_goes_to_one_reader_only(project, readers):
    # Given one item needing one read
    label_item(project, 0.9)
    # When two radiologists ask for work
    first = queue.next_item(readers[0], project, "label")
    second = queue.next_item(readers[1], project, "label")
    # Then only the first gets it
    assert first is not None
    assert second is None


def test_double_reading_gives_the_two_slots_to_two_readers_and_never_twice_to_one(project, readers):
    # Given one item needing two reads
    item = label_item(project, 0.9, required_reads=2)
    # When both radiologists claim it and the first decides and asks again
    a = queue.next_item(readers[0], project, "label")
    b = queue.next_item(readers[1], project, "label")
    services.decide(readers[0], project, item.pk, {"labels": {}}, seconds=4)
    again = queue.next_item(readers[0], project, "label")
    # Then the slots are 1 and 2, and the first reader is not offered the item again
    assert (a.item.pk, b.item.pk) == (item.pk, item.pk)
    assert sorted([a.claim.slot, b.claim.slot]) == [1, 2]
    assert again is None


def test_the_database_refuses_a_second_claim_by_the_same_reader(project, readers):
    # Given a claim of a reader on an item
    item = label_item(project, 0.9, required_reads=2)
    got = queue.next_item(readers[0], project, "label")
    # When something inserts a second claim of the same reader on the same round
    # Then the unique constraint refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.create(item=item, round=1, slot=2, reader=readers[0], expires_at=got.claim.expires_at)


def test_the_database_refuses_two_active_claims_on_one_slot(project, readers):
    # Given a held slot 1
    item = label_item(project, 0.9, required_reads=2)
    got = queue.next_item(readers[0], project, "label")
    # When another reader's claim on the same slot is inserted directly
    # Then the partial unique constraint refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.create(item=item, round=1, slot=got.claim.slot, reader=readers[1], expires_at=timezone.now())


def test_an_expired_lease_is_taken_over_by_the_next_reader(project, readers):
    # Given a single-read item whose holder let the lease run out
    item = label_item(project, 0.9)
    first = queue.next_item(readers[0], project, "label")
    Claim.objects.filter(pk=first.claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # When another radiologist asks for work
    second = queue.next_item(readers[1], project, "label")
    # Then they get the item on the same slot, the old claim is released as expired, and the holder cannot decide
    first.claim.refresh_from_db()
    assert (second.item.pk, second.claim.slot) == (item.pk, first.claim.slot)
    assert first.claim.outcome == ClaimOutcome.EXPIRED
    assert first.claim.released_at is not None
    with pytest.raises(Conflict):
        services.decide(readers[0], project, item.pk, {"labels": {}})
    assert AuditEvent.objects.filter(action="review.leases_expired", object_id=str(item.pk)).count() == 1


def test_an_expired_lease_nobody_took_is_resumed_and_renewed(project, readers, settings):
    # Given a holder whose lease lapsed while nobody else asked
    settings.REVIEW_LEASE_SECONDS = 300
    label_item(project, 0.9)
    first = queue.next_item(readers[0], project, "label")
    Claim.objects.filter(pk=first.claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # When the holder asks again
    again = queue.next_item(readers[0], project, "label")
    # Then the same claim comes back, renewed for the lease length
    again.claim.refresh_from_db()
    assert (again.claim.pk, again.resumed) == (first.claim.pk, True)
    assert timedelta(seconds=290) < again.claim.expires_at - timezone.now() <= timedelta(seconds=300)


def test_renew_extends_the_lease(project, readers, settings):
    # Given a held claim with ten seconds left
    settings.REVIEW_LEASE_SECONDS = 600
    item = label_item(project, 0.9)
    got = queue.next_item(readers[0], project, "label")
    Claim.objects.filter(pk=got.claim.pk).update(expires_at=timezone.now() + timedelta(seconds=10))
    # When the screen renews it
    claim = queue.renew(readers[0], project, item.pk)
    # Then the lease runs for the full lease length again
    assert timedelta(seconds=590) < claim.expires_at - timezone.now() <= timedelta(seconds=600)


def test_renew_without_a_claim_is_a_conflict(project, readers):
    item = label_item(project, 0.9)
    with pytest.raises(Conflict):
        queue.renew(readers[0], project, item.pk)


def test_one_agreeing_read_decides_a_single_read_item_with_the_final_answer(project, readers):
    # Given a claimed single-read item prefilled all negative
    item = label_item(project, 0.9)
    queue.next_item(readers[0], project, "label")
    # When the radiologist marks cardiomegaly positive
    decision = services.decide(readers[0], project, item.pk, positive("Cardiomegaly"), seconds=12.5)
    # Then the item is decided, its final answer is the complete label set, and the claim is decided
    item.refresh_from_db()
    assert item.state == ReviewState.DECIDED
    assert item.final == {
        "labels": {"Atelectasis": "negative", "Cardiomegaly": "positive", "Pleural Effusion": "negative"}
    }
    assert decision.seconds == 12.5
    assert Claim.objects.get(item=item).outcome == ClaimOutcome.DECIDED
    assert AuditEvent.objects.filter(action="review.decided", object_id=str(item.pk)).count() == 1


def test_two_agreeing_reads_decide_and_two_disagreeing_go_to_adjudication(project, readers):
    # Given two double-read items, both claimed by both readers
    agree = label_item(project, 0.9, required_reads=2)
    differ = label_item(project, 0.8, required_reads=2)
    for reader in readers:
        queue.next_item(reader, project, "label")
        services.decide(reader, project, agree.pk, positive("Atelectasis"))
        queue.next_item(reader, project, "label")
    # When the readers agree on one and disagree on the other
    services.decide(readers[0], project, differ.pk, positive("Cardiomegaly"))
    services.decide(readers[1], project, differ.pk, {"labels": {}, "comment": "looks normal"})
    # Then the first is decided and the second waits for adjudication without a final answer
    agree.refresh_from_db()
    differ.refresh_from_db()
    assert agree.state == ReviewState.DECIDED
    assert agree.final["labels"]["Atelectasis"] == "positive"
    assert (differ.state, differ.final) == (ReviewState.ADJUDICATION, None)


def test_after_one_of_two_reads_the_item_stays_in_review(project, readers):
    item = label_item(project, 0.9, required_reads=2)
    queue.next_item(readers[0], project, "label")
    services.decide(readers[0], project, item.pk, {"labels": {}})
    item.refresh_from_db()
    assert item.state == ReviewState.IN_REVIEW


def test_a_reader_never_sees_the_other_read_before_deciding(project, readers, members):
    # Given an item the first reader has decided
    item = label_item(project, 0.9, required_reads=2)
    queue.next_item(readers[0], project, "label")
    services.decide(readers[0], project, item.pk, positive("Cardiomegaly"))
    # When the second reader (and a curator) look at it before the second read
    got = queue.next_item(readers[1], project, "label")
    view = services.item_view(readers[1], project, got.item)
    curator_view = services.item_view(members["curator"], project, got.item)
    # Then neither view carries the first read; the prefill is the miner's, not the first reader's
    assert "reads" not in view and "reads" not in curator_view
    assert view["mine"] is None
    assert {e["label"]: e["status"] for e in view["prefill"]["labels"]}["Cardiomegaly"] == "negative"
    assert "positive" not in str(view)


def test_curators_see_both_reads_once_the_item_is_in_adjudication(project, readers, members):
    # Given an item the two readers disagree on
    item = label_item(project, 0.9, required_reads=2)
    for reader, payload in zip(readers, [positive("Cardiomegaly"), {"labels": {}}], strict=True):
        queue.next_item(reader, project, "label")
        services.decide(reader, project, item.pk, payload)
    item.refresh_from_db()
    # When a curator and a radiologist view it
    curator_view = services.item_view(members["curator"], project, item)
    reader_view = services.item_view(readers[0], project, item)
    # Then the curator sees both reads and the radiologist only their own
    assert sorted(r["reader"] for r in curator_view["reads"]) == ["rad2", "radiologist"]
    assert "reads" not in reader_view
    assert reader_view["mine"]["labels"]["Cardiomegaly"] == "positive"


def test_amending_adds_a_row_and_the_newest_counts(project, readers):
    # Given a double-read item the first reader decided
    item = label_item(project, 0.9, required_reads=2)
    queue.next_item(readers[0], project, "label")
    first = services.decide(readers[0], project, item.pk, positive("Cardiomegaly"))
    # When they amend it, then the second reader agrees with the amendment
    second = services.decide(readers[0], project, item.pk, {"labels": {}})
    queue.next_item(readers[1], project, "label")
    services.decide(readers[1], project, item.pk, {"labels": {}})
    # Then both rows exist, the second supersedes the first, and the item is decided on the amended answer
    item.refresh_from_db()
    assert list(ReviewDecision.objects.filter(item=item, reader=readers[0]).order_by("id")) == [first, second]
    assert second.supersedes_id == first.pk
    assert item.state == ReviewState.DECIDED
    assert item.final["labels"]["Cardiomegaly"] == "negative"
    assert AuditEvent.objects.filter(action="review.amended", object_id=str(item.pk)).count() == 1


def test_no_amendment_once_in_adjudication(project, readers):
    item = label_item(project, 0.9, required_reads=2)
    for reader, payload in zip(readers, [positive("Cardiomegaly"), {"labels": {}}], strict=True):
        queue.next_item(reader, project, "label")
        services.decide(reader, project, item.pk, payload)
    with pytest.raises(Conflict):
        services.decide(readers[0], project, item.pk, {"labels": {}})


def test_a_curator_adjudicates_and_the_answer_is_final(project, readers, members):
    # Given an item in adjudication
    item = label_item(project, 0.9, required_reads=2)
    for reader, payload in zip(readers, [positive("Cardiomegaly"), {"labels": {}}], strict=True):
        queue.next_item(reader, project, "label")
        services.decide(reader, project, item.pk, payload)
    # When a curator settles it
    services.adjudicate(members["curator"], project, item.pk, {"labels": {"Cardiomegaly": "uncertain"}})
    # Then it is final with the curator's answer, and the adjudication is audited
    item.refresh_from_db()
    assert item.state == ReviewState.FINAL
    assert item.final["labels"] == {
        "Atelectasis": "negative",
        "Cardiomegaly": "uncertain",
        "Pleural Effusion": "negative",
    }
    assert AuditEvent.objects.filter(action="review.adjudicated", object_id=str(item.pk)).count() == 1


def test_radiologists_cannot_adjudicate_or_send_back_and_viewers_cannot_read(project, readers, members):
    item = label_item(project, 0.9)
    with pytest.raises(PermissionDenied):
        services.adjudicate(readers[0], project, item.pk, {"labels": {}})
    with pytest.raises(PermissionDenied):
        services.send_back(readers[0], project, item.pk, "again")
    with pytest.raises(PermissionDenied):
        queue.next_item(members["viewer"], project, "label")
    with pytest.raises(Http404):
        queue.next_item(members["outsider"], project, "label")


def test_adjudicating_an_item_not_in_adjudication_is_a_conflict(project, members):
    item = label_item(project, 0.9)
    with pytest.raises(Conflict):
        services.adjudicate(members["curator"], project, item.pk, {"labels": {}})


def test_send_back_starts_a_new_round_that_the_same_readers_may_read_again(project, readers, members):
    # Given a decided item
    item = label_item(project, 0.9)
    queue.next_item(readers[0], project, "label")
    services.decide(readers[0], project, item.pk, positive("Cardiomegaly"))
    # When a curator sends it back with a comment
    services.send_back(members["curator"], project, item.pk, "Check the lateral view")
    # Then it is pending in round 2 with the comment, the old read stays, and the same reader gets it again
    item.refresh_from_db()
    assert (item.state, item.round, item.comment, item.final) == (
        ReviewState.PENDING,
        2,
        "Check the lateral view",
        None,
    )
    assert ReviewDecision.objects.filter(item=item, round=1).count() == 1
    again = queue.next_item(readers[0], project, "label")
    assert (again.item.pk, again.claim.round) == (item.pk, 2)
    assert services.item_view(readers[0], project, again.item)["mine"] is None
    assert AuditEvent.objects.filter(action="review.sent_back", object_id=str(item.pk)).count() == 1


def test_send_back_needs_a_comment(project, members):
    item = label_item(project, 0.9)
    with pytest.raises(ValidationError):
        services.send_back(members["curator"], project, item.pk, "  ")


def test_skip_frees_the_slot_for_others_and_is_not_offered_again(project, readers):
    # Given a single-read item held by the first reader
    item = label_item(project, 0.9)
    queue.next_item(readers[0], project, "label")
    # When they skip it
    queue.skip(readers[0], project, item.pk)
    # Then it is pending again, they are not offered it, and the second reader is
    item.refresh_from_db()
    assert item.state == ReviewState.PENDING
    assert queue.next_item(readers[0], project, "label") is None
    assert queue.next_item(readers[1], project, "label").item.pk == item.pk
    assert AuditEvent.objects.filter(action="review.skipped", object_id=str(item.pk)).count() == 1


def test_a_decision_with_an_unknown_label_or_status_is_refused(project, readers):
    item = label_item(project, 0.9)
    queue.next_item(readers[0], project, "label")
    with pytest.raises(ValidationError):
        services.decide(readers[0], project, item.pk, {"labels": {"Fracture of the moon": "positive"}})
    with pytest.raises(ValidationError):
        services.decide(readers[0], project, item.pk, {"labels": {"Cardiomegaly": "maybe"}})
    with pytest.raises(ValidationError):
        services.decide(readers[0], project, item.pk, {"labels": {}}, seconds=-1)
    assert ReviewDecision.objects.count() == 0


def test_every_claim_is_audited(project, readers):
    item = label_item(project, 0.9)
    queue.next_item(readers[0], project, "label")
    event = AuditEvent.objects.get(action="review.claimed")
    assert (event.object_id, event.actor_username, event.after["slot"]) == (str(item.pk), "radiologist", 1)


@pytest.mark.parametrize("size", [3, 30])
def test_next_item_takes_the_same_number_of_queries_whatever_the_queue_size(
    project, readers, size, django_assert_num_queries
):
    # Given a queue of `size` double-read items, a third of them already read by this reader
    items = [label_item(project, priority=i / size, required_reads=2) for i in range(size)]
    for _ in range(size // 3):
        got = queue.next_item(readers[0], project, "label")
        services.decide(readers[0], project, got.item.pk, {"labels": {}})
    reader = type(readers[0]).objects.get(pk=readers[0].pk)  # a fresh user: the role lookup counts too
    # When the reader asks for the next item
    # (role, savepoint, resume check, locked walk, claims, insert, state, the study's review facets, audit,
    # release savepoint)
    with django_assert_num_queries(10):
        got = queue.next_item(reader, project, "label")
    # Then they got one they had not read
    assert got.item.pk == items[-(size // 3) - 1].pk
