"""API authentication by named tokens (`Authorization: Token <key>`), backed by curation.models.ApiToken."""

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from ..services import accounts


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's header parsing and 401 challenge (`WWW-Authenticate: Token`), with our token table: revoked,
    expired and pre-password-change tokens and inactive users are refused with one message, so a client
    cannot tell which (the owner sees why on the tokens page)."""

    keyword = "Token"

    def authenticate_credentials(self, key):
        token = accounts.usable_token(key)
        if token is None:
            raise AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token
