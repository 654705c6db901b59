"""Review decisions: reading, amending, adjudicating, sending back, and what a reader may see of an item.

Every function checks its action (curation.permissions) and writes its audit event (labeling.review.events).
Blinding is by state: nobody sees another reader's decision until every required read of the round is in.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from curation.errors import Conflict
from curation.permissions import Action, action

from ..models import Claim, ClaimOutcome, ReviewDecision, ReviewItem, ReviewKind, ReviewState
from . import events, locks
from .queue import my_claim

LABEL_STATUSES = ("positive", "negative", "uncertain", "not_mentioned")
# "correct": the reader drew new mask versions (labeling.review.masks.save_correction records this verdict).
MASK_VERDICTS = ("accept", "fix", "reject", "correct")
# Why a mask set is rejected outright (not worth correcting), in the reader's words.
MASK_REJECT_REASONS = {
    "wrong_organ": "Wrong organ",
    "missing_organ": "Missing organ",
    "swapped_sides": "Swapped sides",
    "off_chest": "Off the chest",
    "not_chest_xray": "Not a chest X-ray",
    "other": "Other (say why in the comment)",
}
COMMENT_MAX = 2000
SECONDS_MAX = 24 * 3600
# Reads of every reader become visible together, once the round's required reads are all in.
REVEALED_STATES = (ReviewState.DECIDED, ReviewState.ADJUDICATION, ReviewState.FINAL)


# --- payloads ---------------------------------------------------------------------------------------


def _comment(payload: dict) -> str:
    comment = payload.get("comment", "")
    if not isinstance(comment, str) or len(comment) > COMMENT_MAX:
        raise ValidationError({"comment": f"A comment is text of at most {COMMENT_MAX} characters."})
    return comment.strip()


def prefill_labels(item: ReviewItem) -> dict[str, str]:
    return {entry["label"]: entry["status"] for entry in item.prefill.get("labels", [])}


def clean_payload(item: ReviewItem, payload) -> dict:
    """The decision as stored: complete (labels left out keep the prefilled status) and checked."""
    if not isinstance(payload, dict):
        raise ValidationError({"payload": "The decision must be a JSON object."})
    comment = _comment(payload)
    if item.kind == ReviewKind.LABEL:
        given = payload.get("labels", {})
        if not isinstance(given, dict):
            raise ValidationError({"labels": "Give labels as {label: status}."})
        labels = prefill_labels(item)
        unknown = sorted(str(k) for k in given if k not in labels)
        if unknown:
            raise ValidationError({"labels": f"Not labels of this item: {', '.join(unknown[:5])}."})
        bad = sorted(str(k) for k, v in given.items() if v not in LABEL_STATUSES)
        if bad:
            raise ValidationError({"labels": f"Status must be one of {', '.join(LABEL_STATUSES)} ({bad[0]})."})
        labels.update(given)
        return {"labels": labels, "comment": comment}
    if item.kind == ReviewKind.MASK:
        return _clean_mask_payload(item, payload, comment)
    if item.kind == ReviewKind.STRUCTURE:
        from nlp.structure_service import clean_structure_answer

        return {"answer": clean_structure_answer(item, payload.get("answer")), "comment": comment}
    answer = payload.get("answer")
    if not isinstance(answer, dict):
        raise ValidationError({"answer": "The answer must be a JSON object."})
    return {"answer": answer, "comment": comment}


def _clean_mask_payload(item: ReviewItem, payload: dict, comment: str) -> dict:
    """A mask verdict; a reject names a reason from MASK_REJECT_REASONS ("other" needs a comment), and a
    correction names the reviewer masks of this item's image that it made ({organ: mask id})."""
    verdict = payload.get("verdict")
    if verdict not in MASK_VERDICTS:
        raise ValidationError({"verdict": f"Verdict must be one of {', '.join(MASK_VERDICTS)}."})
    if verdict == "reject":
        reason = payload.get("reason")
        if reason not in MASK_REJECT_REASONS:
            raise ValidationError({"reason": f"Say why: one of {', '.join(MASK_REJECT_REASONS)}."})
        if reason == "other" and not comment:
            raise ValidationError({"comment": "A reject for another reason needs a comment saying which."})
        return {"verdict": verdict, "reason": reason, "comment": comment}
    if verdict == "correct":
        from ..models import Mask, MaskSource

        masks = payload.get("masks")
        if not isinstance(masks, dict) or not masks or not all(type(v) is int for v in masks.values()):
            raise ValidationError({"masks": "A correction names its new masks as {organ: mask id}."})
        found = Mask.objects.filter(
            pk__in=list(masks.values()), image_id=item.image_id, source=MaskSource.REVIEWER
        ).values_list("organ", "pk")
        if sorted(found) != sorted(masks.items()):
            raise ValidationError({"masks": "These are not reviewer masks of this item's image."})
        return {"verdict": verdict, "masks": dict(sorted(masks.items())), "comment": comment}
    return {"verdict": verdict, "comment": comment}


