"""Curation models, one module per concept."""

from .audit import AuditEvent
from .jobs import Job, JobStatus
from .projects import Membership, Project, Role
from .users import User

__all__ = ["AuditEvent", "Job", "JobStatus", "Membership", "Project", "Role", "User"]
