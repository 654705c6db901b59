"""Review screens: the keyboard-first label and mask queues, adjudication for curators, the agreement page.

The label screen is a shell that review.js drives through the review API, the mask screen one that
review_mask.js (with maskedit.js) drives; adjudication and send-back are plain forms. Every rule is the
action's own (curation.permissions), every change a service call.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation import jobkinds
from curation.errors import Conflict
from curation.permissions import Action, action, get_project
from curation.services.studies import parse_id
from labeling.models import Organ, ReviewItem, ReviewKind, ReviewState
from labeling.review import agreement, services
from labeling.services import active_bank_file

from .label_views import highlight
from .structure_adjudication import structure_payload, structure_table

ADJUDICATION_PAGE = 100


@login_required
def review_labels(request, slug):
    project = get_project(request.user, slug, Action.REVIEW)
    return render(
        request,
        "frontend/review_label.html",
        {
            "project": project,
            "statuses": services.LABEL_STATUSES,
            "can_adjudicate": action(Action.ADJUDICATE).allowed(request.user, project),
        },
    )


@login_required
def review_masks(request, slug):
    """The mask queue: review_mask.js claims items through the review API and maskedit.js draws corrections.
    `?item=<id>` (the QC page's and the study page's links) opens that item first when the reader may read it
    (review_mask.js asks the claim endpoint, which says why not otherwise), then the queue goes on as usual."""
    project = get_project(request.user, slug, Action.REVIEW)
    return render(
        request,
        "frontend/review_mask.html",
        {
            "project": project,
            "open_item": parse_id(request.GET.get("item")) or "",
            "reject_reasons": list(services.MASK_REJECT_REASONS.items()),
            "organs": [(value, label) for value, label in Organ.choices if value != Organ.LUNGS],
            "can_adjudicate": action(Action.ADJUDICATE).allowed(request.user, project),
            # Growing the bank is the bank job's own start rule, offered once a bank exists.
            "may_grow_bank": jobkinds.get("qc.build_bank").start_action("none").allowed(request.user, project)
            and active_bank_file(project) is not None,
        },
    )


@login_required
def review_structure(request, slug):
    """The structure queue: structure.js claims items through the review API; the current report and image
    beside the prior study's, the findings table edited by keyboard."""
    from nlp.structure_service import vocabulary_choices

    project = get_project(request.user, slug, Action.REVIEW)
    return render(
        request,
        "frontend/review_structure.html",
        {
            "project": project,
            "choices": vocabulary_choices(),
            "can_adjudicate": action(Action.ADJUDICATE).allowed(request.user, project),
        },
    )


@login_required
def review_agreement(request, slug):
    project = get_project(request.user, slug, Action.VIEW_LABELS)
    kind = request.GET.get("kind", ReviewKind.LABEL)
    if kind not in ReviewKind.values:
        kind = ReviewKind.LABEL
    report = agreement.agreement_report(project, kind)
    counts = {state.label: 0 for state in ReviewState}
    for state, n in _state_counts(project, kind):
        counts[ReviewState(state).label] = n
    return render(
        request,
        "frontend/review_agreement.html",
        {"project": project, "report": report, "kind": kind, "kinds": ReviewKind.choices, "counts": counts},
    )


def _state_counts(project, kind):
    from django.db.models import Count

    return ReviewItem.objects.filter(project=project, kind=kind).values_list("state").annotate(n=Count("pk")).order_by()


@login_required
def adjudication_list(request, slug):
    project = get_project(request.user, slug, Action.ADJUDICATE)
    items = list(
        ReviewItem.objects.filter(project=project, state=ReviewState.ADJUDICATION)
        .select_related("study")
        .order_by("-priority", "id")[:ADJUDICATION_PAGE]
    )
    return render(request, "frontend/review_adjudication_list.html", {"project": project, "items": items})


