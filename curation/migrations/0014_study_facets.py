"""Study.facets: the tokens the study list filters on (curation.services.facets), with a GIN index on PostgreSQL.

Existing studies get their facets computed here. The computation is the service's own (facets are derived
data, and two definitions of them would drift apart); it only runs when studies exist, which is never the case
on a fresh database, where later model changes cannot trip it.
"""

from django.db import migrations

import curation.models.fields

INDEX = "study_facets"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON curation_study USING gin (facets)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


def fill(apps, schema_editor):
    Project = apps.get_model("curation", "Project")
    Study = apps.get_model("curation", "Study")
    if not Study.objects.exists():
        return
    from curation.services.facets import refresh_project

    for project_id in Project.objects.values_list("pk", flat=True):
        refresh_project(project_id)


class Migration(migrations.Migration):
    dependencies = [("curation", "0013_site_admin_project_archive_membership_source")]

    operations = [
        migrations.AddField(
            model_name="study",
            name="facets",
            field=curation.models.fields.TokenArrayField(blank=True, default=list, editable=False),
        ),
        migrations.RunPython(create_index, drop_index, elidable=False),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
    ]
