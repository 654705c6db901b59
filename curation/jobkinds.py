"""The registry of job kinds: what each job does, on which queue, and which roles may start it.

Each app declares its kinds with curation.tasking.job_task; the API and UI read them here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .models import Project, Role


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    queue: str
    start_roles: frozenset[Role]
    task: Any  # the Celery task; its only argument is the Job id
    description: str = ""
    # params validator: (raw params, project) -> clean params; raises django ValidationError
    clean_params: Callable[[dict, Project], dict] = field(default=lambda params, project: dict(params))
    # extra start check with the cleaned params: (actor or None, project, params) -> None or raises
    check_start: Callable[[Any, Project, dict], None] | None = None
    # Kinds started only by the system (e.g. sub-steps) are hidden from the start menus.
    user_startable: bool = True


_REGISTRY: dict[str, JobKind] = {}


def register(kind: JobKind) -> None:
    existing = _REGISTRY.get(kind.name)
    if existing is not None and existing.task.name != kind.task.name:
        raise RuntimeError(f"Job kind {kind.name!r} is registered twice.")
    _REGISTRY[kind.name] = kind


def get(name: str) -> JobKind | None:
    return _REGISTRY.get(name)


def all_kinds() -> list[JobKind]:
    return sorted(_REGISTRY.values(), key=lambda k: k.name)


def startable_by(role: Role | None) -> list[JobKind]:
    if role is None:
        return []
    return [k for k in all_kinds() if k.user_startable and role in k.start_roles]
