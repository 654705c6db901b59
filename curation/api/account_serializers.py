"""Serializers of the account endpoints (tokens, sign-in, lockout reset): shape only."""

from rest_framework import serializers

from ..models import ApiToken
from ..services import accounts


class SignInSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    expires_in_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)


class KeySerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The key: send it as `Authorization: Token <key>`. Shown only once.")


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    expires_in_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)


class TokenSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField(help_text="active, revoked or expired")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at", "state"]
        read_only_fields = fields

    def get_state(self, token) -> str:
        return accounts.token_state(token)


class NewTokenSerializer(TokenSerializer):
    token = serializers.SerializerMethodField(help_text="The key, shown only in this answer.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields

    def get_token(self, token) -> str:
        return self.context["key"]


class LockoutResetSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class LockoutResetResultSerializer(serializers.Serializer):
    username = serializers.CharField()
    attempts_cleared = serializers.IntegerField()
