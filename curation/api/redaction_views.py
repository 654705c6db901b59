"""Burned-in text API: flag an image, redact it with boxes. Thin views over curation.services.redaction
(permission checks and audit are there)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..dicomio.redact_pixels import MAX_BOXES
from ..permissions import Action
from ..services import redaction
from .pagination import checked_id
from .views import ProjectScopedMixin


class RedactSerializer(serializers.Serializer):
    # Shape only: coordinates are checked (integers, clipped to the image, non-empty) by the service.
    boxes = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=4, max_length=4),
        min_length=1,
        max_length=MAX_BOXES,
        help_text="[[x0, y0, x1, y1], ...] in image pixels, x1 and y1 exclusive",
    )


class RedactionStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    redaction = serializers.CharField()
    redaction_boxes = serializers.JSONField()
    redacted_at = serializers.DateTimeField(allow_null=True)
    render_status = serializers.CharField()


def _state(image) -> dict:
    return RedactionStateSerializer(image).data


class FlagBurnedInView(ProjectScopedMixin, APIView):
    """Say an image shows text in its pixels: it needs redaction before any export."""

    project_actions = {"POST": Action.FLAG_BURNED_IN}

    @extend_schema(request=None, responses=RedactionStateSerializer)
    def post(self, request, slug, image_id):
        image = redaction.flag_burned_in(request.user, self.project, checked_id(image_id))
        return Response(_state(image))


class RedactView(ProjectScopedMixin, APIView):
    """Burn boxes into an image's stored file and renderings; the unredacted files are deleted."""

    project_actions = {"POST": Action.REDACT_IMAGES}

    @extend_schema(request=RedactSerializer, responses=RedactionStateSerializer)
    def post(self, request, slug, image_id):
        body = RedactSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        image = redaction.redact(request.user, self.project, checked_id(image_id), body.validated_data["boxes"])
        return Response(_state(image))
