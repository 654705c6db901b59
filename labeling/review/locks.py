"""Every row lock of the review queues. Lock order: the item row first, then its claims and decisions;
every change to an item's claims happens while its row is locked, so the database constraints on claims
are a backstop, never the arbiter."""

from __future__ import annotations

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from ..models import Claim, ReviewItem, ReviewState

OPEN_STATES = (ReviewState.PENDING, ReviewState.IN_REVIEW)


def item_for_update(project, item_id: int) -> ReviewItem:
    """The item, locked; 404 when it is not in the project."""
    item = ReviewItem.objects.select_for_update(of=("self",)).filter(project=project, pk=item_id).first()
    if item is None:
        raise Http404("No such review item.")
    item.project = project  # the audit event reads it: no second query
    return item


def next_open_item(project, kind: str, reader, now) -> ReviewItem | None:
    """The highest-priority open item with a free read slot that `reader` has not touched in its current
    round, locked; rows other readers hold locked are skipped, not waited for.

    A slot is taken by a decided claim or an unexpired held one; expired leases count as free (the
    caller takes them back under the lock). The walk follows the partial index `reviewitem_open_next`.
    """
    mine = Claim.objects.filter(item=OuterRef("pk"), round=OuterRef("round"), reader=reader)
    taken = (
        Claim.objects.filter(item=OuterRef("pk"), round=OuterRef("round"), released_at__isnull=True)
        .filter(Q(decided_at__isnull=False) | Q(expires_at__gt=now))
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    item = (
        ReviewItem.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(project=project, kind=kind, state__in=OPEN_STATES)
        .filter(~Exists(mine))
        .alias(taken=Coalesce(Subquery(taken, output_field=IntegerField()), Value(0)))
        .filter(taken__lt=F("required_reads"))
        .order_by("-priority", "id")
        .first()
    )
    if item is not None:
        item.project = project
    return item
