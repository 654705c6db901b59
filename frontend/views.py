"""Server-rendered screens. Each view asks curation.permissions, then calls a service."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curation import jobkinds
from curation.errors import Conflict
from curation.models import Job, JobStatus, Membership, Project
from curation.permissions import Action, SiteAction, action, get_project, role_in, site_allowed, visible_projects
from curation.services import dashboard
from curation.services import jobs as job_services
from curation.services import projects as project_services

from . import plots

JOB_PAGE = 50


class LoginView(auth_views.LoginView):
    """The login page: the username and password form when a password sign-in is on (local passwords or LDAP),
    and the OpenID Connect provider's button when one is configured."""

    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    @staticmethod
    def password_signin() -> bool:
        return settings.LOCAL_PASSWORDS or settings.LDAP_ENABLED

    def post(self, request, *args, **kwargs):
        if not self.password_signin():
            # No backend checks passwords (settings.AUTHENTICATION_BACKENDS), so a forged form could never sign
            # in; say so plainly, before django-axes counts it as a failed attempt.
            context = self.get_context_data(form=self.get_form_class()(request), password_refused=True)
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            # Named for "off" so that other renderings of this template (the lockout page) keep the form.
            password_signin_off=not self.password_signin(),
            oidc_enabled=settings.OIDC_ENABLED,
            oidc_provider_name=settings.OIDC_PROVIDER_NAME,
        )
        return context


@login_required
def project_list(request):
    """Your projects with your role and their counts; site admins also see archived projects, to restore them."""
    projects = list(visible_projects(request.user).annotate(job_count=Count("jobs")).order_by("name"))
    roles = dict(Membership.objects.filter(user=request.user).values_list("project_id", "role"))
    counts = project_services.list_counts([p.pk for p in projects])
    rows = [{"project": p, "role": roles.get(p.pk), **counts[p.pk]} for p in projects]
    may_restore = site_allowed(request.user, SiteAction.ARCHIVE_PROJECTS)
    archived = Project.objects.filter(archived_at__isnull=False).order_by("name") if may_restore else []
    context = {
        "rows": rows,
        "archived": archived,
        "can_create": site_allowed(request.user, SiteAction.CREATE_PROJECTS),
    }
    return render(request, "frontend/project_list.html", context)


def _job_context(request, project, jobs):
    jobs = list(jobs)
    return {
        "project": project,
        "jobs": jobs,
        "any_active": any(j.is_active for j in jobs),
        "cancellable": {j.pk for j in jobs if job_services.can_cancel(request.user, j)},
    }


def _starts_from_menu(kind, user, project) -> bool:
    return not kind.name.startswith(("ingest.", "nlp.", "qc.")) and "none" in kind.startable_origins(user, project)


def _prompts(figures: dashboard.DashboardFigures, startable: set[str]) -> list[dict]:
    """What the data still waits for, for users who may start the job that does it (the kind's start rule)."""
    prompts = []
    if figures.needs_mining and "nlp.mine_labels" in startable:
        prompts.append(
            {
                "kind": "nlp.mine_labels",
                "text": (
                    f"{figures.reports} {'study has a report' if figures.reports == 1 else 'studies have reports'}, "
                    "and no labels have been mined from them yet."
                ),
                "button": "Mine labels",
                "job": figures.active.get("nlp.mine_labels"),
            }
        )
    if figures.needs_qc and "qc.run" in startable:
        prompts.append(
            {
                "kind": "qc.run",
                "text": "Masks have been imported, and none has been quality-checked yet.",
                "button": "Run mask QC",
                "job": figures.active.get("qc.run"),
                # QC compares masks with the reference bank: without one the job could only fail.
                "needs_bank": not figures.has_bank,
            }
        )
    return prompts


SOURCE_COLOURS = {"dataset": "#8c959f", "mined": "#1f6feb", "reviewed": "#1a7f37"}


def _charts(figures: dashboard.DashboardFigures) -> dict:
    charts = {}
    # Labels positive in no source would be rows of zeros: the chart leaves them out, the table keeps them.
    rows = [r for r in figures.prevalence if any((r.dataset, r.mined, r.reviewed))]
    # A source with no value at all (nothing mined or reviewed yet) gets no bars; the table says "–".
    columns = {name: [getattr(r, name) for r in rows] for name in SOURCE_COLOURS}
    series = [
        plots.Series(name, values, SOURCE_COLOURS[name])
        for name, values in columns.items()
        if any(v is not None for v in values)
    ]
    if series:
        charts["prevalence"] = plots.grouped_bars(
            "chart-prevalence",
            f"Share of reports positive per label ({figures.label_space}), by source",
            [r.label for r in rows],
            series,
        )
    if figures.qc_job is not None:
        params = figures.qc_job.params or {}
        marks = [
            (float(params[k]), name)
            for k, name in (("review_below", "review"), ("reject_below", "reject"))
            if k in params
        ]
        charts["dice"] = plots.histogram(
            "chart-dice",
            f"Estimated Dice of the masks judged by QC job #{figures.qc_job.pk}",
            figures.dice_histogram,
            x_label="estimated Dice (mean of lungs and heart)",
            marks=marks,
        )
    return charts


