"""Handing out work: the next item for a reader, one named item (a link to it), leases that expire and
renew, skipping.

`next_item` takes a constant number of queries whatever the queue size: one to resume a held claim, one
locked walk of the open-items index (rows other readers hold are skipped, never waited on), one read
of the item's claims, then the writes. `claim_item` follows the same rules for one item a link names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from curation.errors import Conflict
from curation.permissions import Action, action
from curation.services import facets

from ..models import Claim, ClaimOutcome, ReviewItem, ReviewKind, ReviewState
from . import events, locks

# A locked candidate can turn out taken (a race between the walk's snapshot and the lock): try a few more.
_ATTEMPTS = 3


class ClaimRefused(Conflict):
    """The named item cannot be claimed by this reader now; `code` is stable (clients match on it), the
    message is for people."""

    READ_BY_YOU = "read_by_you"
    SKIPPED_BY_YOU = "skipped_by_you"
    ADJUDICATION = "adjudication"
    FINAL = "final"
    DECIDED = "decided"
    FULL = "full"
    BUSY = "busy"

    def __init__(self, code: str, message: str, item: ReviewItem):
        super().__init__(message)
        self.code = code
        self.item = item


@dataclass(frozen=True)
class Assignment:
    """The item a reader holds, the claim on its read slot, and whether it was already theirs."""

    item: ReviewItem
    claim: Claim
    resumed: bool


def lease_seconds() -> int:
    return int(getattr(settings, "REVIEW_LEASE_SECONDS", 600))


def _expiry(now):
    return now + timedelta(seconds=lease_seconds())


def check_kind(kind: str) -> str:
    if kind not in ReviewKind.values:
        from django.http import Http404

        raise Http404("No such review queue.")
    return kind


def held_claim(reader, project, kind: str) -> Claim | None:
    """The reader's claim in this queue that they have neither decided nor given up (expired or not)."""
    return (
        Claim.objects.select_related("item")
        .filter(
            reader=reader,
            released_at__isnull=True,
            decided_at__isnull=True,
            item__project=project,
            item__kind=kind,
            round=F("item__round"),
        )
        .order_by("id")
        .first()
    )


def next_item(reader, project, kind: str) -> Assignment | None:
    """Claim the next item of `kind` for `reader`, or return the one they already hold (its lease renewed).

    Never an item the reader already read or skipped in its current round; None when nothing is left.
    """
    action(Action.REVIEW).check(reader, project)
    check_kind(kind)
    now = timezone.now()
    with transaction.atomic():
        held = held_claim(reader, project, kind)
        # Renewing only if nobody has taken the lapsed lease over since (that sets released_at).
        if held is not None and Claim.objects.filter(pk=held.pk, released_at__isnull=True).update(
            expires_at=_expiry(now)
        ):
            held.expires_at = _expiry(now)
            return Assignment(item=held.item, claim=held, resumed=True)
        for _ in range(_ATTEMPTS):
            item = locks.next_open_item(project, kind, reader, now)
            if item is None:
                return None
            claim = _claim_slot(reader, item, now)
            if claim is not None:
                return Assignment(item=item, claim=claim, resumed=False)
    return None


