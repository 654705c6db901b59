"""New local accounts and their one-time set-password links: one at a time by a site admin, or many from a CSV
(`username, email, name, role`) that makes them members of one project, with a preview and per-row errors.

A set-password link carries Django's password-reset token, which hashes the account's password: the link dies
as soon as a password is set, or when a reset gives the account a new unusable password (and a new link). It
also dies after PASSWORD_RESET_TIMEOUT. Links are shown to the admin once, mailed when EMAIL_HOST is set, and
never stored or written to the audit trail.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import smtplib
from dataclasses import dataclass, field
from enum import StrEnum

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from .. import audit
from ..models import Membership, Project, Role, User
from ..permissions import Action, SiteAction, account_check, check, site_allowed, site_check
from . import accounts
from .projects import set_member

log = logging.getLogger(__name__)

MAX_USERNAME = 150  # User.username's column
MAX_EMAIL = 254  # RFC 5321
MAX_NAME = 150  # User.display_name's column
# A member CSV: both limits are checked on the raw bytes, before a single row is parsed.
MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_ROWS = 5_000
CSV_COLUMNS = ("username", "email", "name", "role")
# A preview's signed file is accepted back for this long (the admin reads the preview, then confirms).
PREVIEW_MAX_AGE = 3600
_PREVIEW_SALT = "curation.onboarding.member-csv"
_LOOKUP_BATCH = 500  # names per IN (...) query: well under every database's parameter limit
# No account field has a reason to hold a control character (C0, DEL, C1) or a bidirectional override, which
# can make a name display as something else.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MAX_PK = 2**63 - 1  # a uid beyond a bigint would be a database error, not "no such user"


# --- Set-password links -------------------------------------------------------------------------------------


@dataclass
class AccountLink:
    """A set-password link for one account, to show the admin once. `url` is empty when local passwords are off
    (LOCAL_PASSWORDS=0): the account then signs in through the hospital directory."""

    user: User
    url: str
    mailed_to: str = ""  # the address the link was sent to, empty when it was not sent
    mail_error: str = ""


def email_configured() -> bool:
    return bool(getattr(settings, "EMAIL_ENABLED", False))


def link_lifetime_days() -> int:
    return max(1, round(settings.PASSWORD_RESET_TIMEOUT / 86400))


def _set_password_url(user: User, base_url: str) -> str:
    if not settings.LOCAL_PASSWORDS:
        return ""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return base_url.rstrip("/") + reverse("frontend:set-password", args=[uid, token])


def deliver_link(link: AccountLink, *, purpose: str) -> AccountLink:
    """Mail the link to the account's address when e-mail is configured. A mail failure is reported on the link,
    never raised: the account exists and the admin still sees the link."""
    if not (email_configured() and link.url and link.user.email):
        return link
    if purpose == "reset":
        subject = "Set a new password for CXR Curator"
        opening = "A site admin reset the password of your CXR Curator account"
    else:
        subject = "Your CXR Curator account"
        opening = "A site admin created a CXR Curator account for you"
    body = (
        f"{opening} ({link.user.username}).\n\n"
        f"Open this link to choose your password. It works once and for {link_lifetime_days()} day(s):\n\n"
        f"{link.url}\n\n"
        "If you did not expect this message, ignore it and tell your site admin.\n"
    )
    try:
        send_mail(subject, body, None, [link.user.email])
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("Could not mail the set-password link of %s: %s", link.user.username, exc.__class__.__name__)
        link.mail_error = f"The e-mail could not be sent ({exc.__class__.__name__}); give the link by hand."
    else:
        link.mailed_to = link.user.email
    return link


def _user_for_link(uidb64: str, token: str, *, lock: bool = False) -> User | None:
    if not settings.LOCAL_PASSWORDS or len(uidb64 or "") > 32 or len(token or "") > 100:
        return None
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except ValueError:  # bad base64, not UTF-8, not a number
        return None
    if not 1 <= pk <= _MAX_PK:
        return None
    users = User.objects.select_for_update() if lock else User.objects
    user = users.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def user_for_link(uidb64: str, token: str) -> User | None:
    """The account a set-password link is for while the link is valid: not used, not replaced by a reset, not
    expired, the account active and local passwords on. None otherwise."""
    return _user_for_link(uidb64, token)


@transaction.atomic
def set_password_from_link(uidb64: str, token: str, new_password: str) -> User:
    """Set the password of the link's account (AUTH_PASSWORD_VALIDATORS apply); the link dies with it. Raises
    ValidationError when the link is no longer valid or the password is refused."""
    user = _user_for_link(uidb64, token, lock=True)  # locked: two submits of one link set one password
    if user is None:
        raise ValidationError({"link": "This link is no longer valid."})
    validate_password(new_password, user)
    user.set_password(new_password)  # also stamps password_changed_at
    user.save(update_fields=["password", "password_changed_at"])
    audit.user_password_set(user, user)
    accounts.revoke_tokens(user, user, reason="password set")
    return user


# --- One account --------------------------------------------------------------------------------------------


def clean_account_fields(username: str, email: str, name: str) -> tuple[str, str, str]:
    """Trimmed username, e-mail (lower-cased domain) and name, or a ValidationError naming each bad field."""
    username, email, name = (str(value or "").strip() for value in (username, email, name))
    errors: dict[str, str] = {}
    for key, value in (("username", username), ("email", email), ("name", name)):
        if _CONTROL.search(value):
            errors[key] = "Remove the control characters."
    if "username" not in errors:
        if not username:
            errors["username"] = "Give a username."
        elif len(username) > MAX_USERNAME:
            errors["username"] = f"Use at most {MAX_USERNAME} characters."
        else:
            try:
                User.username_validator(username)
            except ValidationError:
                errors["username"] = "Use letters, digits and @ . + - _ only."
    if "email" not in errors and email:
        if len(email) > MAX_EMAIL:
            errors["email"] = f"Use at most {MAX_EMAIL} characters."
        else:
            try:
                validate_email(email)
            except ValidationError:
                errors["email"] = f"{email!r} is not an e-mail address."
            else:
                email = User.objects.normalize_email(email)
    if "name" not in errors and len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    if errors:
        raise ValidationError(errors)
    return username, email, name


def _taken(username: str, email: str) -> dict[str, str]:
    """Why a new account with these names would clash with an existing one (usernames compare in any case, so
    `Alice` and `alice` are never two people)."""
    errors = {}
    existing = User.objects.filter(username__iexact=username).values_list("username", flat=True).first()
    if existing is not None:
        errors["username"] = f"An account named {existing!r} already exists."
    owner = User.objects.filter(email__iexact=email).values_list("username", flat=True).first() if email else None
    if owner is not None:
        errors["email"] = f"The account {owner!r} already uses this e-mail address."
    return errors


def create_local_user(
    actor: User | None, *, username: str, email: str, name: str = "", base_url: str, deliver: bool = True
) -> AccountLink:
    """Create a local account with no usable password and return its set-password link (mailed when `deliver`
    and e-mail is configured). `base_url` is the site's address (scheme and host) the link starts with.
    `actor=None` is the system."""
    if actor is not None:
        site_check(actor, SiteAction.MANAGE_USERS)
    username, email, name = clean_account_fields(username, email, name)
    if not email:
        raise ValidationError({"email": "Give an e-mail address."})
    errors = _taken(username, email)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            user = User(username=username, email=email, display_name=name)
            user.set_unusable_password()
            user.save()
            audit.user_created(actor, user)
    except IntegrityError:  # created meanwhile by someone else
        raise ValidationError({"username": f"An account named {username!r} already exists."}) from None
    link = AccountLink(user=user, url=_set_password_url(user, base_url))
    return deliver_link(link, purpose="welcome") if deliver else link


def reset_user(actor: User | None, user: User, *, base_url: str, deliver: bool = True) -> AccountLink:
    """Make the account's password unusable, revoke its tokens, clear its sign-in lockout, and return a new
    set-password link (mailed when `deliver` and e-mail is configured). Older links die with the password, and
    the account's web sessions with them (a session is bound to the password it was opened with)."""
    if actor is not None:
        account_check(actor, user)
    if not settings.LOCAL_PASSWORDS:
        raise ValidationError("Local passwords are turned off (LOCAL_PASSWORDS=0): this account signs in elsewhere.")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.set_unusable_password()
        user.password_changed_at = timezone.now()
        user.save(update_fields=["password", "password_changed_at"])
        audit.user_password_reset(actor, user)
        accounts.revoke_tokens(actor, user, reason="password reset by a site admin")
        accounts.reset_lockout(actor, user.username)
    link = AccountLink(user=user, url=_set_password_url(user, base_url))
    return deliver_link(link, purpose="reset") if deliver else link


