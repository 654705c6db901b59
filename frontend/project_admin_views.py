"""Project administration screens: create a project, its settings, archive and restore, its members, and the
account page. Each view asks curation.permissions, calls a service in curation.services.projects, and shows a
refused change as a message on the page (status 400), never as an error page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curation.models import AuditEvent, Membership, MembershipSource, Project, Role
from curation.permissions import Action, SiteAction, can, get_project, site_allowed, site_check
from curation.services import projects as project_services
from curation.services.ingest import deid_options

ACTIVITY_ROWS = 50  # the account page's own recent activity

# The switches of curation.services.projects.DEID_OPTIONS, in words (the README's de-identification section).
DEID_LABELS = {
    "enabled": "De-identify imports: DICOM headers, report text and hospital CSV keys (pseudonyms, shifted dates)",
    "public_datasets_as_published": (
        "Keep the published keys of public datasets (NIH, CheXpert, MIMIC, Open-i, PadChest), "
        "so their labels and masks still join"
    ),
    "keep_private_tags": "Keep private (vendor) DICOM tags",
}


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """Messages by form field; those about no one field under "form"."""
    by_field = exc.message_dict if hasattr(exc, "error_dict") else {"form": exc.messages}
    return {("form" if field == NON_FIELD_ERRORS else field): " ".join(msgs) for field, msgs in by_field.items()}


# --- Projects -----------------------------------------------------------------------------------------------


@login_required
def project_create(request):
    """GET the form, POST creates the project (site admins); its creator becomes its admin."""
    site_check(request.user, SiteAction.CREATE_PROJECTS)
    values = {name: request.POST.get(name, "") for name in ("slug", "name", "description")}
    if request.method != "POST":
        return render(request, "frontend/project_form.html", {"values": values, "errors": {}})
    try:
        project = project_services.create_project(request.user, **values)
    except ValidationError as exc:
        context = {"values": values, "errors": _field_errors(exc)}
        return render(request, "frontend/project_form.html", context, status=400)
    messages.success(request, f"Created project “{project.name}”. You are its admin: add its members here.")
    return redirect("frontend:members", slug=project.slug)


def _settings_context(request, project, **extra) -> dict:
    current = deid_options(project)
    context = {
        "project": project,
        "values": {"name": project.name, "description": project.description},
        "deid": [(key, label, current.get(key, False)) for key, label in DEID_LABELS.items()],
        "errors": {},
        "can_archive": site_allowed(request.user, SiteAction.ARCHIVE_PROJECTS),
    }
    context.update(extra)
    return context


@login_required
def project_settings(request, slug):
    """The project's name, description and de-identification switches (CHANGE_PROJECT)."""
    project = get_project(request.user, slug, Action.CHANGE_PROJECT)
    if request.method != "POST":
        return render(request, "frontend/project_settings.html", _settings_context(request, project))
    name, description = request.POST.get("name", ""), request.POST.get("description", "")
    # A checkbox that is not ticked is not sent: every switch is set, ticked or not.
    deid = {key: request.POST.get(f"deid_{key}") == "on" for key in project_services.DEID_OPTIONS}
    try:
        project_services.update_project(request.user, project, name=name, description=description, deid=deid)
    except ValidationError as exc:
        project.refresh_from_db()
        context = _settings_context(
            request, project, values={"name": name, "description": description}, errors=_field_errors(exc)
        )
        return render(request, "frontend/project_settings.html", context, status=400)
    messages.success(request, "Settings saved.")
    return redirect("frontend:project-settings", slug=project.slug)


def _site_project(request, slug) -> Project:
    """For site actions: the rule is asked before the slug is looked up, so refusals name no project."""
    site_check(request.user, SiteAction.ARCHIVE_PROJECTS)
    return get_object_or_404(Project, slug=slug)


