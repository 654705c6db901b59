"""Accounts: named API tokens, password changes, deactivation and reactivation, ending a user's web sessions, and
sign-in lockout resets, with their audit events. New accounts and set-password links: curation.services.onboarding.

Tokens are independent of web sessions: logging out ends the session only; a token lives until it is
revoked, expires, its owner's password changes or its owner is deactivated.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .. import audit
from ..models import ApiToken, User
from ..permissions import SiteAction, account_check, site_allowed

KEY_PREFIX = "cxr_"  # makes a leaked key recognisable to secret scanners
PREFIX_LENGTH = 12  # "cxr_" and 8 random characters: enough to tell tokens apart, useless to authenticate
DEFAULT_TOKEN_NAME = "api"  # noqa: S105 -- a label, not a secret
MAX_EXPIRY_DAYS = 3650
# A used token's last_used_at is written at most this often, so busy clients do not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _clean_name(name: str | None) -> str:
    name = (name or "").strip() or DEFAULT_TOKEN_NAME
    if len(name) > 100:
        raise ValidationError({"name": "Use at most 100 characters."})
    return name


def _expiry(expires_in_days: int | None):
    if expires_in_days is None or expires_in_days == "":
        return None
    try:
        days = int(expires_in_days)
    except (TypeError, ValueError):
        raise ValidationError({"expires_in_days": "Give a whole number of days."}) from None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ValidationError({"expires_in_days": f"Give a whole number of days from 1 to {MAX_EXPIRY_DAYS}."})
    return timezone.now() + timedelta(days=days)


@transaction.atomic
def create_token(user: User, *, name: str | None = None, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Create a named token for `user` (who is also the actor). Returns the token and its key: the key is
    never stored, so this is the only time anyone sees it."""
    if not user.is_active:
        raise PermissionDenied("Inactive users may not create tokens.")
    clean_name, expires_at = _clean_name(name), _expiry(expires_in_days)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=clean_name, key_hash=hash_key(key), prefix=key[:PREFIX_LENGTH], expires_at=expires_at
    )
    audit.token_created(user, token)
    return token, key


def user_tokens(user: User) -> QuerySet[ApiToken]:
    """Every token of `user`, newest first (revoked ones too, so the list explains what stopped working)."""
    return ApiToken.objects.filter(user=user).select_related("user")


