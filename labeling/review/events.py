"""One function per review audit event (claim, skip, decision, amendment, send-back, adjudication, fill).

They write through `curation.audit._record`, the one writer of AuditEvent rows, so the trail stays append-only.
"""

from __future__ import annotations

from curation.audit import _record
from curation.models import AuditEvent, Project, User

from ..models import Claim, ReviewDecision, ReviewItem


def _on_item(actor: User, item: ReviewItem, action: str, **change) -> AuditEvent:
    """An event on one review item: the item names itself and its project; `change` is before/after."""
    return _record(
        actor=actor,
        action=action,
        obj_type="review_item",
        obj_id=item.pk,
        obj_repr=f"{item.kind} {item.target_key}",
        project=item.project,
        **change,
    )


def item_claimed(actor: User, item: ReviewItem, claim: Claim) -> AuditEvent:
    return _on_item(
        actor,
        item,
        "review.claimed",
        after={"claim": claim.pk, "round": claim.round, "slot": claim.slot, "expires_at": claim.expires_at.isoformat()},
    )


def claim_skipped(actor: User, item: ReviewItem, claim: Claim) -> AuditEvent:
    return _on_item(
        actor,
        item,
        "review.skipped",
        after={"claim": claim.pk, "round": claim.round, "slot": claim.slot},
    )


def claims_expired(actor: User, item: ReviewItem, claim_ids: list[int]) -> AuditEvent:
    """Leases that ran out, taken back when `actor` asked for work on the same item."""
    return _on_item(
        actor,
        item,
        "review.leases_expired",
        after={"claims": claim_ids},
    )


def decision_recorded(actor: User, item: ReviewItem, decision: ReviewDecision, state_before: str) -> AuditEvent:
    """A read, or an amendment of one (then `supersedes` names the row it replaces)."""
    return _on_item(
        actor,
        item,
        "review.amended" if decision.supersedes_id else "review.decided",
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
    return _on_item(
        actor,
        item,
        "review.sent_back",
        before={"state": state_before, "round": item.round - 1},
        after={"state": item.state, "round": item.round, "comment": comment},
    )


def item_adjudicated(actor: User, item: ReviewItem, decision: ReviewDecision) -> AuditEvent:
    return _on_item(
        actor,
        item,
        "review.adjudicated",
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