def answer_of(payload: dict):
    """What readers must agree on: the labels, the verdict or the answer; comments do not count."""
    return {key: value for key, value in payload.items() if key != "comment"}


def _seconds(seconds) -> float:
    try:
        value = float(seconds or 0)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"seconds": "Seconds must be a number."}) from exc
    if not 0 <= value <= SECONDS_MAX:
        raise ValidationError({"seconds": f"Seconds must be between 0 and {SECONDS_MAX}."})
    return value


# --- reads ------------------------------------------------------------------------------------------


def latest_reads(item: ReviewItem, *, with_readers: bool = True) -> dict[int, ReviewDecision]:
    """The newest read of each reader in the item's current round (amendments replace earlier rows), by
    reader id; `with_readers` also loads the readers (for their names)."""
    reads: dict[int, ReviewDecision] = {}
    rows = ReviewDecision.objects.filter(item=item, round=item.round, adjudication=False).order_by("-id")
    for decision in rows.select_related("reader") if with_readers else rows:
        reads.setdefault(decision.reader_id, decision)
    return reads


def decide(reader, project, item_id: int, payload, seconds=0) -> ReviewDecision:
    """Record a read (or amend one before adjudication). When all required reads are in, the item is
    decided if they agree, else it goes to adjudication."""
    action(Action.REVIEW).check(reader, project)
    seconds = _seconds(seconds)
    now = timezone.now()
    with transaction.atomic():
        item = locks.item_for_update(project, item_id)
        if item.state in (ReviewState.ADJUDICATION, ReviewState.FINAL):
            raise Conflict(f"This item is in {item.get_state_display().lower()}: reads can no longer change.")
        claim = my_claim(reader, item)
        if claim is None:
            raise Conflict("You hold no claim on this item: it may have expired and gone to another reader.")
        cleaned = clean_payload(item, payload)
        # One query for the round's reads (the item is locked: they cannot change under us) gives both the
        # row this one amends and, with this one added, what the item settles on.
        reads = latest_reads(item, with_readers=False)
        previous = reads.pop(reader.pk, None)
        decision = ReviewDecision.objects.create(
            item=item,
            round=item.round,
            claim=claim,
            reader=reader,
            payload=cleaned,
            seconds=seconds,
            supersedes=previous,
        )
        if claim.decided_at is None:
            claim.decided_at, claim.outcome = now, ClaimOutcome.DECIDED
            claim.save(update_fields=["decided_at", "outcome"])
        # This read's answer as it reads back from the database (JSON), so it compares with the others exactly.
        answers = [answer_of(d.payload) for d in reads.values()] + [answer_of(json.loads(json.dumps(cleaned)))]
        state_before = item.state
        _settle(item, answers)
        _record_answer(reader, item, decision)
        events.decision_recorded(reader, item, decision, state_before)
    return decision


def _record_answer(reader, item: ReviewItem, decision: ReviewDecision) -> None:
    """A structure answer also becomes reviewer Finding/TemporalChange rows beside the machine's."""
    if item.kind == ReviewKind.STRUCTURE:
        from nlp.structure_service import record_structure_review

        record_structure_review(reader, item, decision)


def _settle(item: ReviewItem, answers: list) -> None:
    """Move the (locked) item on from the answers of its round's reads (the newest of each reader): in review,
    decided (all agree) or adjudication."""
    if len(answers) >= item.required_reads:
        if all(answer == answers[0] for answer in answers):
            item.state, item.final = ReviewState.DECIDED, answers[0]
        else:
            item.state, item.final = ReviewState.ADJUDICATION, None
    else:
        item.state, item.final = ReviewState.IN_REVIEW, None
    item.save(update_fields=["state", "final", "updated_at"])


def adjudicate(curator, project, item_id: int, payload) -> ReviewDecision:
    """A curator settles disagreeing reads: their answer becomes final."""
    action(Action.ADJUDICATE).check(curator, project)
    with transaction.atomic():
        item = locks.item_for_update(project, item_id)
        if item.state != ReviewState.ADJUDICATION:
            raise Conflict(f"Only items in adjudication can be adjudicated; this one is {item.state}.")
        cleaned = clean_payload(item, payload)
        decision = ReviewDecision.objects.create(
            item=item, round=item.round, reader=curator, payload=cleaned, adjudication=True
        )
        item.state, item.final = ReviewState.FINAL, answer_of(cleaned)
        item.save(update_fields=["state", "final", "updated_at"])
        _record_answer(curator, item, decision)
        events.item_adjudicated(curator, item, decision)
    return decision


