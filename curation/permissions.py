"""The one permission module: which project role may do what. Every view and endpoint asks here.

Outsiders (not members) get 404 for anything inside a project, so project names do not leak;
members whose role lacks the right get 403. Staff superusers run operations (Django admin,
project creation) but see project data only through a membership, like everyone else.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from rest_framework.permissions import BasePermission

from .models import Membership, Project, Role, User

ALL_ROLES = frozenset(Role)
STAFF_ROLES = frozenset({Role.ADMIN, Role.CURATOR})


class Action(StrEnum):
    VIEW_PROJECT = "project.view"
    CHANGE_PROJECT = "project.change"
    VIEW_MEMBERS = "members.view"
    MANAGE_MEMBERS = "members.manage"
    VIEW_JOBS = "jobs.view"
    CANCEL_JOBS = "jobs.cancel"
    VIEW_AUDIT = "audit.view"
    VIEW_STUDIES = "studies.view"
    IMPORT_STUDIES = "studies.import"
    VIEW_PSEUDONYMS = "pseudonyms.view"
    VIEW_LABELS = "labels.view"
    EDIT_VOCABULARY = "vocabulary.edit"


RULES: dict[Action, frozenset[Role]] = {
    Action.VIEW_PROJECT: ALL_ROLES,
    Action.CHANGE_PROJECT: frozenset({Role.ADMIN}),
    Action.VIEW_MEMBERS: ALL_ROLES,
    Action.MANAGE_MEMBERS: frozenset({Role.ADMIN}),
    Action.VIEW_JOBS: ALL_ROLES,
    # Starting a job is decided per job kind (curation.jobkinds); cancelling is for those who
    # run the project's pipelines.
    Action.CANCEL_JOBS: STAFF_ROLES,
    Action.VIEW_AUDIT: frozenset({Role.ADMIN}),
    Action.VIEW_STUDIES: ALL_ROLES,
    Action.IMPORT_STUDIES: STAFF_ROLES,  # server folders: admins only (curation.services.ingest)
    # The link back to real identities: admins only, and never in exports.
    Action.VIEW_PSEUDONYMS: frozenset({Role.ADMIN}),
    Action.VIEW_LABELS: ALL_ROLES,
    Action.EDIT_VOCABULARY: STAFF_ROLES,
}

_CACHE_ATTR = "_project_roles"


def role_in(user: User, project: Project) -> Role | None:
    """The user's role in the project, or None. Cached on the user object for the request."""
    if not user or not user.is_authenticated:
        return None
    cache = user.__dict__.setdefault(_CACHE_ATTR, {})
    if project.pk not in cache:
        role = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
        cache[project.pk] = Role(role) if role else None
    return cache[project.pk]


def can(user: User, action: Action, project: Project) -> bool:
    role = role_in(user, project)
    return role is not None and role in RULES[action]


def can_any(user: User, roles: frozenset[Role], project: Project) -> bool:
    role = role_in(user, project)
    return role is not None and role in roles


def check(user: User, action: Action, project: Project) -> None:
    """Raise Http404 for outsiders and PermissionDenied for members without the right."""
    check_roles(user, RULES[action], project, str(action))


def check_roles(user: User, roles: frozenset[Role], project: Project, what: str) -> None:
    role = role_in(user, project)
    if role is None:
        raise Http404("No such project.")
    if role not in roles:
        raise PermissionDenied(f"Your role ({role.value}) may not {what} in this project.")


def visible_projects(user: User) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    member = Membership.objects.filter(project=OuterRef("pk"), user=user)
    return Project.objects.filter(Exists(member))


def get_project(user: User, slug: str, action: Action = Action.VIEW_PROJECT) -> Project:
    """The project by slug if the user may do `action` there; 404 for outsiders, 403 otherwise."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    check(user, action, project)
    return project


def can_create_projects(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


class ProjectPermission(BasePermission):
    """DRF permission for views under /api/projects/{slug}/...

    The view names the action per HTTP method in `project_actions` (e.g. {"GET": Action.VIEW_JOBS});
    `get_project()` on the view resolves the slug and raises 404/403 itself.
    """

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        actions = getattr(view, "project_actions", {})
        action = actions.get(request.method, actions.get("*"))
        if action is None:
            raise PermissionDenied("This method is not allowed here.")
        view.project = get_project(request.user, view.kwargs["slug"], action)
        return True
