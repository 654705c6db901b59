"""A GIN index on Report.source_labels (PostgreSQL only) for the study list's `label` filter.

The filter is a JSON containment (`source_labels @> '{"Effusion": 1}'`), which jsonb_path_ops indexes compactly;
SQLite has neither the operator nor the index and filters on the key's value instead.
"""

from django.db import migrations

INDEX = "report_source_labels_gin"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON curation_report USING gin (source_labels jsonb_path_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("curation", "0006_uploads")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
