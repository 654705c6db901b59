"""An index for the study browser's date order (PostgreSQL only).

Newest first is `study_date DESC NULLS LAST, id DESC` and oldest first its exact reverse, so one index walked
either way serves both without a sort. SQLite cannot declare NULLS LAST in an index; on the embedded default
the order is a sort, which is cheap at the sizes SQLite is meant for.
"""

from django.db import migrations

INDEX = "study_project_date"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON curation_study (project_id, study_date DESC NULLS LAST, id DESC)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("curation", "0009_pseudonym_kind_path")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
