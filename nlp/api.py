"""API for labeling runs, mined labels (review order) and the project's label vocabulary."""

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from curation.api.pagination import CheckedCursorMixin, checked_id
from curation.api.study_views import LABEL_NAME_SCHEMA
from curation.api.views import ProjectScopedMixin
from curation.permissions import Action
from curation.services.studies import MAX_ID, TRUE_WORDS, bounded_int, label_name, one_of

from . import services
from .models import LabelingRun, MinedLabel


class RunSerializer(serializers.ModelSerializer):
    job = serializers.IntegerField(source="job_id", allow_null=True)
    previous = serializers.IntegerField(source="previous_id", allow_null=True)

    class Meta:
        model = LabelingRun
        fields = [
            "id",
            "job",
            "label_space",
            "labeler_version",
            "previous",
            "complete",
            "reports",
            "stats",
            "changes",
            "created_at",
        ]


class MinedLabelSerializer(serializers.ModelSerializer):
    study_key = serializers.CharField(source="study.study_key")
    previous_status = serializers.CharField(read_only=True, default=None)

    class Meta:
        model = MinedLabel
        fields = [
            "id",
            "study",
            "study_key",
            "label",
            "status",
            "native_status",
            "rule",
            "evidence",
            "priority",
            "priority_reasons",
            "previous_status",
        ]


class ReviewOrderPagination(CheckedCursorMixin, CursorPagination):
    """Most doubtful first; the id breaks ties so pages are stable."""

    ordering = ("-priority", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class RunListView(ProjectScopedMixin, generics.ListAPIView):
    project_actions = {"GET": Action.VIEW_LABELS}
    serializer_class = RunSerializer

    def get_queryset(self):
        return LabelingRun.objects.filter(project=self.project)


class RunDetailView(ProjectScopedMixin, APIView):
    project_actions = {"GET": Action.VIEW_LABELS}

    @extend_schema(responses=RunSerializer)
    def get(self, request, slug, run_id):
        run = get_object_or_404(LabelingRun, project=self.project, pk=checked_id(run_id))
        return Response(RunSerializer(run).data)


LABEL_STATUSES = ("positive", "negative", "uncertain", "not_mentioned")


class RunLabelListView(ProjectScopedMixin, generics.ListAPIView):
    """A run's mined labels, most doubtful first. `?changed=1` keeps those that differ from the previous run."""

    project_actions = {"GET": Action.VIEW_LABELS}
    serializer_class = MinedLabelSerializer
    pagination_class = ReviewOrderPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no run
            return MinedLabel.objects.none()
        params = self.request.query_params
        # Every parameter is checked before the run is looked up: a bad one is a 400 whatever the run.
        label = label_name(params.get("label"), "label")
        status = one_of(params.get("status"), "status", LABEL_STATUSES)
        changed = one_of((params.get("changed") or "").lower(), "changed", TRUE_WORDS)
        study = bounded_int(params.get("study"), "study", 1, MAX_ID, "a study id")
        run = get_object_or_404(LabelingRun, project=self.project, pk=checked_id(self.kwargs["run_id"]))
        qs = services.changed_labels(run) if TRUE_WORDS.get(changed) else MinedLabel.objects.filter(run=run)
        if label:
            qs = qs.filter(label=label)
        if status:
            qs = qs.filter(status="" if status == "not_mentioned" else status)
        if study is not None:
            qs = qs.filter(study_id=study)
        return qs.select_related("study")

    @extend_schema(
        parameters=[
            OpenApiParameter("label", LABEL_NAME_SCHEMA, description="one label (e.g. Effusion)"),
            OpenApiParameter("status", str, enum=list(LABEL_STATUSES)),
            OpenApiParameter("changed", bool, description="only labels that differ from the previous run"),
            OpenApiParameter("study", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, description="a study id"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class VocabularySerializer(serializers.Serializer):
    findings = serializers.ListField(child=serializers.DictField(), required=False)
    synonyms = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class VocabularyView(ProjectScopedMixin, APIView):
    """The project's vocabulary extension (custom findings and synonyms) on top of the base vocabulary."""

    project_actions = {"GET": Action.VIEW_LABELS, "PUT": Action.EDIT_VOCABULARY}

    def _body(self, project):
        vocabulary = services.project_vocabulary(project)
        return {
            "extension": services.project_extension(project),
            "fingerprint": vocabulary.fingerprint,
            "findings": [
                {"id": f.id, "name": f.name, "labels": {k: list(v) for k, v in f.labels.items()}}
                for f in sorted(vocabulary.findings.values(), key=lambda f: f.id)
            ],
        }

    @extend_schema(responses={200: dict})
    def get(self, request, slug):
        return Response(self._body(self.project))

    @extend_schema(request=VocabularySerializer, responses={200: dict})
    def put(self, request, slug):
        if not isinstance(request.data, dict):
            raise ValidationError({"extension": "Send a JSON object."})
        services.set_vocabulary_extension(request.user, self.project, dict(request.data))
        self.project.refresh_from_db()
        return Response(self._body(self.project))
