"""API views for studies, patients, image files, imports and the pseudonym map."""

import hashlib
import json
import mimetypes

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.models import Decision, ReviewState

from ..models import Dataset, Image, PseudonymMap, Sex, Study, View
from ..permissions import Action
from ..services import jobs as job_services
from ..services import studies, uploads
from ..services.studies import StudyFilters, patient_timeline, study_queryset
from . import serializers as s
from . import study_serializers as ss
from .pagination import PlanBudgetCursorPagination
from .parsers import BoundedJSONParser
from .views import ProjectScopedMixin

LABEL_NAME_SCHEMA = {
    "type": "string",
    "maxLength": studies.MAX_LABEL_LENGTH,
    "pattern": r"^(?!.*__)[\w ,.()'/+-]+$",
}
STUDY_FILTER_PARAMS = [
    OpenApiParameter("dataset", str, enum=Dataset.values),
    OpenApiParameter("view", str, enum=[v for v in View.values if v], description="a view of one of its images"),
    OpenApiParameter("sex", str, enum=[v for v in Sex.values if v]),
    OpenApiParameter("age_min", {"type": "integer", "minimum": 0, "maximum": studies.MAX_AGE}),
    OpenApiParameter("age_max", {"type": "integer", "minimum": 0, "maximum": studies.MAX_AGE}),
    OpenApiParameter("has_report", bool),
    OpenApiParameter(
        "label",
        LABEL_NAME_SCHEMA,
        description="a label of the dataset's own (Report.source_labels) that is positive (1); no '__'",
    ),
    OpenApiParameter(
        "mined_label",
        LABEL_NAME_SCHEMA,
        description="a label mined from the report in the project's latest successful labeling run; positive "
        "unless mined_status says otherwise",
    ),
    OpenApiParameter(
        "mined_status",
        str,
        enum=list(studies.MINED_STATUSES),
        description="with mined_label: that label has this status; alone: some label has this status",
    ),
    OpenApiParameter("qc_decision", str, enum=Decision.values, description="the newest QC result of one of its images"),
    OpenApiParameter(
        "review_state",
        str,
        enum=ReviewState.values,
        description="one of its review items (labels, masks, structure) is in this state",
    ),
]


class StudyListView(ProjectScopedMixin, generics.ListAPIView):
    """Studies, newest first, cursor-paginated, with filters."""

    project_actions = {"GET": Action.VIEW_STUDIES}
    serializer_class = ss.StudyListSerializer
    pagination_class = PlanBudgetCursorPagination

    def get_queryset(self):
        return study_queryset(self.project, StudyFilters.from_query(self.request.query_params))

    @extend_schema(parameters=STUDY_FILTER_PARAMS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class StudyDetailView(ProjectScopedMixin, APIView):
    project_actions = {"GET": Action.VIEW_STUDIES}

    @extend_schema(responses=ss.StudyDetailSerializer)
    def get(self, request, slug, study_id):
        study = get_object_or_404(Study.objects.select_related("patient"), project=self.project, pk=study_id)
        return Response(ss.StudyDetailSerializer(study, context={"project": self.project}).data)


class PatientDetailView(ProjectScopedMixin, APIView):
    """A patient's studies in date order (the longitudinal view)."""

    project_actions = {"GET": Action.VIEW_STUDIES}

    @extend_schema(responses=ss.StudyDetailSerializer(many=True))
    def get(self, request, slug, pseudo_id):
        patient, studies = patient_timeline(self.project, pseudo_id)
        if patient is None:
            raise Http404("No such patient.")
        data = ss.StudyDetailSerializer(studies, many=True, context={"project": self.project}).data
        return Response({"patient": patient.pseudo_id, "sex": patient.sex, "studies": data})


class ImageFileView(ProjectScopedMixin, APIView):
    """An image's rendering (display, display16, thumbnail) streamed from storage after the permission check."""

    project_actions = {"GET": Action.VIEW_STUDIES}

    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, slug, image_id, which):
        if which not in ("display", "display16", "thumbnail"):
            raise Http404("No such rendering.")
        image = get_object_or_404(Image, project=self.project, pk=image_id)
        name = getattr(image, which)
        if not name or not default_storage.exists(name):
            raise Http404("Not rendered yet.")
        # Redaction rewrites a rendering under the same name: the browser must ask again every time (a 304
        # when nothing changed), or it could go on showing the text it cached before the redaction.
        tag = hashlib.sha256(f"{name}:{image.redacted_at}:{default_storage.size(name)}".encode()).hexdigest()[:32]
        etag = f'"{tag}"'
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponseNotModified()
        else:
            response = FileResponse(
                default_storage.open(name, "rb"), content_type=mimetypes.guess_type(name)[0] or "image/png"
            )
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        return response


class ImportView(ProjectScopedMixin, APIView):
    """Start an import: upload a zip (admins, curators) or name a server folder (admins).

    Who may is the `ingest.import` job kind's start action for the origin (upload or server folder).
    """

    project_actions = {"POST": Action.VIEW_PROJECT}
    parser_classes = [MultiPartParser, FormParser, BoundedJSONParser]

    @extend_schema(request={"multipart/form-data": ss.ImportStartSerializer}, responses={201: s.JobSerializer})
    def post(self, request, slug):
        body = ss.ImportStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        params = {"source": data["source"]}
        mapping = data.get("mapping")
        if isinstance(mapping, str) and mapping.strip():
            try:
                mapping = json.loads(mapping)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise ValidationError({"mapping": "The mapping is not valid JSON."}) from exc
        if mapping:
            params["mapping"] = mapping
        if data.get("file") and data.get("path"):
            raise ValidationError({"file": "Give a file or a path, not both."})
        if data.get("file"):
            job = uploads.start_job_with_upload(request.user, self.project, "ingest.import", params, data["file"])
        else:
            if data.get("path"):
                params["path"] = data["path"]
            job = job_services.start_job(request.user, self.project, "ingest.import", params)
        return Response(s.JobSerializer(job, context={"request": request}).data, status=status.HTTP_201_CREATED)


class PseudonymListView(ProjectScopedMixin, generics.ListAPIView):
    """The pseudonym map (originals and date offsets): project admins only."""

    project_actions = {"GET": Action.VIEW_PSEUDONYMS}
    serializer_class = ss.PseudonymSerializer

    def get_queryset(self):
        qs = PseudonymMap.objects.filter(project=self.project)
        if kind := studies.one_of(self.request.query_params.get("kind"), "kind", PseudonymMap.Kind.values):
            qs = qs.filter(kind=kind)
        if pseudonym := self.request.query_params.get("pseudonym"):
            qs = qs.filter(pseudonym=pseudonym)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=PseudonymMap.Kind.values),
            OpenApiParameter("pseudonym", {"type": "string", "maxLength": 191}, description="one pseudonym, exactly"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
