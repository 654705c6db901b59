"""Mask QC screens: the worst-first list with overlays and reasons, mask import, bank and QC runs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render

from curation.permissions import Action, can, get_project
from curation.services import ingest
from curation.services import jobs as job_services
from labeling import services
from labeling.models import Decision

from .paging import value_keyset_page

PAGE = 50


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
            "can_manage": can(request.user, Action.IMPORT_STUDIES, project),
        },
    )


@login_required
def masks_action(request, slug):
    """Start one of the mask jobs from the page's forms (the job kind decides who may)."""
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    if request.method != "POST":
        return redirect("frontend:masks", slug=slug)
    action = request.POST.get("action", "")
    params: dict = {}
    try:
        if action in ("qc.import_masks", "qc.build_bank"):
            upload = request.FILES.get("file")
            if upload:
                ingest.clean_import_params({"source": "dicom", "upload": f"projects/{slug}/uploads/x.zip"}, project)
                params["upload"] = ingest.save_upload(request.user, project, upload, upload.name)
            elif request.POST.get("path"):
                params["path"] = request.POST["path"]
            elif request.POST.get("from") == "reviewed":
                params["from"] = "reviewed"
            if action == "qc.import_masks":
                params.update(format=request.POST.get("format", ""), match=request.POST.get("match", "image_key"))
        elif action == "qc.run":
            params = {k: request.POST[k] for k in ("review_below", "reject_below") if request.POST.get(k)}
        else:
            raise ValidationError("Unknown action.")
        job = job_services.start_job(request.user, project, action, params)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
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