def claim_item(reader, project, item_id: int, kind: str | None = None) -> Assignment:
    """Claim the item a link names for `reader` under next_item's rules, or resume their own open claim on it.

    Refused (ClaimRefused, with its code) when the reader already read or gave up the item in this round,
    when it is decided, in adjudication or final, when every read slot is taken, or when another reader's
    claim holds the row locked this instant (skipped, never waited on). 404 when the project has no such item
    (of `kind`, if given). A claim on another item the reader holds stays theirs: next_item resumes it later.
    """
    action(Action.REVIEW).check(reader, project)
    if kind is not None:
        check_kind(kind)
    now = timezone.now()
    with transaction.atomic():
        found = ReviewItem.objects.select_for_update(skip_locked=True, of=("self",)).filter(project=project, pk=item_id)
        if kind is not None:
            found = found.filter(kind=kind)
        item = found.first()
        if item is None:
            busy = ReviewItem.objects.filter(project=project, pk=item_id)
            busy = busy.filter(kind=kind) if kind is not None else busy
            busy = busy.first()
            if busy is None:
                from django.http import Http404

                raise Http404("No such review item.")
            raise ClaimRefused(ClaimRefused.BUSY, "Another reader is taking this item right now: try again.", busy)
        item.project = project  # the audit event reads it: no second query
        everyone = list(Claim.objects.filter(item=item, round=item.round))
        own = next((c for c in everyone if c.reader_id == reader.pk), None)
        if own is not None and own.decided_at is not None:
            raise ClaimRefused(ClaimRefused.READ_BY_YOU, "You have already read this item.", item)
        if item.state == ReviewState.ADJUDICATION:
            raise ClaimRefused(ClaimRefused.ADJUDICATION, "This item is in adjudication: its reads are in.", item)
        if item.state == ReviewState.FINAL:
            raise ClaimRefused(ClaimRefused.FINAL, "This item is final: its answer is settled.", item)
        if item.state == ReviewState.DECIDED:
            raise ClaimRefused(ClaimRefused.DECIDED, "This item is decided: its readers agreed.", item)
        if own is not None and own.released_at is None:
            # Their own lapsed or live lease: renewed, as next_item resumes a held claim.
            own.expires_at = _expiry(now)
            own.save(update_fields=["expires_at"])
            return Assignment(item=item, claim=own, resumed=True)
        if own is not None:
            raise ClaimRefused(
                ClaimRefused.SKIPPED_BY_YOU,
                "You gave this item up in this round (skipped, or your lease ran out and another reader took it).",
                item,
            )
        claim = _claim_slot(reader, item, now, everyone)
        if claim is None:
            raise ClaimRefused(ClaimRefused.FULL, "Every read of this item is taken by other readers.", item)
    return Assignment(item=item, claim=claim, resumed=False)


def _claim_slot(reader, item: ReviewItem, now, everyone: list[Claim] | None = None) -> Claim | None:
    """Take a free slot of the locked `item` for `reader`; None if the item turns out full or theirs.
    `everyone` is the round's claims when the caller has read them already."""
    if everyone is None:
        everyone = list(Claim.objects.filter(item=item, round=item.round))
    if any(c.reader_id == reader.pk for c in everyone):
        return None
    claims = [c for c in everyone if c.released_at is None]
    expired = [c.pk for c in claims if c.decided_at is None and c.expires_at <= now]
    if expired:
        Claim.objects.filter(pk__in=expired).update(released_at=now, outcome=ClaimOutcome.EXPIRED)
        events.claims_expired(reader, item, expired)
    taken = {c.slot for c in claims if c.pk not in expired}
    free = [slot for slot in range(1, item.required_reads + 1) if slot not in taken]
    if not free:
        return None
    claim = Claim.objects.create(item=item, round=item.round, slot=free[0], reader=reader, expires_at=_expiry(now))
    if item.state != ReviewState.IN_REVIEW:
        item.state = ReviewState.IN_REVIEW
    # Always written, so the number of queries does not depend on the state the item was in.
    ReviewItem.objects.filter(pk=item.pk).update(state=item.state, updated_at=now)
    facets.refresh_review_tokens([item.study_id])  # the study list's review_state filter
    events.item_claimed(reader, item, claim)
    return claim


def my_claim(reader, item: ReviewItem) -> Claim | None:
    """The reader's unreleased claim (held or decided) on the item's current round."""
    return Claim.objects.filter(item=item, round=item.round, reader=reader, released_at__isnull=True).first()


def renew(reader, project, item_id: int) -> Claim:
    """Extend the reader's lease on an item they hold (the screen calls it on activity)."""
    action(Action.REVIEW).check(reader, project)
    now = timezone.now()
    with transaction.atomic():
        item = locks.item_for_update(project, item_id)
        claim = my_claim(reader, item)
        if claim is None or claim.decided_at is not None:
            raise Conflict("You hold no open claim on this item: it may have expired and gone to another reader.")
        claim.expires_at = _expiry(now)
        claim.save(update_fields=["expires_at"])
    return claim


def skip(reader, project, item_id: int) -> Claim:
    """Give the item back: the slot is free for another reader, and this reader is not offered it again
    in this round."""
    action(Action.REVIEW).check(reader, project)
    now = timezone.now()
    with transaction.atomic():
        item = locks.item_for_update(project, item_id)
        claim = my_claim(reader, item)
        if claim is None or claim.decided_at is not None:
            raise Conflict("You hold no open claim on this item.")
        claim.released_at, claim.outcome = now, ClaimOutcome.SKIPPED
        claim.save(update_fields=["released_at", "outcome"])
        others = Claim.objects.filter(item=item, round=item.round, released_at__isnull=True).exists()
        if not others and item.state == ReviewState.IN_REVIEW:
            item.state = ReviewState.PENDING
            item.save(update_fields=["state", "updated_at"])
        events.claim_skipped(reader, item, claim)
    return claim