@login_required
def project_dashboard(request, slug):
    project = get_project(request.user, slug, Action.VIEW_PROJECT)
    role = role_in(request.user, project)
    status_counts = dict(Job.objects.filter(project=project).values_list("status").annotate(n=Count("id")))
    recent = Job.objects.filter(project=project).select_related("created_by", "project")[:10]
    context = _job_context(request, project, recent)
    startable = jobkinds.startable(request.user, project)
    figures = dashboard.dashboard_figures(project)
    context.update(
        role=role,
        status_counts={s.label: status_counts.get(s.value, 0) for s in JobStatus},
        # The dashboard's start menu holds the kinds without input files (imports have their own pages).
        kinds=[k for k in startable if _starts_from_menu(k, request.user, project)],
        figures=figures,
        charts=_charts(figures),
        prompts=_prompts(figures, {k.name for k in startable}),
        can_import=bool(jobkinds.get("ingest.import").startable_origins(request.user, project)),
        can_redact=action(Action.REDACT_IMAGES).allowed(request.user, project),
        members=Membership.objects.filter(project=project).select_related("user").order_by("role", "user__username"),
    )
    return render(request, "frontend/project_dashboard.html", context)


@login_required
def job_list(request, slug):
    project = get_project(request.user, slug, Action.VIEW_JOBS)
    jobs = Job.objects.filter(project=project).select_related("created_by", "project")
    status = request.GET.get("status", "")
    if status in JobStatus.values:
        jobs = jobs.filter(status=status)
    before = request.GET.get("before", "")
    if before.isdigit():
        jobs = jobs.filter(pk__lt=int(before))  # keyset page: never an OFFSET scan
    page = list(jobs[: JOB_PAGE + 1])
    context = _job_context(request, project, page[:JOB_PAGE])
    context.update(
        status=status, statuses=JobStatus.choices, next_before=page[JOB_PAGE - 1].pk if len(page) > JOB_PAGE else None
    )
    template = "frontend/partials/job_table.html" if request.headers.get("HX-Request") else "frontend/job_list.html"
    return render(request, template, context)


@login_required
def job_rows(request, slug):
    """The live job table fragment that htmx polls while jobs are active."""
    project = get_project(request.user, slug, Action.VIEW_JOBS)
    limit = 10 if request.GET.get("recent") else JOB_PAGE
    jobs = Job.objects.filter(project=project).select_related("created_by", "project")[:limit]
    context = _job_context(request, project, jobs)
    context["recent"] = bool(request.GET.get("recent"))
    return render(request, "frontend/partials/job_table.html", context)


@login_required
def job_detail(request, slug, job_id):
    project = get_project(request.user, slug, Action.VIEW_JOBS)
    job = get_object_or_404(Job.objects.select_related("created_by", "project"), project=project, pk=job_id)
    kind = jobkinds.get(job.kind)
    context = {
        "project": project,
        "job": job,
        "kind": kind,
        "can_cancel": job_services.can_cancel(request.user, job),
        "can_rerun": job_services.can_rerun(request.user, job),
    }
    if request.headers.get("HX-Request"):
        return render(request, "frontend/partials/job_status.html", context)
    return render(request, "frontend/job_detail.html", context)


@login_required
@require_POST
def job_start(request, slug):
    project = get_project(request.user, slug, Action.VIEW_PROJECT)
    kind = request.POST.get("kind", "")
    params = {k[len("param_") :]: v for k, v in request.POST.items() if k.startswith("param_")}
    try:
        job = job_services.start_job(request.user, project, kind, params)
    except (ValidationError, Conflict) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("frontend:project-dashboard", slug=project.slug)
    messages.success(request, f"Started job #{job.pk}.")
    return redirect("frontend:job-detail", slug=project.slug, job_id=job.pk)


@login_required
@require_POST
def job_cancel(request, slug, job_id):
    project = get_project(request.user, slug, Action.VIEW_JOBS)
    job = get_object_or_404(Job.objects.select_related("project"), project=project, pk=job_id)
    try:
        job_services.cancel_job(request.user, job)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"Cancellation requested for job #{job.pk}.")
    return redirect("frontend:job-detail", slug=project.slug, job_id=job.pk)


@login_required
@require_POST
def job_rerun(request, slug, job_id):
    project = get_project(request.user, slug, Action.VIEW_JOBS)
    job = get_object_or_404(Job.objects.select_related("project"), project=project, pk=job_id)
    if not job_services.can_rerun(request.user, job):
        raise PermissionDenied("You may not re-run this job.")
    try:
        new, created = job_services.rerun_job(request.user, job)
    except (ValidationError, Conflict) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("frontend:job-detail", slug=project.slug, job_id=job.pk)
    messages.success(request, f"Re-running as job #{new.pk}." if created else f"Already re-run as job #{new.pk}.")
    return redirect("frontend:job-detail", slug=project.slug, job_id=new.pk)