def send_back(curator, project, item_id: int, comment: str) -> ReviewItem:
    """Return an item to the queue with a comment. A new round starts: it needs fresh reads (the same
    readers may read it again); the earlier round's claims and decisions stay as history."""
    action(Action.SEND_BACK).check(curator, project)
    comment = _comment({"comment": comment})
    if not comment:
        raise ValidationError({"comment": "Say why the item goes back."})
    now = timezone.now()
    with transaction.atomic():
        item = locks.item_for_update(project, item_id)
        state_before = item.state
        Claim.objects.filter(item=item, round=item.round, released_at__isnull=True, decided_at__isnull=True).update(
            released_at=now, outcome=ClaimOutcome.SENT_BACK
        )
        item.round += 1
        item.state, item.final, item.comment = ReviewState.PENDING, None, comment
        item.save(update_fields=["round", "state", "final", "comment", "updated_at"])
        events.item_sent_back(curator, item, state_before, comment)
    return item


# --- what a reader sees -----------------------------------------------------------------------------


def _image_entry(project, image) -> dict:
    def url(which: str, present: str) -> str:
        return reverse("image-file", args=[project.slug, image.pk, which]) if present else ""

    return {
        "id": image.pk,
        "view_position": image.view_position,
        "display16": url("display16", image.display16),
        "display": url("display", image.display),
        "thumbnail": url("thumbnail", image.thumbnail),
        "window": image.display_meta or {},
    }


def item_view(user, project, item: ReviewItem, claim: Claim | None = None) -> dict:
    """The item as a reader sees it: the prefill, the study, report and images, their own read if any.
    `claim` is the user's claim on the item's round when the caller has it already (next_item's), else
    it is looked up.

    Blinded: other readers' decisions appear only once the round's reads are all in, and only to those
    who may adjudicate (`reads`); a reader never gets them through this view before deciding."""
    from curation.models import Image, Report

    images = []
    if item.image_id is not None:
        images = list(Image.objects.filter(pk=item.image_id))
    elif item.study_id is not None:
        images = list(Image.objects.filter(study_id=item.study_id).order_by("pk")[:8])
    report = Report.objects.filter(study_id=item.study_id).only("text").first() if item.study_id else None
    if claim is None:
        claim = my_claim(user, item)
    # A read is recorded only on the reader's claim, which it marks decided, and a decided claim is never
    # released: without a decided claim in this round there is no read of theirs to look for.
    own = (
        ReviewDecision.objects.filter(item=item, round=item.round, reader=user, adjudication=False)
        .order_by("-id")
        .first()
        if claim is not None and claim.decided_at is not None
        else None
    )
    view = {
        "id": item.pk,
        "kind": item.kind,
        "state": item.state,
        "round": item.round,
        "priority": round(item.priority, 4),
        "reasons": item.reasons,
        "required_reads": item.required_reads,
        "comment": item.comment,
        "study": item.study_id,
        "image": item.image_id,
        "prefill": item.prefill,
        "report": report.text if report else "",
        "images": [_image_entry(project, image) for image in images],
        "claim": (
            {"slot": claim.slot, "expires_at": claim.expires_at.isoformat(), "decided": claim.decided_at is not None}
            if claim
            else None
        ),
        "mine": own.payload if own else None,
    }
    if item.kind == ReviewKind.STRUCTURE:
        from nlp.structure_service import structure_context

        view.update(structure_context(project, item))
    if item.state in REVEALED_STATES and action(Action.ADJUDICATE).allowed(user, project):
        view["reads"] = [
            {"reader": d.reader.username, "payload": d.payload, "seconds": d.seconds, "decision": d.pk}
            for d in latest_reads(item).values()
        ]
        view["final"] = item.final
    return view


def get_item(user, project, item_id: int) -> ReviewItem:
    action(Action.REVIEW).check(user, project)
    item = ReviewItem.objects.filter(project=project, pk=item_id).first()
    if item is None:
        from django.http import Http404

        raise Http404("No such review item.")
    return item


def peek_images(reader, project, kind: str, after: ReviewItem | None, limit: int = 1) -> list[str]:
    """Image URLs of the items likely to come next, for the screen to fetch ahead (not claimed: a hint)."""
    from django.db.models import Exists, OuterRef

    from curation.models import Image

    mine = Claim.objects.filter(item=OuterRef("pk"), round=OuterRef("round"), reader=reader)
    qs = ReviewItem.objects.filter(project=project, kind=kind, state__in=locks.OPEN_STATES).filter(~Exists(mine))
    if after is not None:
        qs = qs.exclude(pk=after.pk)
    studies = list(qs.order_by("-priority", "id").values_list("study_id", "image_id")[:limit])
    urls = []
    for study_id, image_id in studies:
        if image_id:
            image = Image.objects.filter(pk=image_id).first()
        elif study_id:
            image = Image.objects.filter(study_id=study_id).order_by("pk").first()
        else:  # an item on neither a study nor an image has nothing to fetch (no `study_id IS NULL` query)
            continue
        if image is not None:
            entry = _image_entry(project, image)
            urls.append(entry["display16"] or entry["display"])
    return [u for u in urls if u]
