"""One function per audit event kind. The only place that writes AuditEvent rows.

Each function takes the actor (a User or None for the system) and the objects concerned, and
records before/after as small JSON snapshots.
"""

from __future__ import annotations

from typing import Any

from .middleware import current_request_id
from .models import ApiToken, AuditEvent, Job, Membership, Project, Upload, User


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


def project_archived(actor: User | None, project: Project) -> AuditEvent:
    """The project left the project list and takes no new jobs; its data and trail stay."""
    return _record(
        actor=actor,
        action="project.archived",
        obj_type="project",
        obj_id=project.pk,
        obj_repr=project.slug,
        project=project,
        before={"archived_at": None},
        after={"archived_at": project.archived_at.isoformat()},
    )


def project_restored(actor: User | None, project: Project, archived_at) -> AuditEvent:
    return _record(
        actor=actor,
        action="project.restored",
        obj_type="project",
        obj_id=project.pk,
        obj_repr=project.slug,
        project=project,
        before={"archived_at": archived_at.isoformat() if archived_at else None},
        after={"archived_at": None},
    )


def member_added(actor: User | None, membership: Membership) -> AuditEvent:
    return _record(
        actor=actor,
        action="member.added",
        obj_type="membership",
        obj_id=membership.pk,
        obj_repr=membership.user.username,
        project=membership.project,
        after={"user": membership.user.username, "role": membership.role, "source": membership.source},
    )


def member_role_changed(
    actor: User | None, membership: Membership, old_role: str, old_source: str | None = None
) -> AuditEvent:
    """A role changed; `old_source` when the change also took the membership from a directory's control."""
    return _record(
        actor=actor,
        action="member.role_changed",
        obj_type="membership",
        obj_id=membership.pk,
        obj_repr=membership.user.username,
        project=membership.project,
        before={"role": old_role, "source": old_source or membership.source},
        after={"role": membership.role, "source": membership.source},
    )


