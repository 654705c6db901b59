"""One function per review audit event (claim, skip, decision, amendment, send-back, adjudication, fill).

They write through `curation.audit._record`, the one writer of AuditEvent rows, so the trail stays append-only.
"""

from __future__ import annotations

from curation.audit import _record
from curation.models import AuditEvent, Project, User

from ..models import Claim, ReviewDecision, ReviewItem


def _item_repr(item: ReviewItem) -> str:
    return f"{item.kind} {item.target_key}"


def item_claimed(actor: User, item: ReviewItem, claim: Claim) -> AuditEvent:
    return _record(
        actor=actor,
        action="review.claimed",
        obj_type="review_item",
        obj_id=item.pk,
        obj_repr=_item_repr(item),
        project=item.project,
        after={"claim": claim.pk, "round": claim.round, "slot": claim.slot, "expires_at": claim.expires_at.isoformat()},
    )


def claim_skipped(actor: User, item: ReviewItem, claim: Claim) -> AuditEvent:
    return _record(
        actor=actor,
        action="review.skipped",
        obj_type="review_item",
        obj_id=item.pk,
        obj_repr=_item_repr(item),
        project=item.project,
        after={"claim": claim.pk, "round": claim.round, "slot": claim.slot},
    )


def claims_expired(actor: User, item: ReviewItem, claim_ids: list[int]) -> AuditEvent:
    """Leases that ran out, taken back when `actor` asked for work on the same item."""
    return _record(
        actor=actor,
        action="review.leases_expired",
        obj_type="review_item",
        obj_id=item.pk,
        obj_repr=_item_repr(item),
        project=item.project,
        after={"claims": claim_ids},
    )


def decision_recorded(actor: User, item: ReviewItem, decision: ReviewDecision, state_before: str) -> AuditEvent:
    """A read, or an amendment of one (then `supersedes` names the row it replaces)."""
    return _record(
        actor=actor,
        action="review.amended" if decision.supersedes_id else "review.decided",
        obj_type="review_item",
        obj_id=item.pk,
        obj_repr=_item_repr(item),
        project=item.project,
        before={"state": state_before},
        after={
            "decision": decision.pk,
            "supersedes": decision.supersedes_id,
            "round": decision.round,
            "payload": decision.payload,
            "state": item.state,
        },
    )


def item_sent_back(actor: User, item: ReviewItem, state_before: str, comment: str) -> AuditEvent:
    return _record(
        actor=actor,
        action="review.sent_back",
        obj_type="review_item",
        obj_id=item.pk,
        obj_repr=_item_repr(item),
        project=item.project,
        before={"state": state_before, "round": item.round - 1},
        after={"state": item.state, "round": item.round, "comment": comment},
    )


def item_adjudicated(actor: User, item: ReviewItem, decision: ReviewDecision) -> AuditEvent:
    return _record(
        actor=actor,
        action="review.adjudicated",
        obj_type="review_item",
        obj_id=item.pk,
        obj_repr=_item_repr(item),
        project=item.project,
        before={"state": "adjudication"},
        after={"decision": decision.pk, "final": item.final, "state": item.state},
    )


def queue_filled(actor: User | None, project: Project, kind: str, source: dict, created: int) -> AuditEvent:
    return _record(
        actor=actor,
        action="review.queue_filled",
        obj_type="review_queue",
        obj_id=kind,
        obj_repr=f"{kind} queue",
        project=project,
        after={**source, "created": created},
    )