@login_required
@require_POST
def project_archive(request, slug):
    project = _site_project(request, slug)
    if project_services.archive_project(request.user, project):
        messages.success(request, f"Archived “{project.name}”: it left the project list and takes no new jobs.")
    else:
        messages.info(request, f"“{project.name}” was already archived.")
    return redirect("frontend:project-list")


@login_required
@require_POST
def project_restore(request, slug):
    project = _site_project(request, slug)
    if project_services.restore_project(request.user, project):
        messages.success(request, f"Restored “{project.name}”.")
    else:
        messages.info(request, f"“{project.name}” was not archived.")
    return redirect("frontend:project-list")


# --- Members ------------------------------------------------------------------------------------------------


def _members_page(request, project, *, status=200, values=None):
    memberships = Membership.objects.filter(project=project).select_related("user").order_by("user__username", "pk")
    context = {
        "project": project,
        "memberships": memberships,
        "roles": Role.choices,
        "can_manage": can(request.user, Action.MANAGE_MEMBERS, project),
        "directory": {MembershipSource.LDAP, MembershipSource.OIDC},
        "values": values or {"who": "", "role": Role.VIEWER},
    }
    return render(request, "frontend/members.html", context, status=status)


@login_required
def members(request, slug):
    """GET lists the members (VIEW_MEMBERS); POST adds one by username or e-mail (MANAGE_MEMBERS)."""
    if request.method != "POST":
        return _members_page(request, get_project(request.user, slug, Action.VIEW_MEMBERS))
    project = get_project(request.user, slug, Action.MANAGE_MEMBERS)
    values = {"who": request.POST.get("who", "")[:300], "role": request.POST.get("role", "")[:32]}
    try:
        membership = project_services.add_member(request.user, project, values["who"], values["role"])
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return _members_page(request, project, status=400, values=values)
    messages.success(request, f"Added {membership.user.username} as {membership.get_role_display().lower()}.")
    return redirect("frontend:members", slug=project.slug)


def _membership(request, slug, user_id) -> tuple[Project, Membership]:
    project = get_project(request.user, slug, Action.MANAGE_MEMBERS)
    membership = get_object_or_404(Membership.objects.select_related("user"), project=project, user_id=user_id)
    return project, membership


@login_required
@require_POST
def member_role(request, slug, user_id):
    project, membership = _membership(request, slug, user_id)
    was_directory = membership.source != MembershipSource.LOCAL
    try:
        role = request.POST.get("role", "")[:32]
        changed = project_services.set_member(request.user, project, membership.user, role)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return _members_page(request, project, status=400)
    now_local = was_directory and changed.source == MembershipSource.LOCAL
    note = " It is now managed here, not by the directory." if now_local else ""
    messages.success(request, f"{membership.user.username} is now {changed.get_role_display().lower()}.{note}")
    return redirect("frontend:members", slug=project.slug)


@login_required
@require_POST
def member_remove(request, slug, user_id):
    project, membership = _membership(request, slug, user_id)
    try:
        project_services.remove_member(request.user, project, membership.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return _members_page(request, project, status=400)
    messages.success(request, f"Removed {membership.user.username} from the project.")
    if membership.user_id == request.user.pk:
        return redirect("frontend:project-list")  # you left: the members page is no longer yours to see
    return redirect("frontend:members", slug=project.slug)


# --- Account ------------------------------------------------------------------------------------------------


@login_required
def account(request):
    """Who you are, your project roles, your password and tokens, and what you did lately."""
    user = request.user
    context = {
        "memberships": Membership.objects.filter(user=user).select_related("project").order_by("project__name"),
        "local_account": user.has_usable_password(),
        "site_admin": site_allowed(user, SiteAction.MANAGE_USERS),
        "activity": AuditEvent.objects.filter(actor=user).select_related("project").order_by("-id")[:ACTIVITY_ROWS],
        "activity_rows": ACTIVITY_ROWS,
    }
    return render(request, "frontend/account.html", context)
