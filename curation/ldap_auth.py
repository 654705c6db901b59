"""Sign-in with the hospital's LDAP / Active Directory (django-auth-ldap): the directory checks the password,
fills in the person's name and e-mail, and its groups become project roles (curation.directory) at each sign-in.

The settings come from the LDAP_* variables (config/settings.py, README "Hospital sign-in: LDAP").
"""

from __future__ import annotations

import logging
import unicodedata

import ldap
import ldap.dn
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django_auth_ldap.backend import LDAPBackend

from .directory import ROLE_RANK, GroupRoles, mapping_check_errors, parse_group_roles, single_line, sync_roles
from .models import MembershipSource, User

log = logging.getLogger(__name__)

BACKEND = "curation.ldap_auth.DirectoryLDAPBackend"
MAX_USERNAME = User._meta.get_field("username").max_length
MAX_PASSWORD = 4096  # far above any directory's limit; bounds what is sent to the server


def normalise_username(typed) -> str | None:
    """The typed username as sent to the directory, or None when it cannot be one (empty, too long, control
    characters: refused rather than cleaned, so no other spelling reaches someone's account)."""
    if not isinstance(typed, str):
        return None
    name = unicodedata.normalize("NFKC", typed).strip()
    if not name or len(name) > MAX_USERNAME or single_line(name) != name:
        return None
    return name


def _normalise_dn(name: str) -> str:
    """A group DN in one spelling (no spaces around separators, lower case); a CN or other name as given."""
    try:
        return ldap.dn.dn2str(ldap.dn.str2dn(name)).lower() if "=" in name else name.lower()
    except ldap.DECODING_ERROR:
        return name.lower()


def group_roles() -> GroupRoles:
    """LDAP_GROUP_ROLES parsed, with DN keys in the spelling the directory's group DNs are compared in."""
    mapping: GroupRoles = {}
    for group, roles in parse_group_roles(settings.LDAP_GROUP_ROLES, "LDAP_GROUP_ROLES").items():
        merged = mapping.setdefault(_normalise_dn(group), {})
        for slug, role in roles.items():
            if slug not in merged or ROLE_RANK[role] > ROLE_RANK[merged[slug]]:
                merged[slug] = role
    return mapping


class DirectoryLDAPBackend(LDAPBackend):
    """django-auth-ldap's backend, with this project's rules:

    - the username is normalised, and the Django account is named by the directory's own username attribute
      (LDAP_USERNAME_ATTR), in lower case;
    - a directory account gets an unusable local password, and an existing account that has a local password
      is never taken over by a directory account of the same name (an admin removes the password first);
    - names and e-mail copied from the directory are put on one line, stripped of control characters and cut to
      the field's length; an invalid e-mail is left out;
    - an inactive account is refused, on sign-in and for its open sessions;
    - at each sign-in the user's groups (DNs and CNs) set their LDAP-sourced project roles; a directory error
      while reading them refuses the sign-in rather than keep roles the directory may have taken away.

    A refused sign-in returns None, so django.contrib.auth reports it as failed and django-axes counts it.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        username = normalise_username(kwargs.pop(User.USERNAME_FIELD, username))
        if username is None or not isinstance(password, str) or len(password) > MAX_PASSWORD or "\0" in password:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def ldap_to_django_username(self, username):
        return username.lower()

    def get_or_build_user(self, username, ldap_user):
        username = self._directory_username(username, ldap_user)
        user, built = super().get_or_build_user(username, ldap_user)
        if not built and user.has_usable_password():
            log.warning("LDAP sign-in refused for %r: a local account of that name has a local password", username)
            raise ldap_user.AuthenticationFailed("a local account with a password has this username")
        self._clean_attributes(ldap_user)
        return user, built

    def authenticate_ldap_user(self, ldap_user, password):
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is None:
            return None
        if not user.is_active:
            log.info("LDAP sign-in refused for %r: the account is deactivated", user.username)
            return None
        try:
            groups = self._groups(ldap_user)
        except ldap.LDAPError as exc:
            log.warning("LDAP sign-in refused for %r: the groups could not be read (%s)", user.username, exc)
            return None
        sync_roles(user, groups, source=MembershipSource.LDAP, mapping=group_roles())
        return user

    def _directory_username(self, typed: str, ldap_user) -> str:
        values = [v for v in (ldap_user.attrs or {}).get(settings.LDAP_USERNAME_ATTR, []) if isinstance(v, str)]
        # A multi-valued attribute (uid may be): the value that was typed, else the first.
        value = next((v for v in values if v.lower() == typed), values[0] if values else "")
        name = normalise_username(value)
        if name is None:
            raise ldap_user.AuthenticationFailed(f"the entry has no usable {settings.LDAP_USERNAME_ATTR}")
        return self.ldap_to_django_username(name)

    def _clean_attributes(self, ldap_user) -> None:
        """Clean the values django-auth-ldap is about to copy into the User (AUTH_LDAP_USER_ATTR_MAP), in place,
        before its save: a directory value may be longer than the column or carry control characters."""
        attrs = ldap_user.attrs
        for field, attr in self.settings.USER_ATTR_MAP.items():
            if not attrs or not attrs.get(attr):
                continue
            value = single_line(attrs[attr][0])[: User._meta.get_field(field).max_length]
            if field == "email":
                try:
                    validate_email(value)
                except ValidationError:
                    value = ""
            attrs[attr] = [value]

    def _groups(self, ldap_user) -> set[str]:
        """The user's group DNs and names (CNs): the mapping may name a group either way."""
        if self.settings.GROUP_SEARCH is None:
            return set()
        dns = {_normalise_dn(dn) for dn in ldap_user.group_dns}
        return dns | {name for name in ldap_user.group_names if name}


def ldap_group_roles_check(app_configs=None, **kwargs):
    """LDAP_GROUP_ROLES must parse when LDAP sign-in is on: a typo must stop the start, not every sign-in."""
    return mapping_check_errors(
        BACKEND, group_roles, "LDAP_GROUP_ROLES", '{"group DN or name": {"project-slug": "role"}}', "curation.E110"
    )
