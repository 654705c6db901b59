"""The registry of job kinds: what each job does, on which queue, and which roles may start it.

Each app declares its kinds with curation.tasking.job_task; the API and UI read them here. Who may
start a kind is declared once, as `start_roles`, and turned into one `ProjectAction` per origin of the
job's input: `upload` (an Upload row of the project), `path` (a server folder, which also needs
USE_SERVER_FOLDERS) or `none`. The job API, the import endpoints, reruns and the pages' buttons all
ask `kind.start_action(origin)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .models import Project, Role
from .permissions import Action, ProjectAction, action

ORIGINS = ("upload", "path", "none")


def origin_of(params: dict | None) -> str:
    """Where a job's input comes from, read from its (raw or clean) params."""
    params = params or {}
    if params.get("path"):
        return "path"
    if params.get("upload") not in (None, ""):
        return "upload"
    return "none"


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
    # Kinds started only by the system (e.g. sub-steps) are hidden from the start menus.
    user_startable: bool = True
    # Where the job's input may come from (see ORIGINS); anything else is refused before it starts.
    origins: tuple[str, ...] = ("none",)
    # At most one queued or running job of this kind per project.
    exclusive: bool = False
    # Fan-out: the function that runs one chunk, the one that makes the result, and the chunk's task.
    chunk: Callable | None = None
    finish: Callable | None = None
    chunk_task: Any = None

    def start_action(self, origin: str) -> ProjectAction:
        """The one rule for starting this kind with input from `origin`."""
        roles = self.start_roles if self.user_startable and origin in self.origins else frozenset()
        label = f"start {self.label.lower()} jobs"
        if origin == "path":
            roles = roles & action(Action.USE_SERVER_FOLDERS).roles
            label += " from a server folder"
        return ProjectAction(name=f"jobs.start:{self.name}:{origin}", label=label, roles=frozenset(roles))

    def startable_origins(self, user, project) -> list[str]:
        return [origin for origin in self.origins if self.start_action(origin).allowed(user, project)]


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


def startable(user, project) -> list[JobKind]:
    """The kinds the user may start in the project with input from at least one origin."""
    return [k for k in all_kinds() if k.startable_origins(user, project)]
