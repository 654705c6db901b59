"""The one permission module: every action a user can take in a project, declared once.

Each action is a `ProjectAction` object (Wagtail's action classes are the model): its `allowed()` decides
whether a page shows the button, its `check()` is what the service calls before doing the work, and
both read the same declaration. Job kinds declare who may start them (curation.jobkinds), per origin
of their input (an upload, a server folder, nothing), as actions of the same class.

Outsiders (not members) get 404 for anything inside a project, so project names do not leak;
members whose role lacks the right get 403. Staff superusers run operations (Django admin,
project creation) but see project data only through a membership, like everyone else.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    # Reading files from the server's own disk (IMPORT_ALLOWED_ROOTS): every job kind that takes a
    # server folder asks this on top of its own start roles.
    USE_SERVER_FOLDERS = "server_folders.use"
    VIEW_PSEUDONYMS = "pseudonyms.view"
    VIEW_LABELS = "labels.view"
    EDIT_VOCABULARY = "vocabulary.edit"
    EXPORT_DATA = "data.export"
    REVIEW = "review.read"
    SEND_BACK = "review.send_back"
    ADJUDICATE = "review.adjudicate"
    FLAG_BURNED_IN = "images.flag_burned_in"
    REDACT_IMAGES = "images.redact"
    VIEW_DATASETS = "datasets.view"
    FREEZE_DATASETS = "datasets.freeze"


@dataclass(frozen=True)
class ProjectAction:
    """One thing a user can do in a project, and the roles that may do it."""

    name: str
    label: str  # completes "Your role may not ..."
    roles: frozenset[Role]

    def allowed(self, user: User, project: Project) -> bool:
        """Whether to show the button: the same rule `check()` enforces."""
        role = role_in(user, project)
        return role is not None and role in self.roles

    def check(self, user: User, project: Project) -> None:
        """Raise Http404 for outsiders and PermissionDenied for members without the right."""
        check_roles(user, self.roles, project, self.label)


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
    # A server folder can hold anything the web and worker processes can read: admins only.
    Action.USE_SERVER_FOLDERS: frozenset({Role.ADMIN}),
    # The link back to real identities: admins only, and never in exports.
    Action.VIEW_PSEUDONYMS: frozenset({Role.ADMIN}),
    Action.VIEW_LABELS: ALL_ROLES,
    Action.EDIT_VOCABULARY: STAFF_ROLES,
    # Bulk downloads of the project's data are for those who curate it.
    Action.EXPORT_DATA: STAFF_ROLES,
    # Reading in the review queues is a reader's work: viewers look but never decide.
    Action.REVIEW: frozenset({Role.RADIOLOGIST, Role.CURATOR, Role.ADMIN}),
    Action.SEND_BACK: STAFF_ROLES,
    Action.ADJUDICATE: STAFF_ROLES,
    # Anyone who reads images for a decision may say one shows text (a name, an id, a date) in its pixels.
    Action.FLAG_BURNED_IN: frozenset({Role.RADIOLOGIST, Role.CURATOR, Role.ADMIN}),
    # Burning boxes into the pixels replaces the stored DICOM and deletes the unredacted files for good, and
    # decides what exports may contain: those who curate the data.
    Action.REDACT_IMAGES: STAFF_ROLES,
    # Dataset versions (their definitions, counts, comparisons) are metadata every member may read; freezing
    # one decides what a training set is, and downloading its files is EXPORT_DATA.
    Action.VIEW_DATASETS: ALL_ROLES,
    Action.FREEZE_DATASETS: STAFF_ROLES,
}

_LABELS = {
    Action.VIEW_PROJECT: "view this project",
    Action.CHANGE_PROJECT: "change the project's settings",
    Action.VIEW_MEMBERS: "view the members",
    Action.MANAGE_MEMBERS: "manage the members",
    Action.VIEW_JOBS: "view jobs",
    Action.CANCEL_JOBS: "cancel jobs",
    Action.VIEW_AUDIT: "read the audit trail",
    Action.VIEW_STUDIES: "view studies",
    Action.USE_SERVER_FOLDERS: "read server folders",
    Action.VIEW_PSEUDONYMS: "read the pseudonym map",
    Action.VIEW_LABELS: "view labels",
    Action.EDIT_VOCABULARY: "edit the label vocabulary",
    Action.EXPORT_DATA: "export the project's data",
    Action.REVIEW: "read items in the review queues",
    Action.SEND_BACK: "send review items back",
    Action.ADJUDICATE: "adjudicate disagreeing reads",
    Action.FLAG_BURNED_IN: "flag burned-in text",
    Action.REDACT_IMAGES: "redact burned-in text",
    Action.VIEW_DATASETS: "view dataset versions",
    Action.FREEZE_DATASETS: "freeze dataset versions",
}

ACTIONS: dict[Action, ProjectAction] = {
    action: ProjectAction(name=action.value, label=_LABELS[action], roles=roles) for action, roles in RULES.items()
}


def action(name: Action) -> ProjectAction:
    return ACTIONS[name]


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


def can(user: User, name: Action, project: Project) -> bool:
    return ACTIONS[name].allowed(user, project)


def check(user: User, name: Action, project: Project) -> None:
    """Raise Http404 for outsiders and PermissionDenied for members without the right."""
    ACTIONS[name].check(user, project)


def check_roles(user: User, roles: frozenset[Role], project: Project, what: str) -> None:
    role = role_in(user, project)
    if role is None:
        raise Http404("No such project.")
    if role not in roles:
        raise PermissionDenied(f"Your role ({role.value}) may not {what} in this project.")


def visible_projects(user: User) -> QuerySet[Project]:
    """The projects listed for the user: those they are a member of and that are not archived (members still
    open an archived project by its address; site admins find it under "Archived" to restore it)."""
    if not user.is_authenticated:
        return Project.objects.none()
    member = Membership.objects.filter(project=OuterRef("pk"), user=user)
    return Project.objects.filter(Exists(member), archived_at__isnull=True)


def get_project(user: User, slug: str, name: Action = Action.VIEW_PROJECT) -> Project:
    """The project by slug if the user may do `name` there; 404 for outsiders, 403 otherwise."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    check(user, name, project)
    return project


