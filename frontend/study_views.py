"""Study browser and import screens."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from curation import jobkinds
from curation.errors import Conflict
from curation.models import Dataset, Image, Sex, Study, View
from curation.permissions import Action, action, get_project
from curation.services import ingest, uploads
from curation.services import jobs as job_services
from curation.services.studies import (
    MINED_STATUSES,
    SORTS,
    StudyFilters,
    capped_count,
    mined_label_names,
    parse_id,
    patient_timeline,
    sorted_page,
    source_label_names,
    study_queryset,
    within_plan_budget,
)
from labeling.models import Decision, ReviewState
from nlp.models import LabelingRun, MinedLabel

from .label_views import highlight
from .mask_views import review_links
from .viewer_context import study_panes


@login_required
def study_list(request, slug):
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    try:
        filters = StudyFilters.from_query(request.GET)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        filters = StudyFilters()
    sort = request.GET.get("sort", "")
    sort = sort if sort in SORTS else "newest"
    matching = study_queryset(project, filters)
    qs = matching.prefetch_related(Prefetch("images", queryset=Image.objects.order_by("pk"), to_attr="image_list"))
    studies, next_before = within_plan_budget(lambda: sorted_page(qs, sort, request.GET.get("before")))
    for study in studies:
        study.title = study_title(study)
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "frontend/study_list.html",
        {
            "project": project,
            "studies": studies,
            "next_before": next_before,
            "filters": filters,
            "query": query.urlencode(),
            "datasets": Dataset.choices,
            "views": [v for v in View.choices if v[0]],
            "sexes": [s for s in Sex.choices if s[0]],
            "labels": source_label_names(project),
            "mined_labels": mined_label_names(project),
            "mined_statuses": MINED_STATUSES,
            "decisions": Decision.choices,
            "review_states": ReviewState.choices,
            "sorts": SORTS.items(),
            "sort": sort,
        },
    )


@login_required
def study_count(request, slug):
    """How many studies the filters match: a fragment the study list loads after it is shown.

    Apart from the list because a count, unlike a page, cannot stop at the first 50 rows: a sparse filter
    on 10^6 studies makes it a scan, and the list must not wait for it. It stops at COUNT_CAP rows."""
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    try:
        filters = StudyFilters.from_query(request.GET)
    except ValidationError as exc:
        return render(request, "frontend/partials/study_count.html", {"error": "; ".join(exc.messages)})
    count, more = capped_count(study_queryset(project, filters))
    return render(request, "frontend/partials/study_count.html", {"count": count, "count_more": more})


def study_title(study) -> str:
    """A name a reader can say: the patient's pseudonym, the (shifted) study date and the views."""
    views = "+".join(image.view_position or "?" for image in getattr(study, "image_list", []))
    day = study.study_date.isoformat() if study.study_date else "undated"
    return " · ".join(part for part in (study.patient.pseudo_id, day, views) if part)


@login_required
def study_detail(request, slug, study_id):
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    study = get_object_or_404(Study.objects.select_related("patient"), project=project, pk=parse_id(study_id))
    images = list(study.images.order_by("pk"))
    report = getattr(study, "report", None)
    runs = LabelingRun.objects.filter(project=project)
    run_id = parse_id(request.GET.get("run"))
    run = runs.filter(pk=run_id).first() if run_id is not None else runs.first()
    mined = list(MinedLabel.objects.filter(run=run, study=study).order_by("-priority", "label")) if run else []
    evidence = [item for label in mined for item in label.evidence]
    return render(
        request,
        "frontend/study_detail.html",
        {
            "project": project,
            "study": study,
            "images": images,
            "report": report,
            "run": run,
            "mined": mined,
            "report_html": highlight(report.text, evidence) if report and report.text else "",
            "qc_panels": qc_panels(project, images),
            "review_links": review_links(request.user, project),
            "viewer": study_panes(project, study, images),
            # The redaction page opens for those who may flag; the links ask the same rule.
            "can_flag_burned_in": action(Action.FLAG_BURNED_IN).allowed(request.user, project),
        },
    )


def qc_panels(project, images) -> list[dict]:
    """Per image of the study with a QC result: its newest result, its mask review item, and the true Dice
    of each organ a reviewer corrected (what the estimate turned out to be worth)."""
    from labeling.models import MaskTruth
    from labeling.services import latest_results_of_images, mask_review_items

    ids = [image.pk for image in images]
    results = latest_results_of_images(ids)
    if not results:
        return []
    items = mask_review_items(project, results)
    truths: dict[int, dict] = {}
    for row in MaskTruth.objects.filter(image_id__in=list(results)).order_by("-id").select_related("reader"):
        truths.setdefault(row.image_id, {}).setdefault(row.organ, row)
    return [
        {
            "image": image,
            "result": results[image.pk],
            "item": items.get(image.pk),
            "truths": sorted(truths.get(image.pk, {}).values(), key=lambda t: t.organ),
        }
        for image in images
        if image.pk in results
    ]


@login_required
def patient_detail(request, slug, pseudo_id):
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    patient, studies = patient_timeline(project, pseudo_id)
    if patient is None:
        raise Http404("No such patient.")
    from nlp.structure_service import timeline_chart

    return render(
        request,
        "frontend/patient_detail.html",
        {"project": project, "patient": patient, "studies": studies, "chart": timeline_chart(project, studies)},
    )


@login_required
def import_page(request, slug):
    """The import form. Who may use it, and from where, is the `ingest.import` kind's start actions."""
    project = get_project(request.user, slug, Action.VIEW_PROJECT)
    kind = jobkinds.get("ingest.import")
    origins = kind.startable_origins(request.user, project)
    if not origins:
        kind.start_action("upload").check(request.user, project)  # the 403 with the rule's own words
    if request.method == "POST":
        source = request.POST.get("source", "")
        params = {"source": source}
        mapping = request.POST.get("mapping", "").strip()
        try:
            if mapping:
                try:
                    params["mapping"] = json.loads(mapping)
                except (json.JSONDecodeError, RecursionError) as exc:
                    raise ValidationError({"mapping": "The mapping is not valid JSON."}) from exc
            upload = request.FILES.get("file")
            if upload:
                job = uploads.start_job_with_upload(request.user, project, "ingest.import", params, upload)
            else:
                if request.POST.get("path"):
                    params["path"] = request.POST["path"]
                job = job_services.start_job(request.user, project, "ingest.import", params)
        except (ValidationError, Conflict) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.success(request, f"Import started as job #{job.pk}.")
            return redirect("frontend:job-detail", slug=project.slug, job_id=job.pk)
    return render(
        request,
        "frontend/import.html",
        {
            "project": project,
            "sources": Dataset.choices,
            "can_upload": "upload" in origins,
            "can_use_server_folders": "path" in origins,
            "roots": ingest.allowed_roots() if "path" in origins else [],
        },
    )
