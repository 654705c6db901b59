"""Project roles from a hospital directory's groups: one mapping and one sync for LDAP and OpenID Connect.

Each sign-in source has a group → role mapping set from the environment (LDAP_GROUP_ROLES,
OIDC_GROUP_ROLES), a JSON object whose keys are group names and whose values map project slugs to roles:

    {"cn=chest-readers,ou=groups,dc=hospital,dc=org": {"chest": "radiologist"},
     "cxr-admins": {"chest": "admin", "research": "curator"}}

At each sign-in `sync_roles()` makes the user's memberships of that source match their groups: a new group
adds a role, a changed mapping changes it, a removed group removes it. Memberships an admin added by hand
(source "local") are never touched, so a directory cannot take away what a person was given on the members
page, and a second directory cannot undo the first. Group names compare case-insensitively (LDAP DNs do).
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Iterable

from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from . import audit
from .models import Membership, MembershipSource, Project, Role, User

log = logging.getLogger(__name__)

# From most to least rights: when two groups give roles in one project, the higher one wins.
ROLE_RANK = {role: rank for rank, role in enumerate(reversed(list(Role)))}

GroupRoles = dict[str, dict[str, Role]]
# Bidirectional overrides and isolates: invisible, and they reorder how a name is shown next to others.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def single_line(value) -> str:
    """A directory's or provider's text value (a name, an e-mail) on one line: runs of white space as one space,
    control and bidi-override characters dropped; "" for anything that is not a string (a claim may be any JSON
    value)."""
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)


def parse_group_roles(text: str | None, setting: str) -> GroupRoles:
    """The mapping from an environment value; raises ImproperlyConfigured naming `setting` when it is malformed."""
    if not (text or "").strip():
        return {}
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{setting} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f'{setting} must be a JSON object: {{"group": {{"project-slug": "role"}}}}.')
    mapping: GroupRoles = {}
    for group, projects in raw.items():
        if not isinstance(group, str) or not group.strip() or not isinstance(projects, dict):
            raise ImproperlyConfigured(f"{setting}: each group must map to an object of project slug → role.")
        roles = {}
        for slug, role in projects.items():
            if role not in Role.values:
                raise ImproperlyConfigured(
                    f"{setting}: group {group!r} gives project {slug!r} the unknown role {role!r}; "
                    f"use one of {', '.join(Role.values)}."
                )
            roles[str(slug)] = Role(role)
        mapping[group.strip().lower()] = roles
    return mapping


def roles_for_groups(groups: Iterable[str], mapping: GroupRoles) -> dict[str, Role]:
    """Project slug → role for a user in `groups` (the highest role when several groups name one project)."""
    wanted: dict[str, Role] = {}
    for group in groups:
        for slug, role in mapping.get(str(group).strip().lower(), {}).items():
            if slug not in wanted or ROLE_RANK[role] > ROLE_RANK[wanted[slug]]:
                wanted[slug] = role
    return wanted


@transaction.atomic
def sync_roles(user: User, groups: Iterable[str], *, source: MembershipSource, mapping: GroupRoles) -> dict:
    """Make `user`'s memberships of `source` match `groups`; returns what changed, by project slug.

    The actor of the audit events is the system (None): the directory decided, not a person here. A
    mapped project that does not exist is skipped with a warning (a slug typo must not stop sign-in).
    """
    wanted = roles_for_groups(groups, mapping)
    projects = {p.slug: p for p in Project.objects.filter(slug__in=list(wanted))}
    for slug in sorted(set(wanted) - set(projects)):
        log.warning("%s group mapping names project %r, which does not exist", source, slug)
    current = {
        m.project.slug: m
        for m in Membership.objects.select_for_update().filter(user=user).select_related("project", "user")
    }
    changes: dict[str, dict[str, str]] = {"added": {}, "changed": {}, "removed": {}}
    for slug, project in projects.items():
        role = wanted[slug]
        membership = current.get(slug)
        if project.archived_at is not None:
            # An archived project takes no new members, but keeps those it had until it is restored.
            continue
        if membership is None:
            membership = Membership.objects.create(project=project, user=user, role=role, source=source)
            audit.member_added(None, membership)
            changes["added"][slug] = role.value
        elif membership.source == source and membership.role != role:
            old_role = membership.role
            membership.role = role
            membership.save(update_fields=["role"])
            audit.member_role_changed(None, membership, old_role)
            changes["changed"][slug] = role.value
    for slug, membership in current.items():
        if membership.source == source and slug not in wanted:
            audit.member_removed(None, membership)
            membership.delete()
            changes["removed"][slug] = membership.role
    # Roles are cached on the user object for a request (curation.permissions.role_in).
    user.__dict__.pop("_project_roles", None)
    return changes


def mapping_check_errors(backend: str, read, setting: str, example: str, check_id: str) -> list[Error]:
    """The system check of a sign-in source's group mapping: when `backend` is configured, `read()` (which
    parses the mapping) must not raise, so a typo stops the start instead of every sign-in."""
    from django.conf import settings

    if backend not in settings.AUTHENTICATION_BACKENDS:
        return []
    try:
        read()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint=f"Set {setting} to a JSON object: {example}.", id=check_id)]
    return []
