"""Dataset version screens: the project's versions with the freeze form, one version's summary with its
comparison and export forms, its finished exports with their signed download links, and the data card
written with the newest export. The work is in curation.services.datasets and dataset_exports."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from curation import jobkinds
from curation.errors import Conflict
from curation.exporters import DEFAULT_IMAGES, FORMATS, IMAGE_KINDS, WRITERS
from curation.models import Job, JobStatus
from curation.permissions import Action, can, get_project
from curation.services import dataset_exports, datasets
from curation.services import jobs as job_services
from curation.services.studies import parse_id

EXPORTS_SHOWN = 20  # newest export jobs listed on a version's page
PLOT_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
STYLE_BLOCK = re.compile(rb"<style>(.*?)</style>", re.S)


def may_start_export(user, project) -> bool:
    """The export form's rule: the `export.version` kind's own start action (its roles are EXPORT_DATA's)."""
    kind = jobkinds.get(dataset_exports.EXPORT_KIND)
    return kind is not None and kind.start_action("none").allowed(user, project)


def download_url(user, project, job: Job) -> str:
    """The signed, expiring download address of a finished export for `user`, or "" if they may not have one."""
    if job.kind != dataset_exports.EXPORT_KIND or job.status != JobStatus.SUCCEEDED:
        return ""
    if not can(user, Action.EXPORT_DATA, project):
        return ""
    try:
        link = dataset_exports.download_link(user, project, job.pk)
    except ValidationError:  # succeeded without an archive (an old or broken row): nothing to download
        return ""
    url = reverse("api-export-download", args=[project.slug, job.pk])
    return f"{url}?token={link['token']}"


@login_required
@require_GET
def version_list(request, slug):
    """The project's versions, newest first, and the freeze form for those who may freeze."""
    project = get_project(request.user, slug, Action.VIEW_DATASETS)
    versions = list(datasets.versions_of(request.user, project).order_by("-frozen_at", "-id")[:200])
    return render(
        request,
        "frontend/datasets.html",
        {
            "project": project,
            "versions": versions,
            "may_freeze": can(request.user, Action.FREEZE_DATASETS, project),
        },
    )


@login_required
@require_POST
def version_freeze(request, slug):
    """Freeze the project's default definition into a new version (FREEZE_DATASETS, checked by the service)."""
    project = get_project(request.user, slug, Action.VIEW_DATASETS)
    try:
        version = datasets.freeze_version(request.user, project, request.POST.get("name", ""))
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("frontend:datasets", slug=project.slug)
    messages.success(request, f"Froze version {version.name}: {version.row_count} rows.")
    return redirect("frontend:dataset-version", slug=project.slug, version_id=version.pk)


def _splits(version) -> list[dict]:
    summary = (version.summary or {}).get("splits", {})
    return [{"name": name, **summary.get(name, {"rows": 0, "studies": 0, "patients": 0})} for name in datasets.SPLITS]


def _export_jobs(user, project, version) -> list[dict]:
    jobs = (
        Job.objects.filter(project=project, kind=dataset_exports.EXPORT_KIND, params__version=version.pk)
        .select_related("created_by", "project")
        .order_by("-id")[:EXPORTS_SHOWN]
    )
    return [{"job": job, "download": download_url(user, project, job)} for job in jobs]


def _newest_archive(project, version) -> str:
    """The storage name of the newest finished export's archive of `version` (each holds the data card)."""
    jobs = Job.objects.filter(
        project=project, kind=dataset_exports.EXPORT_KIND, params__version=version.pk, status=JobStatus.SUCCEEDED
    ).order_by("-id")
    for result in jobs.values_list("result", flat=True)[:EXPORTS_SHOWN]:
        archive = (result or {}).get("archive")
        if archive and default_storage.exists(archive):
            return archive
    return ""


@login_required
@require_GET
def version_detail(request, slug, version_id):
    """A version's summary, the data card link, the comparison with another version (?compare=ID), the export
    form and the version's exports with their download links."""
    project = get_project(request.user, slug, Action.VIEW_DATASETS)
    version = datasets.get_version(request.user, project, parse_id(version_id))
    others = list(datasets.versions_of(request.user, project).exclude(pk=version.pk).order_by("-id")[:200])
    comparison = None
    compare_id = parse_id(request.GET.get("compare"))
    if compare_id:
        other = datasets.get_version(request.user, project, compare_id)
        comparison = datasets.compare_versions(other, version)
    kind = jobkinds.get(dataset_exports.EXPORT_KIND)
    return render(
        request,
        "frontend/dataset_version.html",
        {
            "project": project,
            "version": version,
            "splits": _splits(version),
            "excluded": (version.summary or {}).get("excluded", {}),
            "others": others,
            "compare_id": compare_id,
            "comparison": comparison,
            "may_export": may_start_export(request.user, project),
            "formats": [f for f in FORMATS if f in WRITERS],
            "default_images": DEFAULT_IMAGES,
            "image_kinds": IMAGE_KINDS,
            "exports": _export_jobs(request.user, project, version),
            "has_card": bool(_newest_archive(project, version)),
            "kind": kind,
        },
    )


@login_required
@require_POST
def version_export(request, slug, version_id):
    """Start an `export.version` job of this version (the kind's start rule, checked by start_job)."""
    project = get_project(request.user, slug, Action.VIEW_DATASETS)
    version = datasets.get_version(request.user, project, parse_id(version_id))
    params = {"version": version.pk, "format": request.POST.get("format", "")}
    if request.POST.get("images"):
        params["images"] = request.POST["images"]
    try:
        job = job_services.start_job(request.user, project, dataset_exports.EXPORT_KIND, params)
    except (ValidationError, Conflict) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("frontend:dataset-version", slug=project.slug, version_id=version.pk)
    messages.success(request, f"Started export job #{job.pk}.")
    return redirect("frontend:job-detail", slug=project.slug, job_id=job.pk)


def _card_member(project, version, member: str) -> bytes:
    archive = _newest_archive(project, version)
    if not archive:
        raise Http404("No finished export of this version yet: the data card is written with each export.")
    with default_storage.open(archive, "rb") as handle, zipfile.ZipFile(handle) as zipped:
        try:
            return zipped.read(member)
        except KeyError:
            raise Http404("This export has no data card.") from None


@login_required
@require_GET
def data_card(request, slug, version_id):
    """The data card (counts, prevalence, label shift: no row-level data) of the version's newest export."""
    project = get_project(request.user, slug, Action.VIEW_DATASETS)
    version = datasets.get_version(request.user, project, parse_id(version_id))
    body = _card_member(project, version, "datacard.html")
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    # The card is a standalone file with its own <style>: allow exactly that block by its hash, nothing inline else.
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(style).digest()).decode() + "'"
        for style in STYLE_BLOCK.findall(body)
    ]
    if hashes:
        response._csp_update = {"style-src": hashes}
    return response


@login_required
@require_GET
def data_card_plot(request, slug, version_id, name):
    """One of the data card's SVG plots (its relative `datacard_plots/NAME.svg` links land here)."""
    project = get_project(request.user, slug, Action.VIEW_DATASETS)
    version = datasets.get_version(request.user, project, parse_id(version_id))
    if not PLOT_NAME.match(name):
        raise Http404("No such plot.")
    return HttpResponse(_card_member(project, version, f"datacard_plots/{name}.svg"), content_type="image/svg+xml")
