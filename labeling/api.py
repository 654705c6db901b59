"""API for mask QC results (worst first), masks of an image, banks, and the CheXmask CSV export."""

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from curation.api.pagination import CheckedCursorMixin, checked_id
from curation.api.views import ProjectScopedMixin
from curation.csvsafe import SafeWriter
from curation.models import Image
from curation.permissions import Action
from curation.services.studies import one_of

from . import services
from .models import Decision, Mask, QcResult, ReferenceBankFile


class QcResultSerializer(serializers.ModelSerializer):
    image_key = serializers.CharField(source="image.image_key")
    study = serializers.IntegerField(source="image.study_id")
    job = serializers.IntegerField(source="job_id", allow_null=True)

    class Meta:
        model = QcResult
        fields = [
            "id",
            "image",
            "image_key",
            "study",
            "job",
            "estimated_dice",
            "estimated_dice_lungs",
            "estimated_dice_heart",
            "estimates",
            "flags",
            "decision",
            "metrics",
            "method",
            "version",
            "mask_ids",
            "created_at",
        ]


class MaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Mask
        fields = ["id", "organ", "source", "version", "height", "width", "rle", "import_meta", "created_at"]


class BankSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReferenceBankFile
        fields = ["id", "references", "calibrated", "source", "active", "created_at"]


class WorstFirst(CheckedCursorMixin, CursorPagination):
    ordering = ("estimated_dice", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class QcResultListView(ProjectScopedMixin, generics.ListAPIView):
    """The newest QC result per image, worst estimated quality first; `?decision=review` filters."""

    project_actions = {"GET": Action.VIEW_STUDIES}
    serializer_class = QcResultSerializer
    pagination_class = WorstFirst

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return QcResult.objects.none()
        decisions = [
            one_of(d, "decision", Decision.values) for d in self.request.query_params.get("decision", "").split(",")
        ]
        qs = services.latest_results(self.project).select_related("image")
        if any(decisions):
            qs = qs.filter(decision__in=[d for d in decisions if d])
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "decision",
                {"type": "array", "items": {"type": "string", "enum": Decision.values}},
                style="form",
                explode=False,
                description="accept, review, reject (a comma list)",
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ImageMasksView(ProjectScopedMixin, APIView):
    """Every mask version of one image, newest first, and its QC results."""

    project_actions = {"GET": Action.VIEW_STUDIES}

    @extend_schema(responses={200: dict})
    def get(self, request, slug, image_id):
        image = get_object_or_404(Image, project=self.project, pk=checked_id(image_id))
        masks = Mask.objects.filter(image=image).order_by("organ", "-version")
        results = QcResult.objects.filter(image=image).select_related("image").order_by("-id")
        return Response(
            {
                "image": image.pk,
                "masks": MaskSerializer(masks, many=True).data,
                "qc_results": QcResultSerializer(results, many=True).data,
            }
        )


class BankListView(ProjectScopedMixin, generics.ListAPIView):
    project_actions = {"GET": Action.VIEW_STUDIES}
    serializer_class = BankSerializer

    def get_queryset(self):
        return ReferenceBankFile.objects.filter(project=self.project)


class CocoExportView(ProjectScopedMixin, APIView):
    """The newest masks as COCO JSON (compressed RLE, one annotation per organ)."""

    project_actions = {"GET": Action.EXPORT_DATA}

    @extend_schema(responses={200: dict})
    def get(self, request, slug):
        response = Response(services.export_coco(self.project))
        response["Content-Disposition"] = f'attachment; filename="{self.project.slug}-masks-coco.json"'
        return response


class _Echo:
    def write(self, value):
        return value


class ChexmaskExportView(ProjectScopedMixin, APIView):
    """The newest masks as a CheXmask CSV (streamed), with imported RCA values and our QC estimate."""

    project_actions = {"GET": Action.EXPORT_DATA}

    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request, slug):
        writer = SafeWriter(_Echo())
        rows = (writer.writerow(row) for row in services.export_chexmask_rows(self.project))
        response = StreamingHttpResponse(rows, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.project.slug}-chexmask.csv"'
        return response
