"""One function per audit event kind. The only place that writes AuditEvent rows.

Each function takes the actor (a User or None for the system) and the objects concerned, and
records before/after as small JSON snapshots.
"""

from __future__ import annotations

from typing import Any

from .middleware import current_request_id
from .models import AuditEvent, Job, Membership, Project, User


def _record(
    *,
    actor: User | None,
    action: str,
    obj_type: str,
    obj_id: Any = "",
    obj_repr: str = "",
    project: Project | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_username=getattr(actor, "username", "") or "",
        project=project,
        action=action,
        object_type=obj_type,
        object_id=str(obj_id),
        object_repr=obj_repr[:200],
        before=before,
        after=after,
        request_id=current_request_id.get(),
    )


def _project_snapshot(project: Project) -> dict:
    return {
        "slug": project.slug,
        "name": project.name,
        "description": project.description,
        "deid": project.options.get("deid", {}),
    }


def project_created(actor: User | None, project: Project) -> AuditEvent:
    return _record(
        actor=actor,
        action="project.created",
        obj_type="project",
        obj_id=project.pk,
        obj_repr=project.slug,
        project=project,
        after=_project_snapshot(project),
    )


def project_updated(actor: User | None, project: Project, before: dict) -> AuditEvent:
    return _record(
        actor=actor,
        action="project.updated",
        obj_type="project",
        obj_id=project.pk,
        obj_repr=project.slug,
        project=project,
        before=before,
        after=_project_snapshot(project),
    )


def member_added(actor: User | None, membership: Membership) -> AuditEvent:
    return _record(
        actor=actor,
        action="member.added",
        obj_type="membership",
        obj_id=membership.pk,
        obj_repr=membership.user.username,
        project=membership.project,
        after={"user": membership.user.username, "role": membership.role},
    )


def member_role_changed(actor: User | None, membership: Membership, old_role: str) -> AuditEvent:
    return _record(
        actor=actor,
        action="member.role_changed",
        obj_type="membership",
        obj_id=membership.pk,
        obj_repr=membership.user.username,
        project=membership.project,
        before={"role": old_role},
        after={"role": membership.role},
    )


def member_removed(actor: User | None, membership: Membership) -> AuditEvent:
    return _record(
        actor=actor,
        action="member.removed",
        obj_type="membership",
        obj_id=membership.pk,
        obj_repr=membership.user.username,
        project=membership.project,
        before={"user": membership.user.username, "role": membership.role},
    )


def job_started(actor: User | None, job: Job) -> AuditEvent:
    return _record(
        actor=actor,
        action="job.started",
        obj_type="job",
        obj_id=job.pk,
        obj_repr=job.kind,
        project=job.project,
        after={"kind": job.kind, "params": job.params},
    )


def job_cancelled(actor: User | None, job: Job, old_status: str) -> AuditEvent:
    return _record(
        actor=actor,
        action="job.cancelled",
        obj_type="job",
        obj_id=job.pk,
        obj_repr=job.kind,
        project=job.project,
        before={"status": old_status},
        after={"status": job.status, "cancel_requested": job.cancel_requested},
    )


def job_rerun(actor: User | None, job: Job, new_job: Job) -> AuditEvent:
    return _record(
        actor=actor,
        action="job.rerun",
        obj_type="job",
        obj_id=job.pk,
        obj_repr=job.kind,
        project=job.project,
        before={"status": job.status},
        after={"rerun_as": new_job.pk},
    )


def import_uploaded(actor: User | None, project: Project, storage_name: str, size: int) -> AuditEvent:
    return _record(
        actor=actor,
        action="import.uploaded",
        obj_type="upload",
        obj_id=storage_name.rsplit("/", 1)[-1],
        obj_repr=storage_name,
        project=project,
        after={"size": size},
    )


def vocabulary_changed(actor: User | None, project: Project, before: dict, after: dict) -> AuditEvent:
    return _record(
        actor=actor,
        action="vocabulary.changed",
        obj_type="vocabulary",
        obj_id=project.pk,
        obj_repr=project.slug,
        project=project,
        before=before,
        after=after,
    )
