"""Projects and memberships: create, change, add and remove members, with their audit events."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify

from .. import audit, locks
from ..models import Membership, Project, Role, User
from ..permissions import Action, can_create_projects, check


@transaction.atomic
def create_project(actor: User | None, *, slug: str, name: str = "", description: str = "") -> Project:
    """Create a project; the creator (if any) becomes its admin. `actor=None` is the system (CLI)."""
    if actor is not None and not can_create_projects(actor):
        raise PermissionDenied("Only staff users may create projects.")
    clean_slug = slugify(slug)
    if not clean_slug or clean_slug != slug:
        raise ValidationError(
            {"slug": f"Use lowercase letters, digits and hyphens (e.g. {clean_slug or 'my-project'!r})."}
        )
    if Project.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A project with slug {slug!r} already exists."})
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
        if not name.strip():
            raise ValidationError({"name": "The name cannot be empty."})
        project.name = name.strip()
    if description is not None:
        project.description = description
    if deid is not None:
        project.options = {**project.options, "deid": {**project.options.get("deid", {}), **clean_deid_options(deid)}}
    project.save(update_fields=["name", "description", "options", "updated_at"])
    audit.project_updated(actor, project, before)
    return project


@transaction.atomic
def set_member(actor: User | None, project: Project, user: User, role: str) -> Membership:
    """Add the user to the project with `role`, or change their role. `actor=None` is the system."""
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
    old_role = membership.role
    if old_role == Role.ADMIN and role != Role.ADMIN:
        _ensure_another_admin(project, user)
    membership.role = role
    membership.save(update_fields=["role"])
    audit.member_role_changed(actor, membership, old_role)
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