def token_state(token: ApiToken, now=None) -> str:
    """`active`, `revoked` or `expired`. A token older than its owner's last password change is revoked
    even if no one marked it (a password changed in the Django admin, say)."""
    now = now or timezone.now()
    changed_at = token.user.password_changed_at
    if token.revoked_at is not None or (changed_at is not None and token.created_at < changed_at):
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def usable_token(key: str) -> ApiToken | None:
    """The token for a presented key if it may authenticate now: not revoked, not expired, not older than
    its owner's last password change, owner active. Records the use (at most once a minute)."""
    if not key or len(key) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    now = timezone.now()
    if token is None or not token.user.is_active or token_state(token, now) != "active":
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def revoke_token(actor: User | None, token: ApiToken, *, reason: str = "revoked by owner") -> ApiToken:
    """Revoke one token. Only its owner may (or the system, actor=None); revoking twice changes nothing."""
    if actor is not None and actor.pk != token.user_id:
        raise PermissionDenied("You may revoke only your own tokens.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.token_revoked(actor, token, reason)
    return token


@transaction.atomic
def revoke_tokens(actor: User | None, user: User, *, reason: str) -> int:
    """Revoke every live token of `user`, one audit event each. Returns how many were revoked."""
    tokens = list(ApiToken.objects.live().filter(user=user).select_related("user"))
    now = timezone.now()
    ApiToken.objects.filter(pk__in=[t.pk for t in tokens]).update(revoked_at=now)
    for token in tokens:
        token.revoked_at = now
        audit.token_revoked(actor, token, reason)
    return len(tokens)


@transaction.atomic
def change_password(actor: User, user: User, new_password: str, *, old_password: str | None = None) -> int:
    """Set a new password (validated by AUTH_PASSWORD_VALIDATORS) and revoke all of the user's tokens.
    Users change their own password and must give the old one; returns the number of tokens revoked."""
    if actor.pk != user.pk:
        raise PermissionDenied("You may change only your own password.")
    if not user.has_usable_password():
        raise ValidationError({"old_password": "This account signs in elsewhere; change its password there."})
    if old_password is None or not user.check_password(old_password):
        raise ValidationError({"old_password": "Your old password was entered incorrectly."})
    validate_password(new_password, user)
    user.set_password(new_password)  # also stamps password_changed_at
    user.save(update_fields=["password", "password_changed_at"])
    audit.password_changed(actor, user)
    return revoke_tokens(actor, user, reason="password changed")


# Session engines that keep sessions in the database table end_sessions() scans.
_TABLE_SESSION_ENGINES = {"django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db"}
# Live sessions decoded, newest first, when one user's sessions are ended; read in batches so memory stays flat.
SESSION_SCAN_LIMIT = 100_000
SESSION_SCAN_BATCH = 2_000


def end_sessions(user: User, *, limit: int = SESSION_SCAN_LIMIT) -> int:
    """Delete the user's web sessions; returns how many were found.

    A session row holds only its encoded data, so finding one user's sessions means decoding rows: recording
    session keys at sign-in would need a new table. The scan is bounded (the `limit` newest live sessions), and it
    is clean-up, not the guard: a session left behind signs nobody in, because every configured sign-in backend
    refuses an inactive user when a request presents a session (ModelBackend.get_user, and the directory
    backends'; tests/curation/test_onboarding.py checks each). Signed-cookie or cache-only sessions are not in
    the table; the same refusal ends them.
    """
    if settings.SESSION_ENGINE not in _TABLE_SESSION_ENGINES:
        return 0
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore()
    target = str(user.pk)
    live = store.model.objects.filter(expire_date__gt=timezone.now()).order_by("-expire_date")
    found = [
        key
        for key, data in live.values_list("session_key", "session_data")[:limit].iterator(chunk_size=SESSION_SCAN_BATCH)
        if str(store.decode(data).get(SESSION_KEY, "")) == target
    ]
    for key in found:
        # Through the store, so a cached_db engine forgets its cached copy too.
        engine.SessionStore(session_key=key).delete()
    return len(found)


@transaction.atomic
def deactivate_user(actor: User | None, user: User) -> int:
    """Stop a user signing in, end their web sessions and revoke their tokens (the row stays for the audit trail).
    `actor=None` is the system. Returns the number of tokens revoked."""
    if actor is not None:
        account_check(actor, user)
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit.user_deactivated(actor, user, sessions_ended=end_sessions(user))
    return revoke_tokens(actor, user, reason="user deactivated")


@transaction.atomic
def reactivate_user(actor: User | None, user: User) -> bool:
    """Let a deactivated user sign in again (their revoked tokens stay revoked). Returns False when the account
    was active already."""
    if actor is not None:
        account_check(actor, user)
    if user.is_active:
        return False
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit.user_reactivated(actor, user)
    return True


def can_reset_lockouts(user: User) -> bool:
    """Site admins, not project admins: a lockout concerns an account, which spans projects."""
    return site_allowed(user, SiteAction.RESET_LOCKOUTS)


def reset_lockout(actor: User | None, username: str) -> int:
    """Clear the failed sign-in attempts of `username` from every address, ending its lockout.
    Returns the number of attempt records cleared."""
    from axes.utils import reset as axes_reset  # axes needs the app registry; keep module import light

    if actor is not None and not can_reset_lockouts(actor):
        raise PermissionDenied("Only site admins may reset sign-in lockouts.")
    username = (username or "").strip()
    if not username:
        raise ValidationError({"username": "Give a username."})
    cleared = axes_reset(username=username)
    audit.lockout_reset(actor, username, cleared)
    return cleared
