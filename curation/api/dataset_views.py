"""Dataset versions API: list, freeze, read and compare versions; signed download links for export jobs.
Thin views over curation.services.datasets and curation.services.dataset_exports (permissions are there
and in `project_actions`). Exports themselves start as `export.version` jobs through the jobs endpoint."""

from django.core.exceptions import ValidationError
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import DatasetVersion
from ..permissions import Action
from ..services import dataset_exports, datasets
from .pagination import checked_id
from .views import ProjectScopedMixin


class DatasetVersionSerializer(serializers.ModelSerializer):
    definition = serializers.SerializerMethodField()
    frozen_by = serializers.CharField(source="frozen_by.username", allow_null=True, default=None)

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "name",
            "label_space",
            "content_hash",
            "row_count",
            "labeler_version",
            "qc_version",
            "review_version",
            "summary",
            "definition",
            "frozen_by",
            "frozen_at",
        ]

    def get_definition(self, version) -> dict:
        d = version.definition
        return {
            "id": d.pk,
            "name": d.name,
            "views": d.views,
            "datasets": d.datasets,
            "label_precedence": d.label_precedence,
            "qc_decisions": d.qc_decisions,
            "min_agreement": d.min_agreement,
            "exclusions": d.exclusions,
            "split_fractions": d.split_fractions,
            "split_seed": d.split_seed,
        }


class FreezeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    definition = serializers.JSONField(required=False, help_text="a definition's fields; default: the project's")


class VersionListView(ProjectScopedMixin, APIView):
    """The project's dataset versions (newest first); POST freezes a new one (synchronously)."""

    project_actions = {"GET": Action.VIEW_DATASETS, "POST": Action.FREEZE_DATASETS}

    @extend_schema(responses=DatasetVersionSerializer(many=True))
    def get(self, request, slug):
        versions = datasets.versions_of(request.user, self.project)[:200]
        return Response(DatasetVersionSerializer(versions, many=True).data)

    @extend_schema(request=FreezeSerializer, responses={201: DatasetVersionSerializer})
    def post(self, request, slug):
        body = FreezeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        definition = None
        if "definition" in body.validated_data:
            raw = body.validated_data["definition"]
            if not isinstance(raw, dict):
                raise ValidationError({"definition": "The definition is a JSON object."})
            definition = datasets.create_definition(request.user, self.project, body.validated_data["name"], raw)
        version = datasets.freeze_version(request.user, self.project, body.validated_data["name"], definition)
        return Response(DatasetVersionSerializer(version).data, status=201)


class VersionDetailView(ProjectScopedMixin, APIView):
    project_actions = {"GET": Action.VIEW_DATASETS}

    @extend_schema(responses=DatasetVersionSerializer)
    def get(self, request, slug, version_id):
        version = datasets.get_version(request.user, self.project, checked_id(version_id))
        return Response(DatasetVersionSerializer(version).data)


class VersionCompareView(ProjectScopedMixin, APIView):
    """Rows and labels added, removed and changed from version `version_id` to version `other_id`."""

    project_actions = {"GET": Action.VIEW_DATASETS}

    @extend_schema(responses=dict)
    def get(self, request, slug, version_id, other_id):
        old = datasets.get_version(request.user, self.project, checked_id(version_id))
        new = datasets.get_version(request.user, self.project, checked_id(other_id))
        return Response(datasets.compare_versions(old, new))


class ExportLinkView(ProjectScopedMixin, APIView):
    """A download link for a finished export job's archive, valid for EXPORT_LINK_SECONDS and for you only."""

    project_actions = {"GET": Action.EXPORT_DATA}

    @extend_schema(responses=dict)
    def get(self, request, slug, job_id):
        link = dataset_exports.download_link(request.user, self.project, checked_id(job_id))
        url = request.build_absolute_uri(f"/api/projects/{self.project.slug}/exports/{job_id}/download/")
        return Response({**link, "url": f"{url}?token={link['token']}"})


class ExportDownloadView(ProjectScopedMixin, APIView):
    project_actions = {"GET": Action.EXPORT_DATA}

    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=True)], responses={(200, "application/zip"): bytes}
    )
    def get(self, request, slug, job_id):
        handle, name = dataset_exports.open_download(
            request.user, self.project, checked_id(job_id), request.query_params.get("token", "")
        )
        return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")
