"""`python manage.py demo`: users, the demo project, generated data, a JSON summary; safe to re-run."""

import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from curation.models import Job, Membership, Project, Upload, User
from curation.services import demo


@pytest.fixture
def small_demo(monkeypatch, settings):
    settings.JOBS_IN_PROCESS_THREAD = False
    monkeypatch.setattr(demo, "DEMO_PARAMS", {"patients": 2, "seed": 3, "image_size": 64})


def _run(capsys):
    call_command("demo")
    out = capsys.readouterr().out
    return out, json.loads(out.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_demo_creates_users_project_and_data_and_prints_json(small_demo, capsys):
    out, summary = _run(capsys)
    # The four demo users exist with the printed passwords and their roles
    assert [u["username"] for u in summary["users"]] == ["admin", "curator", "radiologist1", "radiologist2"]
    for user in summary["users"]:
        assert User.objects.get(username=user["username"]).check_password(user["password"])
        assert f"password: {user['password']}" in out
    project = Project.objects.get(slug="demo")
    assert dict(Membership.objects.filter(project=project).values_list("user__username", "role")) == {
        "admin": "admin",
        "curator": "curator",
        "radiologist1": "radiologist",
        "radiologist2": "radiologist",
    }
    # Every job succeeded and the generated files are in storage
    assert summary["ok"] is True
    assert [(j["kind"], j["status"]) for j in summary["jobs"]] == [
        ("demo.generate", "succeeded"),
        ("ingest.import", "succeeded"),
        ("ingest.render", "succeeded"),
        ("nlp.mine_labels", "succeeded"),
        ("demo.generate", "succeeded"),
        ("qc.build_bank", "succeeded"),
        ("qc.import_masks", "succeeded"),
        ("qc.run", "succeeded"),
    ]
    assert summary["counts"]["qc_results"] > 0
    assert summary["counts"]["mined_labels"] > 0
    # The generated studies went through the ingest path: de-identified, registered, rendered
    counts = summary["counts"]
    assert counts["patients"] == 2
    assert counts["images"] == counts["rendered"] > 0
    assert counts["reports"] == counts["studies"] > 0
    # The raw sources (DICOM with invented PHI) were uploads, deleted once imported: none is left
    assert not default_storage.exists("projects/demo/sources")
    assert Upload.objects.filter(project=project).count() == 6
    assert Upload.objects.filter(project=project, deleted_at__isnull=True).count() == 0
    assert default_storage.listdir("projects/demo/uploads")[1] == []


@pytest.mark.django_db(transaction=True)
def test_demo_is_safe_to_run_twice(small_demo, capsys):
    _, first = _run(capsys)
    _, second = _run(capsys)
    assert first["users"] == second["users"]
    assert [j["id"] for j in second["jobs"]] == [j["id"] for j in first["jobs"]]
    assert second["counts"] == first["counts"]
    assert Job.objects.count() == 8
    assert (User.objects.count(), Project.objects.count()) == (4, 1)
