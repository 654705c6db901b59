"""On PostgreSQL, refuse UPDATE and DELETE on audit rows in the database itself, not only in Python."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION curation_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS curation_auditevent_no_change ON curation_auditevent;
CREATE TRIGGER curation_auditevent_no_change BEFORE UPDATE OR DELETE ON curation_auditevent
    FOR EACH ROW EXECUTE FUNCTION curation_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS curation_auditevent_no_change ON curation_auditevent;
DROP FUNCTION IF EXISTS curation_auditevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("curation", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
