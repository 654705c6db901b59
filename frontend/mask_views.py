"""Mask QC screens: the worst-first list with overlays and reasons (each row opening its study and its mask
review item), the thresholds in force, the calibration of the estimate on reviewed masks, mask import, bank
and QC runs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render

from curation import jobkinds
from curation.errors import Conflict
from curation.permissions import Action, action, can, get_project
from curation.services import jobs as job_services
from curation.services import uploads
from labeling import services, truth
from labeling.models import Decision

from . import plots
from .paging import value_keyset_page

PAGE = 50
# Points drawn in the calibration plot (the newest); the figures use every reviewed mask.
PLOT_POINTS = 1500
ORGAN_COLOURS = {"right_lung": "#2ea043", "left_lung": "#1f6feb", "lungs": "#1a7f37", "heart": "#cf222e"}


@login_required
def masks_page(request, slug):
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    results = services.latest_results(project).select_related("image")
    counts = dict(results.values_list("decision").annotate(n=Count("id")).order_by())
    decision = request.GET.get("decision", "")
    if decision in Decision.values:
        results = results.filter(decision=decision)
    order = request.GET.get("order", "worst")
    worst_first = order == "worst"
    page, next_after = value_keyset_page(
        results,
        "estimated_dice",
        request.GET.get("after", ""),
        value_desc=not worst_first,
        id_desc=not worst_first,
        size=PAGE,
    )
    items = services.mask_review_items(project, [r.image_id for r in page])
    for result in page:
        result.review_item = items.get(result.image_id)
    calibration = truth.calibration(project)
    return render(
        request,
        "frontend/masks.html",
        {
            "project": project,
            "results": page,
            "counts": {d.label: counts.get(d.value, 0) for d in Decision},
            "decision": decision,
            "decisions": Decision.choices,
            "order": order,
            "next_after": next_after,
            "bank": services.active_bank_file(project),
            # Each form shows only what its own start action allows (the same objects start_job checks).
            "may": _mask_actions(request.user, project),
            "thresholds": _thresholds_shown(services.qc_thresholds(project)),
            "calibration": calibration,
            "calibration_rows": calibration_rows(calibration),
            "calibration_plot": calibration_plot(calibration) if calibration["points"] else "",
            "review_links": review_links(request.user, project),
        },
    )


def _thresholds_shown(thresholds: dict) -> dict:
    """Thresholds as printed: two decimals (0.90), more only where the value has them (0.875)."""
    shown = dict(thresholds)
    for key in ("review_below", "reject_below"):
        value = thresholds[key]
        shown[f"{key}_text"] = f"{value:.2f}" if round(value, 2) == value else f"{value:g}"
    return shown


def review_links(user, project) -> dict:
    """Where a mask review item opens for this user: the adjudication page shows any item with its reads to
    those who may adjudicate; a reader gets the mask queue (which hands out items worst first)."""
    return {
        "adjudicate": action(Action.ADJUDICATE).allowed(user, project),
        "review": action(Action.REVIEW).allowed(user, project),
    }


def calibration_rows(calibration: dict) -> list[dict]:
    """The calibration table: every reviewed mask, the corrected ones only, then each organ."""
    rows = [
        {"name": "All reviewed masks", **calibration["all"]},
        {"name": "Corrected masks only", **calibration["corrected"]},
    ]
    rows += [{"name": organ.replace("_", " ").capitalize(), **f} for organ, f in calibration["by_organ"].items()]
    return rows


def calibration_plot(calibration: dict):
    """Estimated against true Dice, one point per reviewed organ mask, coloured by organ (rings: accepted)."""
    points = calibration["points"][:PLOT_POINTS]
    organs = sorted({p["organ"] for p in points}, key=truth.ESTIMATED_ORGANS.index)
    figures = calibration["all"]
    desc = (
        f"{figures['n']} reviewed masks: Spearman {figures['spearman']}, Pearson {figures['pearson']}, "
        f"mean absolute error {figures['mae']}."
    )
    return plots.scatter(
        "qc-calibration",
        "Estimated against true Dice on reviewed masks",
        [
            plots.Point(
                p["estimated"],
                p["true"],
                ORGAN_COLOURS.get(p["organ"], "#9a6700"),
                f"{p['organ'].replace('_', ' ')}: estimated {p['estimated']:.3f}, true {p['true']:.3f} ({p['kind']})",
                filled=p["kind"] == "corrected",
            )
            for p in points
        ],
        x_label="Estimated Dice (QC, without ground truth)",
        y_label="True Dice (against the reviewer's mask)",
        legend=[(organ.replace("_", " "), ORGAN_COLOURS.get(organ, "#9a6700")) for organ in organs],
        desc=desc,
    )


def _mask_actions(user, project) -> dict:
    allowed = {}
    for name in ("qc.import_masks", "qc.build_bank", "qc.run"):
        kind = jobkinds.get(name)
        for origin in kind.origins:
            allowed[f"{name.split('.')[1]}_{origin}"] = kind.start_action(origin).allowed(user, project)
    allowed["export"] = can(user, Action.EXPORT_DATA, project)
    allowed["any"] = any(allowed.values())
    return allowed


@login_required
def masks_action(request, slug):
    """Start one of the mask jobs from the page's forms (the job kind's start action decides who may)."""
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    if request.method != "POST":
        return redirect("frontend:masks", slug=slug)
    action = request.POST.get("action", "")
    params: dict = {}
    upload = None
    try:
        if action in ("qc.import_masks", "qc.build_bank"):
            upload = request.FILES.get("file")
            if not upload and request.POST.get("path"):
                params["path"] = request.POST["path"]
            elif not upload and request.POST.get("from") == "reviewed":
                params["from"] = "reviewed"
            if action == "qc.import_masks":
                params.update(format=request.POST.get("format", ""), match=request.POST.get("match", "image_key"))
        elif action == "qc.run":
            params = {k: request.POST[k] for k in ("review_below", "reject_below") if request.POST.get(k)}
        else:
            raise ValidationError("Unknown action.")
        if upload is not None:
            job = uploads.start_job_with_upload(request.user, project, action, params, upload)
        else:
            job = job_services.start_job(request.user, project, action, params)
    except (ValidationError, Conflict) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("frontend:masks", slug=slug)
    messages.success(request, f"Started job #{job.pk}.")
    return redirect("frontend:job-detail", slug=slug, job_id=job.pk)


@login_required
def qc_overlay(request, slug, result_id):
    """The overlay PNG of one QC result, after the permission check."""
    from django.core.files.storage import default_storage
    from django.http import FileResponse, Http404
    from django.shortcuts import get_object_or_404

    from labeling.models import QcResult

    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    result = get_object_or_404(QcResult, project=project, pk=result_id)
    if not result.overlay or not default_storage.exists(result.overlay):
        raise Http404("No overlay.")
    return FileResponse(default_storage.open(result.overlay, "rb"), content_type="image/png")
