"""Serializers for studies, images, reports and the (admin-only) pseudonym map."""

from django.urls import reverse
from rest_framework import serializers
from rest_framework.exceptions import ParseError

from ..models import Image, PseudonymMap, Study
from .parsers import depth_exceeds, loads_bounded, too_deep_message


class ImageSerializer(serializers.ModelSerializer):
    thumbnail_url = serializers.SerializerMethodField()
    display_url = serializers.SerializerMethodField()
    display16_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "image_key",
            "view_position",
            "modality",
            "rows",
            "columns",
            "pixel_spacing_row",
            "pixel_spacing_col",
            "photometric",
            "bits_stored",
            "burned_in_annotation",
            "redaction",
            "redacted_at",
            "content_sha256",
            "render_status",
            "render_error",
            "display_meta",
            "thumbnail_url",
            "display_url",
            "display16_url",
        ]

    def get_thumbnail_url(self, image) -> str | None:
        return self._file_url(image, "thumbnail")

    def get_display_url(self, image) -> str | None:
        return self._file_url(image, "display")

    def get_display16_url(self, image) -> str | None:
        return self._file_url(image, "display16")

    def _file_url(self, image, which):
        if not getattr(image, which):
            return None
        slug = self.context["project"].slug
        return reverse("image-file", kwargs={"slug": slug, "image_id": image.pk, "which": which})


class StudyListSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.pseudo_id")

    class Meta:
        model = Study
        fields = [
            "id",
            "dataset",
            "study_key",
            "patient",
            "study_date",
            "age_years",
            "sex",
            "has_report",
            "image_count",
        ]


class StudyDetailSerializer(StudyListSerializer):
    images = serializers.SerializerMethodField()
    report = serializers.SerializerMethodField()

    class Meta(StudyListSerializer.Meta):
        fields = StudyListSerializer.Meta.fields + ["accession", "images", "report"]

    def get_images(self, study) -> list[dict]:
        return ImageSerializer(study.images.order_by("pk"), many=True, context=self.context).data

    def get_report(self, study) -> dict | None:
        report = getattr(study, "report", None)
        if report is None:
            return None
        return {
            "text": report.text,
            "source": report.source,
            "source_labels": report.source_labels,
            "scrubbed_items": report.scrubbed_items,
        }


class PseudonymSerializer(serializers.ModelSerializer):
    class Meta:
        model = PseudonymMap
        fields = ["id", "kind", "original", "pseudonym", "date_offset_days", "created_at"]


class BoundedJSONField(serializers.JSONField):
    """A JSON value, or JSON text (as a form field sends it), nested at most parsers.MAX_DEPTH deep."""

    def to_internal_value(self, data):
        if isinstance(data, str | bytes):
            try:
                data = loads_bounded(data)
            except ParseError as exc:
                raise serializers.ValidationError(str(exc.detail)) from exc
            except ValueError as exc:
                raise serializers.ValidationError(f"Not valid JSON: {exc}") from exc
        elif depth_exceeds(data):
            raise serializers.ValidationError(too_deep_message())
        return super().to_internal_value(data)


class ImportStartSerializer(serializers.Serializer):
    source = serializers.CharField()
    file = serializers.FileField(required=False, help_text="a .zip archive (admins and curators)")
    path = serializers.CharField(required=False, help_text="a server folder under IMPORT_ALLOWED_ROOTS (admins)")
    mapping = BoundedJSONField(required=False, help_text="generic CSV column mapping (an object, or its JSON text)")