# --- Site-level actions: what spans projects (creating and archiving projects, user accounts) -------------
# Site admins are Django staff users, or users given the `curation.administer_site` permission (directly or
# through a Django group), so a hospital can name site admins without making them staff of the Django admin.


class SiteAction(StrEnum):
    CREATE_PROJECTS = "site.create_projects"
    ARCHIVE_PROJECTS = "site.archive_projects"
    MANAGE_USERS = "site.manage_users"
    RESET_LOCKOUTS = "site.reset_lockouts"


_SITE_LABELS = {
    SiteAction.CREATE_PROJECTS: "create projects",
    SiteAction.ARCHIVE_PROJECTS: "archive or restore projects",
    SiteAction.MANAGE_USERS: "create, deactivate or reset user accounts",
    SiteAction.RESET_LOCKOUTS: "reset sign-in lockouts",
}
SITE_PERMISSION = "administer_site"


def is_site_admin(user: User) -> bool:
    """Staff, or holding the site permission (own or through a group). Cached on the user for the request."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return True
    if "_site_admin" not in user.__dict__:
        from django.contrib.auth.models import Permission
        from django.db.models import Q

        # Asked of the tables, not of user.has_perm(): that goes through the authentication backends, and a
        # deployment may run without ModelBackend (LOCAL_PASSWORDS=0).
        user.__dict__["_site_admin"] = (
            Permission.objects.filter(content_type__app_label="curation", codename=SITE_PERMISSION)
            .filter(Q(user=user) | Q(group__user=user))
            .exists()
        )
    return user.__dict__["_site_admin"]


def site_allowed(user: User, name: SiteAction) -> bool:
    """Whether to show a site-level button: the same rule `site_check()` enforces."""
    return is_site_admin(user)


def site_check(user: User, name: SiteAction) -> None:
    """Raise PermissionDenied unless the user is a site admin (the one rule for every site action)."""
    if not site_allowed(user, name):
        raise PermissionDenied(f"Only site admins may {_SITE_LABELS[name]}.")


def can_create_projects(user: User) -> bool:
    return site_allowed(user, SiteAction.CREATE_PROJECTS)


def _account_refusal(user: User, target: User) -> str | None:
    """Why `user` may not deactivate, reactivate or reset `target`, or None when they may."""
    if not site_allowed(user, SiteAction.MANAGE_USERS):
        return f"Only site admins may {_SITE_LABELS[SiteAction.MANAGE_USERS]}."
    if target.pk == user.pk:
        # Deactivating yourself locks you out; your own password is the account page's work.
        return "You may not deactivate or reset your own account here."
    # A reset hands the account to whoever holds its set-password link: never to someone with fewer rights.
    if target.is_superuser and not user.is_superuser:
        return "Only superusers may change a superuser's account."
    if target.is_staff and not (user.is_staff or user.is_superuser):
        return "Only staff users may change a staff user's account."
    return None


def account_allowed(user: User, target: User) -> bool:
    """Whether to show the Deactivate / Reactivate / Reset buttons for `target`: the rule `account_check()` enforces."""
    return _account_refusal(user, target) is None


def account_check(user: User, target: User) -> None:
    """Raise PermissionDenied unless `user` may manage the account `target` (SiteAction.MANAGE_USERS, on an
    account other than their own with no more rights than theirs)."""
    refusal = _account_refusal(user, target)
    if refusal is not None:
        raise PermissionDenied(refusal)


class ProjectPermission(BasePermission):
    """DRF permission for views under /api/projects/{slug}/...

    The view names the action per HTTP method in `project_actions` (e.g. {"GET": Action.VIEW_JOBS});
    `get_project()` on the view resolves the slug and raises 404/403 itself.
    """

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        actions = getattr(view, "project_actions", {})
        name = actions.get(request.method, actions.get("*"))
        if name is None:
            raise PermissionDenied("This method is not allowed here.")
        view.project = get_project(request.user, view.kwargs["slug"], name)
        return True
