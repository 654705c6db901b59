"""Curation models, one module per concept."""

from .audit import AuditEvent
from .datasets import DatasetDefinition, DatasetRow, DatasetVersion, Split
from .jobs import Job, JobChunk, JobStatus
from .projects import Membership, MembershipSource, Project, Role
from .studies import Dataset, DeidKey, Image, Patient, PseudonymMap, RenderStatus, Report, Series, Sex, Study, View
from .tokens import ApiToken
from .uploads import Upload
from .users import User

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Dataset",
    "DatasetDefinition",
    "DatasetRow",
    "DatasetVersion",
    "DeidKey",
    "Image",
    "Job",
    "JobChunk",
    "JobStatus",
    "Membership",
    "MembershipSource",
    "Patient",
    "Project",
    "PseudonymMap",
    "RenderStatus",
    "Report",
    "Role",
    "Series",
    "Sex",
    "Split",
    "Study",
    "Upload",
    "User",
    "View",
]
