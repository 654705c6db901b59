"""API views of accounts: sign in for a token, list/create/revoke your tokens, site-admin lockout reset."""

from django.contrib.auth import authenticate
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied as DRFPermissionDenied
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import ApiToken
from ..services import accounts
from ..signin import clear_client_failures, lockout_response
from . import account_serializers as s


class TokenView(APIView):
    """Exchange a username and password for a new API token (send it as `Authorization: Token <key>`).

    Each call creates a new named token (`name`, default "api"; optional `expires_in_days`). Repeated
    failures lock the account (429), as on the login page."""

    permission_classes = [AllowAny]
    authentication_classes = []  # credentials are in the body; no session, so no CSRF check

    @extend_schema(
        request=s.SignInSerializer,
        responses={200: s.KeySerializer, 400: OpenApiResponse(description="Wrong credentials"), 429: None},
    )
    def post(self, request):
        body = s.SignInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        # The Django request: axes reads the client address from it and flags a lockout on it for its
        # middleware, which answers 429 (lockout_response) whatever this view returns.
        django_request = request._request
        user = authenticate(request=django_request, username=data["username"], password=data["password"])
        if getattr(django_request, "axes_locked_out", False):
            return lockout_response(django_request)
        if user is None:
            raise ValidationError({"non_field_errors": ["Unable to log in with provided credentials."]})
        clear_client_failures(django_request, data["username"])
        _, key = accounts.create_token(user, name=data.get("name"), expires_in_days=data.get("expires_in_days"))
        return Response({"token": key})


class TokenListView(generics.ListAPIView):
    """Your API tokens, newest first (revoked and expired ones too); POST creates one, its key shown once."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.TokenSerializer
    queryset = ApiToken.objects.none()  # for the schema generator; the real one is per user

    def get_queryset(self):
        return accounts.user_tokens(self.request.user)

    @extend_schema(request=s.TokenCreateSerializer, responses={201: s.NewTokenSerializer})
    def post(self, request):
        body = s.TokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, key = accounts.create_token(
            request.user,
            name=body.validated_data.get("name"),
            expires_in_days=body.validated_data.get("expires_in_days"),
        )
        return Response(s.NewTokenSerializer(token, context={"key": key}).data, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    """DELETE revokes one of your tokens (another user's token is a 404)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, token_id):
        token = get_object_or_404(accounts.user_tokens(request.user), pk=token_id)
        accounts.revoke_token(request.user, token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LockoutResetView(APIView):
    """Site admins: end a sign-in lockout of `username` (clears its failed attempts from every address)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.LockoutResetSerializer, responses=s.LockoutResetResultSerializer)
    def post(self, request):
        if not accounts.can_reset_lockouts(request.user):
            raise DRFPermissionDenied("Only site admins may reset sign-in lockouts.")
        body = s.LockoutResetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        username = body.validated_data["username"]
        cleared = accounts.reset_lockout(request.user, username)
        return Response({"username": username, "attempts_cleared": cleared})
