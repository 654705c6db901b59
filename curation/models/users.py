"""The custom user model, in place from the first migration so it can grow without pain."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person using the platform. Project rights come from Membership, not from Django groups."""

    display_name = models.CharField(max_length=150, blank=True)
    # Stamped by set_password, whichever path changes the password (our services, the admin, the
    # changepassword command): API tokens created before it are refused (curation.api.auth).
    password_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractUser.Meta):
        permissions = [("administer_site", "Can administer the site: create and archive projects, manage accounts")]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    def set_password(self, raw_password):
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()
