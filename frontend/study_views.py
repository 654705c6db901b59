"""Study browser and import screens."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from curation.models import Dataset, Image, Role, Sex, Study, View
from curation.permissions import Action, get_project, role_in
from curation.services import ingest
from curation.services import jobs as job_services
from curation.services.studies import StudyFilters, keyset_page, patient_timeline, source_label_names, study_queryset
from nlp.models import LabelingRun, MinedLabel

from .label_views import highlight


@login_required
def study_list(request, slug):
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    try:
        filters = StudyFilters.from_query(request.GET)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        filters = StudyFilters()
    qs = study_queryset(project, filters).prefetch_related(
        Prefetch("images", queryset=Image.objects.order_by("pk"), to_attr="image_list")
    )
    studies, next_before = keyset_page(qs, request.GET.get("before"))
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
        },
    )


@login_required
def study_detail(request, slug, study_id):
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    study = get_object_or_404(Study.objects.select_related("patient"), project=project, pk=study_id)
    images = list(study.images.order_by("pk"))
    report = getattr(study, "report", None)
    runs = LabelingRun.objects.filter(project=project)
    run_id = request.GET.get("run", "")
    run = runs.filter(pk=int(run_id)).first() if run_id.isdigit() else runs.first()
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
        },
    )


@login_required
def patient_detail(request, slug, pseudo_id):
    project = get_project(request.user, slug, Action.VIEW_STUDIES)
    patient, studies = patient_timeline(project, pseudo_id)
    if patient is None:
        raise Http404("No such patient.")
    return render(request, "frontend/patient_detail.html", {"project": project, "patient": patient, "studies": studies})


@login_required
def import_page(request, slug):
    project = get_project(request.user, slug, Action.IMPORT_STUDIES)
    is_admin = role_in(request.user, project) == Role.ADMIN
    if request.method == "POST":
        source = request.POST.get("source", "")
        params = {"source": source}
        mapping = request.POST.get("mapping", "").strip()
        try:
            if mapping:
                try:
                    params["mapping"] = json.loads(mapping)
                except json.JSONDecodeError as exc:
                    raise ValidationError({"mapping": f"The mapping is not valid JSON: {exc}"}) from exc
            upload = request.FILES.get("file")
            if upload:
                ingest.clean_import_params({**params, "upload": f"projects/{slug}/uploads/x.zip"}, project)
                params["upload"] = ingest.save_upload(request.user, project, upload, upload.name)
            elif request.POST.get("path"):
                params["path"] = request.POST["path"]
            job = job_services.start_job(request.user, project, "ingest.import", params)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(request, f"Import started as job #{job.pk}.")
            return redirect("frontend:job-detail", slug=project.slug, job_id=job.pk)
    return render(
        request,
        "frontend/import.html",
        {"project": project, "sources": Dataset.choices, "is_admin": is_admin, "roots": ingest.allowed_roots()},
    )
