"""Named API tokens: a user may hold several, each revocable; only a SHA-256 hash of the key is stored."""

from django.conf import settings
from django.db import models


class ApiTokenQuerySet(models.QuerySet):
    def live(self):
        """Tokens not revoked (expiry and password changes are checked where a token is used)."""
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """One API key of one user, sent as `Authorization: Token <key>`. The key itself is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # hex SHA-256 of the whole key: keys are 256-bit random, so a fast hash is enough (no brute force).
    key_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the key, to tell tokens apart in lists; not enough to use it.
    prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"], name="apitoken_user_recent")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
