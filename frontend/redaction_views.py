"""Burned-in text screens: the redaction page of one image (draw boxes, save; or flag the image) and the
curators' list of images waiting for redaction. The work is in curation.services.redaction."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render

from curation.dicomio.redact_pixels import MAX_BOXES
from curation.errors import Conflict
from curation.models import Image
from curation.permissions import Action, can, get_project
from curation.services import redaction
from curation.services.studies import parse_id

PAGE = 50
# Request bodies are bounded by Django's DATA_UPLOAD_MAX_MEMORY_SIZE; a box list is a few hundred bytes.
BOXES_MAX_CHARS = 20_000


def _page(request, project, image, *, status=200, error=""):
    return render(
        request,
        "frontend/redact.html",
        {
            "project": project,
            "image": image,
            "error": error,
            "max_boxes": MAX_BOXES,
            # The same objects the services check: the page shows only what the user may do.
            "may_redact": can(request.user, Action.REDACT_IMAGES, project),
            "may_flag": can(request.user, Action.FLAG_BURNED_IN, project),
            # A new address after each redaction: the browser must not show its cached unredacted copy.
            "version": int(image.redacted_at.timestamp()) if image.redacted_at else 0,
        },
        status=status,
    )


@login_required
def redact_page(request, slug, image_id):
    """GET: the image and its redaction state (readers). POST: burn the drawn boxes in (curators, admins)."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    name = Action.REDACT_IMAGES if request.method == "POST" else Action.FLAG_BURNED_IN
    project = get_project(request.user, slug, name)
    image = get_object_or_404(Image.objects.select_related("study"), project=project, pk=parse_id(image_id))
    if request.method == "GET":
        return _page(request, project, image)
    try:
        boxes = _boxes(request.POST.get("boxes", ""))
        image = redaction.redact(request.user, project, image.pk, boxes)
    except ValidationError as exc:
        return _page(request, project, image, status=400, error="; ".join(exc.messages))
    except Conflict as exc:
        return _page(request, project, image, status=409, error=str(exc))
    n = len(boxes)
    messages.success(request, f"{n} box{'es' if n != 1 else ''} burned in; the unredacted files are deleted.")
    return redirect("frontend:redact-image", slug=slug, image_id=image.pk)


def _boxes(text: str):
    if len(text) > BOXES_MAX_CHARS:
        raise ValidationError("Too many boxes.")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValidationError("Draw at least one box over the text.") from exc


@login_required
def flag_image(request, slug, image_id):
    """A reader flags an image for burned-in text; back to the image's redaction page."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    project = get_project(request.user, slug, Action.FLAG_BURNED_IN)
    image = get_object_or_404(Image, project=project, pk=parse_id(image_id))
    redaction.flag_burned_in(request.user, project, image.pk)
    messages.success(request, "Flagged: the image waits for a curator to redact it, and no export takes it.")
    return redirect("frontend:redact-image", slug=slug, image_id=image.pk)


@login_required
def redaction_list(request, slug):
    """Images waiting for redaction, oldest first, in keyset pages of PAGE."""
    project = get_project(request.user, slug, Action.REDACT_IMAGES)
    waiting = redaction.images_needing_redaction(project)
    after = parse_id(request.GET.get("after"))
    page_qs = waiting.filter(pk__gt=after) if after else waiting
    rows = list(page_qs.select_related("study", "redaction_flagged_by")[: PAGE + 1])
    return render(
        request,
        "frontend/redaction_list.html",
        {
            "project": project,
            "images": rows[:PAGE],
            "next_after": rows[PAGE - 1].pk if len(rows) > PAGE else None,
            "waiting": waiting.count(),  # served by the partial index on `needed`
        },
    )
