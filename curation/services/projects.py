"""Projects and memberships: create, change, archive and restore projects, add and remove members, with their
audit events."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.text import slugify

from labeling.models import ReviewItem, ReviewState

from .. import audit, locks
from ..models import Membership, MembershipSource, Project, Role, Study, User
from ..permissions import Action, SiteAction, can_create_projects, check, site_check
from .ingest_writer import strip_control_characters

MAX_NAME = 200  # Project.name's column
MAX_SLUG = 64  # Project.slug's column
MAX_DESCRIPTION = 5000
MAX_WHO = 254  # an e-mail address at most (RFC 5321)
# Review items still waiting for a read or a decision (the list's "open review items").
OPEN_REVIEW_STATES = (ReviewState.PENDING, ReviewState.IN_REVIEW, ReviewState.ADJUDICATION)


def _clean_name(name: str) -> str:
    name = strip_control_characters(str(name or "")).strip()
    if len(name) > MAX_NAME:
        raise ValidationError({"name": f"Use at most {MAX_NAME} characters."})
    return name


def _clean_description(description: str) -> str:
    description = strip_control_characters(str(description or "")).strip()
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError({"description": f"Use at most {MAX_DESCRIPTION:,} characters."})
    return description


@transaction.atomic
def create_project(actor: User | None, *, slug: str, name: str = "", description: str = "") -> Project:
    """Create a project; the creator (if any) becomes its admin. `actor=None` is the system (CLI)."""
    if actor is not None and not can_create_projects(actor):
        raise PermissionDenied("Only staff users may create projects.")
    slug = str(slug or "")
    if len(slug) > MAX_SLUG:
        raise ValidationError({"slug": f"Use at most {MAX_SLUG} characters."})
    clean_slug = slugify(slug)
    if not clean_slug or clean_slug != slug:
        raise ValidationError(
            {"slug": f"Use lowercase letters, digits and hyphens (e.g. {clean_slug or 'my-project'!r})."}
        )
    if Project.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A project with slug {slug!r} already exists."})
    name, description = _clean_name(name), _clean_description(description)
    project = Project.objects.create(slug=slug, name=name or slug, description=description, created_by=actor)
    audit.project_created(actor, project)
    if actor is not None:
        membership = Membership.objects.create(project=project, user=actor, role=Role.ADMIN)
        audit.member_added(actor, membership)
    return project


def get_or_create_project(slug: str, name: str = "") -> tuple[Project, bool]:
    """For system callers (CLI, demo): the project by slug, created if missing."""
    project = Project.objects.filter(slug=slug).first()
    if project is not None:
        return project, False
    return create_project(None, slug=slug, name=name), True


DEID_OPTIONS = {"enabled": bool, "public_datasets_as_published": bool, "keep_private_tags": bool}


def clean_deid_options(options: dict) -> dict:
    """The project's de-identification switches (curation.services.ingest reads them at import)."""
    if not isinstance(options, dict):
        raise ValidationError({"deid": "Give an object."})
    unknown = set(options) - set(DEID_OPTIONS)
    if unknown:
        known = ", ".join(DEID_OPTIONS)
        raise ValidationError({"deid": f"Unknown options: {', '.join(sorted(unknown))}; known: {known}."})
    for key, value in options.items():
        if not isinstance(value, DEID_OPTIONS[key]):
            raise ValidationError({"deid": f"{key} must be true or false."})
    return options


@transaction.atomic
def update_project(
    actor: User,
    project: Project,
    *,
    name: str | None = None,
    description: str | None = None,
    deid: dict | None = None,
) -> Project:
    check(actor, Action.CHANGE_PROJECT, project)
    before = {
        "slug": project.slug,
        "name": project.name,
        "description": project.description,
        "deid": project.options.get("deid", {}),
    }
    if name is not None:
        name = _clean_name(name)
        if not name:
            raise ValidationError({"name": "The name cannot be empty."})
        project.name = name
    if description is not None:
        project.description = _clean_description(description)
    if deid is not None:
        project.options = {**project.options, "deid": {**project.options.get("deid", {}), **clean_deid_options(deid)}}
    project.save(update_fields=["name", "description", "options", "updated_at"])
    audit.project_updated(actor, project, before)
    return project


@transaction.atomic
def archive_project(actor: User, project: Project) -> bool:
    """Archive the project (a site action): it leaves the project list and takes no new jobs; its data, members
    and audit trail stay. Returns False when it was already archived (nothing changes then)."""
    site_check(actor, SiteAction.ARCHIVE_PROJECTS)
    project = locks.project_for_update(project.pk)
    if project.archived_at is not None:
        return False
    project.archived_at = timezone.now()
    project.save(update_fields=["archived_at", "updated_at"])
    audit.project_archived(actor, project)
    return True


