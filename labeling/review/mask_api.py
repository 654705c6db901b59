"""Mask review API: save a correction as new mask versions, and one mask as a PNG layer for the viewer.

Thin views over labeling.review.masks; the permission checks and the audit trail are in the services.
"""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from curation.api.pagination import checked_id
from curation.api.views import ProjectScopedMixin
from curation.permissions import Action

from ..models import Mask
from . import masks, services


class CorrectSerializer(serializers.Serializer):
    organs = serializers.DictField(child=serializers.JSONField(), allow_empty=False)
    seconds = serializers.FloatField(min_value=0, max_value=services.SECONDS_MAX, required=False, default=0)
    comment = serializers.CharField(max_length=services.COMMENT_MAX, required=False, default="", allow_blank=True)


class CorrectView(ProjectScopedMixin, APIView):
    """Record your read of a mask item as a correction: each organ's whole mask as CheXmask RLE (or COCO RLE)
    on the grid of the image's masks. Each becomes a new reviewer version; 201 with their ids."""

    project_actions = {"POST": Action.REVIEW}

    @extend_schema(request=CorrectSerializer, responses={201: OpenApiResponse(description="The new masks")})
    def post(self, request, slug, item_id):
        body = CorrectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        new = masks.save_correction(
            request.user, self.project, checked_id(item_id), data["organs"], data["seconds"], data["comment"]
        )
        return Response(
            {"id": checked_id(item_id), "masks": {m.organ: {"id": m.pk, "version": m.version} for m in new}},
            status=status.HTTP_201_CREATED,
        )


class MaskLayerView(ProjectScopedMixin, APIView):
    """One mask as a 1-bit PNG at its own size (white = organ), after the same check as viewing studies."""

    project_actions = {"GET": Action.VIEW_STUDIES}

    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, slug, mask_id):
        mask = get_object_or_404(Mask, project=self.project, pk=checked_id(mask_id))
        response = HttpResponse(masks.mask_layer_png(mask), content_type="image/png")
        # A mask row never changes (a correction is a new row), so the layer can be kept.
        response["Cache-Control"] = "private, max-age=86400"
        return response
