"""Redaction state of images (burned-in text): images imported with BurnedInAnnotation=YES start as `needed`."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def flag_burned_in(apps, schema_editor):
    # Images imported before this migration keep the header's flag only in `burned_in_annotation`.
    Image = apps.get_model("curation", "Image")
    Image.objects.filter(burned_in_annotation=True, redaction="").update(redaction="needed")


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0010_study_date_sort_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="image",
            name="redacted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="image",
            name="redacted_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="image",
            name="redaction",
            field=models.CharField(
                blank=True,
                choices=[("", "No burned-in text known"), ("needed", "Needs redaction"), ("done", "Redacted")],
                default="",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="image",
            name="redaction_boxes",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="image",
            name="redaction_flagged_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="image",
            name="redaction_flagged_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="image",
            index=models.Index(
                condition=models.Q(("redaction", "needed")), fields=["project", "id"], name="image_needs_redaction"
            ),
        ),
        migrations.RunPython(flag_burned_in, migrations.RunPython.noop),
    ]
