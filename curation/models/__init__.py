"""Curation models, one module per concept."""

from .audit import AuditEvent
from .jobs import Job, JobStatus
from .projects import Membership, Project, Role
from .studies import Dataset, DeidKey, Image, Patient, PseudonymMap, RenderStatus, Report, Series, Sex, Study, View
from .users import User

__all__ = [
    "AuditEvent",
    "Dataset",
    "DeidKey",
    "Image",
    "Job",
    "JobStatus",
    "Membership",
    "Patient",
    "Project",
    "PseudonymMap",
    "RenderStatus",
    "Report",
    "Role",
    "Series",
    "Sex",
    "Study",
    "User",
    "View",
]
