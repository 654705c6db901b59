"""Sign-in with the hospital's OpenID Connect provider (mozilla-django-oidc): the authorization-code flow with
PKCE, the provider's claims mapped to a user, and its groups claim turned into project roles at each sign-in.

The settings come from the OIDC_* variables (config/settings.py, README "Hospital sign-in: OpenID Connect").
The provider's endpoints are read from its discovery document at the first sign-in, not at startup, so the
site starts and serves password and LDAP sign-in while the provider is down.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from . import audit
from .directory import GroupRoles, mapping_check_errors, parse_group_roles, single_line, sync_roles
from .models import MembershipSource, User

log = logging.getLogger(__name__)

BACKEND = "curation.oidc_auth.DirectoryOIDCBackend"
MAX_USERNAME = User._meta.get_field("username").max_length
# A groups claim longer than this is refused rather than cut: dropping groups would silently drop roles.
MAX_GROUPS = 1000
MAX_GROUP_NAME = 512
MAX_DISCOVERY_BYTES = 256 * 1024
DISCOVERY_CACHE_SECONDS = 3600


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read or is not one."""


@dataclass(frozen=True)
class ProviderEndpoints:
    authorization: str
    token: str
    userinfo: str
    jwks: str
    issuer: str  # "" when neither OIDC_OP_ISSUER nor a discovery document names it: the issuer is then not checked


_discovered: dict[str, tuple[float, dict]] = {}
_discovered_lock = threading.Lock()


def _discovery_document(url: str) -> dict:
    """The provider's discovery document, cached for DISCOVERY_CACHE_SECONDS per process; a failure is not
    cached, so the next sign-in tries again."""
    with _discovered_lock:
        cached = _discovered.get(url)
        if cached and cached[0] > time.monotonic():
            return cached[1]
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        if len(response.content) > MAX_DISCOVERY_BYTES:
            raise ProviderUnavailable(f"the discovery document at {url} is larger than {MAX_DISCOVERY_BYTES} bytes")
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"the discovery document at {url} could not be read: {exc}") from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"the discovery document at {url} is not a JSON object")
    with _discovered_lock:
        _discovered[url] = (time.monotonic() + DISCOVERY_CACHE_SECONDS, document)
    return document