def _questions(item: ReviewItem, reads: list[dict]) -> list[dict]:
    """One row per label (or the verdict): each reader's answer and the preselected choice."""
    if item.kind == ReviewKind.LABEL:
        names = [entry["label"] for entry in item.prefill.get("labels", [])]
        choices = services.LABEL_STATUSES
        answer = lambda payload, name: (payload.get("labels") or {}).get(name)  # noqa: E731
    else:
        names = ["verdict", "reason", "masks of"]
        choices = services.MASK_VERDICTS
        answer = lambda payload, name: payload.get(name)  # noqa: E731
    rows = []
    for name in names:
        if name == "reason":
            values = [read["payload"].get("reason") for read in reads]
            options = list(services.MASK_REJECT_REASONS)
        elif name == "masks of":
            # A correction made final adopts one reader's new masks.
            values = [read["reader"] if read["payload"].get("masks") else None for read in reads]
            options = [value for value in values if value]
        else:
            values = [answer(read["payload"], name) for read in reads]
            options = choices
        rows.append(
            {
                "name": name,
                "values": values,
                "agree": len(set(values)) == 1,
                "chosen": next((value for value in values if value), None),
                "choices": options,
            }
        )
    return rows


def _mask_adjudication(post, reads: list[dict]) -> dict:
    """The final answer of a mask item from the adjudication form: a reject keeps its reason, a correction
    adopts the chosen reader's masks."""
    payload = {"verdict": post.get("q:verdict", "")}
    if payload["verdict"] == "reject":
        payload["reason"] = post.get("q:reason", "")
    elif payload["verdict"] == "correct":
        chosen = next((read for read in reads if read["reader"] == post.get("q:masks of")), None)
        payload["masks"] = chosen["payload"].get("masks") if chosen else None
    return payload


@login_required
def adjudicate_item(request, slug, item_id):
    project = get_project(request.user, slug, Action.ADJUDICATE)
    item = services.get_item(request.user, project, parse_id(item_id) or 0)
    status = 200
    if request.method == "POST":
        try:
            if item.kind == ReviewKind.LABEL:
                names = [entry["label"] for entry in item.prefill.get("labels", [])]
                payload = {"labels": {name: request.POST.get(f"q:{name}", "") for name in names}}
            elif item.kind == ReviewKind.STRUCTURE:
                reads = services.item_view(request.user, project, item).get("reads", [])
                payload = structure_payload(item, request.POST, reads)
            else:
                reads = services.item_view(request.user, project, item).get("reads", [])
                payload = _mask_adjudication(request.POST, reads)
            payload["comment"] = request.POST.get("comment", "")
            services.adjudicate(request.user, project, item.pk, payload)
        except (ValidationError, Conflict) as exc:
            # The page again, with why, and a status that says the answer was not taken.
            status = 409 if isinstance(exc, Conflict) else 400
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.success(request, f"Item {item.pk} adjudicated: the answer is final.")
            return redirect("frontend:review-adjudication", slug=slug)
    view = services.item_view(request.user, project, item)
    reads = view.get("reads", [])
    evidence = [e for entry in item.prefill.get("labels", []) for e in entry.get("evidence", [])]
    evidence += [e for row in item.prefill.get("findings", []) for e in row.get("evidence", [])]
    return render(
        request,
        "frontend/review_adjudicate.html",
        {
            "project": project,
            "item": item,
            "view": view,
            "reads": reads,
            "questions": _questions(item, reads) if item.kind != ReviewKind.STRUCTURE else [],
            "structure": structure_table(item, reads) if item.kind == ReviewKind.STRUCTURE else None,
            "report_html": highlight(view["report"], evidence) if view["report"] else "",
            "can_adjudicate": item.state == ReviewState.ADJUDICATION,
        },
        status=status,
    )


@login_required
@require_POST
def send_back_item(request, slug, item_id):
    project = get_project(request.user, slug, Action.SEND_BACK)
    try:
        services.send_back(request.user, project, parse_id(item_id) or 0, request.POST.get("comment", ""))
    except (ValidationError, Conflict) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("frontend:review-adjudicate", slug=slug, item_id=item_id)
    messages.success(request, f"Item {item_id} sent back to the queue.")
    return redirect("frontend:review-adjudication", slug=slug)