# --- Members from a CSV -------------------------------------------------------------------------------------


class RowAction(StrEnum):
    CREATE = "create"  # a new local account, then a member
    ADD = "add"  # an existing account becomes a member
    CHANGE_ROLE = "change_role"
    UNCHANGED = "unchanged"  # already a member with this role
    ERROR = "error"


ROW_ACTION_LABELS = {
    RowAction.CREATE: "create user",
    RowAction.ADD: "add existing user",
    RowAction.CHANGE_ROLE: "change role",
    RowAction.UNCHANGED: "no change",
    RowAction.ERROR: "error",
}


@dataclass
class MemberRow:
    """One row of a member CSV: what it asks, what it will do (or did), and why not when it cannot."""

    line: int  # the row's line in the file; the header is line 1
    username: str = ""
    email: str = ""
    name: str = ""
    role: str = ""
    action: RowAction | None = None  # None until planned
    message: str = ""
    old_role: str = ""
    link: AccountLink | None = field(default=None, repr=False)

    @property
    def action_label(self) -> str:
        return ROW_ACTION_LABELS[self.action] if self.action else ""

    def fail(self, message: str) -> MemberRow:
        self.action, self.message = RowAction.ERROR, message
        return self


def read_member_csv(data: bytes) -> list[MemberRow]:
    """Parse a member CSV into rows (each a row error or the row's four cells). Raises ValidationError for
    what spoils the whole file: too large, too many rows, not UTF-8, a wrong header, no rows."""
    if len(data) > MAX_CSV_BYTES:
        raise ValidationError(f"The file is larger than {MAX_CSV_BYTES // 1024:,} KB; split it.")
    # Counted on the bytes before parsing; a line break inside a quoted cell counts too, which only errs on the
    # safe side.
    lines = max(data.count(b"\n"), data.count(b"\r")) + (0 if data.endswith((b"\n", b"\r")) else 1)
    if lines > MAX_CSV_ROWS + 1:
        raise ValidationError(f"The file has more than {MAX_CSV_ROWS:,} rows; split it.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text; save it as CSV (UTF-8).") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ValidationError("The file is empty: give a header row `username, email, name, role`.")
        names = [cell.strip().lower() for cell in header]
        if sorted(names) != sorted(CSV_COLUMNS):
            extra = [n for n in names if n not in CSV_COLUMNS]
            missing = [n for n in CSV_COLUMNS if n not in names]
            detail = "; ".join(
                part
                for part in (
                    f"unknown columns: {', '.join(repr(n[:40]) for n in extra[:5])}" if extra else "",
                    f"missing: {', '.join(missing)}" if missing else "",
                    "a column appears twice" if not extra and not missing else "",
                )
                if part
            )
            raise ValidationError(f"The header must be exactly `username, email, name, role` ({detail}).")
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (a spreadsheet's trailing rows) are not rows
            row = MemberRow(line=reader.line_num)
            if len(cells) != len(CSV_COLUMNS):
                rows.append(row.fail(f"Expected {len(CSV_COLUMNS)} cells, found {len(cells)}."))
                continue
            values = dict(zip(names, cells, strict=True))
            row.username, row.email, row.name = values["username"], values["email"], values["name"]
            row.role = values["role"]
            rows.append(row)
    except csv.Error as exc:
        raise ValidationError(f"The file is not valid CSV near line {reader.line_num}: {exc}.") from None
    if not rows:
        raise ValidationError("The file has a header but no rows.")
    return rows


def _users_by_lower(field_name: str, values: set[str]) -> dict[str, list[User]]:
    found: dict[str, list[User]] = {}
    values = sorted(v for v in values if v)
    for start in range(0, len(values), _LOOKUP_BATCH):
        batch = values[start : start + _LOOKUP_BATCH]
        for user in User.objects.annotate(_key=Lower(field_name)).filter(_key__in=batch):
            found.setdefault(getattr(user, field_name).lower(), []).append(user)
    return found


def _short(value: str, limit: int = 60) -> str:
    value = _CONTROL.sub("?", value)
    return value if len(value) <= limit else value[:limit] + "…"


def plan_member_rows(actor: User, project: Project, rows: list[MemberRow]) -> list[MemberRow]:
    """Decide, for each row, what confirming would do, against the accounts and members as they are now. Rows
    fail one by one; creating accounts needs a site admin, so a project admin's rows for unknown usernames fail."""
    check(actor, Action.MANAGE_MEMBERS, project)
    may_create = site_allowed(actor, SiteAction.MANAGE_USERS)
    for row in rows:
        if row.action is not None:  # failed while reading
            continue
        try:
            row.username, row.email, row.name = clean_account_fields(row.username, row.email, row.name)
        except ValidationError as exc:
            row.username, row.email, row.name = _short(row.username), _short(row.email), _short(row.name)
            row.fail(" ".join(f"{key.capitalize()}: {' '.join(msgs)}" for key, msgs in exc.message_dict.items()))
            continue
        role = row.role.strip().lower()
        if role not in Role.values:
            row.role = _short(row.role)
            row.fail(f"Unknown role {row.role!r}; use one of {', '.join(Role.values)}.")
            continue
        row.role, row.action = role, RowAction.UNCHANGED
    ok = [row for row in rows if row.action != RowAction.ERROR]
    by_username = _users_by_lower("username", {row.username.lower() for row in ok})
    by_email = _users_by_lower("email", {row.email.lower() for row in ok})
    user_ids = sorted(u.pk for users in by_username.values() for u in users)
    memberships: dict[int, str] = {}
    for start in range(0, len(user_ids), _LOOKUP_BATCH):
        batch = user_ids[start : start + _LOOKUP_BATCH]
        memberships.update(Membership.objects.filter(project=project, user_id__in=batch).values_list("user_id", "role"))
    other_admins = Membership.objects.filter(project=project, role=Role.ADMIN).count()
    seen_usernames: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for row in ok:
        key = row.username.lower()
        if key in seen_usernames:
            row.fail(f"The username {row.username!r} is also on line {seen_usernames[key]}.")
            continue
        seen_usernames[key] = row.line
        same = [u for u in by_username.get(key, []) if u.username == row.username]
        if same:
            _plan_existing(row, same[0], memberships, other_admins)
            continue
        if key in by_username:
            row.fail(f"An account named {by_username[key][0].username!r} exists: use that exact username.")
        elif not may_create:
            row.fail("No account has this username, and only site admins may create accounts.")
        elif not row.email:
            row.fail("Give an e-mail address for a new account.")
        elif row.email.lower() in by_email:
            row.fail(f"The account {by_email[row.email.lower()][0].username!r} already uses this e-mail address.")
        elif row.email.lower() in seen_emails:
            row.fail(f"The e-mail address is also on line {seen_emails[row.email.lower()]}.")
        else:
            row.action = RowAction.CREATE
        if row.email and row.action == RowAction.CREATE:
            seen_emails[row.email.lower()] = row.line
    return rows


def _plan_existing(row: MemberRow, user: User, memberships: dict[int, str], admins: int) -> None:
    if (user.email or "").lower() != row.email.lower():
        row.fail("This username exists with a different e-mail address.")
    elif not user.is_active:
        row.fail("This account is deactivated; a site admin can reactivate it.")
    elif user.pk not in memberships:
        row.action = RowAction.ADD
    elif memberships[user.pk] == row.role:
        row.action, row.message = RowAction.UNCHANGED, f"Already {row.role}."
    elif memberships[user.pk] == Role.ADMIN and admins <= 1:
        row.fail("This is the project's only admin; make someone else admin first.")
    else:
        row.action, row.old_role = RowAction.CHANGE_ROLE, memberships[user.pk]
        row.message = f"{row.old_role} → {row.role}"


def preview_member_csv(actor: User, project: Project, data: bytes) -> list[MemberRow]:
    """What importing the file would do, row by row; changes nothing."""
    check(actor, Action.MANAGE_MEMBERS, project)
    return plan_member_rows(actor, project, read_member_csv(data))


def import_member_csv(actor: User, project: Project, data: bytes, *, base_url: str) -> list[MemberRow]:
    """Apply the file: each row planned afresh, then done through the services in its own transaction, so a
    failing row rolls back only itself. New accounts' links are on their rows (and mailed after their row
    commits, when e-mail is configured)."""
    rows = preview_member_csv(actor, project, data)
    for row in rows:
        if row.action in (RowAction.ERROR, RowAction.UNCHANGED):
            continue
        try:
            with transaction.atomic():
                if row.action == RowAction.CREATE:
                    row.link = create_local_user(
                        actor, username=row.username, email=row.email, name=row.name, base_url=base_url, deliver=False
                    )
                    user = row.link.user
                else:
                    user = User.objects.get(username=row.username)
                set_member(actor, project, user, row.role)
        except (ValidationError, PermissionDenied) as exc:
            row.link = None
            row.fail(" ".join(getattr(exc, "messages", None) or [str(exc)]))
            continue
        if row.link is not None:
            deliver_link(row.link, purpose="welcome")
    return rows


def sign_member_csv(actor: User, project: Project, data: bytes) -> str:
    """The previewed file, signed for the confirm form: the server takes back exactly what it showed, for this
    admin and this project, within PREVIEW_MAX_AGE."""
    payload = {"u": actor.pk, "p": project.pk, "csv": data.decode("utf-8-sig")}
    return signing.dumps(payload, salt=_PREVIEW_SALT, compress=True)


def unsign_member_csv(actor: User, project: Project, token: str) -> bytes:
    """The file a confirm form carries back; ValidationError when it was changed, is stale or is someone else's."""
    try:
        payload = signing.loads(token or "", salt=_PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationError("The preview has expired; upload the file again.") from None
    except signing.BadSignature:
        raise ValidationError("The preview was changed or is damaged; upload the file again.") from None
    if not isinstance(payload, dict) or payload.get("u") != actor.pk or payload.get("p") != project.pk:
        raise ValidationError("This preview belongs to another user or project; upload the file again.")
    return str(payload.get("csv", "")).encode()
