"""Dataset definitions, immutable dataset versions and their rows. On PostgreSQL triggers refuse UPDATE on rows,
and on a version once it is sealed with its content hash (DELETE stays possible so a project's deletion cascades)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import curation.models.datasets

FROZEN_SQL = """
CREATE OR REPLACE FUNCTION curation_dataset_frozen() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'dataset versions are immutable';
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION curation_datasetversion_sealed() RETURNS trigger AS $$
BEGIN
    -- The freezing transaction writes the version, then its rows, then seals it with the rows' hash once.
    IF OLD.content_hash <> '' THEN
        RAISE EXCEPTION 'dataset versions are immutable';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS curation_datasetversion_frozen ON curation_datasetversion;
CREATE TRIGGER curation_datasetversion_frozen BEFORE UPDATE ON curation_datasetversion
    FOR EACH ROW EXECUTE FUNCTION curation_datasetversion_sealed();
DROP TRIGGER IF EXISTS curation_datasetrow_frozen ON curation_datasetrow;
CREATE TRIGGER curation_datasetrow_frozen BEFORE UPDATE ON curation_datasetrow
    FOR EACH ROW EXECUTE FUNCTION curation_dataset_frozen();
"""
UNFROZEN_SQL = """
DROP TRIGGER IF EXISTS curation_datasetrow_frozen ON curation_datasetrow;
DROP TRIGGER IF EXISTS curation_datasetversion_frozen ON curation_datasetversion;
DROP FUNCTION IF EXISTS curation_dataset_frozen();
DROP FUNCTION IF EXISTS curation_datasetversion_sealed();
"""


def freeze_in_database(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FROZEN_SQL)


def unfreeze_in_database(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNFROZEN_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0011_image_redaction"),
    ]

    operations = [
        migrations.CreateModel(
            name="DatasetDefinition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("views", models.JSONField(blank=True, default=list)),
                ("datasets", models.JSONField(blank=True, default=list)),
                ("label_precedence", models.JSONField(default=curation.models.datasets.default_precedence)),
                ("qc_decisions", models.JSONField(default=curation.models.datasets.default_qc_decisions)),
                ("min_agreement", models.PositiveSmallIntegerField(default=1)),
                ("exclusions", models.JSONField(blank=True, default=dict)),
                ("split_fractions", models.JSONField(default=curation.models.datasets.default_fractions)),
                ("split_seed", models.IntegerField(default=13)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="dataset_definitions",
                        to="curation.project",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="DatasetVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("label_space", models.CharField(max_length=32)),
                ("content_hash", models.CharField(max_length=64)),
                ("row_count", models.PositiveIntegerField(default=0)),
                ("labeler_version", models.CharField(blank=True, max_length=120)),
                ("qc_version", models.CharField(blank=True, max_length=120)),
                ("review_version", models.CharField(blank=True, max_length=120)),
                ("summary", models.JSONField(blank=True, default=dict)),
                ("frozen_at", models.DateTimeField()),
                (
                    "definition",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="versions",
                        to="curation.datasetdefinition",
                    ),
                ),
                (
                    "frozen_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="dataset_versions",
                        to="curation.project",
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="DatasetRow",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("patient", models.CharField(max_length=64)),
                ("patient_index", models.PositiveIntegerField()),
                ("study_key", models.CharField(max_length=128)),
                ("follow_up", models.PositiveIntegerField()),
                ("image_key", models.CharField(max_length=191)),
                ("image_index", models.PositiveSmallIntegerField()),
                ("dataset", models.CharField(max_length=16)),
                ("view_position", models.CharField(blank=True, max_length=3)),
                ("sex", models.CharField(blank=True, max_length=1)),
                ("age_years", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("qc_decision", models.CharField(blank=True, max_length=8)),
                (
                    "split",
                    models.CharField(
                        choices=[("train", "Train"), ("valid", "Validation"), ("test", "Test")], max_length=5
                    ),
                ),
                ("labels", models.JSONField(default=dict)),
                (
                    "image",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="curation.image",
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="curation.study",
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rows",
                        to="curation.datasetversion",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="datasetdefinition",
            index=models.Index(fields=["project", "name", "-id"], name="datasetdef_project_name"),
        ),
        migrations.AddConstraint(
            model_name="datasetversion",
            constraint=models.UniqueConstraint(fields=("project", "name"), name="datasetversion_unique_name"),
        ),
        migrations.AddIndex(
            model_name="datasetrow",
            index=models.Index(fields=["version", "id"], name="datasetrow_version_order"),
        ),
        migrations.AddConstraint(
            model_name="datasetrow",
            constraint=models.UniqueConstraint(fields=("version", "image_key"), name="datasetrow_unique_image"),
        ),
        migrations.RunPython(freeze_in_database, unfreeze_in_database),
    ]
