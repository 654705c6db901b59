"""The audit trail: one event per change, with actor, before/after and request id; never changed."""

import pytest
from django.db import connection

from curation.models import AuditEvent
from curation.services import projects as project_services


def test_role_change_is_audited_with_before_after_and_request_id(project, members, api):
    # Given an admin changing a viewer's role through the API with a request id
    client = api(members["admin"])
    response = client.patch(
        "/api/projects/chest/members/viewer/", {"role": "radiologist"}, format="json", HTTP_X_REQUEST_ID="req-42"
    )
    # Then one event records it
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-42"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert (event.actor_username, event.project_id, event.object_repr) == ("admin", project.pk, "viewer")
    assert event.before == {"role": "viewer", "source": "local"}
    assert (event.after, event.request_id) == ({"role": "radiologist", "source": "local"}, "req-42")


def test_audit_events_cannot_be_updated_or_deleted(project, members):
    project_services.update_project(members["admin"], project, name="Renamed")
    event = AuditEvent.objects.get(action="project.updated")
    assert (event.before["name"], event.after["name"]) == ("Chest", "Renamed")
    event.action = "tampered"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database trigger exists on PostgreSQL only")
def test_postgresql_refuses_raw_updates_of_audit_rows(project, members):
    from django.db import DatabaseError, transaction

    project_services.update_project(members["admin"], project, name="Renamed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE curation_auditevent SET action = 'x'")


def test_the_last_admin_cannot_be_demoted(project, members):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="at least one admin"):
        project_services.set_member(members["admin"], project, members["admin"], "viewer")
