"""Curation projects and who may do what in them."""

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    """Project roles, from most to least rights. What each may do lives in curation.permissions."""

    ADMIN = "admin", "Admin"
    CURATOR = "curator", "Curator"
    RADIOLOGIST = "radiologist", "Radiologist"
    VIEWER = "viewer", "Viewer"


class Project(models.Model):
    """A curation project: its studies, its label vocabulary and its review queues."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Per-project options (de-identification profile, vocabulary extensions, QC thresholds...)
    # grow here as later features need them; each feature validates its own key.
    options = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # An archived project keeps its data and audit trail but leaves the project list and takes no new
    # work; site admins can restore it.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipSource(models.TextChoices):
    """Who manages a membership: people on the members page, or a directory's group mapping at each sign-in."""

    LOCAL = "local", "Added by an admin"
    LDAP = "ldap", "LDAP group"
    OIDC = "oidc", "OpenID Connect group"


class Membership(models.Model):
    """A user's role in one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    # A directory-managed membership follows the user's groups (curation.directory): it changes or goes
    # when the groups do. A local one is left alone by sign-in.
    source = models.CharField(max_length=8, choices=MembershipSource.choices, default=MembershipSource.LOCAL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]
        indexes = [models.Index(fields=["user", "project"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.project}"