def _discovered_url(document: dict, key: str, discovery_url: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ProviderUnavailable(f"the discovery document at {discovery_url} has no usable {key}")
    # An endpoint may use http:// only when the document itself was fetched over http:// (which the settings
    # allow only on a loopback address or in debug): a document must not downgrade the token exchange.
    if value.startswith("http://") and not discovery_url.startswith("http://"):
        raise ProviderUnavailable(f"the discovery document at {discovery_url} gives a plain-http {key}")
    return value


def endpoints() -> ProviderEndpoints:
    """The provider's endpoints: each OIDC_OP_* setting that is set, the discovery document for the rest."""
    explicit = {
        "authorization_endpoint": settings.OIDC_OP_AUTHORIZATION_ENDPOINT,
        "token_endpoint": settings.OIDC_OP_TOKEN_ENDPOINT,
        "userinfo_endpoint": settings.OIDC_OP_USER_ENDPOINT,
        "jwks_uri": settings.OIDC_OP_JWKS_ENDPOINT,
    }
    values = dict(explicit)
    issuer = settings.OIDC_OP_ISSUER
    url = settings.OIDC_OP_DISCOVERY_URL
    if url and not all(explicit.values()):
        document = _discovery_document(url)
        for key, value in explicit.items():
            values[key] = value or _discovered_url(document, key, url)
        issuer = issuer or (document.get("issuer") if isinstance(document.get("issuer"), str) else "")
    return ProviderEndpoints(
        authorization=values["authorization_endpoint"],
        token=values["token_endpoint"],
        userinfo=values["userinfo_endpoint"],
        jwks=values["jwks_uri"],
        issuer=issuer or "",
    )


@lru_cache(maxsize=4)
def _parsed_group_roles(text: str) -> GroupRoles:
    return parse_group_roles(text, "OIDC_GROUP_ROLES")


def group_roles() -> GroupRoles:
    """OIDC_GROUP_ROLES parsed (ImproperlyConfigured naming the variable when it is malformed)."""
    return _parsed_group_roles(settings.OIDC_GROUP_ROLES or "")


def oidc_group_roles_check(app_configs=None, **kwargs):
    """OIDC_GROUP_ROLES must parse when OpenID Connect sign-in is on: a typo must stop the start, not every
    sign-in. (config/urls.py also parses it when it mounts /oidc/, so `manage.py check` and `migrate` stop
    on it even where this module is not imported yet.)"""
    return mapping_check_errors(
        BACKEND, group_roles, "OIDC_GROUP_ROLES", '{"group": {"project-slug": "role"}}', "curation.E120"
    )


def clean_username(value) -> str | None:
    """The Django username for a username claim, in lower case as LDAP sign-in makes it (so one person
    signing in both ways has one account), or None when the claim cannot be one: missing, empty, longer than
    the column or holding control or white-space characters. Refused rather than cleaned or cut, so that no
    other spelling of a name reaches someone else's account."""
    if not isinstance(value, str):
        return None
    name = unicodedata.normalize("NFKC", value).strip()
    if not name or len(name) > MAX_USERNAME or single_line(name) != name or " " in name:
        return None
    return name.lower()


def groups_from_claims(claims: dict) -> list[str]:
    """The groups claim (OIDC_GROUPS_CLAIM) as a list of names; raises SuspiciousOperation when it cannot be
    read whole. A missing claim is no groups: the provider says the person is in none of ours."""
    name = settings.OIDC_GROUPS_CLAIM
    value = claims.get(name)
    if value is None:
        # Azure AD's "groups overage": too many groups, sent by reference instead. Reading none would remove
        # every role the person has, so refuse instead.
        claim_names = claims.get("_claim_names")
        if isinstance(claim_names, dict) and name in claim_names:
            raise SuspiciousOperation(f"the provider sent the {name!r} claim by reference (too many groups)")
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SuspiciousOperation(f"the {name!r} claim is not a list")
    if len(value) > MAX_GROUPS:
        raise SuspiciousOperation(f"the {name!r} claim lists more than {MAX_GROUPS} groups")
    groups = []
    for group in value:
        text = single_line(group) if isinstance(group, str) and len(group) <= MAX_GROUP_NAME else ""
        if text and text == group.strip():
            groups.append(text)
    return groups


def check_id_token_claims(payload: dict, client_id: str, issuer: str) -> None:
    """The checks OpenID Connect Core 3.1.3.7 asks of an ID token beyond its signature, expiry and nonce
    (which mozilla-django-oidc and PyJWT make): it is for us (aud, azp), from our provider (iss) and names
    a subject. Raises SuspiciousOperation."""
    audience = payload.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if client_id not in audiences:
        raise SuspiciousOperation("the ID token is not for this client (aud)")
    if len(audiences) > 1 and payload.get("azp") != client_id:
        raise SuspiciousOperation("the ID token has several audiences and another authorized party (azp)")
    if issuer and payload.get("iss") != issuer:
        raise SuspiciousOperation("the ID token is from another issuer (iss)")
    if not isinstance(payload.get("sub"), str) or not payload["sub"]:
        raise SuspiciousOperation("the ID token names no subject (sub)")


def is_provider_answer(request, credentials) -> bool:
    """AXES_WHITELIST_CALLABLE: True for the callback's sign-in attempt. django-axes counts password guesses
    per account; a provider's answer names no account before it is redeemed, so axes would count its failures
    per address alone and lock everyone behind one hospital gateway out of provider sign-in. The provider
    guards its own passwords, and an answer is useless without the state and verifier of this session."""
    credentials = credentials or {}
    return not credentials.get("username") and "code_verifier" in credentials


def _refuse(message: str, *args) -> None:
    log.warning("OpenID Connect sign-in refused: " + message, *args)


class DirectoryOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with this project's rules:

    - it acts only for the callback of a flow this session started (state, nonce and PKCE verifier from the
      session), never for a username and password;
    - the ID token must be signed by the provider's key (JWKS), unexpired, carry our nonce, be for this client
      and from the configured issuer; the userinfo answer must be about the same subject;
    - the account is named by the username claim (OIDC_USERNAME_CLAIM), cleaned and in lower case; there is no
      column for the provider's `sub`, so users are matched by that username. An existing account with a
      usable local password is refused (its owner may not be the provider's person of that name) unless
      OIDC_LINK_LOCAL_ACCOUNTS=1, which links it and makes its password unusable. New accounts get an unusable
      password; name and e-mail follow the provider at each sign-in;
    - an inactive account is refused, at sign-in and for its open sessions;
    - at each sign-in the groups claim sets the user's OpenID-Connect-sourced project roles (a removed group
      removes the role; roles an admin gave by hand stay).

    A refused sign-in returns None, so the callback sends the person back to the login page with a message
    (django-axes does not count it: is_provider_answer).
    """

    def __init__(self, *args, **kwargs):
        # Not the parent's __init__: it reads the endpoints, which may need the discovery document, and
        # django.contrib.auth makes a backend for every sign-in attempt, passwords included.
        self.UserModel = User
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.OIDC_OP_TOKEN_ENDPOINT = self.OIDC_OP_USER_ENDPOINT = self.OIDC_OP_JWKS_ENDPOINT = ""
        self.issuer = ""

    def authenticate(self, request, **kwargs):
        # Only the callback's call: a username and password never reach the provider, and a code that comes
        # without the nonce and PKCE verifier this session keeps is not ours to redeem.
        if request is None or "username" in kwargs or "password" in kwargs:
            return None
        if not kwargs.get("nonce") or not kwargs.get("code_verifier"):
            return None
        try:
            provider = endpoints()
            self.OIDC_OP_TOKEN_ENDPOINT = provider.token
            self.OIDC_OP_USER_ENDPOINT = provider.userinfo
            self.OIDC_OP_JWKS_ENDPOINT = provider.jwks
            self.issuer = provider.issuer
            return super().authenticate(request, **kwargs)
        except (ProviderUnavailable, requests.RequestException, SuspiciousOperation, jwt.PyJWTError) as exc:
            _refuse("%s", exc)
            return None
        except (KeyError, TypeError, ValueError) as exc:
            # A provider answer of the wrong shape, e.g. a JWKS key without a kid.
            _refuse("the provider's answer could not be read (%s: %s)", type(exc).__name__, exc)
            return None

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        check_id_token_claims(payload, self.OIDC_RP_CLIENT_ID, self.issuer)
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict):
            raise SuspiciousOperation("the userinfo answer is not a JSON object")
        # OpenID Connect Core 5.3.2: the userinfo answer may be used only if it is about the ID token's subject.
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("the userinfo answer is about another subject than the ID token")
        # The ID token's claims under the userinfo ones: some providers (Azure AD) put the groups only there.
        claims = {**payload, **userinfo}
        username = clean_username(claims.get(settings.OIDC_USERNAME_CLAIM))
        if username is None:
            _refuse("no usable %r claim for subject %r", settings.OIDC_USERNAME_CLAIM, payload["sub"])
            return None
        groups = groups_from_claims(claims)
        with transaction.atomic():
            user = self._account(username, claims)
            if user is None:
                return None
            sync_roles(user, groups, source=MembershipSource.OIDC, mapping=group_roles())
        return user

    def _account(self, username: str, claims: dict) -> User | None:
        """The user signing in, made or updated from the claims; None when the account may not sign in."""
        matches = list(User.objects.select_for_update().filter(username__iexact=username)[:2])
        if len(matches) > 1:
            _refuse("several accounts are named %r in different cases", username)
            return None
        if not matches:
            if not settings.OIDC_CREATE_USER:
                _refuse("no account is named %r and OIDC_CREATE_USERS is off", username)
                return None
            user = User(username=username)
            user.set_unusable_password()
            self._copy_claims(user, claims)
            user.save()
            audit.user_created_by_directory(user, MembershipSource.OIDC)
            return user
        user = matches[0]
        if not user.is_active:
            _refuse("the account %r is deactivated", user.username)
            return None
        if user.has_usable_password():
            if not settings.OIDC_LINK_LOCAL_ACCOUNTS:
                _refuse("the account %r has a local password (OIDC_LINK_LOCAL_ACCOUNTS is off)", user.username)
                return None
            # Linked: from now on the provider signs this account in, and its old password no longer does. The
            # new hash ends the account's other sessions, and the stamp its API tokens (curation.api.auth).
            user.set_unusable_password()
            user.password_changed_at = timezone.now()
            user.save(update_fields=["password", "password_changed_at"])
            audit.user_linked_to_directory(user, MembershipSource.OIDC)
        if self._copy_claims(user, claims):
            user.save(update_fields=["email", "first_name", "last_name", "display_name"])
        return user

    @staticmethod
    def _copy_claims(user: User, claims: dict) -> bool:
        """Copy name and e-mail from the claims (one line, cut to the column; an invalid e-mail left out);
        True when something changed."""
        email = single_line(claims.get("email"))[: User._meta.get_field("email").max_length]
        try:
            validate_email(email)
        except ValidationError:
            email = ""
        values = {
            "email": email,
            "first_name": single_line(claims.get("given_name")),
            "last_name": single_line(claims.get("family_name")),
            "display_name": single_line(claims.get("name")),
        }
        changed = False
        for field, value in values.items():
            value = value[: User._meta.get_field(field).max_length]
            if getattr(user, field) != value:
                setattr(user, field, value)
                changed = True
        return changed


def _failure(request, text: str) -> HttpResponseRedirect:
    messages.error(request, text)
    return HttpResponseRedirect(reverse("frontend:login"))


class AuthenticateView(OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/: sends the browser to the provider with state, nonce and the PKCE challenge."""

    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)  # not the parent's: no endpoint yet
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        try:
            self.OIDC_OP_AUTH_ENDPOINT = endpoints().authorization
        except ProviderUnavailable as exc:
            log.warning("OpenID Connect sign-in could not start: %s", exc)
            return _failure(request, f"{settings.OIDC_PROVIDER_NAME} cannot be reached. Try again in a minute.")
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """GET /oidc/callback/: the provider's answer. A state this session did not start is refused (400, by the
    parent view); a failed or refused sign-in goes back to the login page with a message."""

    @property
    def failure_url(self):
        return reverse("frontend:login")

    def login_failure(self):
        return _failure(
            self.request,
            f"Sign-in with {settings.OIDC_PROVIDER_NAME} did not succeed. If it keeps failing, ask your "
            "administrator whether your account may use this site.",
        )