def member_removed(actor: User | None, membership: Membership) -> AuditEvent:
    return _record(
        actor=actor,
        action="member.removed",
        obj_type="membership",
        obj_id=membership.pk,
        obj_repr=membership.user.username,
        project=membership.project,
        before={"user": membership.user.username, "role": membership.role, "source": membership.source},
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


def import_uploaded(actor: User | None, upload: Upload) -> AuditEvent:
    return _record(
        actor=actor,
        action="import.uploaded",
        obj_type="upload",
        obj_id=upload.pk,
        obj_repr=f"upload {upload.pk}",
        project=upload.project,
        after={"size": upload.size},
    )


def upload_deleted(actor: User | None, upload: Upload) -> AuditEvent:
    return _record(
        actor=actor,
        action="import.upload_deleted",
        obj_type="upload",
        obj_id=upload.pk,
        obj_repr=f"upload {upload.pk}",
        project=upload.project,
        after={"reason": upload.deleted_reason},
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


# Account events belong to no project (project=None): staff read them in the operations admin.
def _token_snapshot(token: ApiToken) -> dict:
    return {
        "user": token.user.username,
        "name": token.name,
        "prefix": token.prefix,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def token_created(actor: User | None, token: ApiToken) -> AuditEvent:
    return _record(
        actor=actor,
        action="token.created",
        obj_type="api_token",
        obj_id=token.pk,
        obj_repr=f"{token.user.username}: {token.name}",
        after=_token_snapshot(token),
    )


def token_revoked(actor: User | None, token: ApiToken, reason: str) -> AuditEvent:
    return _record(
        actor=actor,
        action="token.revoked",
        obj_type="api_token",
        obj_id=token.pk,
        obj_repr=f"{token.user.username}: {token.name}",
        before=_token_snapshot(token),
        after={"reason": reason},
    )


def password_changed(actor: User | None, user: User) -> AuditEvent:
    return _record(actor=actor, action="user.password_changed", obj_type="user", obj_id=user.pk, obj_repr=user.username)


def user_deactivated(actor: User | None, user: User, sessions_ended: int | None = None) -> AuditEvent:
    after = {"is_active": False}
    if sessions_ended is not None:
        after["sessions_ended"] = sessions_ended
    return _record(
        actor=actor,
        action="user.deactivated",
        obj_type="user",
        obj_id=user.pk,
        obj_repr=user.username,
        before={"is_active": True},
        after=after,
    )


def _account_snapshot(user: User) -> dict:
    return {"username": user.username, "email": user.email, "name": user.display_name, "is_active": user.is_active}


def user_created(actor: User | None, user: User) -> AuditEvent:
    """A local account made by a site admin, with no usable password until its set-password link is used."""
    return _record(
        actor=actor,
        action="user.created",
        obj_type="user",
        obj_id=user.pk,
        obj_repr=user.username,
        after=_account_snapshot(user),
    )


def user_created_by_directory(user: User, source: str) -> AuditEvent:
    """An account made at its first sign-in through a directory (source "ldap" or "oidc"): the system acted."""
    return _record(
        actor=None,
        action="user.created",
        obj_type="user",
        obj_id=user.pk,
        obj_repr=user.username,
        after={**_account_snapshot(user), "source": str(source)},
    )


def user_linked_to_directory(user: User, source: str) -> AuditEvent:
    """An account with a local password taken over at sign-in by the directory's person of that name
    (OIDC_LINK_LOCAL_ACCOUNTS=1): its password is now unusable."""
    return _record(
        actor=None,
        action="user.linked_to_directory",
        obj_type="user",
        obj_id=user.pk,
        obj_repr=user.username,
        before={"usable_password": True},
        after={"usable_password": False, "source": str(source)},
    )


def user_reactivated(actor: User | None, user: User) -> AuditEvent:
    return _record(
        actor=actor,
        action="user.reactivated",
        obj_type="user",
        obj_id=user.pk,
        obj_repr=user.username,
        before={"is_active": False},
        after={"is_active": True},
    )


def user_password_reset(actor: User | None, user: User) -> AuditEvent:
    """A site admin made the password unusable and issued a new set-password link (the link is never recorded)."""
    return _record(actor=actor, action="user.password_reset", obj_type="user", obj_id=user.pk, obj_repr=user.username)


def user_password_set(actor: User | None, user: User) -> AuditEvent:
    """The account's holder set a password through a one-time set-password link."""
    return _record(actor=actor, action="user.password_set", obj_type="user", obj_id=user.pk, obj_repr=user.username)


def lockout_reset(actor: User | None, username: str, attempts_cleared: int) -> AuditEvent:
    return _record(
        actor=actor,
        action="signin.lockout_reset",
        obj_type="user",
        obj_id=username[:64],
        obj_repr=username,
        after={"attempts_cleared": attempts_cleared},
    )


def image_flagged_burned_in(actor: User | None, image, before: str) -> AuditEvent:
    """A reader said an image shows text in its pixels (it now needs redaction before any export)."""
    return _record(
        actor=actor,
        action="image.flagged_burned_in",
        obj_type="image",
        obj_id=image.pk,
        obj_repr=image.image_key,
        project=image.project,
        before={"redaction": before},
        after={"redaction": image.redaction},
    )


def image_redacted(actor: User | None, image, before: str, boxes: list[list[int]]) -> AuditEvent:
    """Boxes burned into an image's stored pixels; its unredacted files are gone."""
    return _record(
        actor=actor,
        action="image.redacted",
        obj_type="image",
        obj_id=image.pk,
        obj_repr=image.image_key,
        project=image.project,
        before={"redaction": before},
        after={"redaction": image.redaction, "boxes": boxes, "render_status": image.render_status},
    )


def dataset_version_frozen(actor: User | None, version) -> AuditEvent:
    """A dataset version was frozen: its rows, their hash and what they were made from."""
    return _record(
        actor=actor,
        action="dataset.version_frozen",
        obj_type="dataset_version",
        obj_id=version.pk,
        obj_repr=version.name,
        project=version.project,
        after={
            "definition": version.definition_id,
            "rows": version.row_count,
            "content_hash": version.content_hash,
            "labeler_version": version.labeler_version,
            "qc_version": version.qc_version,
            "review_version": version.review_version,
        },
    )