@transaction.atomic
def restore_project(actor: User, project: Project) -> bool:
    """Bring an archived project back to the list and to work. Returns False when it was not archived."""
    site_check(actor, SiteAction.ARCHIVE_PROJECTS)
    project = locks.project_for_update(project.pk)
    if project.archived_at is None:
        return False
    archived_at = project.archived_at
    project.archived_at = None
    project.save(update_fields=["archived_at", "updated_at"])
    audit.project_restored(actor, project, archived_at)
    return True


def list_counts(project_ids: list[int]) -> dict[int, dict[str, int]]:
    """Studies, members and open review items per project, for the project list: one grouped query per kind
    across all the listed projects, so the list costs the same for 3 projects or 300."""
    counts = {pk: {"studies": 0, "members": 0, "open_review": 0} for pk in project_ids}
    kinds = (
        ("studies", Study.objects.filter(project_id__in=project_ids)),
        ("members", Membership.objects.filter(project_id__in=project_ids)),
        ("open_review", ReviewItem.objects.filter(project_id__in=project_ids, state__in=OPEN_REVIEW_STATES)),
    )
    for kind, rows in kinds:
        grouped = rows.order_by().values("project_id").annotate(n=Count("pk")).values_list("project_id", "n")
        for project_id, n in grouped:
            counts[project_id][kind] = n
    return counts


def find_user(who: str) -> User:
    """The active account named by `who`: a username, or an e-mail address (any case) that names one account."""
    who = strip_control_characters(str(who or "")).strip()
    if not who:
        raise ValidationError({"who": "Give a username or an e-mail address."})
    if len(who) > MAX_WHO:
        raise ValidationError({"who": f"Use at most {MAX_WHO} characters."})
    if "@" in who:
        matches = list(User.objects.filter(email__iexact=who)[:2])
        if len(matches) > 1:
            raise ValidationError({"who": f"Several accounts have the e-mail {who!r}; give the username instead."})
    else:
        matches = list(User.objects.filter(username=who)[:1])
    if not matches:
        raise ValidationError({"who": f"No account has the username or e-mail {who!r}."})
    if not matches[0].is_active:
        raise ValidationError({"who": f"The account {matches[0].username!r} is deactivated."})
    return matches[0]


def add_member(actor: User, project: Project, who: str, role: str) -> Membership:
    """Add the account named by `who` (username or e-mail) with `role`; refuses someone already a member."""
    check(actor, Action.MANAGE_MEMBERS, project)
    user = find_user(who)
    if Membership.objects.filter(project=project, user=user).exists():
        raise ValidationError({"who": f"{user.username} is already a member; change their role in the list."})
    return set_member(actor, project, user, role)


@transaction.atomic
def set_member(actor: User | None, project: Project, user: User, role: str) -> Membership:
    """Add the user to the project with `role`, or change their role. `actor=None` is the system.

    A person changing the role of a membership a directory manages (source ldap or oidc) makes it local: an
    explicit choice here, which the directory's group sync then leaves alone.
    """
    if actor is not None:
        check(actor, Action.MANAGE_MEMBERS, project)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."})
    existing = Membership.objects.filter(project=project, user=user).exists()
    if not existing:
        membership = Membership.objects.create(project=project, user=user, role=role)
        audit.member_added(actor, membership)
        return membership
    membership = locks.membership_for_update(project.pk, user.pk)
    if membership.role == role:
        return membership
    old_role, old_source = membership.role, membership.source
    if old_role == Role.ADMIN and role != Role.ADMIN:
        _ensure_another_admin(project, user)
    membership.role = role
    if actor is not None:
        membership.source = MembershipSource.LOCAL
    membership.save(update_fields=["role", "source"])
    audit.member_role_changed(actor, membership, old_role, old_source)
    return membership


@transaction.atomic
def remove_member(actor: User, project: Project, user: User) -> None:
    check(actor, Action.MANAGE_MEMBERS, project)
    membership = locks.membership_for_update(project.pk, user.pk)
    if membership.role == Role.ADMIN:
        _ensure_another_admin(project, user)
    audit.member_removed(actor, membership)
    membership.delete()


def _ensure_another_admin(project: Project, leaving: User) -> None:
    if not Membership.objects.filter(project=project, role=Role.ADMIN).exclude(user=leaving).exists():
        raise ValidationError("A project needs at least one admin; make someone else admin first.")
