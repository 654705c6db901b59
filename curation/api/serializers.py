"""Serializers: shape only. Validation of business rules happens in curation.services."""

from rest_framework import serializers

from .. import jobkinds
from ..models import AuditEvent, Job, Membership, Project, Role, User
from ..permissions import role_in
from ..services.jobs import visible_params


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "display_name", "email", "is_staff"]


class ProjectSerializer(serializers.ModelSerializer):
    my_role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "created_at", "my_role", "deid"]
        read_only_fields = ["id", "created_at", "my_role", "deid"]

    deid = serializers.SerializerMethodField()

    def get_deid(self, project) -> dict:
        from ..services.ingest import deid_options

        return deid_options(project)

    def get_my_role(self, project) -> str | None:
        request = self.context.get("request")
        role = role_in(request.user, project) if request else None
        return role.value if role else None


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    deid = serializers.JSONField(
        required=False,
        help_text="De-identification switches: enabled, public_datasets_as_published, keep_private_tags (booleans).",
    )


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    display_name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "display_name", "role", "created_at"]


class MembershipWriteSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    percent = serializers.IntegerField(read_only=True)
    label = serializers.SerializerMethodField()
    project = serializers.CharField(source="project.slug", read_only=True)
    params = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "label",
            "project",
            "status",
            "params",
            "progress_done",
            "progress_total",
            "percent",
            "counters",
            "error_count",
            "errors",
            "message",
            "result",
            "cancel_requested",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_label(self, job) -> str:
        kind = jobkinds.get(job.kind)
        return kind.label if kind else job.kind

    def get_params(self, job) -> dict:
        request = self.context.get("request")
        return visible_params(request.user if request else None, job)


class JobStartSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=64)
    params = serializers.JSONField(required=False, default=dict)


class JobKindSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    queue = serializers.CharField()
    description = serializers.CharField()


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "actor_username",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "request_id",
            "created_at",
        ]
